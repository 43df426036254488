"""The copy engine and the Fargate container's entry point.

- ``steps_s3_copy.worker.engine.CopyEngine``  copies a list of ``CopyItem`` server-side
- ``steps_s3_copy.worker.batch.run_batch``    one batch of a run's working area
- ``python -m steps_s3_copy.worker``          the container (``__main__.py``)

See docs/engine.md.
"""

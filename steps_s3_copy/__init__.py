"""steps-s3-copy: copy very large sets of S3 objects between accounts.

One import namespace over the project's folders:

- ``steps_s3_copy.models``        the contracts every part shares (copy items, options, results,
                                  batch references, the working-area layout)
- ``steps_s3_copy.worker``        the copy engine and the container entry point (``worker/``)
- ``steps_s3_copy.handlers``      the Lambda entry points (``handlers/``)
- ``steps_s3_copy.infra``         the CDK construct, stack and app (``infra/``)
"""

__version__ = "0.1.0"

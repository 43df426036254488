"""The CDK side of steps-s3-copy: the ``StepsS3Copy`` construct, its props, its stack, the app.

``from steps_s3_copy.infra import StepsS3Copy`` in your own CDK app; ``cdk deploy`` from the
repository root deploys the ready app (``cdk.json`` runs ``steps_s3_copy.infra.app``).
"""

from steps_s3_copy.infra.construct import StepsS3Copy
from steps_s3_copy.infra.props import StepsS3CopyProps, buckets_from_names
from steps_s3_copy.infra.stack import StepsS3CopyStack

__all__ = ["StepsS3Copy", "StepsS3CopyProps", "StepsS3CopyStack", "buckets_from_names"]

"""``StepsS3CopyStack``: a thin stack holding one ``StepsS3Copy`` and its outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from steps_s3_copy.infra.construct import StepsS3Copy


class StepsS3CopyStack(Stack):
    """The ready-to-deploy stack. ``copy_args`` go to ``StepsS3Copy`` unchanged."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        copy_args: dict[str, Any] | None = None,
        **stack_args: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_args)
        self.copy = StepsS3Copy(self, "StepsS3Copy", **(copy_args or {}))
        outputs = {
            "InboxBucketName": self.copy.inbox_bucket.bucket_name,
            "TopicArn": self.copy.topic.topic_arn,
            "StateMachineArn": self.copy.state_machine.state_machine_arn,
            "WriterRoleArn": self.copy.writer_role.role_arn,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

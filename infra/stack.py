"""``StepsS3CopyStack``: a thin stack holding one ``StepsS3Copy`` and its outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from steps_s3_copy.infra.construct import StepsS3Copy
from steps_s3_copy.infra.props import StepsS3CopyProps

#: props made in the stack, for what must be imported into it (buckets by name, a topic ARN)
PropsFactory = Callable[[Stack], StepsS3CopyProps]


class StepsS3CopyStack(Stack):
    """The ready-to-deploy stack: ``StepsS3Copy`` made from ``props``, with its outputs.

    ``props`` is a ``StepsS3CopyProps``, or a function of this stack that makes one, for
    references that must be created in a stack before the props exist, such as buckets by
    name: ``props=lambda stack: StepsS3CopyProps(source_buckets=
    StepsS3Copy.buckets_from_names(stack, ["our-runs"]), ...)``. ``stack_args`` go to
    ``Stack`` (``env``, ``description``, ...).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: StepsS3CopyProps | PropsFactory,
        **stack_args: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_args)
        made = props if isinstance(props, StepsS3CopyProps) else props(self)
        self.copy = StepsS3Copy.from_props(self, "StepsS3Copy", made)
        outputs = {
            "InboxBucketName": self.copy.inbox_bucket.bucket_name,
            "TopicArn": self.copy.topic.topic_arn,
            "StateMachineArn": self.copy.state_machine.state_machine_arn,
            "WriterRoleArn": self.copy.writer_role.role_arn,
        }
        if self.copy.dashboard is not None:
            outputs["DashboardName"] = self.copy.dashboard.dashboard_name
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

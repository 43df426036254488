"""The service's ends that users touch: the inbox bucket jobs are dropped into, the rule
that starts a run when a sidecar lands (with its dead-letter queue), and the topic the
completion notices go to.

Each function creates its resources directly in ``scope`` (the ``StepsS3Copy`` construct),
so their construct paths, and with them the template's logical IDs, are those of the
construct's own children.
"""

from __future__ import annotations

from typing import NamedTuple

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_WORK_PREFIX, sidecar_event_pattern
from steps_s3_copy.infra.props import StepsS3CopyProps


def create_inbox(scope: Construct, props: StepsS3CopyProps) -> s3.Bucket:
    """The inbox: private, TLS only, EventBridge notifications on, working files expiring."""
    removal_policy = props.removal_policy
    return s3.Bucket(
        scope,
        "Inbox",
        event_bridge_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        encryption=s3.BucketEncryption.S3_MANAGED,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=removal_policy,
        auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireWorkingFiles",
                prefix=DEFAULT_WORK_PREFIX,
                expiration=Duration.days(props.work_expiry_days),
            ),
            s3.LifecycleRule(
                id="AbortIncompleteUploads",
                abort_incomplete_multipart_upload_after=Duration.days(
                    props.incomplete_upload_expiry_days
                ),
            ),
        ],
    )


def create_topic(scope: Construct) -> sns.Topic:
    """The completion topic, encrypted with the account's AWS-managed SNS key."""
    return sns.Topic(
        scope,
        "Topic",
        display_name="steps-s3-copy completion notices",
        master_key=kms.Alias.from_alias_name(scope, "SnsKey", "alias/aws/sns"),
        enforce_ssl=True,
    )


class Trigger(NamedTuple):
    """The rule that starts a run and the queue that keeps the events it could not deliver."""

    rule: events.Rule
    dead_letter_queue: sqs.Queue

    @classmethod
    def create(
        cls,
        scope: Construct,
        props: StepsS3CopyProps,
        *,
        inbox: s3.IBucket,
        state_machine: sfn.IStateMachine,
    ) -> Trigger:
        """Start ``state_machine`` for each sidecar (``<jobs_prefix>*.json``) in ``inbox``."""
        jobs_prefix = props.jobs_prefix
        dead_letter_queue = sqs.Queue(
            scope,
            "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        pattern = sidecar_event_pattern(inbox.bucket_name, jobs_prefix)
        rule = events.Rule(
            scope,
            "SidecarRule",
            description=f"Start a copy when a sidecar ({jobs_prefix}*.json) lands in the inbox",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
            targets=[
                targets.SfnStateMachine(
                    state_machine,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
        return cls(rule, dead_letter_queue)

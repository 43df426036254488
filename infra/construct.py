"""``StepsS3Copy``: the whole pipeline as one reusable CDK construct.

Everything the service needs in one account and region: the inbox bucket, the EventBridge
rule that starts a run when a sidecar lands, the state machine (Prepare -> Distributed
Map over the batch index -> Lambda or Fargate Spot per batch -> Summarise -> Notify), the
Lambda functions and the Fargate task (one container image for both), the completion
topic, and the network the tasks run in. See ``docs/architecture.md`` for the contract
and ``docs/deploy.md`` for how to deploy and use it.

This module only composes the parts, each in its own module: ``props`` (the arguments and
their validation), ``inbox`` (inbox bucket, topic, rule), ``network``, ``permissions``,
``compute`` (functions and task), ``definition`` (the state machine) and
``acknowledgements`` (cdk-nag). The parts create their resources directly in this
construct, so construct paths and logical IDs are those of its own children.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX
from steps_s3_copy.infra import permissions
from steps_s3_copy.infra.acknowledgements import acknowledge_construct_findings
from steps_s3_copy.infra.assets import stage_image_context
from steps_s3_copy.infra.compute import (
    COPY_BATCH_HANDLER,
    NOTIFY_HANDLER,
    PREPARE_HANDLER,
    SUMMARISE_HANDLER,
    StepFunctions,
    WorkerTask,
)
from steps_s3_copy.infra.definition import (
    RESULT_WRITER_V2_FLAG,
    DefinitionBuilder,
    create_state_machine,
)
from steps_s3_copy.infra.inbox import Trigger, create_inbox, create_topic
from steps_s3_copy.infra.network import Network
from steps_s3_copy.infra.props import StepsS3CopyProps
from steps_s3_copy.models import GiB

__all__ = [
    # kept importable from here (they moved to compute.py and definition.py)
    "COPY_BATCH_HANDLER",
    "NOTIFY_HANDLER",
    "PREPARE_HANDLER",
    "RESULT_WRITER_V2_FLAG",
    "SUMMARISE_HANDLER",
    "StepsS3Copy",
]


class StepsS3Copy(Construct):
    """The copy pipeline. Every argument is keyword-only and has a safe default; they are
    the fields of ``StepsS3CopyProps``, which validates them before anything is created.

    Buckets the copy may touch:

    Buckets are given as ``s3.IBucket`` or as bucket names (in ``source_buckets`` or
    ``source_bucket_names``, which add up; the same for destinations).

    - ``source_buckets``: the buckets objects are read from. ``None`` means any bucket
      (reads still need the source's own bucket policy to allow the writer role).
    - ``destination_buckets``: the buckets objects are written to. ``None`` means any
      bucket *outside the installing account*: the writer role is denied writes into
      buckets of its own account (except the inbox's working area) unless
      ``allow_write_to_installed_account=True``, as the original system does.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        inbox_bucket: s3.IBucket | None = None,
        topic: sns.ITopic | None = None,
        vpc: ec2.IVpc | None = None,
        source_buckets: Sequence[s3.IBucket | str] | None = None,
        destination_buckets: Sequence[s3.IBucket | str] | None = None,
        source_bucket_names: Sequence[str] | None = None,
        destination_bucket_names: Sequence[str] | None = None,
        allow_write_to_installed_account: bool = False,
        writer_role_name: str | None = None,
        task_cpu: int = 1024,
        task_memory_mib: int = 2048,
        use_spot: bool = True,
        lane_cutoff_bytes: int = 1 * GiB,
        jobs_prefix: str = DEFAULT_JOBS_PREFIX,
        work_expiry_days: int = 30,
        incomplete_upload_expiry_days: int = 7,
        lambda_memory_mib: int = 1024,
        state_machine_timeout: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        image_directory: str | Path | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # Without this flag CDK silently drops the Map's ResultWriter; set it here, for
        # everything inside this construct, so that an app that embeds it need not.
        self.node.set_context(RESULT_WRITER_V2_FLAG, True)
        props = StepsS3CopyProps(  # raises ValueError before any resource is created
            inbox_bucket=inbox_bucket,
            topic=topic,
            vpc=vpc,
            source_buckets=source_buckets,
            destination_buckets=destination_buckets,
            source_bucket_names=source_bucket_names,
            destination_bucket_names=destination_bucket_names,
            allow_write_to_installed_account=allow_write_to_installed_account,
            writer_role_name=writer_role_name,
            task_cpu=task_cpu,
            task_memory_mib=task_memory_mib,
            use_spot=use_spot,
            lane_cutoff_bytes=lane_cutoff_bytes,
            jobs_prefix=jobs_prefix,
            work_expiry_days=work_expiry_days,
            incomplete_upload_expiry_days=incomplete_upload_expiry_days,
            lambda_memory_mib=lambda_memory_mib,
            state_machine_timeout=state_machine_timeout,
            log_retention=log_retention,
            removal_policy=removal_policy,
            image_directory=image_directory,
        )
        self.props = props
        self.jobs_prefix = props.jobs_prefix
        self.lane_cutoff_bytes = props.lane_cutoff_bytes
        sources = permissions.import_buckets(self, "Source", props.sources)
        destinations = permissions.import_buckets(self, "Destination", props.destinations)

        # --- storage and notification -------------------------------------------------
        self.inbox_bucket: s3.IBucket = props.inbox_bucket or create_inbox(self, props)
        self.topic: sns.ITopic = props.topic or create_topic(self)

        # --- network, cluster, image ---------------------------------------------------
        network = Network.create(self, props)
        self.vpc, self.security_group, self.cluster = network
        image_dir = str(props.image_directory or stage_image_context())

        # --- roles: the one that touches user data, the one that publishes ------------
        self.writer_role = permissions.create_writer_role(self, role_name=props.writer_role_name)
        self.copy_role = self.writer_role  # the old name, until issue 13 drops it
        permissions.grant_data_access(
            self.writer_role,
            inbox=self.inbox_bucket,
            sources=sources,
            destinations=destinations,
            allow_write_to_installed_account=props.allow_write_to_installed_account,
        )
        self.notify_role = permissions.create_notify_role(self)

        # --- Lambda functions and the Fargate task --------------------------------------
        functions = StepFunctions.create(
            self,
            props,
            image_dir=image_dir,
            writer_role=self.writer_role,
            notify_role=self.notify_role,
            inbox=self.inbox_bucket,
            topic=self.topic,
        )
        self.prepare_function = functions.prepare
        self.copy_function = functions.copy_batch
        self.summarise_function = functions.summarise
        self.notify_function = functions.notify
        permissions.grant_notify(self.notify_role, topic=self.topic, inbox=self.inbox_bucket)
        task = WorkerTask.create(self, props, image_dir=image_dir, role=self.writer_role)
        self.task_definition, self.container, self.task_log_group = task

        # --- state machine and trigger --------------------------------------------------
        self.state_machine, self.state_machine_log_group = create_state_machine(
            self,
            definition=DefinitionBuilder(
                scope=self,
                functions=functions,
                inbox=self.inbox_bucket,
                network=network,
                task=task,
                use_spot=props.use_spot,
            ).build(),
            timeout=props.timeout,
            log_retention=props.log_retention,
        )
        self.rule, self.dead_letter_queue = Trigger.create(
            self, props, inbox=self.inbox_bucket, state_machine=self.state_machine
        )
        self._acknowledge_findings(sources, destinations)

    def _acknowledge_findings(
        self, sources: Sequence[s3.IBucket] | None, destinations: Sequence[s3.IBucket] | None
    ) -> None:
        """cdk-nag findings this design accepts (``acknowledgements.py``); the last step, so
        that every policy they speak of exists."""
        acknowledge_construct_findings(self, sources, destinations)

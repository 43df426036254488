"""``StepsS3Copy``: the whole pipeline as one reusable CDK construct.

Everything the service needs in one account and region: the inbox bucket (and who may put
jobs into it), the EventBridge rule that starts a run when a sidecar lands, the state
machine (Prepare -> Distributed Map over the batch index -> Lambda or Fargate Spot per
batch -> Summarise -> Notify), the Lambda functions and the Fargate task (one container
image for both), one role per kind of step, the completion topic, and the network the
tasks run in. See ``docs/architecture.md`` for the contract
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
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, DEFAULT_REPORTS_PREFIX
from steps_s3_copy.infra import permissions
from steps_s3_copy.infra.acknowledgements import acknowledge_construct_findings
from steps_s3_copy.infra.assets import stage_image_context
from steps_s3_copy.infra.compute import (
    COPY_BATCH_HANDLER,
    DESTINATION_HANDLER,
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
from steps_s3_copy.infra.inbox import JobSubmitters, Trigger, create_inbox, create_topic
from steps_s3_copy.infra.network import Network
from steps_s3_copy.infra.props import DEFAULT_COPY_RESERVED_CONCURRENCY, StepsS3CopyProps
from steps_s3_copy.models import GiB

__all__ = [
    # kept importable from here (they moved to compute.py and definition.py)
    "COPY_BATCH_HANDLER",
    "DESTINATION_HANDLER",
    "NOTIFY_HANDLER",
    "PREPARE_HANDLER",
    "RESULT_WRITER_V2_FLAG",
    "SUMMARISE_HANDLER",
    "StepsS3Copy",
]


class StepsS3Copy(Construct):
    """The copy pipeline. Every argument is keyword-only; they are the fields of
    ``StepsS3CopyProps``, which validates them before anything is created.

    What the copy may touch must be named (docs/deploy.md, "Security"):

    - ``source_buckets`` / ``source_bucket_names``: the buckets objects are read from;
      ``destination_buckets`` / ``destination_bucket_names``: the buckets objects are written
      to (``s3.IBucket`` or names; the two lists of a kind add up). Required: the roles get
      these buckets and nothing else, and Prepare rejects a job naming any other.
    - ``allow_any_bucket_outside_this_account=True`` instead grants every bucket (``*``) and
      denies every bucket of the installing account that was not named
      (``s3:ResourceAccount``): inside one account an identity policy alone opens a bucket,
      so only named buckets of this account are ever read or written. A bucket of another
      account still needs that account's bucket policy to let the writer role in.
    - ``allow_write_to_installed_account``: without it (the default) the writer role is
      denied every write into a bucket of the installing account, named or not, except the
      batch results in the inbox's working area. With it, the named destinations of this
      account may be written (an unnamed one never).
    - ``kms_keys``: key ARNs (or ``kms.IKey``) the roles may use through S3; Prepare gets them
      as ``KMS_KEYS``, the keys a job may name as ``sseKmsKeyId``. Without it keys are usable
      only through S3 for the buckets above (S3's ``aws:s3:arn`` encryption context), and
      ``KMS_KEYS`` is empty.
    - ``submitters``: the IAM roles or users (objects or ARNs) that may start a run (put
      objects under ``jobs_prefix``); the inbox's bucket policy denies everyone else. None
      named: principals outside the account are denied, and inside it IAM decides. See
      ``grant_submit``.

    ``copy_reserved_concurrency`` (default 25) reserves that many concurrent executions
    for the CopyBatch function and tells Prepare (``COPY_CONCURRENCY_LIMIT``), which lowers
    a run's ``maxConcurrency`` to it when the run has Lambda-lane batches; ``None`` reserves
    nothing (for an account too small to reserve any: see docs/deploy.md, "Quotas").
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
        allow_any_bucket_outside_this_account: bool = False,
        kms_keys: Sequence[kms.IKey | str] | None = None,
        submitters: Sequence[iam.IGrantable | str] | None = None,
        writer_role_name: str | None = None,
        task_cpu: int = 1024,
        task_memory_mib: int = 2048,
        use_spot: bool = True,
        lane_cutoff_bytes: int = 1 * GiB,
        jobs_prefix: str = DEFAULT_JOBS_PREFIX,
        work_expiry_days: int = 30,
        incomplete_upload_expiry_days: int = 7,
        lambda_memory_mib: int = 1024,
        copy_reserved_concurrency: int | None = DEFAULT_COPY_RESERVED_CONCURRENCY,
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
            allow_any_bucket_outside_this_account=allow_any_bucket_outside_this_account,
            kms_keys=kms_keys,
            submitters=submitters,
            writer_role_name=writer_role_name,
            task_cpu=task_cpu,
            task_memory_mib=task_memory_mib,
            use_spot=use_spot,
            lane_cutoff_bytes=lane_cutoff_bytes,
            jobs_prefix=jobs_prefix,
            work_expiry_days=work_expiry_days,
            incomplete_upload_expiry_days=incomplete_upload_expiry_days,
            lambda_memory_mib=lambda_memory_mib,
            copy_reserved_concurrency=copy_reserved_concurrency,
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
        self.data_scope = permissions.DataScope(
            sources=sources,
            destinations=destinations,
            any_bucket=props.any_bucket,
            allow_write_to_installed_account=props.allow_write_to_installed_account,
            kms_keys=tuple(k if isinstance(k, str) else k.key_arn for k in props.kms_keys or []),
        )

        # --- storage, who may submit, notification ------------------------------------
        self.inbox_bucket: s3.IBucket = props.inbox_bucket or create_inbox(self, props)
        self.submitters = JobSubmitters(
            self, inbox=self.inbox_bucket, jobs_prefix=props.jobs_prefix
        )
        for submitter in props.submitters or []:
            self.grant_submit(submitter)
        self.topic: sns.ITopic = props.topic or create_topic(self)

        # --- network, cluster, image ---------------------------------------------------
        network = Network.create(self, props)
        self.vpc, self.security_group, self.cluster = network
        image_dir = str(props.image_directory or stage_image_context())

        # --- one role per kind of step ------------------------------------------------
        roles = permissions.create_roles(self, writer_role_name=props.writer_role_name)
        self.roles = roles
        self.prepare_role, self.writer_role = roles.prepare, roles.writer
        self.summarise_role, self.notify_role = roles.summarise, roles.notify
        self.copy_role = self.writer_role  # the old name, until issue 13 drops it
        inbox = self.inbox_bucket
        permissions.grant_prepare(
            roles.prepare, inbox=inbox, jobs_prefix=props.jobs_prefix, data=self.data_scope
        )
        permissions.grant_writer(roles.writer, inbox=inbox, data=self.data_scope)
        permissions.grant_summarise(roles.summarise, inbox=inbox)
        permissions.grant_notify(roles.notify, topic=self.topic, inbox=inbox)

        # --- Lambda functions and the Fargate task --------------------------------------
        functions = StepFunctions.create(
            self,
            props,
            image_dir=image_dir,
            roles=roles,
            data=self.data_scope,
            inbox=inbox,
            topic=self.topic,
        )
        self.prepare_function = functions.prepare
        self.copy_function = functions.copy_batch
        self.summarise_function = functions.summarise
        self.notify_function = functions.notify
        self.destination_function = functions.destination
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
        # the RunTask states propagate the task definition's tags (see there)
        permissions.grant_tag_on_run_task(self.state_machine.role, self.cluster)
        self.rule, self.dead_letter_queue = Trigger.create(
            self, props, inbox=self.inbox_bucket, state_machine=self.state_machine
        )
        # after the state machine: the job lock names its executions (no cycle, see there)
        self.job_lock_policy = permissions.grant_job_lock(self, roles.prepare, self.state_machine)
        self._acknowledge_findings(sources, destinations)

    # --- grants ---------------------------------------------------------------------------
    def grant_submit(self, grantee: iam.IGrantable | str) -> iam.Grant:
        """Let ``grantee`` (an IAM role or user, something that has one, or the ARN of one)
        start runs: put objects (single or multipart) under the jobs prefix of the inbox.

        It is added to the principals the inbox's bucket policy lets put jobs; once any is
        named, nobody else may (see ``JobSubmitters``). A grantee of another account gets an
        Allow in the inbox's bucket policy; its own account must allow it too.
        """
        return self.submitters.grant(grantee)

    def grant_read_reports(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the reports (``reports/*``) and list that prefix."""
        reports = self.inbox_bucket.arn_for_objects(f"{DEFAULT_REPORTS_PREFIX}*")
        grant = iam.Grant.add_to_principal_or_resource(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[reports],
            resource=self.inbox_bucket,
        )
        iam.Grant.add_to_principal_or_resource(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[self.inbox_bucket.bucket_arn],
            resource=self.inbox_bucket,
            conditions={"StringLike": {"s3:prefix": [f"{DEFAULT_REPORTS_PREFIX}*"]}},
        )
        return grant

    def _acknowledge_findings(
        self, sources: Sequence[s3.IBucket], destinations: Sequence[s3.IBucket]
    ) -> None:
        """cdk-nag findings this design accepts (``acknowledgements.py``); the last step, so
        that every policy they speak of exists."""
        acknowledge_construct_findings(self, sources, destinations)

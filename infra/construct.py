"""``StepsS3Copy``: the whole pipeline as one reusable CDK construct.

Everything the service needs in one account and region: the inbox bucket (and who may put
jobs into it), the EventBridge rule that starts a run when a sidecar lands, the state
machine (Prepare -> Distributed Map over the batch index -> Lambda or Fargate Spot per
batch -> Summarise -> Notify), the Lambda functions and the Fargate task (one container
image for both), one role per kind of step, the completion topic, the network the tasks
run in, and a dashboard and alarms to operate it. See ``docs/architecture.md`` for the
contract and ``docs/deploy.md`` for how to deploy and use it.

This module only composes the parts, each in its own module: ``props`` (the arguments and
their validation), ``inbox`` (inbox bucket, topic, rule), ``network``, ``permissions``,
``compute`` (functions and task), ``definition`` (the state machine), ``monitoring`` (the
metrics, the dashboard and the alarms) and ``acknowledgements`` (cdk-nag). The parts create
their resources directly in this construct, so construct paths and logical IDs are those of
its own children.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
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
from steps_s3_copy.infra.monitoring import MetricFactory, create_alarms, create_dashboard
from steps_s3_copy.infra.network import Network
from steps_s3_copy.infra.props import (
    DEFAULT_COPY_RESERVED_CONCURRENCY,
    StepsS3CopyProps,
    buckets_from_names,
)
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
    ``StepsS3CopyProps``, which validates them before anything is created
    (``StepsS3Copy.from_props(scope, id, props)`` takes a props object as it is).

    What the copy may touch must be named (docs/deploy.md, "Security"):

    - ``source_buckets``: the buckets objects are read (and archived ones restored) from;
      ``destination_buckets``: the buckets objects are written to. ``s3.IBucket`` objects:
      ``StepsS3Copy.buckets_from_names(scope, names)`` imports buckets by name. Required:
      the roles get these buckets and nothing else, and Prepare rejects a job naming any
      other.
    - ``allow_any_bucket_outside_this_account=True`` instead grants every bucket (``*``) and
      denies every bucket of the installing account that was not named
      (``s3:ResourceAccount``): inside one account an identity policy alone opens a bucket,
      so only named buckets of this account are ever read or written. A bucket of another
      account still needs that account's bucket policy to let the writer role in.
    - ``allow_write_to_installed_account``: without it (the default) the writer role is
      denied every write into a bucket of the installing account, named or not, except the
      batch results in the inbox's working area. With it, the named destinations of this
      account may be written (an unnamed one never).
    - ``kms_keys``: key ARNs (or ``kms.IKey``) the roles may use through S3, and the keys
      Summarise may sign receipts with; Prepare gets them as ``KMS_KEYS``, the keys a job
      may name (``sseKmsKeyId``, ``receiptSigningKeyId``). Without it keys are usable only
      through S3 for the buckets above (S3's ``aws:s3:arn`` encryption context), no receipt
      is signed, and ``KMS_KEYS`` is empty.
    - ``submitters``: the IAM roles or users (objects or ARNs) that may start a run (put
      objects under ``jobs_prefix``); the inbox's bucket policy denies everyone else. None
      named: principals outside the account are denied, and inside it IAM decides. See
      ``grant_submit``.

    ``writer_role``: a role the deployer manages, used instead of the WriterRole this
    construct creates (by CopyBatch, Destination and the Fargate task; destinations trust
    it). It must trust ``lambda.amazonaws.com`` and ``ecs-tasks.amazonaws.com``. The
    construct adds its statements to the role where it can (a role of this app, or one
    imported with ``iam.Role.from_role_arn(...)``, mutable by default, gets a policy); a role
    it may not change (``mutable=False``, ``without_policy_updates()``) is left as it is and
    synth warns: give it the statements of ``writer_policy_document`` yourself.

    ``copy_reserved_concurrency`` (default 25) reserves that many concurrent executions
    for the CopyBatch function and tells Prepare (``COPY_CONCURRENCY_LIMIT``), which lowers
    a run's ``maxConcurrency`` to it when the run has Lambda-lane batches; ``None`` reserves
    nothing (for an account too small to reserve any: see docs/deploy.md, "Quotas").

    ``dashboard`` (default on): a CloudWatch dashboard of runs, throughput, batches, Spot
    fallbacks, throttles and the dead-letter queue. ``alarms`` (default on): the alarms of
    ``monitoring.ALARMS``, notifying ``alarm_topic`` (an SNS topic) and ``alarm_actions``
    (any ``cloudwatch.IAlarmAction``); docs/deploy.md, "Runbook", says what each means.
    The ``metric_*`` methods give the same metrics for your own dashboards and alarms.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        inbox_bucket: s3.IBucket | None = None,
        topic: sns.ITopic | None = None,
        vpc: ec2.IVpc | None = None,
        source_buckets: Sequence[s3.IBucket] | None = None,
        destination_buckets: Sequence[s3.IBucket] | None = None,
        allow_write_to_installed_account: bool = False,
        allow_any_bucket_outside_this_account: bool = False,
        kms_keys: Sequence[kms.IKey | str] | None = None,
        submitters: Sequence[iam.IGrantable | str] | None = None,
        writer_role: iam.IRole | None = None,
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
        dashboard: bool = True,
        alarms: bool = True,
        alarm_topic: sns.ITopic | None = None,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] | None = None,
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
            allow_write_to_installed_account=allow_write_to_installed_account,
            allow_any_bucket_outside_this_account=allow_any_bucket_outside_this_account,
            kms_keys=kms_keys,
            submitters=submitters,
            writer_role=writer_role,
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
            dashboard=dashboard,
            alarms=alarms,
            alarm_topic=alarm_topic,
            alarm_actions=alarm_actions,
            image_directory=image_directory,
        )
        self.props = props
        self.jobs_prefix = props.jobs_prefix
        self.lane_cutoff_bytes = props.lane_cutoff_bytes
        sources = tuple(props.sources or ())
        destinations = tuple(props.destinations or ())
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
        roles = permissions.create_roles(
            self, writer_role_name=props.writer_role_name, writer_role=props.writer_role
        )
        self.roles = roles
        self.prepare_role, self.writer_role = roles.prepare, roles.writer
        self.summarise_role, self.notify_role = roles.summarise, roles.notify
        inbox = self.inbox_bucket
        permissions.grant_prepare(
            roles.prepare, inbox=inbox, jobs_prefix=props.jobs_prefix, data=self.data_scope
        )
        granted = permissions.grant_writer(roles.writer, inbox=inbox, data=self.data_scope)
        #: what the writer role is given here (and what a role brought by the deployer that
        #: this construct may not change must be given by the deployer)
        self.writer_policy_document = iam.PolicyDocument(statements=granted)
        if not permissions.takes_statements(roles.writer):
            self._warn_unchangeable_writer_role()
        permissions.grant_summarise(
            roles.summarise, inbox=inbox, signing_keys=self.data_scope.kms_keys
        )
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
        # the Map's S3 grants (CDK's, on the whole inbox) confined to the working area
        permissions.confine_map_to_work_area(self.state_machine.role, self.inbox_bucket)
        self.rule, self.dead_letter_queue = Trigger.create(
            self, props, inbox=self.inbox_bucket, state_machine=self.state_machine
        )
        # after the state machine: the job lock names its executions (no cycle, see there)
        self.job_lock_policy = permissions.grant_job_lock(self, roles.prepare, self.state_machine)

        # --- see it while it runs, hear when it breaks ----------------------------------
        self.metrics = MetricFactory(
            state_machine=self.state_machine,
            copy_function=self.copy_function,
            dead_letter_queue=self.dead_letter_queue,
        )
        actions = props.alarm_notifications
        self.alarms: dict[str, cloudwatch.Alarm] = (
            create_alarms(self, self.metrics, actions) if props.alarms else {}
        )
        if props.alarms and not actions:
            Annotations.of(self).add_info(
                "steps-s3-copy: the alarms notify nobody; pass alarm_topic or alarm_actions "
                "(docs/deploy.md, Runbook)"
            )
        self.dashboard: cloudwatch.Dashboard | None = (
            create_dashboard(self, self.metrics, self.alarms) if props.dashboard else None
        )
        self._acknowledge_findings(sources, destinations)

    @classmethod
    def from_props(
        cls, scope: Construct, construct_id: str, props: StepsS3CopyProps
    ) -> StepsS3Copy:
        """The construct made from a ``StepsS3CopyProps`` (the stack's way in)."""
        return cls(scope, construct_id, **props.arguments())

    @staticmethod
    def buckets_from_names(scope: Construct, names: Sequence[str]) -> list[s3.IBucket]:
        """Buckets by name, for ``source_buckets`` and ``destination_buckets``: each imported
        into ``scope`` as ``Bucket-<name>`` (``s3.Bucket.from_bucket_name``; importing a name
        again gives the same reference). A ``ValueError`` names a string that is not a
        bucket name."""
        return buckets_from_names(scope, names)

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

    # --- metrics (the dashboard's and the alarms': docs/architecture.md, "Metrics") -------
    def metric(
        self,
        name: str,
        *,
        dimensions: Mapping[str, str] | None = None,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """The steps' metric ``name`` (namespace ``StepsS3Copy``) with its dimensions (for
        ``Runs`` ``status``, for ``BatchesRun`` ``lane``, for ``S3Retries`` ``error``), of one
        ``job`` or of the whole deployment; Sum over five minutes unless told otherwise. A
        ``ValueError`` for a name or dimensions the steps do not emit."""
        return self.metrics.custom(
            name, dimensions=dimensions, job=job, period=period, statistic=statistic
        )

    def metric_runs_started(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Runs that planned (``RunsStarted``)."""
        return self.metric("RunsStarted", job=job, period=period, statistic=statistic)

    def metric_runs_succeeded(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Runs that copied everything (``Runs``, status SUCCEEDED)."""
        return self.metric(
            "Runs", dimensions={"status": "SUCCEEDED"}, job=job, period=period, statistic=statistic
        )

    def metric_runs_partial(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Runs that ended with some objects FAILED (``Runs``, status PARTIAL)."""
        return self.metric(
            "Runs", dimensions={"status": "PARTIAL"}, job=job, period=period, statistic=statistic
        )

    def metric_runs_failed(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Runs that failed; their notice says why (``Runs``, status FAILED)."""
        return self.metric(
            "Runs", dimensions={"status": "FAILED"}, job=job, period=period, statistic=statistic
        )

    def metric_objects_copied(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Objects copied (``ObjectsCopied``)."""
        return self.metric("ObjectsCopied", job=job, period=period, statistic=statistic)

    def metric_objects_skipped(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Objects skipped, already at the destination (``ObjectsSkipped``)."""
        return self.metric("ObjectsSkipped", job=job, period=period, statistic=statistic)

    def metric_objects_failed(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Objects that could not be copied (``ObjectsFailed``)."""
        return self.metric("ObjectsFailed", job=job, period=period, statistic=statistic)

    def metric_bytes_copied(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Bytes copied (``BytesCopied``, unit Bytes)."""
        return self.metric("BytesCopied", job=job, period=period, statistic=statistic)

    def metric_batches_failed(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Batches without results after their retries (``BatchesFailed``)."""
        return self.metric("BatchesFailed", job=job, period=period, statistic=statistic)

    def metric_spot_fallbacks(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Fargate batches run on on-demand capacity after Spot (``SpotFallbacks``)."""
        return self.metric("SpotFallbacks", job=job, period=period, statistic=statistic)

    def metric_objects_restored(
        self,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Archived objects whose restore finished (``ObjectsRestored``)."""
        return self.metric("ObjectsRestored", job=job, period=period, statistic=statistic)

    def metric_batches_run(
        self,
        lane: str,
        *,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """Batches run in ``lane`` (lambda or fargate: ``BatchesRun``)."""
        return self.metric(
            "BatchesRun", dimensions={"lane": lane}, job=job, period=period, statistic=statistic
        )

    def metric_executions_failed(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """``AWS/States`` ExecutionsFailed of the state machine."""
        return self.metrics.executions("Failed", period=period)

    def metric_executions_timed_out(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """``AWS/States`` ExecutionsTimedOut of the state machine."""
        return self.metrics.executions("TimedOut", period=period)

    def metric_copy_throttles(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """``AWS/Lambda`` Throttles of the CopyBatch function."""
        return self.metrics.copy_throttles(period=period)

    def metric_dead_letters(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """``AWS/SQS`` ApproximateNumberOfMessagesVisible of the rule's dead-letter queue."""
        return self.metrics.dead_letters(period=period)

    def _warn_unchangeable_writer_role(self) -> None:
        Annotations.of(self).add_warning_v2(
            "steps-s3-copy:writer-role-unchanged",
            "The writer_role given cannot be changed by this construct: give it the "
            "statements of writer_policy_document (the copy's S3 and KMS access) yourself, "
            "and let it write the CopyBatch and Destination log groups and send X-Ray traces "
            "(docs/deploy.md, Bring your own writer role).",
        )

    def _acknowledge_findings(
        self, sources: Sequence[s3.IBucket], destinations: Sequence[s3.IBucket]
    ) -> None:
        """cdk-nag findings this design accepts (``acknowledgements.py``); the last step, so
        that every policy they speak of exists."""
        acknowledge_construct_findings(self, sources, destinations)

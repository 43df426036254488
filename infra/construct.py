"""``StepsS3Copy``: the whole pipeline as one reusable CDK construct.

Everything the service needs in one account and region: the inbox bucket, the EventBridge
rule that starts a run when a sidecar lands, the state machine (Prepare -> Distributed
Map over the batch index -> Lambda or Fargate Spot per batch -> Summarise -> Notify), the
Lambda functions and the Fargate task (one container image for both), the completion
topic, and the network the tasks run in. See ``docs/architecture.md`` for the contract
and ``docs/deploy.md`` for how to deploy and use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from aws_cdk import Aspects, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, sidecar_event_pattern
from steps_s3_copy.infra.acknowledgements import AcknowledgeWildcards, Rule, acknowledge
from steps_s3_copy.infra.assets import stage_image_context
from steps_s3_copy.models import GiB

RESULT_WRITER_V2_FLAG: Final = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"

#: the Lambda handlers, by their module path inside the image
PREPARE_HANDLER: Final = "steps_s3_copy.handlers.prepare.handler"
COPY_BATCH_HANDLER: Final = "steps_s3_copy.handlers.copy_batch.handler"
SUMMARISE_HANDLER: Final = "steps_s3_copy.handlers.summarise.handler"
NOTIFY_HANDLER: Final = "steps_s3_copy.handlers.notify.handler"
LAMBDA_ENTRYPOINT: Final = ("python", "-m", "awslambdaric")
WORKER_COMMAND: Final = ("python", "-m", "steps_s3_copy.worker")
CONTAINER_NAME: Final = "Worker"
#: one full vCPU of Lambda
SUMMARISE_MIN_MEMORY_MIB: Final = 1769

#: working files of a run (Prepare writes them under <WORK_PREFIX><job>/<run-id>/)
WORK_PREFIX: Final = "work/"
REPORTS_PREFIX: Final = "reports/"

#: Fargate's valid (cpu -> memory MiB range, step) combinations
_FARGATE_MEMORY: Final[dict[int, tuple[int, int, int]]] = {
    256: (512, 2048, 512),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}

#: errors of ecs:runTask worth retrying: throttling, capacity, a task that stopped badly
ECS_RETRY_ERRORS: Final = (
    "ECS.AmazonECSException",
    "ECS.ThrottlingException",
    "ECS.LimitExceededException",
    "ECS.ServerException",
    "States.TaskFailed",
)
#: errors of a Lambda invocation worth retrying (throttling, the service, the network)
LAMBDA_SERVICE_ERRORS: Final = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
)
#: ... and for a copy batch also BatchIncomplete: it ran out of time and continues on retry
LAMBDA_RETRY_ERRORS: Final = (*LAMBDA_SERVICE_ERRORS, "BatchIncomplete")

_EXECUTION_CONTEXT: Final = {
    "id": sfn.JsonPath.string_at("$$.Execution.Id"),
    "name": sfn.JsonPath.string_at("$$.Execution.Name"),
    "startTime": sfn.JsonPath.string_at("$$.Execution.StartTime"),
}


class StepsS3Copy(Construct):
    """The copy pipeline. Every argument is keyword-only and has a safe default.

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
        _validate(
            task_cpu=task_cpu,
            task_memory_mib=task_memory_mib,
            lane_cutoff_bytes=lane_cutoff_bytes,
            jobs_prefix=jobs_prefix,
            work_expiry_days=work_expiry_days,
            incomplete_upload_expiry_days=incomplete_upload_expiry_days,
            lambda_memory_mib=lambda_memory_mib,
            writer_role_name=writer_role_name,
            source_buckets=_merged(source_buckets, source_bucket_names),
            destination_buckets=_merged(destination_buckets, destination_bucket_names),
            state_machine_timeout=state_machine_timeout,
        )
        sources = self._buckets("Source", _merged(source_buckets, source_bucket_names))
        destinations = self._buckets(
            "Destination", _merged(destination_buckets, destination_bucket_names)
        )
        timeout = state_machine_timeout or Duration.days(7)
        stack = Stack.of(self)
        self.jobs_prefix = jobs_prefix
        self.lane_cutoff_bytes = lane_cutoff_bytes

        # --- storage and notification -------------------------------------------------
        self.inbox_bucket: s3.IBucket = inbox_bucket or self._create_inbox(
            work_expiry_days=work_expiry_days,
            incomplete_upload_expiry_days=incomplete_upload_expiry_days,
            removal_policy=removal_policy,
        )
        self.topic: sns.ITopic = topic or sns.Topic(
            self,
            "Topic",
            display_name="steps-s3-copy completion notices",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )

        # --- network, cluster, image ---------------------------------------------------
        self.vpc: ec2.IVpc = vpc or self._create_vpc(log_retention)
        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description="steps-s3-copy Fargate tasks: HTTPS out only, nothing in",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to S3, ECR and CloudWatch Logs"
        )
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, enable_fargate_capacity_providers=True
        )
        image_dir = str(image_directory or stage_image_context())

        # --- the one role that touches user data ---------------------------------------
        self.writer_role = iam.Role(
            self,
            "WriterRole",
            role_name=writer_role_name,
            description="steps-s3-copy: reads sources, writes destinations (trust this role)",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("lambda.amazonaws.com"),
                iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            ),
        )
        self.copy_role = self.writer_role
        self._grant_data_access(
            stack=stack,
            source_buckets=sources,
            destination_buckets=destinations,
            allow_write_to_installed_account=allow_write_to_installed_account,
        )

        # --- Lambda functions -----------------------------------------------------------
        common_env = {"POWERTOOLS_SERVICE_NAME": "steps-s3-copy", "LOG_LEVEL": "INFO"}
        layout_env = {  # where Prepare puts a run's files and Summarise finds them
            "WORK_BUCKET": self.inbox_bucket.bucket_name,
            "WORK_PREFIX": WORK_PREFIX,
            "JOBS_PREFIX": jobs_prefix,
            "REPORTS_PREFIX": REPORTS_PREFIX,
        }
        self.prepare_function = self._function(
            "Prepare",
            PREPARE_HANDLER,
            image_dir=image_dir,
            role=self.writer_role,
            memory_mib=lambda_memory_mib,
            timeout=Duration.minutes(15),
            log_retention=log_retention,
            environment={
                **common_env,
                **layout_env,
                "LANE_CUTOFF_BYTES": str(lane_cutoff_bytes),
            },
        )
        self.copy_function = self._function(
            "CopyBatch",
            COPY_BATCH_HANDLER,
            image_dir=image_dir,
            role=self.writer_role,
            memory_mib=lambda_memory_mib,
            timeout=Duration.minutes(15),
            log_retention=log_retention,
            environment=common_env,
        )
        self.summarise_function = self._function(
            "Summarise",
            SUMMARISE_HANDLER,
            image_dir=image_dir,
            role=self.writer_role,
            # Summarise reads every batch's results file (100,000 of them for a million
            # objects at 10 per batch) in 32 threads: CPU-bound, so at least one full vCPU
            # (1,769 MB), whatever the other functions get.
            memory_mib=max(lambda_memory_mib, SUMMARISE_MIN_MEMORY_MIB),
            timeout=Duration.minutes(15),
            log_retention=log_retention,
            environment={**common_env, **layout_env},
        )
        self.notify_role = iam.Role(
            self,
            "NotifyRole",
            description="steps-s3-copy: publishes the completion notice",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.notify_function = self._function(
            "Notify",
            NOTIFY_HANDLER,
            image_dir=image_dir,
            role=self.notify_role,
            memory_mib=256,
            timeout=Duration.minutes(1),
            log_retention=log_retention,
            environment={**common_env, "TOPIC_ARN": self.topic.topic_arn},
        )
        self.topic.grant_publish(self.notify_role)
        # the notice marker (notice.json) in the run's working area makes publishing idempotent
        self.notify_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="NoticeMarker",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[self.inbox_bucket.arn_for_objects(f"{WORK_PREFIX}*")],
            )
        )
        self.notify_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListInbox",
                actions=["s3:ListBucket"],
                resources=[self.inbox_bucket.bucket_arn],
            )
        )

        # --- Fargate task ---------------------------------------------------------------
        self.task_log_group = logs.LogGroup(
            self, "WorkerLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=task_cpu,
            memory_limit_mib=task_memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_role=self.writer_role,
        )
        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_asset(image_dir, platform=Platform.LINUX_ARM64),
            # the image's own ENTRYPOINT, stated so the task does not depend on it
            entry_point=list(WORKER_COMMAND),
            essential=True,
            memory_limit_mib=task_memory_mib,
            stop_timeout=Duration.seconds(120),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="worker",
                log_group=self.task_log_group,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
        )

        # --- state machine and trigger --------------------------------------------------
        self.state_machine_log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(use_spot)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.state_machine_log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        pattern = sidecar_event_pattern(self.inbox_bucket.bucket_name, jobs_prefix)
        self.rule = events.Rule(
            self,
            "SidecarRule",
            description=f"Start a copy when a sidecar ({jobs_prefix}*.json) lands in the inbox",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
        self._acknowledge_findings(stack, sources, destinations)

    # ------------------------------------------------------------------------------------
    def _buckets(
        self, kind: str, buckets: Sequence[s3.IBucket | str] | None
    ) -> list[s3.IBucket] | None:
        if buckets is None:
            return None
        return [
            s3.Bucket.from_bucket_name(self, f"{kind}{index}", bucket)
            if isinstance(bucket, str)
            else bucket
            for index, bucket in enumerate(buckets)
        ]

    def _create_inbox(
        self,
        *,
        work_expiry_days: int,
        incomplete_upload_expiry_days: int,
        removal_policy: RemovalPolicy,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
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
                    prefix=WORK_PREFIX,
                    expiration=Duration.days(work_expiry_days),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(
                        incomplete_upload_expiry_days
                    ),
                ),
            ],
        )

    def _create_vpc(self, log_retention: logs.RetentionDays) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        return vpc

    def _function(
        self,
        construct_id: str,
        handler: str,
        *,
        image_dir: str,
        role: iam.IRole,
        memory_mib: int,
        timeout: Duration,
        log_retention: logs.RetentionDays,
        environment: dict[str, str],
    ) -> lambda_.DockerImageFunction:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        log_group.grant_write(role)
        return lambda_.DockerImageFunction(
            self,
            f"{construct_id}Function",
            description=f"steps-s3-copy {construct_id}: {handler}",
            code=lambda_.DockerImageCode.from_image_asset(
                image_dir,
                entrypoint=list(LAMBDA_ENTRYPOINT),
                cmd=[handler],
                platform=Platform.LINUX_ARM64,
            ),
            architecture=lambda_.Architecture.ARM_64,
            memory_size=memory_mib,
            timeout=timeout,
            role=role,
            log_group=log_group,
            # JSON for the platform's lines too; Powertools writes the application's as JSON
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            environment=environment,
        )

    def _grant_data_access(
        self,
        *,
        stack: Stack,
        source_buckets: Sequence[s3.IBucket] | None,
        destination_buckets: Sequence[s3.IBucket] | None,
        allow_write_to_installed_account: bool,
    ) -> None:
        role = self.writer_role
        inbox = self.inbox_bucket
        # the inbox: manifests, sidecars, plans and results are read; the working area
        # and the reports are written
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadInbox",
                actions=["s3:GetObject", "s3:GetObjectTagging"],
                resources=[inbox.arn_for_objects("*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListInbox", actions=["s3:ListBucket"], resources=[inbox.bucket_arn]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteWorkAndReports",
                actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[
                    inbox.arn_for_objects(f"{WORK_PREFIX}*"),
                    inbox.arn_for_objects(f"{REPORTS_PREFIX}*"),
                ],
            )
        )
        if inbox.encryption_key is not None:
            inbox.encryption_key.grant_encrypt_decrypt(role)

        any_bucket = f"arn:{stack.partition}:s3:::*"
        any_object = f"arn:{stack.partition}:s3:::*/*"
        if source_buckets is None:
            read_buckets, read_objects = [any_bucket], [any_object]
        else:
            read_buckets = [b.bucket_arn for b in source_buckets]
            read_objects = [b.arn_for_objects("*") for b in source_buckets]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadSources",
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:GetObjectVersionTagging",
                    "s3:GetObjectAttributes",
                    "s3:GetObjectVersionAttributes",
                ],
                resources=read_objects,
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListSources",
                actions=["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"],
                resources=read_buckets,
            )
        )
        if destination_buckets is None:
            write_buckets, write_objects = [any_bucket], [any_object]
        else:
            write_buckets = [b.bucket_arn for b in destination_buckets]
            write_objects = [b.arn_for_objects("*") for b in destination_buckets]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteDestinations",
                actions=[
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                    "s3:GetObject",
                    "s3:GetObjectTagging",
                    "s3:GetObjectAttributes",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=write_objects,
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListDestinations",
                actions=["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"],
                resources=write_buckets,
            )
        )
        if not allow_write_to_installed_account:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DenyWritesIntoInstalledAccount",
                    effect=iam.Effect.DENY,
                    actions=[
                        "s3:PutObject",
                        "s3:PutObjectTagging",
                        "s3:PutObjectAcl",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                    ],
                    not_resources=[self.inbox_bucket.arn_for_objects("*")],
                    conditions={"StringEquals": {"s3:ResourceAccount": stack.account}},
                )
            )
        # SSE-KMS sources and destinations: only ever through S3 in this region
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="KmsThroughS3",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )

    # ------------------------------------------------------------------------------------
    def _definition(self, use_spot: bool) -> sfn.IChainable:
        execution = dict(_EXECUTION_CONTEXT)

        prepare = tasks.LambdaInvoke(
            self,
            "Prepare",
            lambda_function=self.prepare_function,
            payload=sfn.TaskInput.from_object(
                {"input": sfn.JsonPath.entire_payload, "execution": execution}
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_selector={"prepared": sfn.JsonPath.object_at("$")},
        )
        summarise = tasks.LambdaInvoke(
            self,
            "Summarise",
            lambda_function=self.summarise_function,
            payload=sfn.TaskInput.from_object(
                {"prepared": sfn.JsonPath.object_at("$.prepared"), "execution": execution}
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        notify = tasks.LambdaInvoke(
            self,
            "Notify",
            lambda_function=self.notify_function,
            payload=sfn.TaskInput.from_object({"notice": sfn.JsonPath.object_at("$.notice")}),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=sfn.JsonPath.DISCARD,
        )
        summarise_failure = tasks.LambdaInvoke(
            self,
            "SummariseFailure",
            lambda_function=self.summarise_function,
            payload=sfn.TaskInput.from_object(
                {
                    "error": sfn.JsonPath.object_at("$.error"),
                    "input": sfn.JsonPath.object_at("$$.Execution.Input"),
                    "execution": execution,
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        notify_failure = tasks.LambdaInvoke(
            self,
            "NotifyFailure",
            lambda_function=self.notify_function,
            payload=sfn.TaskInput.from_object({"notice": sfn.JsonPath.object_at("$.notice")}),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=sfn.JsonPath.DISCARD,
        )
        for task in (prepare, summarise, notify, summarise_failure, notify_failure):
            task.add_retry(
                errors=list(LAMBDA_SERVICE_ERRORS),
                interval=Duration.seconds(2),
                backoff_rate=2,
                max_attempts=6,
                max_delay=Duration.minutes(1),
                jitter_strategy=sfn.JitterType.FULL,
            )
        failed = sfn.Fail(
            self, "Failed", error="CopyFailed", cause="The run failed; the notice says why"
        )
        failure_path = summarise_failure.next(notify_failure).next(failed)

        copy_map = sfn.DistributedMap(
            self,
            "Copy",
            item_reader=sfn.S3CsvItemReader(
                bucket=self.inbox_bucket,
                key=sfn.JsonPath.string_at("$.prepared.indexKey"),
                csv_headers=sfn.CsvHeaders.use_first_row(),
            ),
            max_concurrency_path=sfn.JsonPath.string_at("$.prepared.maxConcurrency"),
            item_selector={
                "batch": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "work": sfn.JsonPath.object_at("$.prepared.work"),
            },
            result_writer_v2=sfn.ResultWriterV2(
                bucket=self.inbox_bucket,
                prefix=f"{WORK_PREFIX}map-results",
            ),
            result_path="$.mapRun",
        )
        copy_map.item_processor(self._batch_processor(use_spot))

        dry_run = sfn.Choice(self, "DryRun")
        prepare.add_catch(failure_path, errors=["States.ALL"], result_path="$.error")
        copy_map.add_catch(failure_path, errors=["States.ALL"], result_path="$.error")
        summarise.add_catch(failure_path, errors=["States.ALL"], result_path="$.error")

        done = sfn.Succeed(self, "Done")
        summarise.next(notify).next(done)
        dry_run.when(sfn.Condition.boolean_equals("$.prepared.dryRun", True), summarise)
        dry_run.otherwise(copy_map)
        copy_map.next(summarise)
        return prepare.next(dry_run)

    def _batch_processor(self, use_spot: bool) -> sfn.IChainable:
        """One Map item: run one batch on its lane; a batch still failing is recorded."""
        batch_failed = sfn.Pass(
            self,
            "BatchFailed",
            parameters={
                "batchId": sfn.JsonPath.string_at("$.batch.batchId"),
                "lane": sfn.JsonPath.string_at("$.batch.lane"),
                "failed": True,
                "error": sfn.JsonPath.object_at("$.error"),
            },
        )
        copy_lambda = tasks.LambdaInvoke(
            self,
            "CopyBatchLambda",
            lambda_function=self.copy_function,
            payload_response_only=True,
            retry_on_service_exceptions=False,
        )
        copy_lambda.add_retry(
            errors=list(LAMBDA_RETRY_ERRORS),
            interval=Duration.seconds(5),
            backoff_rate=2,
            max_attempts=4,
            max_delay=Duration.minutes(2),
            jitter_strategy=sfn.JitterType.FULL,
        )
        copy_lambda.add_catch(batch_failed, errors=["States.ALL"], result_path="$.error")

        on_demand = self._run_task(
            "CopyBatchOnDemand",
            capacity_provider="FARGATE",
            retry_interval=Duration.seconds(30),
            max_attempts=5,
            max_delay=Duration.minutes(5),
        )
        on_demand.add_catch(batch_failed, errors=["States.ALL"], result_path="$.error")
        fargate: sfn.IChainable = on_demand
        if use_spot:
            spot = self._run_task(
                "CopyBatchSpot",
                capacity_provider="FARGATE_SPOT",
                retry_interval=Duration.seconds(20),
                max_attempts=3,
                max_delay=Duration.minutes(2),
            )
            # Spot capacity gone or the task interrupted more than the retries absorb:
            # run the batch again on on-demand Fargate (it skips what is already copied).
            spot.add_catch(on_demand, errors=["States.ALL"], result_path="$.spotError")
            fargate = spot

        return (
            sfn.Choice(self, "Lane")
            .when(sfn.Condition.string_equals("$.batch.lane", "fargate"), fargate)
            .otherwise(copy_lambda)
        )

    def _run_task(
        self,
        construct_id: str,
        *,
        capacity_provider: str,
        retry_interval: Duration,
        max_attempts: int,
        max_delay: Duration,
    ) -> tasks.EcsRunTask:
        """One batch as an ECS RunTask.sync on ``capacity_provider``, retried on ECS
        throttling, capacity errors and a failed task with full-jitter backoff."""
        task = tasks.EcsRunTask(
            self,
            construct_id,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            cluster=self.cluster,
            task_definition=self.task_definition,
            launch_target=tasks.EcsFargateLaunchTarget(
                platform_version=ecs.FargatePlatformVersion.LATEST,
                capacity_provider_options=tasks.CapacityProviderOptions.custom(
                    [ecs.CapacityProviderStrategy(capacity_provider=capacity_provider, weight=1)]
                ),
            ),
            assign_public_ip=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[self.security_group],
            propagated_tag_source=ecs.PropagatedTagSource.TASK_DEFINITION,
            container_overrides=[
                tasks.ContainerOverride(
                    container_definition=self.container,
                    environment=[
                        tasks.TaskEnvironmentVariable(
                            name="S3COPY_WORK_BUCKET",
                            value=sfn.JsonPath.string_at("$.work.bucket"),
                        ),
                        tasks.TaskEnvironmentVariable(
                            name="S3COPY_RUN_PREFIX",
                            value=sfn.JsonPath.string_at("$.work.prefix"),
                        ),
                        tasks.TaskEnvironmentVariable(
                            name="S3COPY_BATCH",
                            value=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.batch")),
                        ),
                    ],
                )
            ],
            result_selector={"taskArn": sfn.JsonPath.string_at("$.TaskArn")},
            result_path="$.task",
        )
        task.add_retry(
            errors=list(ECS_RETRY_ERRORS),
            interval=retry_interval,
            backoff_rate=2,
            max_attempts=max_attempts,
            max_delay=max_delay,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    # ------------------------------------------------------------------------------------
    def _acknowledge_findings(
        self,
        stack: Stack,
        sources: Sequence[s3.IBucket] | None,
        destinations: Sequence[s3.IBucket] | None,
    ) -> None:
        """cdk-nag (AwsSolutions) findings this design accepts, each with its reason."""
        inbox = r"(<[A-Za-z0-9]+\.Arn>|arn:<AWS::Partition>:s3:::<[A-Za-z0-9]+>)"
        xray = (
            "X-Ray's PutTraceSegments/PutTelemetryRecords (tracing is on) have no "
            "resource-level permissions, so they can only be granted on '*'."
        )
        rules = [
            Rule(
                self.writer_role,
                rf"Resource::{inbox}/\*",
                "The writer role reads the service's own job files in the inbox (manifests, "
                "sidecars, plans, batch results); their keys are chosen by the submitter and "
                "by each run, so the grant covers the inbox's objects, nothing else.",
            ),
            Rule(
                self.writer_role,
                rf"Resource::{inbox}/(work|reports)/\*",
                "Each run writes its working files and report under work/<job>/<run-id>/ "
                "and reports/<job>/<run-id>/, names known only at run time.",
            ),
            Rule(
                self.writer_role,
                r"Resource::\*",
                f"{xray} The KMS statement is limited by kms:ViaService to S3 in this "
                "region: the keys of the source and destination buckets belong to other "
                "accounts and are not known when the construct is deployed.",
            ),
            Rule(self.notify_role, r"Resource::\*", xray),
            Rule(
                self.notify_role,
                rf"Resource::{inbox}/work/\*",
                "Notify reads and writes only the notice marker (notice.json) of the run's "
                "working area, whose job and run id are known only at run time.",
            ),
            Rule(
                self.task_definition,
                r"Resource::\*",
                "ecr:GetAuthorizationToken has no resource-level permissions; the image "
                "pull itself is scoped to the asset repository.",
            ),
            Rule(
                self.state_machine,
                r"Resource::\*",
                f"{xray} The ECS .sync integration needs ecs:DescribeTasks/StopTask on the "
                "task ARNs it starts (unknown before they run), and log delivery "
                "(logs:*LogDelivery) has no resource-level permissions either.",
            ),
            Rule(
                self.state_machine,
                r"Resource::<[A-Za-z0-9]+Function[A-Za-z0-9]+\.Arn>:\*",
                "Invoking this construct's own functions, including qualified versions and "
                "aliases (CDK's LambdaInvoke grant: one statement per function).",
            ),
            Rule(
                self.state_machine,
                rf"Resource::{inbox}/\*",
                "The Distributed Map reads the batch index (index.csv) of each run and "
                "writes the Map Run results under work/ in the inbox; keys are per run.",
            ),
            Rule(
                self.state_machine,
                r"Resource::arn:.*TaskDefinition.*:\*",
                "ecs:RunTask on any revision of this construct's own task definition family "
                "(CDK's EcsRunTask grant), so a deploy that adds a revision keeps working.",
            ),
            Rule(
                self.state_machine,
                r"Resource::arn:<AWS::Partition>:states:.*:execution:.*(:|/)\*(:\*)?",
                "The Distributed Map describes, stops and redrives the child executions of "
                "this same state machine; their names are generated at run time.",
            ),
        ]
        if sources is None or destinations is None:
            rules.append(
                Rule(
                    self.writer_role,
                    r"Resource::arn:<AWS::Partition>:s3:::\*(/\*)?",
                    "source_buckets/destination_buckets were not given, so the copy may read "
                    "any bucket whose own bucket policy trusts this role and write to any "
                    "bucket outside this account (DenyWritesIntoInstalledAccount blocks this "
                    "account's buckets unless explicitly allowed). Name the buckets to narrow "
                    "it; cross-account access still needs the other side's bucket policy.",
                )
            )
        named = [*(sources or []), *(destinations or [])]
        if named:
            rules.append(
                Rule(
                    self.writer_role,
                    r"Resource::(arn:<AWS::Partition>:s3:::[a-z0-9.-]+|<[A-Za-z0-9]+\.Arn>)/\*",
                    "Any object of the named source and destination buckets may be in a "
                    "manifest, so object-level actions are granted on <bucket>/*, for those "
                    "buckets only.",
                )
            )
        Aspects.of(self).add(AcknowledgeWildcards(rules))

        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the EventBridge target; a "
            "dead-letter queue for it would add nothing.",
        )
        if isinstance(self.inbox_bucket, s3.Bucket) and self.inbox_bucket.node.scope is self:
            acknowledge(
                self.inbox_bucket,
                "AwsSolutions-S1",
                "The inbox holds only job files (manifests, sidecars, working files, "
                "reports) written by the submitter and this service, and every run is "
                "recorded in the state machine's execution history and logs. Server access "
                "logs would need another bucket; enable CloudTrail S3 data events where an "
                "object-level audit trail is required.",
            )
            handler = stack.node.try_find_child(
                "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
            )
            if handler is not None:
                acknowledge(
                    handler,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AWSLambdaBasicExecutionRole]",
                    "CDK's own singleton handler that switches on EventBridge notifications "
                    "for the inbox at deploy time; the managed policy only lets it write its "
                    "own logs.",
                )
        acknowledge(
            self.cluster,
            "AwsSolutions-ECS4",
            "Tasks are short-lived batch copies: each logs JSON to CloudWatch Logs and "
            "reports its outcome to Step Functions, where the Map Run shows progress. "
            "Container Insights would bill per-task metrics nobody acts on; turn it on in "
            "the cluster if wanted.",
        )


def _merged(
    buckets: Sequence[s3.IBucket | str] | None, names: Sequence[str] | None
) -> list[s3.IBucket | str] | None:
    if buckets is None and names is None:
        return None
    return [*(buckets or []), *(names or [])]


def _validate(
    *,
    task_cpu: int,
    task_memory_mib: int,
    lane_cutoff_bytes: int,
    jobs_prefix: str,
    work_expiry_days: int,
    incomplete_upload_expiry_days: int,
    lambda_memory_mib: int,
    writer_role_name: str | None,
    source_buckets: Sequence[s3.IBucket | str] | None,
    destination_buckets: Sequence[s3.IBucket | str] | None,
    state_machine_timeout: Duration | None,
) -> None:
    """Reject bad arguments before any resource is created."""
    if task_cpu not in _FARGATE_MEMORY:
        raise ValueError(f"task_cpu must be one of {sorted(_FARGATE_MEMORY)}, not {task_cpu}")
    low, high, step = _FARGATE_MEMORY[task_cpu]
    if not (low <= task_memory_mib <= high and task_memory_mib % step == 0):
        raise ValueError(
            f"task_memory_mib for task_cpu={task_cpu} must be {low}..{high} in steps of "
            f"{step}, not {task_memory_mib}"
        )
    if lane_cutoff_bytes < 0:
        raise ValueError(f"lane_cutoff_bytes must be >= 0, not {lane_cutoff_bytes}")
    if (
        not jobs_prefix.endswith("/")
        or jobs_prefix.startswith("/")
        or "*" in jobs_prefix
        or jobs_prefix in (WORK_PREFIX, REPORTS_PREFIX)
    ):
        raise ValueError(
            f"jobs_prefix must end with '/', not start with '/', contain no '*' and differ "
            f"from {WORK_PREFIX!r} and {REPORTS_PREFIX!r}: {jobs_prefix!r}"
        )
    if work_expiry_days < 1 or incomplete_upload_expiry_days < 1:
        raise ValueError("work_expiry_days and incomplete_upload_expiry_days must be >= 1")
    if not 128 <= lambda_memory_mib <= 10_240:
        raise ValueError(f"lambda_memory_mib must be 128..10240, not {lambda_memory_mib}")
    if writer_role_name is not None and not (
        0 < len(writer_role_name) <= 64
        and all(c.isalnum() or c in "+=,.@_-" for c in writer_role_name)
    ):
        raise ValueError(f"writer_role_name is not a valid IAM role name: {writer_role_name!r}")
    for name, buckets in (
        ("source_buckets", source_buckets),
        ("destination_buckets", destination_buckets),
    ):
        if buckets is not None and len(buckets) == 0:
            raise ValueError(f"{name} must be None (any bucket) or name at least one bucket")
    if state_machine_timeout is not None and not (
        60 <= state_machine_timeout.to_seconds() <= 365 * 24 * 3600
    ):
        raise ValueError("state_machine_timeout must be between 1 minute and 365 days")

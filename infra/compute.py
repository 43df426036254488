"""What runs the steps: five Lambda functions (Prepare, CopyBatch, Destination, Summarise,
Notify) and the Fargate task that copies the large batches, all from one container image
(``assets.py`` stages its build context). Each runs as the role of its kind of step
(``permissions.Roles``; docs/architecture.md, "Who may do what (IAM)").

``image_function`` makes each Lambda function the same way (ARM64, JSON logs in its own log
group, X-Ray tracing), so they differ only in handler, role, memory, timeout and
environment. Everything is created directly in ``scope`` (the ``StepsS3Copy`` construct),
so the template's logical IDs are those of the construct's own children.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_REPORTS_PREFIX, DEFAULT_WORK_PREFIX
from steps_s3_copy.infra.log_groups import log_group
from steps_s3_copy.infra.permissions import DataScope, Roles
from steps_s3_copy.infra.props import StepsS3CopyProps

#: the Lambda handlers, by their module path inside the image
PREPARE_HANDLER: Final = "steps_s3_copy.handlers.prepare.handler"
COPY_BATCH_HANDLER: Final = "steps_s3_copy.handlers.copy_batch.handler"
SUMMARISE_HANDLER: Final = "steps_s3_copy.handlers.summarise.handler"
DESTINATION_HANDLER: Final = "steps_s3_copy.handlers.destination.handler"
NOTIFY_HANDLER: Final = "steps_s3_copy.handlers.notify.handler"
LAMBDA_ENTRYPOINT: Final = ("python", "-m", "awslambdaric")
WORKER_COMMAND: Final = ("python", "-m", "steps_s3_copy.worker")
CONTAINER_NAME: Final = "Worker"
#: one full vCPU of Lambda ("Configure Lambda function memory":
#: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)
SUMMARISE_MIN_MEMORY_MIB: Final = 1769
#: the longest a Lambda function may run ("Configure Lambda function timeout":
#: https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html)
LAMBDA_MAX_TIMEOUT: Final = Duration.minutes(15)
NOTIFY_MEMORY_MIB: Final = 256
NOTIFY_TIMEOUT: Final = Duration.minutes(1)
#: the destination check and the end-of-run clean-up: S3 calls, no data through the function
DESTINATION_MEMORY_MIB: Final = 512
#: how long the worker may take to stop after SIGTERM before it is killed: Fargate's maximum
#: (ContainerDefinition's stopTimeout:
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html)
WORKER_STOP_TIMEOUT: Final = Duration.seconds(120)
COMMON_ENVIRONMENT: Final = {"POWERTOOLS_SERVICE_NAME": "steps-s3-copy", "LOG_LEVEL": "INFO"}

#: How the one image is built (the Lambda functions' and the task's asset alike, so it is
#: one asset, built and pushed once). "Lambda does not support multi-architecture images"
#: ("Create a Lambda function using a container image",
#: https://docs.aws.amazon.com/lambda/latest/dg/images-create.html): it takes one image
#: manifest, and refuses an image index ("The image manifest, config or layer media type
#: ... is not supported"), which a current Docker BuildKit makes by default even for one
#: platform, to attach its provenance attestation ("Provenance attestations", Docker docs).
#: ``platform`` builds linux/arm64 only (the functions' and the task's architecture);
#: ``outputs=["type=docker"]`` loads the result into the local image store as one image,
#: whatever builder buildx uses, so that the CDK CLI tags and pushes that image (with the
#: docker-container driver nothing would be loaded without it). The provenance attestation
#: itself is switched off by the CDK CLI's asset publisher, which runs ``docker build`` with
#: ``BUILDX_NO_DEFAULT_ATTESTATIONS=1`` (aws-cdk-cli, packages/cdk-assets/lib/private/
#: docker.ts; CLI 2.1000.0 and later); docs/deploy.md says what a deployer needs.
IMAGE_PLATFORM: Final = Platform.LINUX_ARM64
IMAGE_OUTPUTS: Final = ("type=docker",)


def image_function(
    scope: Construct,
    construct_id: str,
    handler: str,
    *,
    image_dir: str,
    role: iam.IRole,
    memory_mib: int,
    timeout: Duration,
    log_retention: logs.RetentionDays,
    environment: dict[str, str],
    reserved_concurrency: int | None = None,
) -> lambda_.DockerImageFunction:
    """``<construct_id>Function`` running ``handler`` from the image, logging to its own
    ``<construct_id>Logs``."""
    logs_ = log_group(scope, f"{construct_id}Logs", log_retention)
    logs_.grant_write(role)
    return lambda_.DockerImageFunction(
        scope,
        f"{construct_id}Function",
        description=f"steps-s3-copy {construct_id}: {handler}",
        code=lambda_.DockerImageCode.from_image_asset(
            image_dir,
            entrypoint=list(LAMBDA_ENTRYPOINT),
            cmd=[handler],
            platform=IMAGE_PLATFORM,
            outputs=list(IMAGE_OUTPUTS),
        ),
        architecture=lambda_.Architecture.ARM_64,
        memory_size=memory_mib,
        timeout=timeout,
        role=role,
        log_group=logs_,
        # JSON for the platform's lines too; Powertools writes the application's as JSON
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        tracing=lambda_.Tracing.ACTIVE,
        environment=environment,
        reserved_concurrent_executions=reserved_concurrency,
    )


class StepFunctions(NamedTuple):
    """The Lambda functions of the state machine's steps."""

    prepare: lambda_.DockerImageFunction
    copy_batch: lambda_.DockerImageFunction
    summarise: lambda_.DockerImageFunction
    notify: lambda_.DockerImageFunction
    destination: lambda_.DockerImageFunction

    @classmethod
    def create(
        cls,
        scope: Construct,
        props: StepsS3CopyProps,
        *,
        image_dir: str,
        roles: Roles,
        data: DataScope,
        inbox: s3.IBucket,
        topic: sns.ITopic,
    ) -> StepFunctions:
        """Each function with the role of its step (CopyBatch and Destination: the writer)."""
        memory_mib = props.lambda_memory_mib

        def function(
            name: str,
            handler: str,
            environment: dict[str, str],
            *,
            role: iam.IRole,
            memory: int = memory_mib,
            timeout: Duration = LAMBDA_MAX_TIMEOUT,
            reserved_concurrency: int | None = None,
        ) -> lambda_.DockerImageFunction:
            return image_function(
                scope,
                name,
                handler,
                image_dir=image_dir,
                role=role,
                memory_mib=memory,
                timeout=timeout,
                log_retention=props.log_retention,
                environment={**COMMON_ENVIRONMENT, **environment},
                reserved_concurrency=reserved_concurrency,
            )

        layout = {  # where Prepare puts a run's files and Summarise finds them
            "WORK_BUCKET": inbox.bucket_name,
            "WORK_PREFIX": DEFAULT_WORK_PREFIX,
            "JOBS_PREFIX": props.jobs_prefix,
            "REPORTS_PREFIX": DEFAULT_REPORTS_PREFIX,
        }
        return cls(
            prepare=function(
                "Prepare",
                PREPARE_HANDLER,
                {
                    **layout,
                    "LANE_CUTOFF_BYTES": str(props.lane_cutoff_bytes),
                    "STATE_MACHINE_TIMEOUT_SECONDS": str(int(props.timeout.to_seconds())),
                    **concurrency_limit(props),
                    **allow_lists(data),
                },
                role=roles.prepare,
            ),
            # its reserved concurrency bounds the Lambda lane (Prepare is told the same)
            copy_batch=function(
                "CopyBatch",
                COPY_BATCH_HANDLER,
                {},
                role=roles.writer,
                reserved_concurrency=props.copy_reserved_concurrency,
            ),
            # Summarise reads every batch's results file (100,000 of them for a million
            # objects at 10 per batch) in 32 threads: CPU-bound, so at least one full vCPU
            # (1,769 MB), whatever the other functions get.
            summarise=function(
                "Summarise",
                SUMMARISE_HANDLER,
                layout,
                role=roles.summarise,
                memory=max(memory_mib, SUMMARISE_MIN_MEMORY_MIB),
            ),
            notify=function(
                "Notify",
                NOTIFY_HANDLER,
                {"TOPIC_ARN": topic.topic_arn, "WORK_PREFIX": DEFAULT_WORK_PREFIX},
                role=roles.notify,
                memory=NOTIFY_MEMORY_MIB,
                timeout=NOTIFY_TIMEOUT,
            ),
            destination=function(
                "Destination",
                DESTINATION_HANDLER,
                {"WORK_PREFIX": DEFAULT_WORK_PREFIX, "REPORTS_PREFIX": DEFAULT_REPORTS_PREFIX},
                role=roles.writer,
                memory=DESTINATION_MEMORY_MIB,
            ),
        )


def concurrency_limit(props: StepsS3CopyProps) -> dict[str, str]:
    """``COPY_CONCURRENCY_LIMIT``: the CopyBatch function's reserved concurrency, which
    Prepare lowers a run's ``maxConcurrency`` to when the run has Lambda-lane batches (a
    throttled batch would fail: "Lambda function scaling",
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html); unset when
    nothing is reserved."""
    reserved = props.copy_reserved_concurrency
    return {} if reserved is None else {"COPY_CONCURRENCY_LIMIT": str(reserved)}


def allow_lists(data: DataScope) -> dict[str, str]:
    """What Prepare checks a job against, as the deployment grants it (comma-separated).

    ``SOURCE_BUCKETS`` / ``DESTINATION_BUCKETS``: the named buckets; unset when the deployer
    opted into any bucket outside the account (IAM then keeps this account's unnamed
    buckets out). ``KMS_KEYS``: the keys named at deploy, which a job may name
    (``sseKmsKeyId``); set, possibly empty (no key may be named), whenever buckets are
    named; in the opt-in deployment set only when keys were named.
    """
    lists: dict[str, str] = {}
    if not data.any_bucket:
        lists["SOURCE_BUCKETS"] = ",".join(b.bucket_name for b in data.sources)
        lists["DESTINATION_BUCKETS"] = ",".join(b.bucket_name for b in data.destinations)
    if not data.any_bucket or data.kms_keys:
        lists["KMS_KEYS"] = ",".join(data.kms_keys)
    return lists


class WorkerTask(NamedTuple):
    """The Fargate task that copies one batch: its definition, container and log group."""

    task_definition: ecs.FargateTaskDefinition
    container: ecs.ContainerDefinition
    log_group: logs.LogGroup

    @classmethod
    def create(
        cls, scope: Construct, props: StepsS3CopyProps, *, image_dir: str, role: iam.IRole
    ) -> WorkerTask:
        """An ARM64 Linux task running the worker as ``role``, logging to ``WorkerLogs``."""
        task_logs = log_group(scope, "WorkerLogs", props.log_retention)
        memory_mib = props.task_memory_mib
        task_definition = ecs.FargateTaskDefinition(
            scope,
            "TaskDefinition",
            cpu=props.task_cpu,
            memory_limit_mib=memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_role=role,
        )
        container = task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_asset(
                image_dir, platform=IMAGE_PLATFORM, outputs=list(IMAGE_OUTPUTS)
            ),
            # the image's own ENTRYPOINT, stated so the task does not depend on it
            entry_point=list(WORKER_COMMAND),
            essential=True,
            memory_limit_mib=memory_mib,
            stop_timeout=WORKER_STOP_TIMEOUT,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="worker",
                log_group=task_logs,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
        )
        return cls(task_definition, container, task_logs)

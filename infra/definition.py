"""The state machine: its definition, built from the resources its tasks call, and the
state machine resource with its log group.

    Prepare -> DryRun? -> Copy (Distributed Map over the batch index)
                            each batch: Lane? -> CopyBatchLambda
                                             -> CopyBatchSpot -> (caught) CopyBatchOnDemand
                                        a batch still failing -> BatchFailed (recorded)
            -> Summarise -> Notify -> Done
    any step failing -> SummariseFailure -> NotifyFailure -> Failed

``DefinitionBuilder`` is a pure builder: given what the tasks call (the functions, the inbox,
the Fargate task and its network) it creates the states in ``scope`` and returns the chain;
it creates no AWS resource. The states' construct ids are their state names. Every
``Retry`` field comes from ``steps_s3_copy.retries``, the table shared with the local
runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeVar

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from steps_s3_copy import retries
from steps_s3_copy.inbox import DEFAULT_WORK_PREFIX
from steps_s3_copy.infra.compute import StepFunctions, WorkerTask
from steps_s3_copy.infra.log_groups import log_group
from steps_s3_copy.infra.network import Network
from steps_s3_copy.retries import RetryPolicy

#: without this feature flag CDK silently drops the Distributed Map's ResultWriter
RESULT_WRITER_V2_FLAG: Final = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"

#: the execution, as Prepare and Summarise are told about it
EXECUTION_CONTEXT: Final = {
    "id": sfn.JsonPath.string_at("$$.Execution.Id"),
    "name": sfn.JsonPath.string_at("$$.Execution.Name"),
    "startTime": sfn.JsonPath.string_at("$$.Execution.StartTime"),
}
#: where a caught error is put in the state's input
ERROR_PATH: Final = "$.error"

_Task = TypeVar("_Task", bound=sfn.TaskStateBase)


def create_state_machine(
    scope: Construct,
    *,
    definition: sfn.IChainable,
    timeout: Duration,
    log_retention: logs.RetentionDays,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A Standard state machine, traced, logging every event with its data."""
    machine_logs = log_group(scope, "StateMachineLogs", log_retention)
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=machine_logs,
            level=sfn.LogLevel.ALL,
            include_execution_data=True,
        ),
    )
    return machine, machine_logs


def with_retry(state: _Task, policy: RetryPolicy) -> _Task:
    """``state`` retried as ``policy`` says, with full jitter."""
    state.add_retry(
        errors=list(policy.errors),
        interval=Duration.seconds(policy.interval_seconds),
        backoff_rate=policy.backoff_rate,
        max_attempts=policy.max_attempts,
        max_delay=Duration.seconds(policy.max_delay_seconds),
        jitter_strategy=sfn.JitterType.FULL,
    )
    return state


@dataclass(frozen=True, kw_only=True)
class DefinitionBuilder:
    """Builds the definition: its states are created in ``scope``; ``build`` returns the start.

    The states call ``functions``, read the batch index from and write the Map's results to
    ``inbox``, and run Fargate batches as ``task`` in ``network``: with ``use_spot`` on
    Fargate Spot first and, when Spot fails a batch, on on-demand Fargate; without, on
    on-demand Fargate only.
    """

    scope: Construct
    functions: StepFunctions
    inbox: s3.IBucket
    network: Network
    task: WorkerTask
    use_spot: bool

    def build(self) -> sfn.IChainable:
        """Create the states; the chain from Prepare."""
        functions = self.functions
        execution = dict(EXECUTION_CONTEXT)
        notice = {"notice": sfn.JsonPath.object_at("$.notice")}
        prepare = self._lambda_step(
            "Prepare",
            functions.prepare,
            {"input": sfn.JsonPath.entire_payload, "execution": execution},
            result_selector={"prepared": sfn.JsonPath.object_at("$")},
        )
        summarise = self._lambda_step(
            "Summarise",
            functions.summarise,
            {"prepared": sfn.JsonPath.object_at("$.prepared"), "execution": execution},
        )
        notify = self._lambda_step(
            "Notify", functions.notify, notice, result_path=sfn.JsonPath.DISCARD
        )
        summarise_failure = self._lambda_step(
            "SummariseFailure",
            functions.summarise,
            {
                "error": sfn.JsonPath.object_at(ERROR_PATH),
                "input": sfn.JsonPath.object_at("$$.Execution.Input"),
                "execution": execution,
            },
        )
        notify_failure = self._lambda_step(
            "NotifyFailure", functions.notify, notice, result_path=sfn.JsonPath.DISCARD
        )
        failed = sfn.Fail(
            self.scope, "Failed", error="CopyFailed", cause="The run failed; the notice says why"
        )
        failure_path = summarise_failure.next(notify_failure).next(failed)

        copy_map = self._copy_map()
        dry_run = sfn.Choice(self.scope, "DryRun")
        for step in (prepare, copy_map, summarise):
            step.add_catch(failure_path, errors=["States.ALL"], result_path=ERROR_PATH)

        done = sfn.Succeed(self.scope, "Done")
        summarise.next(notify).next(done)
        dry_run.when(sfn.Condition.boolean_equals("$.prepared.dryRun", True), summarise)
        dry_run.otherwise(copy_map)
        copy_map.next(summarise)
        return prepare.next(dry_run)

    def _lambda_step(
        self,
        name: str,
        function: lambda_.IFunction,
        payload: dict[str, Any] | None,
        *,
        policy: RetryPolicy = retries.LAMBDA_STEP,
        result_selector: dict[str, Any] | None = None,
        result_path: str | None = None,
    ) -> tasks.LambdaInvoke:
        """A step that invokes ``function`` with ``payload`` (``None``: the state's input) and
        takes its answer as the result, retried as ``policy`` says (by default on Lambda's
        own errors: ``retries.LAMBDA_STEP``)."""
        step = tasks.LambdaInvoke(
            self.scope,
            name,
            lambda_function=function,
            payload=None if payload is None else sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_selector=result_selector,
            result_path=result_path,
        )
        return with_retry(step, policy)

    def _copy_map(self) -> sfn.DistributedMap:
        """The Distributed Map over the run's batch index, its results written to the inbox."""
        inbox = self.inbox
        copy_map = sfn.DistributedMap(
            self.scope,
            "Copy",
            item_reader=sfn.S3CsvItemReader(
                bucket=inbox,
                key=sfn.JsonPath.string_at("$.prepared.indexKey"),
                csv_headers=sfn.CsvHeaders.use_first_row(),
            ),
            max_concurrency_path=sfn.JsonPath.string_at("$.prepared.maxConcurrency"),
            item_selector={
                "batch": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "work": sfn.JsonPath.object_at("$.prepared.work"),
            },
            result_writer_v2=sfn.ResultWriterV2(
                bucket=inbox,
                prefix=f"{DEFAULT_WORK_PREFIX}map-results",
            ),
            result_path="$.mapRun",
        )
        copy_map.item_processor(self._batch_processor())
        return copy_map

    def _batch_processor(self) -> sfn.IChainable:
        """One Map item: run one batch on its lane; a batch still failing is recorded."""
        batch_failed = sfn.Pass(
            self.scope,
            "BatchFailed",
            parameters={
                "batchId": sfn.JsonPath.string_at("$.batch.batchId"),
                "lane": sfn.JsonPath.string_at("$.batch.lane"),
                "failed": True,
                "error": sfn.JsonPath.object_at(ERROR_PATH),
            },
        )
        # the Map item itself is the payload
        copy_lambda = self._lambda_step(
            "CopyBatchLambda", self.functions.copy_batch, None, policy=retries.COPY_BATCH_LAMBDA
        )
        copy_lambda.add_catch(batch_failed, errors=["States.ALL"], result_path=ERROR_PATH)

        on_demand = self._run_task("CopyBatchOnDemand", "FARGATE", retries.COPY_BATCH_ON_DEMAND)
        on_demand.add_catch(batch_failed, errors=["States.ALL"], result_path=ERROR_PATH)
        fargate: sfn.IChainable = on_demand
        if self.use_spot:
            spot = self._run_task("CopyBatchSpot", "FARGATE_SPOT", retries.COPY_BATCH_SPOT)
            # Spot capacity gone or the task interrupted more than the retries absorb:
            # run the batch again on on-demand Fargate (it skips what is already copied).
            spot.add_catch(on_demand, errors=["States.ALL"], result_path="$.spotError")
            fargate = spot

        return (
            sfn.Choice(self.scope, "Lane")
            .when(sfn.Condition.string_equals("$.batch.lane", "fargate"), fargate)
            .otherwise(copy_lambda)
        )

    def _run_task(self, name: str, capacity_provider: str, policy: RetryPolicy) -> tasks.EcsRunTask:
        """One batch as an ECS RunTask.sync on ``capacity_provider``, retried as ``policy``
        says (ECS throttling, capacity errors, a failed task)."""
        task = tasks.EcsRunTask(
            self.scope,
            name,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            cluster=self.network.cluster,
            task_definition=self.task.task_definition,
            launch_target=tasks.EcsFargateLaunchTarget(
                platform_version=ecs.FargatePlatformVersion.LATEST,
                capacity_provider_options=tasks.CapacityProviderOptions.custom(
                    [ecs.CapacityProviderStrategy(capacity_provider=capacity_provider, weight=1)]
                ),
            ),
            assign_public_ip=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[self.network.security_group],
            propagated_tag_source=ecs.PropagatedTagSource.TASK_DEFINITION,
            container_overrides=[
                tasks.ContainerOverride(
                    container_definition=self.task.container,
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
        return with_retry(task, policy)

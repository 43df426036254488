"""The state machine: its definition, built from the resources its tasks call, and the
state machine resource with its log group.

    Prepare -> CheckDestination -> DryRun? -> Copy (Distributed Map over the batch index)
          each batch: Archived? -> Thaw (restore, wait in its Retry) -> Lane?
                      Lane? -> CopyBatchLambda
                             -> FargateSpot (CopyBatchSpot) -> (caught) FargateOnDemand
                      a batch still failing -> BatchFailed (recorded)
       -> Summarise -> Finish -> Notify -> Done
    Prepare finding the event already handled -> Duplicate (Succeed, no notice)
    any step failing -> SummariseFailure -> FinishFailure -> NotifyFailure -> Failed

``DefinitionBuilder`` is a pure builder: given what the tasks call (the functions, the inbox,
the Fargate task and its network) it creates the states in ``scope`` and returns the chain;
it creates no AWS resource. The states' construct ids are their state names. Every
``Retry`` field comes from ``steps_s3_copy.retries``, the table shared with the local
runner.

Every task state is bounded ("Best practices for Step Functions", use timeouts to avoid
stuck executions: https://docs.aws.amazon.com/step-functions/latest/dg/sfn-best-practices.html):
a Lambda state by its function's timeout plus :data:`LAMBDA_STATE_MARGIN`, a RunTask state by
its batch's ``timeoutSeconds`` (``TimeoutSecondsPath``, from the batch index). A state that
times out fails with ``States.Timeout``, which is caught like any other error, so a FAILED
or PARTIAL notice still goes out; an execution that times out cannot be caught ("Handling
errors in Step Functions workflows",
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html), so
Prepare refuses a plan that could outlast it (``STATE_MACHINE_TIMEOUT_SECONDS``).

The Fargate lane and the error names ``ecs:runTask.sync`` reports:

- the RunTask call fails (throttling, no capacity, a server error): ``ECS.<exception>`` or
  ``AmazonECS.Unknown`` (``retries.ECS_API_RETRY_ERRORS``; see there for the pages);
- the task ran and stopped with a non-zero exit code, was interrupted (Spot) or failed to
  start: ``States.TaskFailed``, its Cause the task's description with each container's
  ``ExitCode`` and the task's ``StopCode`` (Step Functions fails a ``.sync`` ECS state when
  an essential container exits non-zero: observed by AWS's own Copilot maintainers,
  aws/copilot-cli#3160; no AWS page states the Cause's shape);
- the state ran out of time: ``States.Timeout`` (``States.TaskFailed`` in a Retry or Catch
  matches every error name but ``States.Timeout``: "Handling errors in Step Functions
  workflows", above).

A Retry sees only the error name, and ``States.TaskFailed`` is the same for a crash and for
a configuration error, so each attempt is a Parallel state of one branch: the RunTask state
catches its failure, a Choice reads the container's exit code in the Cause, and a Fail
state re-raises it as ``FargateTaskMisconfigured`` (the container's exit 2: not retried, no
fallback) or ``FargateTaskStopped`` (anything else: retried, then on-demand). The Parallel
state carries the Retry and Catch fields, so a retry runs a new task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeVar

from aws_cdk import Duration, Names
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
from steps_s3_copy.observability import CAPACITY_PROVIDER_VARIABLE
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
#: where the Fargate lane's RunTask states put their failure for the Choice to read
TASK_ERROR_PATH: Final = "$.taskError"
#: a Lambda state's TimeoutSeconds is its function's timeout plus this: the function's own
#: timeout ends a slow invocation first (with Lambda's error); the state's bounds a lost one
LAMBDA_STATE_MARGIN: Final = Duration.seconds(60)
#: the batch's own bound, in the Map item (a number: ``States.StringToJson`` of the CSV's)
TIMEOUT_SECONDS_PATH: Final = "$.timeoutSeconds"
#: the index row's count of objects still to restore ("0": none), a string like every CSV value
ARCHIVED_PATH: Final = "$.batch.archived"
#: the restore tiers, each with its own Retry on Thaw (``retries.RESTORE_WAIT``)
RESTORE_TIERS: Final = ("Expedited", "Standard", "Bulk")
#: the container's exit code for a configuration error (docs/architecture.md, "The
#: container"); steps_s3_copy.worker's EXIT_CONFIG, which a test compares
CONTAINER_CONFIG_EXIT: Final = 2
#: the state machine's log group lives under this prefix: CreateStateMachine with logging
#: adds the log group to the account's CloudWatch Logs resource policy, capped at 5,120
#: characters, unless the name starts with /aws/vendedlogs/ ("Avoiding Amazon CloudWatch
#: Logs resource policy size restrictions",
#: https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html)
STATE_MACHINE_LOG_PREFIX: Final = "/aws/vendedlogs/states/"
#: a log group name has at most 512 characters (CreateLogGroup's logGroupName:
#: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html)
LOG_GROUP_NAME_MAX: Final = 512

_Retried = TypeVar("_Retried", bound=sfn.TaskStateBase | sfn.Parallel)


def state_machine_log_group_name(scope: Construct) -> str:
    """``/aws/vendedlogs/states/<stack>-<construct path>-<hash>``: unique per deployment
    (``Names.unique_resource_name`` of the construct), under the vended-logs prefix."""
    room = LOG_GROUP_NAME_MAX - len(STATE_MACHINE_LOG_PREFIX)
    unique = Names.unique_resource_name(scope, max_length=min(room, 255), separator="-")
    return f"{STATE_MACHINE_LOG_PREFIX}{unique}"


def create_state_machine(
    scope: Construct,
    *,
    definition: sfn.IChainable,
    timeout: Duration,
    log_retention: logs.RetentionDays,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A Standard state machine, traced, logging every event with its data to a log group
    named under /aws/vendedlogs/states/ (see ``STATE_MACHINE_LOG_PREFIX``)."""
    machine_logs = log_group(
        scope,
        "StateMachineLogs",
        log_retention,
        name=state_machine_log_group_name(scope),
    )
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


def with_retry(state: _Retried, policy: RetryPolicy) -> _Retried:
    """``state`` retried as ``policy`` says (one more Retry field); ``policy.jitter`` is
    CDK's ``JitterType.FULL`` (the Retry field's ``JitterStrategy``)."""
    state.add_retry(
        errors=list(policy.errors),
        interval=Duration.seconds(policy.interval_seconds),
        backoff_rate=policy.backoff_rate,
        max_attempts=policy.max_attempts,
        max_delay=Duration.seconds(policy.max_delay_seconds),
        jitter_strategy=sfn.JitterType.FULL if policy.jitter else None,
    )
    return state


def lambda_state_timeout(function: lambda_.Function) -> Duration:
    """A Lambda state's bound: its function's timeout plus ``LAMBDA_STATE_MARGIN``."""
    timeout = function.timeout
    if timeout is None:  # every function of the construct sets one
        raise ValueError(f"{function.node.path} has no timeout to bound its state with")
    return Duration.seconds(timeout.to_seconds() + LAMBDA_STATE_MARGIN.to_seconds())


def exited_with(code: int, cause_path: str) -> sfn.Condition:
    """The stopped task's Cause (its description as JSON) shows a container exit ``code``.

    A Choice cannot parse JSON, and a Pass state that tried (``States.StringToJson``) would
    fail the Map item, with no Catch, on a Cause that is not JSON. ``StringMatches`` never
    fails: the exit code is matched with what follows it, so that 2 is not 20, in the
    compact form and with a space after the colon.
    """
    patterns = [f'*"ExitCode":{sep}{code}{end}*' for sep in ("", " ") for end in (",", "}")]
    return sfn.Condition.or_(*(sfn.Condition.string_matches(cause_path, p) for p in patterns))


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
        finish_payload = {"action": "finish", **notice}
        prepare = self._lambda_step(
            "Prepare",
            functions.prepare,
            {"input": sfn.JsonPath.entire_payload, "execution": execution},
            result_selector={"prepared": sfn.JsonPath.object_at("$")},
        )
        # the sidecar can land before its CSV: wait for the manifest a bounded time
        with_retry(prepare, retries.PREPARE_MANIFEST_WAIT)
        check = self._lambda_step(
            "CheckDestination",
            functions.destination,
            {"action": "check", "prepared": sfn.JsonPath.object_at("$.prepared")},
            result_path=sfn.JsonPath.DISCARD,
        )
        summarise = self._lambda_step(
            "Summarise",
            functions.summarise,
            {"prepared": sfn.JsonPath.object_at("$.prepared"), "execution": execution},
        )
        # Finish answers {"notice": ...}: the state becomes the finished notice
        finish = self._lambda_step("Finish", functions.destination, finish_payload)
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
        finish_failure = self._lambda_step("FinishFailure", functions.destination, finish_payload)
        notify_failure = self._lambda_step(
            "NotifyFailure", functions.notify, notice, result_path=sfn.JsonPath.DISCARD
        )
        failed = sfn.Fail(
            self.scope, "Failed", error="CopyFailed", cause="The run failed; the notice says why"
        )
        # a clean-up that fails must not keep the FAILED notice from going out
        finish_failure.add_catch(notify_failure, errors=["States.ALL"], result_path="$.finishError")
        failure_path = summarise_failure.next(finish_failure).next(notify_failure).next(failed)

        # the same S3 event delivered twice: the first delivery's run is the run
        duplicate = sfn.Succeed(
            self.scope, "Duplicate", comment="This event already started a run; nothing to do"
        )
        prepare.add_catch(duplicate, errors=["DuplicateEvent"], result_path=ERROR_PATH)
        copy_map = self._copy_map()
        dry_run = sfn.Choice(self.scope, "DryRun")
        for step in (prepare, check, copy_map, summarise, finish):
            step.add_catch(failure_path, errors=["States.ALL"], result_path=ERROR_PATH)

        done = sfn.Succeed(self.scope, "Done")
        summarise.next(finish).next(notify).next(done)
        dry_run.when(sfn.Condition.boolean_equals("$.prepared.dryRun", True), summarise)
        dry_run.otherwise(copy_map)
        copy_map.next(summarise)
        return prepare.next(check).next(dry_run)

    def _lambda_step(
        self,
        name: str,
        function: lambda_.Function,
        payload: dict[str, Any] | None,
        *,
        policy: RetryPolicy = retries.LAMBDA_STEP,
        result_selector: dict[str, Any] | None = None,
        result_path: str | None = None,
    ) -> tasks.LambdaInvoke:
        """A step that invokes ``function`` with ``payload`` (``None``: the state's input) and
        takes its answer as the result, bounded by the function's timeout
        (``lambda_state_timeout``), retried as ``policy`` says (by default on Lambda's own
        errors: ``retries.LAMBDA_STEP``)."""
        step = tasks.LambdaInvoke(
            self.scope,
            name,
            lambda_function=function,
            payload=None if payload is None else sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_selector=result_selector,
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(lambda_state_timeout(function)),
        )
        return with_retry(step, policy)

    def _copy_map(self) -> sfn.DistributedMap:
        """The Distributed Map over the run's batch index, its results written to the inbox.

        Each item is ``{"batch": <the index row>, "work": <the run's location>,
        "timeoutSeconds": <the row's timeoutSeconds as a number>}``: a CSV reader gives
        every value as a string, and ``TimeoutSecondsPath`` needs a number.
        """
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
                "timeoutSeconds": sfn.JsonPath.string_to_json(
                    sfn.JsonPath.string_at("$$.Map.Item.Value.timeoutSeconds")
                ),
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
        """One Map item: restore its archived sources first (Thaw), then run the batch on its
        lane; a batch still failing is recorded."""
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

        on_demand = self._fargate_attempt("OnDemand", "FARGATE", retries.COPY_BATCH_ON_DEMAND)
        on_demand.add_catch(batch_failed, errors=["States.ALL"], result_path=ERROR_PATH)
        fargate: sfn.IChainable = on_demand
        if self.use_spot:
            spot = self._fargate_attempt("Spot", "FARGATE_SPOT", retries.COPY_BATCH_SPOT)
            # Spot capacity gone, throttling or interruptions beyond what the retries absorb:
            # run the batch again on on-demand Fargate (it skips what is already copied). A
            # configuration error or a timeout does not fall back: the batch is recorded.
            spot.add_catch(
                on_demand, errors=list(retries.COPY_BATCH_SPOT.errors), result_path="$.spotError"
            )
            spot.add_catch(batch_failed, errors=["States.ALL"], result_path=ERROR_PATH)
            fargate = spot

        lane = (
            sfn.Choice(self.scope, "Lane")
            .when(sfn.Condition.string_equals("$.batch.lane", "fargate"), fargate)
            .otherwise(copy_lambda)
        )
        thaw = self._thaw()
        thaw.add_catch(batch_failed, errors=["States.ALL"], result_path=ERROR_PATH)
        thaw.next(lane)
        # the index row's "archived" (a CSV string): the batch's objects still to restore
        archived = sfn.Condition.and_(
            sfn.Condition.is_present(ARCHIVED_PATH),
            sfn.Condition.not_(sfn.Condition.string_equals(ARCHIVED_PATH, "0")),
        )
        return sfn.Choice(self.scope, "Archived").when(archived, thaw).otherwise(lane)

    def _thaw(self) -> tasks.LambdaInvoke:
        """``Thaw``: the CopyBatch function restores the batch's archived sources
        (``steps_s3_copy.thaw``) and raises ``RestorePending<Tier>`` while any is still being
        restored; the Retry for that tier waits in Step Functions (no function sleeps) and
        runs it again, without jitter, for about as long as AWS says a restore of the tier
        takes (``retries.RESTORE_WAIT``). Its answer is discarded: the batch goes on as it
        came, to its lane."""
        thaw = self._lambda_step(
            "Thaw",
            self.functions.copy_batch,
            {
                "action": "thaw",
                "batch": sfn.JsonPath.object_at("$.batch"),
                "work": sfn.JsonPath.object_at("$.work"),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        for tier in RESTORE_TIERS:
            with_retry(thaw, retries.RESTORE_WAIT[tier])
        return thaw

    def _fargate_attempt(
        self, capacity: str, capacity_provider: str, policy: RetryPolicy
    ) -> sfn.Parallel:
        """``Fargate<capacity>``: a Parallel state of one branch that runs the batch as one
        task on ``capacity_provider`` and re-raises its failure under a name a Retry can
        tell apart (see the module docstring); retried as ``policy`` says."""
        scope = self.scope
        run = self._run_task(f"CopyBatch{capacity}", capacity_provider)
        cause = f"{TASK_ERROR_PATH}.Cause"
        # the RunTask call failed: its own error name and cause, for the Retry to match
        not_started = sfn.Fail(
            scope,
            f"{capacity}NotStarted",
            error_path=f"{TASK_ERROR_PATH}.Error",
            cause_path=cause,
        )
        misconfigured = sfn.Fail(
            scope,
            f"{capacity}Misconfigured",
            error=retries.FARGATE_TASK_MISCONFIGURED,
            cause_path=cause,
        )
        stopped = sfn.Fail(
            scope, f"{capacity}TaskStopped", error=retries.FARGATE_TASK_STOPPED, cause_path=cause
        )
        how_stopped = (
            sfn.Choice(scope, f"{capacity}HowStopped")
            .when(exited_with(CONTAINER_CONFIG_EXIT, cause), misconfigured)
            .otherwise(stopped)
        )
        # the API's names first: States.TaskFailed matches them too
        run.add_catch(
            not_started,
            errors=[*retries.ECS_API_RETRY_ERRORS, *retries.ECS_API_FATAL_ERRORS],
            result_path=TASK_ERROR_PATH,
        )
        run.add_catch(how_stopped, errors=["States.TaskFailed"], result_path=TASK_ERROR_PATH)
        attempt = sfn.Parallel(
            scope,
            f"Fargate{capacity}",
            result_selector={"taskArn": sfn.JsonPath.string_at("$[0].task.taskArn")},
            result_path="$.task",
        )
        attempt.branch(run)
        return with_retry(attempt, policy)

    def _run_task(self, name: str, capacity_provider: str) -> tasks.EcsRunTask:
        """One batch as an ECS RunTask.sync on ``capacity_provider``, bounded by the batch's
        ``timeoutSeconds``; its Parallel state retries it."""
        return tasks.EcsRunTask(
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
                        # which attempt this is, for the SpotFallbacks metric: the task
                        # metadata does not name its capacity provider
                        tasks.TaskEnvironmentVariable(
                            name=CAPACITY_PROVIDER_VARIABLE, value=capacity_provider
                        ),
                    ],
                )
            ],
            task_timeout=sfn.Timeout.at(TIMEOUT_SECONDS_PATH),
            result_selector={"taskArn": sfn.JsonPath.string_at("$.TaskArn")},
            result_path="$.task",
        )

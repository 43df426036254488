"""The serialized state machine definition, resolved to JSON and checked state by state."""

from __future__ import annotations

import re
from typing import Any

import pytest

from steps_s3_copy import retries
from steps_s3_copy.infra.definition import CONTAINER_CONFIG_EXIT, LAMBDA_STATE_MARGIN
from steps_s3_copy.retries import (
    ECS_API_FATAL_ERRORS,
    ECS_API_RETRY_ERRORS,
    ECS_RETRY_ERRORS,
    LAMBDA_SERVICE_ERRORS,
)
from steps_s3_copy.worker.__main__ import EXIT_CONFIG
from tests.infra.helpers import Synth, all_states, definition_of

EXECUTION = {
    "id.$": "$$.Execution.Id",
    "name.$": "$$.Execution.Name",
    "startTime.$": "$$.Execution.StartTime",
}


@pytest.fixture(scope="module")
def definition(synth: Synth) -> dict[str, Any]:
    return definition_of(synth.template)


@pytest.fixture(scope="module")
def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return all_states(definition)


def _function_arn(synth: Synth, prefix: str) -> str:
    logical_id, _ = synth.one("AWS::Lambda::Function", prefix)
    return f"arn:aws:lambda:us-east-1:111111111111:function:{logical_id}"


def test_shape(definition: dict[str, Any], states: dict[str, dict[str, Any]]) -> None:
    assert definition["StartAt"] == "Prepare"
    assert definition["TimeoutSeconds"] == 7 * 24 * 3600
    assert set(definition["States"]) == {
        "Prepare",
        "Duplicate",
        "CheckDestination",
        "DryRun",
        "Copy",
        "Summarise",
        "Finish",
        "Notify",
        "Done",
        "SummariseFailure",
        "FinishFailure",
        "NotifyFailure",
        "Failed",
    }
    main = definition["States"]
    assert main["Prepare"]["Next"] == "CheckDestination"
    assert main["CheckDestination"]["Next"] == "DryRun"
    assert main["Copy"]["Next"] == "Summarise"
    assert main["Summarise"]["Next"] == "Finish"
    assert main["Finish"]["Next"] == "Notify"
    assert main["Notify"]["Next"] == "Done"
    assert main["SummariseFailure"]["Next"] == "FinishFailure"
    assert main["FinishFailure"]["Next"] == "NotifyFailure"
    assert main["NotifyFailure"]["Next"] == "Failed"
    assert main["Failed"] == {
        "Type": "Fail",
        "Error": "CopyFailed",
        "Cause": "The run failed; the notice says why",
    }
    assert set(states) - set(main) == {
        "Archived",
        "Thaw",
        "Lane",
        "CopyBatchLambda",
        "BatchFailed",
        *(f"{prefix}{name}" for prefix, name in [("Fargate", "Spot"), ("Fargate", "OnDemand")]),
        *(
            f"{capacity}{suffix}"
            for capacity in ("Spot", "OnDemand")
            for suffix in ("NotStarted", "HowStopped", "Misconfigured", "TaskStopped")
        ),
        "CopyBatchSpot",
        "CopyBatchOnDemand",
    }


def test_prepare_gets_the_input_and_the_execution(synth: Synth, states: dict[str, Any]) -> None:
    prepare = states["Prepare"]
    assert prepare["Resource"] == _function_arn(synth, "StepsS3CopyPrepareFunction")
    assert prepare["Parameters"] == {"input.$": "$", "execution": EXECUTION}
    assert prepare["ResultSelector"] == {"prepared.$": "$"}
    assert "ResultPath" not in prepare


def test_prepare_waits_for_a_late_manifest_and_ends_a_duplicate_quietly(
    states: dict[str, Any],
) -> None:
    """The sidecar may land before its CSV: ManifestNotFound is retried a bounded time. The
    same S3 event delivered twice: the second execution ends in Duplicate, with no notice;
    that Catch comes before the generic one, which would send a FAILED notice."""
    prepare = states["Prepare"]
    waits = [r for r in prepare["Retry"] if r["ErrorEquals"] == ["ManifestNotFound"]]
    assert len(waits) == 1
    wait = retries.PREPARE_MANIFEST_WAIT
    assert waits[0]["MaxAttempts"] == wait.max_attempts
    assert wait.max_attempts * wait.max_delay_seconds <= 600  # bounded: minutes, not hours
    assert prepare["Catch"] == [
        {"ErrorEquals": ["DuplicateEvent"], "ResultPath": "$.error", "Next": "Duplicate"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "SummariseFailure"},
    ]
    assert states["Duplicate"]["Type"] == "Succeed"


def test_check_destination_probes_before_anything_is_copied(
    synth: Synth, states: dict[str, Any]
) -> None:
    check = states["CheckDestination"]
    assert check["Resource"] == _function_arn(synth, "StepsS3CopyDestinationFunction")
    assert check["Parameters"] == {"action": "check", "prepared.$": "$.prepared"}
    assert check["ResultPath"] is None  # the state's input goes on unchanged
    assert check["Next"] == "DryRun"
    assert check["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "SummariseFailure"}
    ]


def test_finish_cleans_up_on_both_paths_and_its_answer_is_the_notice(
    synth: Synth, states: dict[str, Any]
) -> None:
    destination = _function_arn(synth, "StepsS3CopyDestinationFunction")
    for name in ("Finish", "FinishFailure"):
        finish = states[name]
        assert finish["Resource"] == destination
        assert finish["Parameters"] == {"action": "finish", "notice.$": "$.notice"}
        # it answers {"notice": ...}: the state becomes the finished notice
        assert "ResultPath" not in finish
        assert "ResultSelector" not in finish
    assert states["Finish"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "SummariseFailure"}
    ]
    # a clean-up failing on the failure path still lets the FAILED notice out, unchanged
    assert states["FinishFailure"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.finishError", "Next": "NotifyFailure"}
    ]


def test_dry_run_skips_the_map(states: dict[str, Any]) -> None:
    assert states["DryRun"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.prepared.dryRun", "BooleanEquals": True, "Next": "Summarise"}],
        "Default": "Copy",
    }


def test_map_reads_the_batch_index_and_writes_results(synth: Synth, states: dict[str, Any]) -> None:
    inbox_id, _ = synth.one("AWS::S3::Bucket")
    copy = states["Copy"]
    assert copy["Type"] == "Map"
    assert copy["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket": f"ref-{inbox_id.lower()}", "Key.$": "$.prepared.indexKey"},
    }
    assert copy["MaxConcurrencyPath"] == "$.prepared.maxConcurrency"
    assert "MaxConcurrency" not in copy
    # a CSV reader gives strings; TimeoutSecondsPath needs a number
    assert copy["ItemSelector"] == {
        "batch.$": "$$.Map.Item.Value",
        "work.$": "$.prepared.work",
        "timeoutSeconds.$": "States.StringToJson($$.Map.Item.Value.timeoutSeconds)",
    }
    assert copy["ResultWriter"] == {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": f"ref-{inbox_id.lower()}", "Prefix": "work/map-results"},
    }
    assert copy["ResultPath"] == "$.mapRun"
    assert copy["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    # moto cannot run these, and the design does not need them: batches are planned files
    assert "ItemBatcher" not in copy
    assert "ToleratedFailurePercentage" not in copy


def test_lane_choice(states: dict[str, Any]) -> None:
    assert states["Lane"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.batch.lane", "StringEquals": "fargate", "Next": "FargateSpot"}],
        "Default": "CopyBatchLambda",
    }
    assert states["Copy"]["ItemProcessor"]["StartAt"] == "Archived"


def test_a_batch_with_archived_sources_goes_through_thaw_first(
    synth: Synth, states: dict[str, Any]
) -> None:
    """The index row's "archived" (a CSV string, "0" when none) sends the batch to Thaw,
    which restores and waits, then to its lane as it came; a missing column is no archive."""
    assert states["Archived"] == {
        "Type": "Choice",
        "Choices": [
            {
                "And": [
                    {"Variable": "$.batch.archived", "IsPresent": True},
                    {"Not": {"Variable": "$.batch.archived", "StringEquals": "0"}},
                ],
                "Next": "Thaw",
            }
        ],
        "Default": "Lane",
    }
    thaw = states["Thaw"]
    assert thaw["Resource"] == _function_arn(synth, "StepsS3CopyCopyBatchFunction")
    assert thaw["Parameters"] == {"action": "thaw", "batch.$": "$.batch", "work.$": "$.work"}
    assert thaw["ResultPath"] is None  # the batch goes on unchanged
    assert thaw["Next"] == "Lane"
    assert thaw["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "BatchFailed"}
    ]
    # Lambda's own errors, then one Retry per restore tier: the wait, without jitter
    first, *tiers = thaw["Retry"]
    assert first["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
    assert [t["ErrorEquals"] for t in tiers] == [
        ["RestorePendingExpedited"],
        ["RestorePendingStandard"],
        ["RestorePendingBulk"],
    ]
    assert all("JitterStrategy" not in t for t in tiers)
    # Standard and Bulk ask S3 again every hour
    assert [t["IntervalSeconds"] for t in tiers[1:]] == [3600, 3600]
    assert [t["BackoffRate"] for t in tiers[1:]] == [1, 1]


@pytest.mark.parametrize(
    ("tier", "at_least_hours"),
    # the longest AWS says a restore takes (Deep Archive's, where it differs): "Understanding
    # archive retrieval options",
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html
    [("Expedited", 5 / 60), ("Standard", 12), ("Bulk", 48)],
)
def test_thaw_waits_at_least_as_long_as_a_restore_of_its_tier_takes(
    states: dict[str, Any], tier: str, at_least_hours: float
) -> None:
    (retry,) = [r for r in states["Thaw"]["Retry"] if r["ErrorEquals"] == [f"RestorePending{tier}"]]
    waited, interval = 0.0, float(retry["IntervalSeconds"])
    for _ in range(retry["MaxAttempts"]):
        waited += min(interval, retry["MaxDelaySeconds"])
        interval *= retry["BackoffRate"]
    assert waited >= at_least_hours * 3600


def test_lambda_lane_retries_throttling_and_incomplete_batches(
    synth: Synth, states: dict[str, Any]
) -> None:
    copy = states["CopyBatchLambda"]
    assert copy["Resource"] == _function_arn(synth, "StepsS3CopyCopyBatchFunction")
    assert "Parameters" not in copy  # the item itself is the payload
    (retry,) = copy["Retry"]
    assert retry["ErrorEquals"] == [*LAMBDA_SERVICE_ERRORS, "BatchIncomplete"]
    assert retry["JitterStrategy"] == "FULL"
    assert retry["BackoffRate"] == 2
    assert retry["MaxDelaySeconds"] == 120
    assert copy["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "BatchFailed"}
    ]
    assert copy["End"] is True


def _run_task_parameters(synth: Synth, state: dict[str, Any], provider: str) -> None:
    cluster_id, _ = synth.one("AWS::ECS::Cluster")
    group_id, _ = synth.one("AWS::EC2::SecurityGroup")
    _, task = synth.one("AWS::ECS::TaskDefinition")
    assert state["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    params = state["Parameters"]
    assert params["Cluster"] == f"arn:aws:ecs:us-east-1:111111111111:cluster/{cluster_id}"
    assert params["TaskDefinition"] == task["Properties"]["Family"]
    assert params["CapacityProviderStrategy"] == [{"CapacityProvider": provider, "Weight": 1}]
    assert "LaunchType" not in params  # exclusive with a capacity provider strategy
    assert params["PlatformVersion"] == "LATEST"
    network = params["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    assert len(network["Subnets"]) == 2
    assert network["SecurityGroups"] == [f"groupid-{group_id}"]
    assert params["Overrides"] == {
        "ContainerOverrides": [
            {
                "Name": "Worker",
                "Environment": [
                    {"Name": "S3COPY_WORK_BUCKET", "Value.$": "$.work.bucket"},
                    {"Name": "S3COPY_RUN_PREFIX", "Value.$": "$.work.prefix"},
                    {"Name": "S3COPY_BATCH", "Value.$": "States.JsonToString($.batch)"},
                    # the SpotFallbacks metric: the container learns which attempt it is
                    {"Name": "S3COPY_CAPACITY_PROVIDER", "Value": provider},
                ],
            }
        ]
    }
    assert state["ResultSelector"] == {"taskArn.$": "$.TaskArn"}
    assert state["ResultPath"] == "$.task"
    # bounded by the batch's own timeout; retried by its Parallel state, not by itself
    assert state["TimeoutSecondsPath"] == "$.timeoutSeconds"
    assert "TimeoutSeconds" not in state
    assert "Retry" not in state


def _branch(states: dict[str, Any], parallel: str) -> dict[str, Any]:
    (branch,) = states[parallel]["Branches"]
    result: dict[str, Any] = branch
    return result


@pytest.mark.parametrize(
    ("capacity", "provider"), [("Spot", "FARGATE_SPOT"), ("OnDemand", "FARGATE")]
)
def test_each_fargate_attempt_tells_a_configuration_error_from_an_interruption(
    synth: Synth, states: dict[str, Any], capacity: str, provider: str
) -> None:
    """A Retry sees only the error name and ``.sync`` reports every stopped task as
    States.TaskFailed: each attempt is a Parallel of one branch whose Fail states re-raise
    the RunTask API's own error, FargateTaskMisconfigured (exit 2) or FargateTaskStopped."""
    parallel = states[f"Fargate{capacity}"]
    assert parallel["Type"] == "Parallel"
    assert parallel["ResultSelector"] == {"taskArn.$": "$[0].task.taskArn"}
    assert parallel["ResultPath"] == "$.task"
    branch = _branch(states, f"Fargate{capacity}")
    assert branch["StartAt"] == f"CopyBatch{capacity}"
    assert set(branch["States"]) == {
        f"CopyBatch{capacity}",
        f"{capacity}NotStarted",
        f"{capacity}HowStopped",
        f"{capacity}Misconfigured",
        f"{capacity}TaskStopped",
    }
    run = branch["States"][f"CopyBatch{capacity}"]
    _run_task_parameters(synth, run, provider)
    # the API's names first: States.TaskFailed matches them too; States.Timeout is not
    # caught here (TaskFailed does not match it): the Parallel fails with it
    assert run["Catch"] == [
        {
            "ErrorEquals": [*ECS_API_RETRY_ERRORS, *ECS_API_FATAL_ERRORS],
            "ResultPath": "$.taskError",
            "Next": f"{capacity}NotStarted",
        },
        {
            "ErrorEquals": ["States.TaskFailed"],
            "ResultPath": "$.taskError",
            "Next": f"{capacity}HowStopped",
        },
    ]
    assert branch["States"][f"{capacity}NotStarted"] == {
        "Type": "Fail",
        "ErrorPath": "$.taskError.Error",
        "CausePath": "$.taskError.Cause",
    }
    assert branch["States"][f"{capacity}Misconfigured"] == {
        "Type": "Fail",
        "Error": retries.FARGATE_TASK_MISCONFIGURED,
        "CausePath": "$.taskError.Cause",
    }
    assert branch["States"][f"{capacity}TaskStopped"] == {
        "Type": "Fail",
        "Error": retries.FARGATE_TASK_STOPPED,
        "CausePath": "$.taskError.Cause",
    }
    how = branch["States"][f"{capacity}HowStopped"]
    assert how["Default"] == f"{capacity}TaskStopped"
    (choice,) = how["Choices"]
    assert choice["Next"] == f"{capacity}Misconfigured"
    assert {c["Variable"] for c in choice["Or"]} == {"$.taskError.Cause"}
    assert {c["StringMatches"] for c in choice["Or"]} == {
        '*"ExitCode":2,*',
        '*"ExitCode":2}*',
        '*"ExitCode": 2,*',
        '*"ExitCode": 2}*',
    }


def test_the_exit_code_the_lane_reads_is_the_container_s_configuration_exit() -> None:
    assert CONTAINER_CONFIG_EXIT == EXIT_CONFIG == 2


def _matches(pattern: str, text: str) -> bool:
    """Step Functions' StringMatches: ``*`` is any run of characters."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


@pytest.mark.parametrize(
    ("cause", "misconfigured"),
    [
        ('{"Containers":[{"ExitCode":2,"Name":"Worker"}],"StopCode":"X"}', True),
        ('{"Containers":[{"Name":"Worker","ExitCode":2}]}', True),
        ('{"Containers": [{"ExitCode": 2, "Name": "Worker"}]}', True),
        ('{"Containers":[{"ExitCode":4}],"StopCode":"SpotInterruption"}', False),
        ('{"Containers":[{"ExitCode":20}]}', False),
        ('{"Containers":[{"ExitCode":137}]}', False),
        ('{"Containers":[{"Name":"Worker"}],"StopCode":"TaskFailedToStart"}', False),
        ("Rate exceeded (Service: AmazonECS; Error Code: ThrottlingException)", False),
    ],
)
def test_the_exit_code_choice_on_causes(
    states: dict[str, Any], cause: str, misconfigured: bool
) -> None:
    (choice,) = _branch(states, "FargateSpot")["States"]["SpotHowStopped"]["Choices"]
    assert any(_matches(c["StringMatches"], cause) for c in choice["Or"]) is misconfigured


def test_fargate_lane_tries_spot_then_falls_back_to_on_demand(states: dict[str, Any]) -> None:
    spot, on_demand = states["FargateSpot"], states["FargateOnDemand"]
    # capacity, throttling and interruptions fall back; a configuration error or a timeout
    # does not: the batch is recorded
    assert spot["Catch"] == [
        {
            "ErrorEquals": list(ECS_RETRY_ERRORS),
            "ResultPath": "$.spotError",
            "Next": "FargateOnDemand",
        },
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "BatchFailed"},
    ]
    assert retries.FARGATE_TASK_STOPPED in ECS_RETRY_ERRORS
    assert retries.FARGATE_TASK_MISCONFIGURED not in ECS_RETRY_ERRORS
    assert "States.Timeout" not in ECS_RETRY_ERRORS
    assert "States.TaskFailed" not in ECS_RETRY_ERRORS  # it would match a timeout's kin too
    assert not set(ECS_API_FATAL_ERRORS) & set(ECS_RETRY_ERRORS)
    assert on_demand["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "BatchFailed"}
    ]
    assert on_demand["Retry"][0]["MaxAttempts"] > spot["Retry"][0]["MaxAttempts"]


def test_failed_batch_is_recorded_not_fatal(states: dict[str, Any]) -> None:
    assert states["BatchFailed"] == {
        "Type": "Pass",
        "Parameters": {
            "batchId.$": "$.batch.batchId",
            "lane.$": "$.batch.lane",
            "failed": True,
            "error.$": "$.error",
        },
        "End": True,
    }


def test_summarise_and_notify(synth: Synth, states: dict[str, Any]) -> None:
    summarise = states["Summarise"]
    assert summarise["Resource"] == _function_arn(synth, "StepsS3CopySummariseFunction")
    assert summarise["Parameters"] == {"prepared.$": "$.prepared", "execution": EXECUTION}
    notify = states["Notify"]
    assert notify["Resource"] == _function_arn(synth, "StepsS3CopyNotifyFunction")
    assert notify["Parameters"] == {"notice.$": "$.notice"}
    assert notify["ResultPath"] is None


def test_every_failure_on_the_way_still_notifies(synth: Synth, states: dict[str, Any]) -> None:
    for name in ("CheckDestination", "Copy", "Summarise", "Finish"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "SummariseFailure"}
        ], name
    assert states["Prepare"]["Catch"][-1] == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.error",
        "Next": "SummariseFailure",
    }
    failure = states["SummariseFailure"]
    assert failure["Resource"] == _function_arn(synth, "StepsS3CopySummariseFunction")
    assert failure["Parameters"] == {
        "error.$": "$.error",
        "input.$": "$$.Execution.Input",
        "execution": EXECUTION,
    }
    assert states["NotifyFailure"]["Parameters"] == {"notice.$": "$.notice"}


def test_no_task_can_end_the_run_without_a_notice(definition: dict[str, Any]) -> None:
    """Every task state of the run catches everything but the last ones (SummariseFailure
    writes the FAILED notice, the Notify states send it: nothing after them could), and
    inside the Map every attempt's failure is caught, so no Map item fails the Map."""
    main = definition["States"]
    last = ("SummariseFailure", "Notify", "NotifyFailure")
    for name, state in main.items():
        if state["Type"] in ("Task", "Map", "Parallel") and name not in last:
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name
    items = main["Copy"]["ItemProcessor"]["States"]
    for name, state in items.items():
        if state["Type"] in ("Task", "Parallel"):
            assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
            assert state["Catch"][-1]["Next"] == "BatchFailed", name


def test_every_task_state_is_bounded(synth: Synth, states: dict[str, Any]) -> None:
    """A Lambda state by its function's timeout plus a margin, a RunTask state by its batch's
    timeoutSeconds; the execution's timeout stays above every one of them."""
    timeouts = {
        f"arn:aws:lambda:us-east-1:111111111111:function:{logical_id}": function["Properties"][
            "Timeout"
        ]
        for logical_id, function in synth.resources("AWS::Lambda::Function").items()
    }
    margin = LAMBDA_STATE_MARGIN.to_seconds()
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert len(tasks) == 12  # 8 Lambda steps, Thaw, the Lambda lane, 2 RunTask states
    for name, state in tasks.items():
        if state["Resource"] == "arn:aws:states:::ecs:runTask.sync":
            assert state["TimeoutSecondsPath"] == "$.timeoutSeconds", name
        else:
            assert state["TimeoutSeconds"] == timeouts[state["Resource"]] + margin, name
            assert state["TimeoutSeconds"] < 7 * 24 * 3600
    assert states["Notify"]["TimeoutSeconds"] == 60 + margin
    assert states["Prepare"]["TimeoutSeconds"] == 900 + margin


@pytest.mark.parametrize(
    "name", ["Prepare", "CheckDestination", "Summarise", "Finish", "Notify", "SummariseFailure"]
)
def test_lambda_steps_retry_service_errors_with_jitter(states: dict[str, Any], name: str) -> None:
    retry = states[name]["Retry"][0]
    assert retry["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
    assert retry["JitterStrategy"] == "FULL"
    assert retry["MaxDelaySeconds"] == 60


def test_no_spot_variant_goes_straight_to_on_demand(synth_scoped: Synth) -> None:
    states = all_states(definition_of(synth_scoped.template))
    assert "CopyBatchSpot" not in states
    assert "FargateSpot" not in states
    assert states["Lane"]["Choices"][0]["Next"] == "FargateOnDemand"


def test_the_construct_sets_the_result_writer_flag_itself(synth_scoped: Synth) -> None:
    """An app without the context flag (synth_scoped's) still gets the ResultWriter."""
    states = all_states(definition_of(synth_scoped.template))
    assert states["Copy"]["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"


@pytest.mark.parametrize(
    ("name", "policies"),
    [
        ("Prepare", [retries.LAMBDA_STEP, retries.PREPARE_MANIFEST_WAIT]),
        ("CheckDestination", [retries.LAMBDA_STEP]),
        ("Summarise", [retries.LAMBDA_STEP]),
        ("Finish", [retries.LAMBDA_STEP]),
        ("Notify", [retries.LAMBDA_STEP]),
        ("SummariseFailure", [retries.LAMBDA_STEP]),
        ("FinishFailure", [retries.LAMBDA_STEP]),
        ("NotifyFailure", [retries.LAMBDA_STEP]),
        ("CopyBatchLambda", [retries.COPY_BATCH_LAMBDA]),
        ("FargateSpot", [retries.COPY_BATCH_SPOT]),
        ("FargateOnDemand", [retries.COPY_BATCH_ON_DEMAND]),
        ("Thaw", [retries.LAMBDA_STEP, *retries.RESTORE_WAIT.values()]),
    ],
)
def test_every_retry_comes_from_the_shared_table(
    states: dict[str, Any], name: str, policies: list[retries.RetryPolicy]
) -> None:
    """The local runner retries from the same table, so both fail and recover alike; every
    retry has full jitter but the restore waits, which must last their whole interval."""
    assert not any(policy.jitter for policy in retries.RESTORE_WAIT.values())
    assert states[name]["Retry"] == [
        {
            "ErrorEquals": list(policy.errors),
            "IntervalSeconds": policy.interval_seconds,
            "MaxAttempts": policy.max_attempts,
            "BackoffRate": policy.backoff_rate,
            "MaxDelaySeconds": policy.max_delay_seconds,
            **({"JitterStrategy": "FULL"} if policy.jitter else {}),
        }
        for policy in policies
    ]


def test_no_other_state_retries(states: dict[str, Any]) -> None:
    retried = {name for name, state in states.items() if "Retry" in state}
    assert retried == {
        "Prepare",
        "CheckDestination",
        "Summarise",
        "Finish",
        "Notify",
        "SummariseFailure",
        "FinishFailure",
        "NotifyFailure",
        "CopyBatchLambda",
        "FargateSpot",
        "FargateOnDemand",
        "Thaw",
    }

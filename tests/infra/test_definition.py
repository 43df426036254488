"""The serialized state machine definition, resolved to JSON and checked state by state."""

from __future__ import annotations

from typing import Any

import pytest

from steps_s3_copy import retries
from steps_s3_copy.retries import ECS_RETRY_ERRORS, LAMBDA_SERVICE_ERRORS
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
        "DryRun",
        "Copy",
        "Summarise",
        "Notify",
        "Done",
        "SummariseFailure",
        "NotifyFailure",
        "Failed",
    }
    main = definition["States"]
    assert main["Prepare"]["Next"] == "DryRun"
    assert main["Copy"]["Next"] == "Summarise"
    assert main["Summarise"]["Next"] == "Notify"
    assert main["Notify"]["Next"] == "Done"
    assert main["SummariseFailure"]["Next"] == "NotifyFailure"
    assert main["NotifyFailure"]["Next"] == "Failed"
    assert main["Failed"] == {
        "Type": "Fail",
        "Error": "CopyFailed",
        "Cause": "The run failed; the notice says why",
    }
    assert set(states) - set(main) == {
        "Lane",
        "CopyBatchLambda",
        "CopyBatchSpot",
        "CopyBatchOnDemand",
        "BatchFailed",
    }


def test_prepare_gets_the_input_and_the_execution(synth: Synth, states: dict[str, Any]) -> None:
    prepare = states["Prepare"]
    assert prepare["Resource"] == _function_arn(synth, "StepsS3CopyPrepareFunction")
    assert prepare["Parameters"] == {"input.$": "$", "execution": EXECUTION}
    assert prepare["ResultSelector"] == {"prepared.$": "$"}
    assert "ResultPath" not in prepare


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
    assert copy["ItemSelector"] == {"batch.$": "$$.Map.Item.Value", "work.$": "$.prepared.work"}
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
        "Choices": [
            {"Variable": "$.batch.lane", "StringEquals": "fargate", "Next": "CopyBatchSpot"}
        ],
        "Default": "CopyBatchLambda",
    }
    assert states["Copy"]["ItemProcessor"]["StartAt"] == "Lane"


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
                ],
            }
        ]
    }
    assert state["ResultSelector"] == {"taskArn.$": "$.TaskArn"}
    assert state["ResultPath"] == "$.task"
    (retry,) = state["Retry"]
    assert retry["ErrorEquals"] == list(ECS_RETRY_ERRORS)
    assert retry["JitterStrategy"] == "FULL"
    assert retry["BackoffRate"] == 2
    assert "MaxDelaySeconds" in retry


def test_fargate_lane_tries_spot_then_falls_back_to_on_demand(
    synth: Synth, states: dict[str, Any]
) -> None:
    spot, on_demand = states["CopyBatchSpot"], states["CopyBatchOnDemand"]
    _run_task_parameters(synth, spot, "FARGATE_SPOT")
    _run_task_parameters(synth, on_demand, "FARGATE")
    assert spot["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.spotError", "Next": "CopyBatchOnDemand"}
    ]
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
    for name in ("Prepare", "Copy", "Summarise"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "SummariseFailure"}
        ], name
    failure = states["SummariseFailure"]
    assert failure["Resource"] == _function_arn(synth, "StepsS3CopySummariseFunction")
    assert failure["Parameters"] == {
        "error.$": "$.error",
        "input.$": "$$.Execution.Input",
        "execution": EXECUTION,
    }
    assert states["NotifyFailure"]["Parameters"] == {"notice.$": "$.notice"}


@pytest.mark.parametrize("name", ["Prepare", "Summarise", "Notify", "SummariseFailure"])
def test_lambda_steps_retry_service_errors_with_jitter(states: dict[str, Any], name: str) -> None:
    (retry,) = states[name]["Retry"]
    assert retry["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
    assert retry["JitterStrategy"] == "FULL"
    assert retry["MaxDelaySeconds"] == 60


def test_no_spot_variant_goes_straight_to_on_demand(synth_scoped: Synth) -> None:
    states = all_states(definition_of(synth_scoped.template))
    assert "CopyBatchSpot" not in states
    assert states["Lane"]["Choices"][0]["Next"] == "CopyBatchOnDemand"


def test_the_construct_sets_the_result_writer_flag_itself(synth_scoped: Synth) -> None:
    """An app without the context flag (synth_scoped's) still gets the ResultWriter."""
    states = all_states(definition_of(synth_scoped.template))
    assert states["Copy"]["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("Prepare", retries.LAMBDA_STEP),
        ("Summarise", retries.LAMBDA_STEP),
        ("Notify", retries.LAMBDA_STEP),
        ("SummariseFailure", retries.LAMBDA_STEP),
        ("NotifyFailure", retries.LAMBDA_STEP),
        ("CopyBatchLambda", retries.COPY_BATCH_LAMBDA),
        ("CopyBatchSpot", retries.COPY_BATCH_SPOT),
        ("CopyBatchOnDemand", retries.COPY_BATCH_ON_DEMAND),
    ],
)
def test_every_retry_comes_from_the_shared_table(
    states: dict[str, Any], name: str, policy: retries.RetryPolicy
) -> None:
    """The local runner retries from the same table, so both fail and recover alike."""
    assert states[name]["Retry"] == [
        {
            "ErrorEquals": list(policy.errors),
            "IntervalSeconds": policy.interval_seconds,
            "MaxAttempts": policy.max_attempts,
            "BackoffRate": policy.backoff_rate,
            "MaxDelaySeconds": policy.max_delay_seconds,
            "JitterStrategy": "FULL",
        }
    ]

"""Each moto patch does what it claims, and fails loudly when moto changes under it."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import moto
import pytest
from moto.awslambda import models as lambda_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_mod,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_ecs as ecs_mod,
)

from tests.conftest import client
from tests.infra import moto_patches
from tests.infra.moto_patches import MOTO_VERSION, api_names, patched, states_names

ACCOUNT = "123456789012"


@pytest.fixture
def moto_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("MOTO_PORT", moto_server.rsplit(":", 1)[1])
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(f"{moto_server}/moto-api/config", data=body, method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    iam = client("iam", moto_server)
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return {"endpoint": moto_server, "role": role}


def _image_function(env: dict[str, Any], name: str, handler: str) -> str:
    created = client("lambda", env["endpoint"]).create_function(
        FunctionName=name,
        PackageType="Image",
        Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/x:latest"},
        ImageConfig={"EntryPoint": ["python", "-m", "awslambdaric"], "Command": [handler]},
        Role=env["role"],
        Environment={"Variables": {"PATCH_TEST_VAR": "from-the-function"}},
    )
    arn: str = created["FunctionArn"]
    return arn


def _execute(
    env: dict[str, Any], definition: dict[str, Any], timeout: float = 60
) -> dict[str, Any]:
    sfn = client("stepfunctions", env["endpoint"])
    machine = sfn.create_state_machine(
        name=f"m{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=env["role"]
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="e", input="{}")["executionArn"]
    deadline = time.monotonic() + timeout
    execution = sfn.describe_execution(executionArn=arn)
    while execution["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
        execution = sfn.describe_execution(executionArn=arn)
    result: dict[str, Any] = execution
    return result


def test_patches_refuse_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match=f"targets moto {MOTO_VERSION}"), patched("http://x"):
        pass


def test_patches_are_undone() -> None:
    before = (
        lambda_models.LambdaFunction.invoke,
        ecs_mod.StateTaskServiceEcs._eval_service_task,
        ecs_mod.StateTaskServiceEcs._build_sync_resolver,
        getattr(retrier_decl, "time"),  # noqa: B009 - not a public attribute
    )
    with patched("http://x"):
        assert lambda_models.LambdaFunction.invoke is not before[0]
        assert "CapacityProviderStrategy" in ecs_mod._SUPPORTED_API_PARAM_BINDINGS["runtask"]
    after = (
        lambda_models.LambdaFunction.invoke,
        ecs_mod.StateTaskServiceEcs._eval_service_task,
        ecs_mod.StateTaskServiceEcs._build_sync_resolver,
        getattr(retrier_decl, "time"),  # noqa: B009 - not a public attribute
    )
    assert after == before
    assert "CapacityProviderStrategy" not in ecs_mod._SUPPORTED_API_PARAM_BINDINGS["runtask"]
    assert (
        ecs_mod.StateTaskServiceEcs._eval_sync is callback_mod.StateTaskServiceCallback._eval_sync
    )


# --- 1. Lambda in-process -----------------------------------------------------------------


def test_image_functions_cannot_run_in_moto_without_the_patch(moto_env: dict[str, Any]) -> None:
    """Why the patch exists: moto would start the image in Docker, which is absent."""
    _image_function(moto_env, "plain", "tests.infra.patch_targets.echo")
    with pytest.raises(Exception):  # noqa: B017, PT011 - moto's Docker error, whatever its type
        client("lambda", moto_env["endpoint"]).invoke(FunctionName="plain", Payload=b"{}")


def test_lambda_patch_runs_the_cmd_handler_in_process(moto_env: dict[str, Any]) -> None:
    _image_function(moto_env, "echo", "tests.infra.patch_targets.echo")
    with patched(moto_env["endpoint"]) as recorder:
        response = client("lambda", moto_env["endpoint"]).invoke(
            FunctionName="echo", Payload=json.dumps({"a": 1})
        )
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {
        "echo": {"a": 1},
        "var": "from-the-function",
        "fn": "echo",
    }
    assert recorder.lambda_calls == [("tests.infra.patch_targets.echo", {"a": 1}, None)]


def test_a_raised_error_is_the_state_error_name(moto_env: dict[str, Any]) -> None:
    arn = _image_function(moto_env, "boom", "tests.infra.patch_targets.boom")
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": arn,
                "Catch": [{"ErrorEquals": ["BoomError"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    with patched(moto_env["endpoint"]):
        execution = _execute(moto_env, definition)
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["Error"] == "BoomError"
    assert "failed on purpose" in output["Cause"]


# --- 2. ecs:runTask.sync ------------------------------------------------------------------


def test_parameter_names_are_converted_both_ways() -> None:
    states = {
        "Cluster": "c",
        "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
        "Overrides": {"ContainerOverrides": [{"Name": "W", "Environment": [{"Name": "A"}]}]},
    }
    assert api_names(states) == {
        "cluster": "c",
        "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        "overrides": {"containerOverrides": [{"name": "W", "environment": [{"name": "A"}]}]},
    }
    assert states_names({"taskArn": "t", "containers": [{"exitCode": 0}]}) == {
        "TaskArn": "t",
        "Containers": [{"ExitCode": 0}],
    }


def _ecs(moto_env: dict[str, Any], exit_code: str) -> dict[str, Any]:
    ec2 = client("ec2", moto_env["endpoint"])
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
    ecs = client("ecs", moto_env["endpoint"])
    cluster = ecs.create_cluster(clusterName="c", capacityProviders=["FARGATE", "FARGATE_SPOT"])
    ecs.register_task_definition(
        family="fam",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "W",
                "image": "x",
                "memory": 512,
                "entryPoint": ["python", "-c", "import os, sys; sys.exit(int(os.environ['CODE']))"],
            }
        ],
    )
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::ecs:runTask.sync",
        "Parameters": {
            "Cluster": cluster["cluster"]["clusterArn"],
            "TaskDefinition": "fam",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {"Subnets": [subnet], "SecurityGroups": [group]}
            },
            "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
            "Overrides": {
                "ContainerOverrides": [
                    {"Name": "W", "Environment": [{"Name": "CODE", "Value": exit_code}]}
                ]
            },
        },
        "ResultSelector": {"taskArn.$": "$.TaskArn", "containers.$": "$.Containers"},
        "End": True,
    }


def test_ecs_patch_runs_the_entry_point_on_the_requested_capacity(moto_env: dict[str, Any]) -> None:
    state = _ecs(moto_env, "0")
    with patched(moto_env["endpoint"]) as recorder:
        execution = _execute(moto_env, {"StartAt": "Run", "States": {"Run": state}})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    (run,) = recorder.task_runs
    assert output["taskArn"] == run.task_arn
    assert [c["ExitCode"] for c in output["containers"]] == [0]
    assert run.capacity_provider == "FARGATE_SPOT"
    assert run.environment["CODE"] == "0"


def test_a_non_zero_exit_fails_the_state_and_a_retry_runs_it_again(
    moto_env: dict[str, Any],
) -> None:
    state = _ecs(moto_env, "3")
    state["Retry"] = [
        {"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1, "IntervalSeconds": 30}
    ]
    with patched(moto_env["endpoint"]) as recorder:
        started = time.monotonic()
        execution = _execute(moto_env, {"StartAt": "Run", "States": {"Run": state}})
        elapsed = time.monotonic() - started
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.TaskFailed"
    assert [r.exit_code for r in recorder.task_runs] == [3, 3]  # the retry really ran
    # 3. fast retries: moto computed the 30 s wait, the patch slept 0.3 s of it
    assert recorder.retry_waits == [30]
    assert elapsed < 25


def test_an_interrupted_task_gets_sigterm(moto_env: dict[str, Any]) -> None:
    state = _ecs(moto_env, "0")
    state["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"] = []
    with patched(moto_env["endpoint"], interrupt_tasks=1) as recorder:
        _execute(moto_env, {"StartAt": "Run", "States": {"Run": state}})
    (run,) = recorder.task_runs
    assert run.interrupted
    assert run.exit_code != 0


def test_the_internals_the_patches_rely_on_are_still_there() -> None:
    """A moto upgrade that renames any of these breaks the patches: fail here first."""
    assert moto.__version__ == MOTO_VERSION
    assert callable(lambda_models.LambdaFunction.invoke)
    assert lambda_models.ImageConfig({"Command": ["x"]}).cmd == ["x"]
    assert "runtask" in ecs_mod._SUPPORTED_API_PARAM_BINDINGS
    assert hasattr(callback_mod.StateTaskServiceCallback, "_eval_sync")
    assert hasattr(retrier_decl, "time")
    assert moto_patches.Recorder("x").time_scale == 0.01

"""Each moto patch does what it claims, and fails loudly when moto changes under it."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import moto
import pytest
from botocore.exceptions import ClientError
from moto.awslambda import models as lambda_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts import timeout as timeout_mod
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
#: the test task's container: sleeps $SLEEP seconds, then exits with $CODE (default 1)
SLEEP_THEN_EXIT = (
    "import os, sys, time; time.sleep(float(os.environ.get('SLEEP', '0'))); "
    "sys.exit(int(os.environ.get('CODE', '1')))"
)


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
    env: dict[str, Any],
    definition: dict[str, Any],
    timeout: float = 60,
    execution_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sfn = client("stepfunctions", env["endpoint"])
    machine = sfn.create_state_machine(
        name=f"m{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=env["role"]
    )["stateMachineArn"]
    arn = sfn.start_execution(
        stateMachineArn=machine, name="e", input=json.dumps(execution_input or {})
    )["executionArn"]
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


def _patch_points() -> tuple[Any, ...]:
    return (
        lambda_models.LambdaFunction.invoke,
        ecs_mod.StateTaskServiceEcs._eval_service_task,
        ecs_mod.StateTaskServiceEcs._build_sync_resolver,
        getattr(retrier_decl, "time"),  # noqa: B009 - not a public attribute
        timeout_mod.TimeoutSecondsPath._eval_seconds,
    )


def test_patches_are_undone() -> None:
    before = _patch_points()
    with patched("http://x"):
        during = _patch_points()
        assert all(a is not b for a, b in zip(before, during, strict=True))
        assert "CapacityProviderStrategy" in ecs_mod._SUPPORTED_API_PARAM_BINDINGS["runtask"]
    after = _patch_points()
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
                "entryPoint": ["python", "-c", SLEEP_THEN_EXIT],
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


def _caught(state: dict[str, Any]) -> dict[str, Any]:
    """A definition that runs ``state`` and catches its States.TaskFailed into $.error."""
    state["Catch"] = [
        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}
    ]
    return {"StartAt": "Run", "States": {"Run": state, "Caught": {"Type": "Succeed"}}}


def _environment(state: dict[str, Any], **variables: str) -> None:
    (override,) = state["Parameters"]["Overrides"]["ContainerOverrides"]
    override["Environment"] = [{"Name": k, "Value": v} for k, v in variables.items()]


def test_a_failed_task_s_cause_is_its_description_with_exit_and_stop_codes(
    moto_env: dict[str, Any],
) -> None:
    """What the Fargate lane's Choice reads: ``"ExitCode":3`` (compact) and the stop code."""
    state = _ecs(moto_env, "3")
    with patched(moto_env["endpoint"]) as recorder:
        execution = _execute(moto_env, _caught(state))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    error = json.loads(execution["output"])["error"]
    assert error["Error"] == "States.TaskFailed"
    assert '"ExitCode":3,' in error["Cause"] or '"ExitCode":3}' in error["Cause"]
    cause = json.loads(error["Cause"])
    (run,) = recorder.task_runs
    assert cause["TaskArn"] == run.task_arn
    assert [c["ExitCode"] for c in cause["Containers"]] == [3]
    assert cause["LastStatus"] == "STOPPED"
    assert cause["StopCode"] == "EssentialContainerExited"


def test_an_interrupted_spot_task_stops_with_spot_interruption(moto_env: dict[str, Any]) -> None:
    state = _ecs(moto_env, "0")
    _environment(state, SLEEP="5", CODE="0")  # it would succeed, were it not interrupted
    with patched(moto_env["endpoint"], interrupt_tasks=1) as recorder:
        execution = _execute(moto_env, _caught(state))
    cause = json.loads(json.loads(execution["output"])["error"]["Cause"])
    (run,) = recorder.task_runs
    assert run.interrupted
    assert run.exit_code != 0
    assert cause["StopCode"] == "SpotInterruption"
    assert cause["Containers"][0]["ExitCode"] == run.exit_code


def test_a_hung_task_is_stopped_when_its_state_times_out(moto_env: dict[str, Any]) -> None:
    """moto times the state out (States.Timeout) but would leave the task running; the
    patch stops it, and ``timeout_scale`` makes TimeoutSecondsPath's 100 s last 2 s."""
    state = _ecs(moto_env, "0")
    state["TimeoutSecondsPath"] = "$.seconds"
    with patched(moto_env["endpoint"], hang_tasks=1, timeout_scale=0.02) as recorder:
        started = time.monotonic()
        execution = _execute(
            moto_env, {"StartAt": "Run", "States": {"Run": state}}, execution_input={"seconds": 100}
        )
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 30
        while not recorder.task_runs and time.monotonic() < deadline:
            time.sleep(0.1)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Timeout"
    assert set(recorder.timeouts) == {100}
    assert 2 <= elapsed < 20
    (run,) = recorder.task_runs
    assert run.hung
    assert run.stopped_by_state
    assert run.exit_code != 0  # it ended: SIGTERM (then SIGKILL) as StopTask does
    assert run.stop_code == "UserInitiated"


def test_before_task_sees_and_may_change_each_task_s_environment(
    moto_env: dict[str, Any],
) -> None:
    seen: list[tuple[int, str]] = []

    def change(index: int, environment: dict[str, str]) -> None:
        seen.append((index, environment["CODE"]))
        environment["CODE"] = "0"

    state = _ecs(moto_env, "5")
    with patched(moto_env["endpoint"], before_task=change) as recorder:
        execution = _execute(moto_env, {"StartAt": "Run", "States": {"Run": state}})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert seen == [(0, "5")]
    assert [r.exit_code for r in recorder.task_runs] == [0]


def test_after_lambda_sees_each_invocation(moto_env: dict[str, Any]) -> None:
    _image_function(moto_env, "echo", "tests.infra.patch_targets.echo")
    _image_function(moto_env, "boom", "tests.infra.patch_targets.boom")
    seen: list[tuple[str, Any, str | None]] = []
    lambda_client = client("lambda", moto_env["endpoint"])
    with patched(moto_env["endpoint"], after_lambda=lambda *call: seen.append(call)):
        lambda_client.invoke(FunctionName="echo", Payload=json.dumps({"a": 1}))
        lambda_client.invoke(FunctionName="boom", Payload=b"{}")
    assert seen == [
        ("tests.infra.patch_targets.echo", {"a": 1}, None),
        ("tests.infra.patch_targets.boom", {}, "BoomError"),
    ]


def test_the_internals_the_patches_rely_on_are_still_there() -> None:
    """A moto upgrade that renames any of these breaks the patches: fail here first."""
    assert moto.__version__ == MOTO_VERSION
    assert callable(lambda_models.LambdaFunction.invoke)
    assert lambda_models.ImageConfig({"Command": ["x"]}).cmd == ["x"]
    assert "runtask" in ecs_mod._SUPPORTED_API_PARAM_BINDINGS
    assert hasattr(callback_mod.StateTaskServiceCallback, "_eval_sync")
    assert hasattr(retrier_decl, "time")
    assert hasattr(timeout_mod.TimeoutSecondsPath, "_eval_seconds")
    assert hasattr(callback_mod, "_DELAY_SECONDS_SYNC_CONDITION_CHECK")  # .sync polls
    assert moto_patches.Recorder("x").time_scale == 0.01


# -- KMS: MessageType=DIGEST ------------------------------------------------------------------


def _public_key_verifies(kms: Any, key_id: str, digest: bytes, signature: bytes, alg: str) -> bool:
    """Verify as a recipient would offline: the public key, the digest as it is."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed  # noqa: PLC0415

    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            assert isinstance(public, rsa.RSAPublicKey)
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            pad = pss if alg.startswith("RSASSA_PSS") else padding.PKCS1v15()
            public.verify(signature, digest, pad, prehashed)
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize(
    ("spec", "alg"), [("ECC_NIST_P256", "ECDSA_SHA_256"), ("RSA_2048", "RSASSA_PSS_SHA_256")]
)
def test_kms_signs_a_digest_as_aws_does_only_with_the_patch(
    moto_server: str, spec: str, alg: str
) -> None:
    import hashlib  # noqa: PLC0415

    kms = client("kms", moto_server)
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    digest = hashlib.sha256(b"the receipt's bytes").digest()
    other = hashlib.sha256(b"other bytes").digest()

    def sign(message: bytes) -> bytes:
        signature: bytes = kms.sign(
            KeyId=key, Message=message, MessageType="DIGEST", SigningAlgorithm=alg
        )["Signature"]
        return signature

    # moto as it is: the digest is hashed again, and a bad signature is "valid: false"
    unpatched = sign(digest)
    assert not _public_key_verifies(kms, key, digest, unpatched, alg)
    answer = kms.verify(
        KeyId=key, Message=other, MessageType="DIGEST", Signature=unpatched, SigningAlgorithm=alg
    )
    assert answer["SignatureValid"] is False

    with moto_patches.kms_digest_signing():
        signature = sign(digest)
        assert _public_key_verifies(kms, key, digest, signature, alg)
        assert kms.verify(
            KeyId=key,
            Message=digest,
            MessageType="DIGEST",
            Signature=signature,
            SigningAlgorithm=alg,
        )["SignatureValid"]
        with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
            kms.verify(
                KeyId=key,
                Message=other,
                MessageType="DIGEST",
                Signature=signature,
                SigningAlgorithm=alg,
            )
        with pytest.raises(ClientError, match=r"ValidationException.*invalid length"):
            sign(digest[:20])
        # a RAW message is still hashed while signing
        raw = kms.sign(KeyId=key, Message=b"raw", MessageType="RAW", SigningAlgorithm=alg)
        assert kms.verify(
            KeyId=key, Message=b"raw", Signature=raw["Signature"], SigningAlgorithm=alg
        )["SignatureValid"]
    # and the patch is gone afterwards
    assert not _public_key_verifies(kms, key, digest, sign(digest), alg)

# Patching moto means assigning to its methods and module attributes on purpose:
# mypy: disable-error-code="method-assign,attr-defined,assignment,typeddict-item"
"""The patches of moto's internals that let the synthesized definition run offline.

Tests only, pinned to one moto version (``MOTO_VERSION``): each patch touches private
code, so ``patched()`` refuses to run on another version and every patch has a test of
its own in ``test_moto_patches.py`` that fails loudly when an upgrade changes what it
relies on. What each one fixes:

1. ``Lambda in-process``: moto runs a Lambda invocation in Docker, which is absent here.
   An image function (``PackageType=Image``) is run by importing the handler its image
   CMD names (``steps_s3_copy.handlers.prepare.handler``) and calling it in this process
   with the function's environment, as ``awslambdaric`` would in the container. A raised
   exception becomes ``FunctionError`` with ``errorType`` = the exception's class name,
   so Retry/Catch match the same error names as on AWS. ``Recorder.after_lambda`` is
   called after each invocation (a test's hook: e.g. upload a CSV once Prepare has
   reported it missing).
2. ``ecs:runTask.sync``: moto drops ``CapacityProviderStrategy`` (upstream: getmoto/moto
   issue #8722, fixed for RunTask by PR #10070, after 5.2.5), passes the states'
   PascalCase parameter names to boto3 unconverted (so RunTask gets nothing), runs no
   container and reports a stopped task as success whatever its exit code. The patch
   converts the names, keeps the capacity provider strategy, starts the container's real
   entry point (the task definition's ``python -m steps_s3_copy.worker``) as a subprocess
   with the container overrides' environment and the moto endpoint, and polls it as the
   ``.sync`` integration polls the task. When it exits, the task is stopped in moto with
   its exit code and, as Step Functions does when an essential container exits non-zero,
   the state fails with ``States.TaskFailed`` and a Cause holding the task's description:
   ``Containers[].ExitCode``, ``StopCode`` (``SpotInterruption`` for an interrupted Spot
   task, else ``EssentialContainerExited``) and ``StoppedReason``, as compact JSON.
   When the state ends before the task (its ``TimeoutSecondsPath`` ran out), the task is
   stopped as StopTask stops one: SIGTERM, then SIGKILL after the container's stop
   timeout (no AWS page says Step Functions stops a timed-out task; the patch must end
   the subprocess either way, and does it the way StopTask would). A test can interrupt
   the first N tasks with SIGTERM (a Spot interruption), hang the first N (SIGSTOP: a task
   that makes no progress) and change a task's environment or the world just before it
   starts (``Recorder.before_task``).
   And a retried .sync attempt no longer "times out" at once: moto listens for a task
   token on .sync tasks too and reuses the first attempt's interrupted token endpoint on
   a Retry. No upstream moto issue was found for the exit code or the token.
3. ``fast retries and timeouts``: Retry waits are scaled down (the definition's intervals
   are tens of seconds with backoff); the jittered interval is still computed by moto and
   recorded. ``TimeoutSecondsPath`` values (the RunTask states' bound, half an hour or
   more) can be scaled too (``timeout_scale``), so a test can watch a task outlast its
   state's timeout.

And one patch of moto's KMS, applied on its own (``kms_digest_signing()``): moto 5.2.5
ignores Sign's and Verify's ``MessageType`` ("The MessageType-parameter DIGEST is not yet
implemented", ``moto/kms/models.py``) and hashes every message again, so a signature of a
digest does not verify with the public key as AWS's does, and a signature that fails
verification answers ``SignatureValid: false`` where AWS rejects the request with
``KMSInvalidSignatureException``. With ``MessageType=DIGEST`` the patch signs and verifies
the message as the digest it is (``Prehashed``), refuses a digest whose length is not the
algorithm's hash length (``ValidationException``), and a failed verification raises
``KMSInvalidSignatureException`` ("Sign", MessageType:
https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html; "Verify",
https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import moto
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from moto.awslambda import models as lambda_models
from moto.core.exceptions import JsonRESTError
from moto.kms import responses as kms_responses
from moto.kms import utils as kms_utils
from moto.kms.exceptions import ValidationException
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts import timeout as timeout_mod
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_mod,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_ecs as ecs_mod,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

MOTO_VERSION = "5.2.5"
_ENV_LOCK = threading.Lock()


#: how long a stopped task's container may take to exit after SIGTERM before SIGKILL (the
#: task definition says 120 s; the worker stops well within a few seconds here)
STOP_GRACE_SECONDS = 30.0
#: how long a container may run at most in a test before it is killed
CONTAINER_LIMIT_SECONDS = 240.0
#: ECS's stop codes (DescribeTasks' Task.stopCode:
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html)
STOP_EXITED = "EssentialContainerExited"
STOP_SPOT = "SpotInterruption"
STOP_USER = "UserInitiated"


@dataclass
class TaskRun:
    """One container run of the ECS lane."""

    task_arn: str
    capacity_provider: str | None
    environment: dict[str, str]
    exit_code: int
    interrupted: bool
    output: str
    #: the task was hung (SIGSTOP) by the test
    hung: bool = False
    #: the state ended first (its timeout) and the task was stopped, as StopTask does
    stopped_by_state: bool = False
    stop_code: str = STOP_EXITED


@dataclass
class Recorder:
    """What the patched moto did, for the tests to assert on, and the tests' knobs."""

    endpoint: str
    time_scale: float = 0.01
    timeout_scale: float = 1.0
    interrupt_tasks: int = 0
    hang_tasks: int = 0
    #: called with (task index, environment) before each container starts
    before_task: Callable[[int, dict[str, str]], None] | None = None
    #: called with (handler, event, error name or None) after each Lambda invocation
    after_lambda: Callable[[str, dict[str, Any], str | None], None] | None = None
    lambda_calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    task_runs: list[TaskRun] = field(default_factory=list)
    retry_waits: list[float] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    _started: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_interrupt(self) -> bool:
        with self._lock:
            if self.interrupt_tasks > 0:
                self.interrupt_tasks -= 1
                return True
            return False

    def take_hang(self) -> bool:
        with self._lock:
            if self.hang_tasks > 0:
                self.hang_tasks -= 1
                return True
            return False

    def next_task_index(self) -> int:
        with self._lock:
            self._started += 1
            return self._started - 1


# --- 1. Lambda in-process -----------------------------------------------------------------


class LambdaContext:
    """The attributes of the Lambda context object the handlers (and Powertools) read."""

    def __init__(self, function: Any) -> None:
        self.function_name: str = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + float(function.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _invoke_in_process(recorder: Recorder, function: Any, body: str) -> tuple[bytes, bool]:
    handler_path: str = function.image_config.cmd[0]
    module_name, _, attribute = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    event = json.loads(body) if body else {}
    with _ENV_LOCK:  # the functions' environments agree where they overlap
        os.environ.update({k: str(v) for k, v in function.environment_vars.items()})
    try:
        result = handler(event, LambdaContext(function))
    except Exception as exc:
        recorder.lambda_calls.append((handler_path, event, type(exc).__name__))
        if recorder.after_lambda is not None:
            recorder.after_lambda(handler_path, event, type(exc).__name__)
        error = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_tb(exc.__traceback__),
        }
        return json.dumps(error).encode(), True
    recorder.lambda_calls.append((handler_path, event, None))
    if recorder.after_lambda is not None:
        recorder.after_lambda(handler_path, event, None)
    return json.dumps(result).encode(), False


def _patch_lambda(recorder: Recorder) -> Any:
    original = lambda_models.LambdaFunction.invoke

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> Any:
        if self.package_type != "Image":
            return original(self, body, request_headers, response_headers)
        payload, errored = _invoke_in_process(recorder, self, body)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    lambda_models.LambdaFunction.invoke = invoke
    return original


# --- 2. ecs:runTask.sync ------------------------------------------------------------------


def api_names(value: Any) -> Any:
    """States' PascalCase RunTask parameters -> the ECS API's camelCase names."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: api_names(item) for key, item in value.items()}
    if isinstance(value, list):
        return [api_names(item) for item in value]
    return value


def states_names(value: Any) -> Any:
    """The ECS API's camelCase output -> the PascalCase Step Functions returns."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: states_names(item) for key, item in value.items()}
    if isinstance(value, list):
        return [states_names(item) for item in value]
    return value


def container_command(ecs: Any, task: dict[str, Any]) -> list[str]:
    """The task definition's entry point and command, with this interpreter as ``python``."""
    definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    (container,) = definition["taskDefinition"]["containerDefinitions"]
    command = [*container.get("entryPoint", []), *container.get("command", [])]
    if not command or command[0] != "python":
        raise AssertionError(f"the container does not start with python: {command}")
    return [sys.executable, *command[1:]]


@dataclass
class Container:
    """A task's container, running: the subprocess and what the task was started with."""

    task: dict[str, Any]
    process: subprocess.Popen[str]
    environment: dict[str, str]
    interrupted: bool
    hung: bool


def start_container(
    recorder: Recorder, command: list[str], task: dict[str, Any], params: dict[str, Any]
) -> Container:
    """Start the container's entry point with the task's container overrides."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_ENDPOINT_URL": recorder.endpoint,
        "NO_PROXY": "127.0.0.1,localhost",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    overrides = params.get("overrides", {}).get("containerOverrides", [])
    for override in overrides:
        for variable in override.get("environment", []):
            environment[variable["name"]] = variable["value"]
    if recorder.before_task is not None:
        recorder.before_task(recorder.next_task_index(), environment)
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    hung = recorder.take_hang()
    if hung:  # a task that makes no progress (until it is stopped)
        process.send_signal(signal.SIGSTOP)
    interrupted = not hung and recorder.take_interrupt()
    if interrupted:  # a Spot interruption: ECS sends SIGTERM, then SIGKILL after stopTimeout
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
    return Container(task, process, environment, interrupted, hung)


def finish_container(recorder: Recorder, container: Container, *, stopped: bool) -> TaskRun:
    """Collect the container's exit (after stopping it, when ``stopped``: SIGTERM, then
    SIGKILL after the grace, as StopTask does) and record the run."""
    process = container.process
    if stopped and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)  # a hung (SIGSTOPped) task gets it too
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    try:
        output, _ = process.communicate(timeout=CONTAINER_LIMIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    provider = container.task.get("capacityProviderName")
    if stopped:
        stop_code = STOP_USER
    elif container.interrupted and provider == "FARGATE_SPOT":
        stop_code = STOP_SPOT
    else:
        stop_code = STOP_EXITED
    run = TaskRun(
        task_arn=container.task["taskArn"],
        capacity_provider=provider,
        environment=container.environment,
        exit_code=process.returncode,
        interrupted=container.interrupted,
        output=output,
        hung=container.hung,
        stopped_by_state=stopped,
        stop_code=stop_code,
    )
    recorder.task_runs.append(run)
    return run


_STOPPED_REASONS = {
    STOP_EXITED: "Essential container in task exited",
    STOP_SPOT: "Your Spot Task was interrupted.",
    STOP_USER: "Task stopped by the state machine",
}


def stopped_task(described: dict[str, Any], run: TaskRun) -> dict[str, Any]:
    """The stopped task as ``.sync`` returns it (and, when it failed, puts in the Cause):
    DescribeTasks' task in PascalCase, with the container's exit code and the stop code."""
    output: dict[str, Any] = states_names(described)
    containers = output.get("Containers") or [{}]
    output["Containers"] = [{**c, "ExitCode": run.exit_code} for c in containers]
    output["LastStatus"] = "STOPPED"
    output["StopCode"] = run.stop_code
    output["StoppedReason"] = _STOPPED_REASONS[run.stop_code]
    return output


def _patch_ecs(recorder: Recorder) -> tuple[Any, Any]:
    original_eval = ecs_mod.StateTaskServiceEcs._eval_service_task
    original_sync = ecs_mod.StateTaskServiceEcs._build_sync_resolver
    running: dict[str, Container] = {}

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        if self._get_boto_service_action() != "run_task":
            original_eval(
                self, env, resource_runtime_part, normalised_parameters, state_credentials
            )
            return
        ecs = boto_client_for(resource_runtime_part.region, "ecs", state_credentials)
        params = api_names(normalised_parameters)
        task = ecs.run_task(**params)["tasks"][0]
        running[task["taskArn"]] = start_container(
            recorder, container_command(ecs, task), task, params
        )
        env.stack.append({"Tasks": [states_names(task)]})

    def _stop_in_moto(ecs: Any, run: TaskRun, cluster: str) -> dict[str, Any]:
        ecs.stop_task(
            cluster=cluster,
            task=run.task_arn,
            reason=f"{_STOPPED_REASONS[run.stop_code]} ({run.exit_code})",
        )
        described: dict[str, Any] = ecs.describe_tasks(cluster=cluster, tasks=[run.task_arn])[
            "tasks"
        ][0]
        return described

    def _build_sync_resolver(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Any:
        submitted = env.stack.pop()["Tasks"][0]
        ecs = boto_client_for(resource_runtime_part.region, "ecs", state_credentials)
        task_arn, cluster = submitted["TaskArn"], submitted["ClusterArn"]

        def resolve() -> dict[str, Any] | None:
            container = running.get(task_arn)
            if container is None or container.process.poll() is None:
                return None  # still running: .sync keeps polling
            del running[task_arn]
            run = finish_container(recorder, container, stopped=False)
            output = stopped_task(_stop_in_moto(ecs, run, cluster), run)
            if run.exit_code != 0:  # what Step Functions does when an essential container fails
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(
                            taskFailedEventDetails=TaskFailedEventDetails(
                                error="States.TaskFailed",
                                cause=json.dumps(output, separators=(",", ":"), default=str),
                                resource="runTask.sync",
                                resourceType="ecs",
                            )
                        ),
                    )
                )
            return output

        def stop_if_running() -> None:
            """The state ended first (its timeout): stop the task, as StopTask does."""
            container = running.pop(task_arn, None)
            if container is not None:
                run = finish_container(recorder, container, stopped=True)
                _stop_in_moto(ecs, run, cluster)

        resolve.stop_if_running = stop_if_running
        return resolve

    def _eval_sync(
        self: Any,
        env: Any,
        sync_resolver: Any,
        timeout_seconds: Any,
        callback_endpoint: Any,
        heartbeat_endpoint: Any,
    ) -> Any:
        # A .sync task waits for the task, not for a task token. moto also listens for a
        # token and reuses the first attempt's (already interrupted) endpoint on a Retry,
        # so every retried attempt "timed out" at once. Do not listen.
        try:
            return callback_mod.StateTaskServiceCallback._eval_sync(
                self, env, sync_resolver, timeout_seconds, None, heartbeat_endpoint
            )
        finally:
            stop = getattr(sync_resolver, "stop_if_running", None)
            if stop is not None:
                stop()

    ecs_mod.StateTaskServiceEcs._eval_service_task = _eval_service_task
    ecs_mod.StateTaskServiceEcs._build_sync_resolver = _build_sync_resolver
    ecs_mod.StateTaskServiceEcs._eval_sync = _eval_sync
    ecs_mod._SUPPORTED_API_PARAM_BINDINGS["runtask"].add("CapacityProviderStrategy")
    return original_eval, original_sync


# --- 3. fast retries and timeouts ----------------------------------------------------------


def _patch_retries(recorder: Recorder) -> tuple[Any, Any]:
    original = retrier_decl.time
    original_path = timeout_mod.TimeoutSecondsPath._eval_seconds

    def sleep(seconds: float) -> None:
        recorder.retry_waits.append(seconds)
        original.sleep(seconds * recorder.time_scale)

    def path_seconds(self: Any, env: Any) -> float:
        seconds = original_path(self, env)
        recorder.timeouts.append(seconds)
        return float(seconds) * recorder.timeout_scale

    retrier_decl.time = SimpleNamespace(sleep=sleep)
    timeout_mod.TimeoutSecondsPath._eval_seconds = path_seconds
    return original, original_path


@contextmanager
def patched(
    endpoint: str,
    *,
    time_scale: float = 0.01,
    timeout_scale: float = 1.0,
    interrupt_tasks: int = 0,
    hang_tasks: int = 0,
    before_task: Callable[[int, dict[str, str]], None] | None = None,
    after_lambda: Callable[[str, dict[str, Any], str | None], None] | None = None,
) -> Iterator[Recorder]:
    """Apply the three patches for the duration of the block."""
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"tests/infra/moto_patches.py targets moto {MOTO_VERSION}, not {moto.__version__}: "
            "re-check each patch against the new version (test_moto_patches.py)"
        )
    recorder = Recorder(
        endpoint=endpoint,
        time_scale=time_scale,
        timeout_scale=timeout_scale,
        interrupt_tasks=interrupt_tasks,
        hang_tasks=hang_tasks,
        before_task=before_task,
        after_lambda=after_lambda,
    )
    original_invoke = _patch_lambda(recorder)
    original_eval, original_sync = _patch_ecs(recorder)
    original_time, original_path = _patch_retries(recorder)
    try:
        yield recorder
    finally:
        lambda_models.LambdaFunction.invoke = original_invoke
        ecs_mod.StateTaskServiceEcs._eval_service_task = original_eval
        ecs_mod.StateTaskServiceEcs._build_sync_resolver = original_sync
        del ecs_mod.StateTaskServiceEcs._eval_sync
        ecs_mod._SUPPORTED_API_PARAM_BINDINGS["runtask"].discard("CapacityProviderStrategy")
        retrier_decl.time = original_time
        timeout_mod.TimeoutSecondsPath._eval_seconds = original_path


# --- KMS: MessageType=DIGEST ------------------------------------------------------------------

_DIGEST = threading.local()
#: the digest length each signing algorithm's hash gives
DIGEST_BYTES = {"SHA_256": 32, "SHA_384": 48, "SHA_512": 64}


def _digest_mode() -> bool:
    return bool(getattr(_DIGEST, "on", False))


def _prehashed(algorithm: Any) -> Any:
    return asym_utils.Prehashed(algorithm)


@contextmanager
def kms_digest_signing() -> Iterator[None]:
    """Sign and Verify with ``MessageType=DIGEST`` as AWS does (see the module doc)."""
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"kms_digest_signing targets moto {MOTO_VERSION}")
    responses = kms_responses.KmsResponse
    rsa, ecdsa = kms_utils.RSAPrivateKey, kms_utils.ECDSAPrivateKey
    originals = (responses.sign, responses.verify, rsa.sign, rsa.verify, ecdsa.sign, ecdsa.verify)
    sign_response, verify_response, rsa_sign, rsa_verify, ecdsa_sign, ecdsa_verify = originals

    def digest_call(self: Any, call: Any) -> Any:
        if self._get_param("MessageType") != "DIGEST":
            return call(self)
        algorithm = str(self._get_param("SigningAlgorithm") or "")
        message = self._get_param("Message") or b""  # moto's KMS decodes base64 itself
        wanted = next((n for h, n in DIGEST_BYTES.items() if algorithm.endswith(h)), None)
        if wanted is not None and len(message) != wanted:
            raise ValidationException(
                f"Digest is invalid length for algorithm {algorithm}: {len(message)} bytes"
            )
        _DIGEST.on = True
        try:
            return call(self)
        finally:
            _DIGEST.on = False

    def sign(self: Any) -> Any:
        return digest_call(self, sign_response)

    def verify(self: Any) -> Any:
        body = digest_call(self, verify_response)
        if not json.loads(body)["SignatureValid"]:
            error = JsonRESTError(
                "KMSInvalidSignatureException",
                "the signature verification failed: the signature was not made by signing "
                "this message with this KMS key and signing algorithm",
            )
            error.code = 400
            raise error
        return body

    def rsa_signed(self: Any, message: bytes, algorithm: str) -> bytes:
        if not _digest_mode():
            return bytes(rsa_sign(self, message, algorithm))
        pad, hashing = self._RSAPrivateKey__padding_and_hash_algorithm(algorithm)
        return bytes(self.private_key.sign(message, pad, _prehashed(hashing)))

    def rsa_verified(self: Any, message: bytes, signature: bytes, algorithm: str) -> bool:
        if not _digest_mode():
            return bool(rsa_verify(self, message, signature, algorithm))
        pad, hashing = self._RSAPrivateKey__padding_and_hash_algorithm(algorithm)
        try:
            self.private_key.public_key().verify(signature, message, pad, _prehashed(hashing))
        except InvalidSignature:
            return False
        return True

    def ecdsa_signed(self: Any, message: bytes, algorithm: str) -> bytes:
        if not _digest_mode():
            return bytes(ecdsa_sign(self, message, algorithm))
        kms_utils.validate_signing_algorithm(algorithm, self.valid_signing_algorithms)
        hashing = self._ECDSAPrivateKey__hash_algorithm(algorithm)
        return bytes(self.private_key.sign(message, ec.ECDSA(_prehashed(hashing))))

    def ecdsa_verified(self: Any, message: bytes, signature: bytes, algorithm: str) -> bool:
        if not _digest_mode():
            return bool(ecdsa_verify(self, message, signature, algorithm))
        kms_utils.validate_signing_algorithm(algorithm, self.valid_signing_algorithms)
        hashing = self._ECDSAPrivateKey__hash_algorithm(algorithm)
        try:
            self.private_key.public_key().verify(signature, message, ec.ECDSA(_prehashed(hashing)))
        except InvalidSignature:
            return False
        return True

    responses.sign, responses.verify = sign, verify
    rsa.sign, rsa.verify = rsa_signed, rsa_verified
    ecdsa.sign, ecdsa.verify = ecdsa_signed, ecdsa_verified
    try:
        yield
    finally:
        responses.sign, responses.verify = sign_response, verify_response
        rsa.sign, rsa.verify = rsa_sign, rsa_verify
        ecdsa.sign, ecdsa.verify = ecdsa_sign, ecdsa_verify

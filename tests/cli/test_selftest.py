"""``s3copy selftest``: green against the embedded emulator, and red, with the right check
and cause, when one thing is broken at a time; the deployed mode against the moto server
(the stack's outputs, the temporary subscription and its removal, a whole run)."""

from __future__ import annotations

import http.client
import http.server
import io
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from rich.console import Console
from typer.testing import CliRunner

from steps_s3_copy.cli import app
from steps_s3_copy.cli.common import Aws
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.cli.options import AwsOptions
from steps_s3_copy.cli.selftest import (
    CHECKS,
    PREFIX,
    Check,
    DeployedTarget,
    SelfTest,
    likely_cause,
)
from steps_s3_copy.cli.selftest_command import SelftestOptions
from steps_s3_copy.cli.selftest_command import run as run_selftest
from steps_s3_copy.local.emulator import Emulator
from steps_s3_copy.local.pipeline import EmbeddedPipeline, EventNotReceivedError
from tests.cli.conftest import set_moto_config
from tests.conftest import REGION, client

pytestmark = pytest.mark.slow

SCRATCH = "s3copy-selftest-scratch"


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in body["checks"]}


def check_named(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in body["checks"] if c["name"] == name]
    assert len(found) == 1
    return found[0]


def nothing_left(endpoint: str, *, scratch: str = SCRATCH, inbox: str = "s3copy-inbox") -> None:
    """The test removed what it made: no sample, copy, job file, run area, queue, subscription."""
    s3 = client("s3", endpoint)
    assert not s3.list_objects_v2(Bucket=scratch, Prefix=f"{PREFIX}/").get("Contents")
    for prefix in ("jobs/", "work/", "reports/"):
        listed = s3.list_objects_v2(Bucket=inbox, Prefix=f"{prefix}{PREFIX}/").get("Contents")
        assert not listed, (prefix, listed)
    queues = client("sqs", endpoint).list_queues(QueueNamePrefix=PREFIX).get("QueueUrls", [])
    assert queues == []
    sns = client("sns", endpoint)
    for topic in sns.list_topics()["Topics"]:
        subscribed = sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
        assert not [s for s in subscribed if PREFIX in s["Endpoint"]]


# -- green -----------------------------------------------------------------------------


def test_selftest_local_passes_and_leaves_nothing_behind(
    runner: CliRunner, moto_server: str
) -> None:
    result = runner.invoke(
        app, ["selftest", "--local", "--endpoint-url", moto_server, "--json"], env={}
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)  # nothing but the JSON on stdout (no logs, no metrics)
    assert body["ok"] is True
    assert body["mode"] == "local"
    assert list(statuses(body)) == list(CHECKS)
    assert set(statuses(body).values()) == {"passed"}
    assert body["job"].startswith(f"{PREFIX}/")
    run = check_named(body, "run")
    assert run["data"]["counts"] == {"copied": 9, "skipped": 0, "failed": 0}
    resubmit = check_named(body, "resubmit")
    assert resubmit["data"]["counts"] == {"copied": 0, "skipped": 9, "failed": 0}
    nothing_left(moto_server)


def test_selftest_local_prints_each_check(runner: CliRunner, moto_server: str) -> None:
    result = runner.invoke(
        app, ["selftest", "--local", "--endpoint-url", moto_server], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in CHECKS:
        assert any(line.startswith(f"✓ {name} ") for line in lines), (name, result.stdout)
    assert "✗" not in result.stdout
    assert "selftest passed: 10 checks" in result.stdout


# -- red: one thing broken at a time ---------------------------------------------------


def selftest_with(
    endpoint: str, on_check: Callable[[Check], None], **options: Any
) -> tuple[ExitCode, str]:
    """The command with a hook that breaks something after a check: (exit code, output)."""
    out = io.StringIO()
    code = run_selftest(
        SelftestOptions(local=True, notice_timeout=3, **options),
        AwsOptions(endpoint_url=endpoint),
        on_check=on_check,
        out=Console(file=out, width=200, highlight=False),
    )
    return code, out.getvalue()


def line_of(output: str, name: str) -> str:
    [line] = [line for line in output.splitlines() if line[2:].startswith(f"{name} ")]
    return line


def test_a_subscription_that_delivers_nothing_fails_the_notice_check(moto_server: str) -> None:
    sns = client("sns", moto_server)

    def break_delivery(check: Check) -> None:
        if check.name == "subscription" and check.ok:
            # the subscription stays, but lets no notice through
            sns.set_subscription_attributes(
                SubscriptionArn=check.data["subscriptionArn"],
                AttributeName="FilterPolicy",
                AttributeValue=json.dumps({"job": ["somebody-else"]}),
            )

    code, output = selftest_with(moto_server, break_delivery)

    assert code == ExitCode.FAILED
    assert line_of(output, "notice").startswith("✗ notice")
    assert "no notice of s3copy-selftest/" in output
    after = output[output.index("✗ notice") :]
    assert "likely cause: permissions" in after.splitlines()[1]
    for name in ("run", "objects", "resubmit", "cleanup"):
        assert line_of(output, name).startswith("✓"), output
    assert "selftest FAILED: notice (permissions)" in output
    nothing_left(moto_server)


def test_a_copy_deleted_before_the_check_fails_the_objects_check(moto_server: str) -> None:
    s3 = client("s3", moto_server)

    def delete_a_copy(check: Check) -> None:
        if check.name == "run" and check.ok:
            listed = s3.list_objects_v2(Bucket=SCRATCH, Prefix=f"{PREFIX}/")["Contents"]
            [key] = [o["Key"] for o in listed if o["Key"].endswith("/copy/awkward/plus+sign.txt")]
            s3.delete_object(Bucket=SCRATCH, Key=key)

    code, output = selftest_with(moto_server, delete_a_copy)

    assert code == ExitCode.FAILED
    objects = line_of(output, "objects")
    assert objects.startswith("✗ objects")
    assert "1 of 9 copies differ" in objects
    assert "awkward/plus+sign.txt: missing" in objects
    assert "likely cause: data" in output
    assert line_of(output, "resubmit").startswith("- resubmit")
    assert "not run: objects failed" in line_of(output, "resubmit")
    assert line_of(output, "cleanup").startswith("✓ cleanup")
    nothing_left(moto_server)


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Relays to moto; writes (PUT, POST) to keys of ``bucket`` containing ``marker`` get
    403 AccessDenied, as a bucket policy denying them would answer."""

    upstream = ""
    bucket = ""
    marker = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if (
            self.command in ("PUT", "POST")
            and path.startswith(f"/{self.bucket}/")
            and self.marker in path
        ):
            denied = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(denied)))
            self.end_headers()
            self.wfile.write(denied)
            return
        target = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body or None, headers=dict(self.headers))
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.send_response(response.status)
        size = str(len(data))
        for name, value in response.getheaders():
            if name.lower() == "content-length" and self.command == "HEAD":
                size = value
            elif name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", size)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay  # noqa: N815


@pytest.fixture
def refusing(moto_server: str) -> Iterator[Callable[[str], str]]:
    """``refusing(marker)``: an endpoint on 127.0.0.1 in front of moto where the scratch
    bucket refuses writes to keys containing ``marker``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(marker: str) -> str:
        handler = type(
            "Refusing", (_Refusing,), {"upstream": moto_server, "bucket": SCRATCH, "marker": marker}
        )
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_scratch_bucket_refusing_the_copies_fails_the_run(
    runner: CliRunner, moto_server: str, refusing: Callable[[str], str]
) -> None:
    endpoint = refusing("/copy/")
    result = runner.invoke(
        app,
        ["selftest", "--local", "--endpoint-url", endpoint, "--notice-timeout", "5", "--json"],
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert body["failed"] == ["run"]
    run = check_named(body, "run")
    assert run["status"] == "failed"
    assert run["cause"] == "permissions"
    assert "DestinationNotWritable" in run["detail"]
    assert "source and destination buckets" in run["hint"]
    # the FAILED notice still arrives; what needs copies is not run
    found = statuses(body)
    assert found["notice"] == "passed"
    assert (found["objects"], found["resubmit"]) == ("skipped", "skipped")
    assert found["cleanup"] == "passed"
    nothing_left(moto_server)


def test_a_scratch_bucket_refusing_the_samples_fails_early(
    runner: CliRunner, moto_server: str, refusing: Callable[[str], str]
) -> None:
    endpoint = refusing("/source/")
    result = runner.invoke(
        app, ["selftest", "--local", "--endpoint-url", endpoint], env={"COLUMNS": "200"}
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    samples = line_of(result.stdout, "samples")
    assert samples.startswith("✗ samples")
    assert "AccessDenied" in samples
    assert "likely cause: permissions" in result.stdout
    for name in ("subscription", "submit", "run", "notice", "objects", "resubmit"):
        assert line_of(result.stdout, name).startswith("- "), name
    assert line_of(result.stdout, "cleanup").startswith("✓ cleanup")
    nothing_left(moto_server)


def test_usage_errors(runner: CliRunner) -> None:
    assert runner.invoke(app, ["selftest"]).exit_code == ExitCode.USAGE
    both = runner.invoke(app, ["selftest", "--local", "--stack", "S"])
    assert both.exit_code == ExitCode.USAGE
    no_bucket = runner.invoke(app, ["selftest", "--stack", "S"])
    assert no_bucket.exit_code == ExitCode.USAGE
    assert "--scratch-bucket" in no_bucket.stderr


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        ("AccessDenied", "permissions"),
        ("AuthorizationError", "permissions"),
        ("DestinationNotWritable", "permissions"),
        ("SlowDown", "quotas"),
        ("Lambda.TooManyRequestsException", "quotas"),
        ("FargateTaskStopped", "image"),
        ("BatchFailed", "image"),
        ("EndpointConnectionError", "network"),
        ("NoSuchBucket", "configuration"),
        ("SomethingElse", "unknown"),
        (None, "unknown"),
    ],
)
def test_likely_causes(code: str | None, cause: str) -> None:
    assert likely_cause(code)[0] == cause


# -- deployed: against the moto server ---------------------------------------------------


@pytest.fixture
def executing(moto_server: str) -> Iterator[str]:
    set_moto_config(moto_server, {"stepfunctions": {"execute_state_machine": True}})
    try:
        yield moto_server
    finally:
        set_moto_config(moto_server, {"stepfunctions": {"execute_state_machine": False}})


def deploy(endpoint: str, *, with_state_machine: bool = True) -> tuple[EmbeddedPipeline, str]:
    """A "stack" on the moto server: the emulator's inbox, rule and topic, a state machine
    whose executions hand back their input (the runner puts the notice in it), and a
    CloudFormation stack whose outputs name them."""
    pipeline = EmbeddedPipeline(Emulator(endpoint).__enter__())
    sfn = client("stepfunctions", endpoint)
    passing = {"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(
        name="copy",
        definition=json.dumps(passing),
        roleArn="arn:aws:iam::123456789012:role/state-machine",
    )["stateMachineArn"]
    outputs = {
        "InboxBucketName": {"Value": pipeline.stack.inbox_bucket},
        "TopicArn": {"Value": pipeline.stack.topic_arn},
    }
    if with_state_machine:
        outputs["StateMachineArn"] = {"Value": machine}
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
    client("cloudformation", endpoint).create_stack(
        StackName="StepsS3Copy", TemplateBody=json.dumps(template)
    )
    return pipeline, machine


def serve(pipeline: EmbeddedPipeline, machine: str, stop: threading.Event) -> threading.Thread:
    """The deployment at work: each sidecar event is run (the runner publishes the notice)
    and an execution of the state machine started with the event and the notice."""
    sfn = client("stepfunctions", pipeline.stack.endpoint_url)

    def work() -> None:
        while not stop.is_set():
            try:
                run = pipeline.run_next(timeout=1)
            except EventNotReceivedError:
                continue
            sfn.start_execution(
                stateMachineArn=machine,
                name=run.result.execution["name"],
                input=json.dumps({**run.event, "notice": run.notice}),
            )

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def deployed_target(endpoint: str, **options: Any) -> DeployedTarget:
    session = Aws(boto3.session.Session(region_name=REGION), endpoint)
    return DeployedTarget(session, "StepsS3Copy", poll_seconds=0.2, **options)


def test_selftest_of_a_deployed_stack(executing: str) -> None:
    pipeline, machine = deploy(executing)
    client("s3", executing).create_bucket(Bucket="scratch-deployed")
    stop = threading.Event()
    worker = serve(pipeline, machine, stop)
    seen: list[Check] = []
    try:
        result = SelfTest(
            deployed_target(executing, wait_start_seconds=30, run_timeout_seconds=60),
            scratch_bucket="scratch-deployed",
            notice_timeout_seconds=10,
            on_check=seen.append,
        ).run()
    finally:
        stop.set()
        worker.join(timeout=10)
    assert result.ok, [c.to_json() for c in result.failed]
    assert [c.name for c in seen] == list(CHECKS)
    stack = result.checks[0]
    assert pipeline.stack.inbox_bucket in stack.detail
    assert machine in stack.detail
    subscription = result.checks[3]
    assert subscription.data["subscriptionArn"].startswith(pipeline.stack.topic_arn)
    run = result.checks[5]
    assert run.data["execution"].startswith(machine.replace(":stateMachine:", ":execution:"))
    resubmit = result.checks[8]
    assert resubmit.data["execution"] != run.data["execution"]
    nothing_left(executing, scratch="scratch-deployed")


def test_a_deployed_stack_that_starts_no_run(executing: str) -> None:
    """Nothing reacts to the sidecar: the run check fails naming the rule; the temporary
    queue and subscription, the samples and the job files are removed all the same."""
    deploy(executing)
    client("s3", executing).create_bucket(Bucket="scratch-deployed")
    result = SelfTest(
        deployed_target(executing, wait_start_seconds=1),
        scratch_bucket="scratch-deployed",
        notice_timeout_seconds=1,
    ).run()
    body = {c.name: c for c in result.checks}
    assert [n for n, c in body.items() if c.status == "passed"] == [
        "stack",
        "scratch bucket",
        "samples",
        "subscription",
        "submit",
        "cleanup",
    ]
    assert body["run"].status == "failed"
    assert body["run"].cause == "configuration"
    assert "no execution of" in body["run"].detail
    assert "EventBridge" in (body["run"].hint or "")
    assert body["notice"].status == "skipped"
    assert "the queue" in body["cleanup"].data["removed"]
    assert "the subscription" in body["cleanup"].data["removed"]
    nothing_left(executing, scratch="scratch-deployed")


def test_a_deployed_stack_with_missing_outputs_or_a_bucket_elsewhere(executing: str) -> None:
    deploy(executing, with_state_machine=False)
    missing = SelfTest(deployed_target(executing), scratch_bucket="any").run()
    assert missing.checks[0].status == "failed"
    assert "name no state machine" in missing.checks[0].detail
    assert missing.checks[0].cause == "configuration"
    assert {c.status for c in missing.checks[1:-1]} == {"skipped"}
    assert missing.checks[-1].status == "passed"  # nothing to remove

    client("cloudformation", executing).delete_stack(StackName="StepsS3Copy")
    deploy(executing)
    s3 = client("s3", executing)
    s3.create_bucket(
        Bucket="scratch-far", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    far = SelfTest(deployed_target(executing), scratch_bucket="scratch-far").run()
    bucket = far.checks[1]
    assert (bucket.status, bucket.cause) == ("failed", "configuration")
    assert "is in eu-west-1, the stack in us-east-1" in bucket.detail

    absent = SelfTest(deployed_target(executing), scratch_bucket="no-such-bucket").run()
    assert absent.checks[1].status == "failed"
    assert absent.checks[1].cause == "configuration"  # NoSuchBucket

    unknown = deployed_target(executing)
    unknown.stack = "Nope"
    nope = SelfTest(unknown, scratch_bucket="any").run()
    assert nope.checks[0].status == "failed"
    assert "Nope" in nope.checks[0].detail


def test_a_deployed_run_that_does_not_end_in_time_is_stopped(executing: str) -> None:
    pipeline, machine = deploy(executing)
    sfn = client("stepfunctions", executing)
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(waiting))
    client("s3", executing).create_bucket(Bucket="scratch-deployed")
    stop = threading.Event()
    worker = serve(pipeline, machine, stop)
    try:
        result = SelfTest(
            deployed_target(executing, wait_start_seconds=30, run_timeout_seconds=1),
            scratch_bucket="scratch-deployed",
            notice_timeout_seconds=1,
        ).run()
    finally:
        stop.set()
        worker.join(timeout=10)
    run = {c.name: c for c in result.checks}["run"]
    assert (run.status, run.cause) == ("failed", "quotas")
    assert "still running after 1 s (stopped)" in run.detail
    execution = run.data["execution"]
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    nothing_left(executing, scratch="scratch-deployed")


def test_an_interrupted_selftest_still_cleans_up(moto_server: str) -> None:
    seen: list[str] = []

    def interrupt(check: Check) -> None:
        seen.append(check.name)
        if check.name == "submit":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        selftest_with(moto_server, interrupt)
    assert seen[-1] == "cleanup"
    nothing_left(moto_server)

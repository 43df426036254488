"""submit, watch and report against a "deployed stack" on the moto server.

The working-area files come from the real pipeline (run locally); the state machine is a
small definition with the deployed one's shape where the CLI looks: Prepare's output under
``prepared``, a Distributed Map over the run's batches, ``{"notice": ...}`` as the output
(or a Fail state after a failed Prepare). Moto really executes it, so ListMapRuns and
DescribeMapRun report real counters.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from steps_s3_copy.cli import app, run_files
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.local.pipeline import EmbeddedPipeline, LocalRun
from steps_s3_copy.models import ObjectResult, RunLocation, Status
from tests.cli.conftest import EXAMPLES, example, set_moto_config

pytestmark = pytest.mark.slow

ROLE = "arn:aws:iam::123456789012:role/state-machine"


@pytest.fixture
def executing(moto_server: str) -> Iterator[str]:
    """Moto executes state machine definitions for the duration of the test."""
    set_moto_config(moto_server, {"stepfunctions": {"execute_state_machine": True}})
    try:
        yield moto_server
    finally:
        set_moto_config(moto_server, {"stepfunctions": {"execute_state_machine": False}})


def definition(run: LocalRun, s3: Any) -> dict[str, Any]:
    prepared = run.result.prepared
    if prepared is None:
        return {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Next": "Failed"},
                "Failed": {"Type": "Fail", "Error": "CopyFailed", "Cause": "see the notice"},
            },
        }
    index = s3.get_object(Bucket=prepared["work"]["bucket"], Key=prepared["indexKey"])
    rows = list(csv.DictReader(io.StringIO(index["Body"].read().decode())))
    return {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {
                "Type": "Pass",
                "Result": {"prepared": prepared},
                "Next": "Index",
            },
            "Index": {"Type": "Pass", "Result": rows, "ResultPath": "$.index", "Next": "Copy"},
            "Copy": {
                "Type": "Map",
                "ItemsPath": "$.index",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Batch",
                    "States": {"Batch": {"Type": "Pass", "End": True}},
                },
                "ResultPath": None,
                "Next": "Summarise",
            },
            "Summarise": {"Type": "Pass", "Result": {"notice": run.notice}, "End": True},
        },
    }


def start(pipeline: EmbeddedPipeline, run: LocalRun, *, others: int = 2) -> tuple[str, str]:
    """A state machine for the run; executions started by other sidecars first, then ours."""
    sfn = pipeline.stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="copy", definition=json.dumps(definition(run, pipeline.s3)), roleArn=ROLE
    )["stateMachineArn"]
    for i in range(others):
        other = json.loads(json.dumps(run.event))
        other["detail"]["object"]["key"] = f"jobs/other-{i}.json"
        sfn.start_execution(stateMachineArn=arn, name=f"other-{i}", input=json.dumps(other))
    execution = sfn.start_execution(
        stateMachineArn=arn, name=run.result.execution["name"], input=json.dumps(run.event)
    )["executionArn"]
    for _ in range(100):
        if sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
            break
        time.sleep(0.1)
    return arn, execution


def test_submit_uploads_the_manifest_then_the_sidecar(
    runner: CliRunner, pipeline: EmbeddedPipeline
) -> None:
    result = runner.invoke(
        app,
        [
            "submit",
            str(EXAMPLES / "example.csv"),
            str(EXAMPLES / "example.json"),
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--endpoint-url",
            pipeline.stack.endpoint_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "example"
    inbox = pipeline.s3.list_objects_v2(Bucket=pipeline.stack.inbox_bucket, Prefix="jobs/")
    assert [o["Key"] for o in inbox["Contents"]] == ["jobs/example.csv", "jobs/example.json"]
    # The sidecar's event reaches the runner, which runs the job.
    run = pipeline.run_next(timeout=15)
    assert run.status == "SUCCEEDED"


def test_submit_refuses_an_invalid_manifest(
    runner: CliRunner, pipeline: EmbeddedPipeline, tmp_path: Any
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("only-a-bucket\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "submit",
            str(bad),
            str(EXAMPLES / "example.json"),
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--endpoint-url",
            pipeline.stack.endpoint_url,
            "--name",
            "bad",
        ],
    )
    assert result.exit_code == ExitCode.INVALID
    listing = pipeline.s3.list_objects_v2(Bucket=pipeline.stack.inbox_bucket, Prefix="jobs/")
    assert "Contents" not in listing


def test_submit_json_and_no_inbox(runner: CliRunner, pipeline: EmbeddedPipeline) -> None:
    csv_path, json_path = str(EXAMPLES / "example.csv"), str(EXAMPLES / "example.json")
    endpoint = pipeline.stack.endpoint_url
    missing = runner.invoke(app, ["submit", csv_path, json_path, "--endpoint-url", endpoint])
    assert missing.exit_code == ExitCode.USAGE
    result = runner.invoke(
        app,
        [
            "submit",
            csv_path,
            json_path,
            "--name",
            "team/run-7",
            "--json",
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--endpoint-url",
            endpoint,
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["job"] == "team/run-7"
    assert body["sidecar"] == f"s3://{pipeline.stack.inbox_bucket}/jobs/team/run-7.json"


def test_watch_follows_the_execution_started_by_the_sidecar(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    run = pipeline.run_next(timeout=15)
    state_machine, execution = start(pipeline, run)
    common = ["--inbox", pipeline.stack.inbox_bucket, "--endpoint-url", executing]

    result = runner.invoke(
        app, ["watch", "example", "--state-machine-arn", state_machine, "--json", *common]
    )

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["executionArn"] == execution
    assert body["status"] == "SUCCEEDED"
    assert body["objectsDone"] == body["objectsTotal"] == 12
    assert body["bytesDone"] == body["bytesTotal"] == run.notice["bytes"]["copied"]
    assert body["batchesDone"] == body["batchesTotal"] == 3
    assert body["failed"] == 0

    human = runner.invoke(
        app,
        ["watch", "example", "--state-machine-arn", state_machine, *common],
        env={"COLUMNS": "200"},
    )
    assert human.exit_code == 0, human.output
    assert "12 of 12 objects" in human.stdout
    assert "SUCCEEDED" in human.stdout


def test_watch_times_out_on_a_running_execution(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    sfn = pipeline.stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="slow",
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
        ),
        roleArn=ROLE,
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="slow-1", input="{}")
    result = runner.invoke(
        app,
        [
            "watch",
            "anything",
            "--execution-arn",
            execution["executionArn"],
            "--timeout",
            "1",
            "--interval",
            "0.2",
            "--endpoint-url",
            executing,
        ],
    )
    assert result.exit_code == ExitCode.TIMEOUT, result.output
    sfn.stop_execution(executionArn=execution["executionArn"])


def test_watch_without_an_execution_fails_cleanly(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    sfn = pipeline.stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="empty",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    result = runner.invoke(
        app,
        [
            "watch",
            "nope",
            "--state-machine-arn",
            arn,
            "--wait-start",
            "0",
            "--endpoint-url",
            executing,
        ],
    )
    assert result.exit_code == ExitCode.AWS_ERROR
    assert "no execution" in result.stderr


def test_report_of_a_succeeded_run(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    run = pipeline.run_next(timeout=15)
    state_machine, _ = start(pipeline, run)
    common = ["--endpoint-url", executing]

    by_execution = runner.invoke(
        app, ["report", "example", "--state-machine-arn", state_machine, "--json", *common]
    )
    assert by_execution.exit_code == 0, by_execution.output
    body = json.loads(by_execution.stdout)
    assert body["status"] == "SUCCEEDED"
    assert body["failedTotal"] == 0
    assert body["reportCsv"] == run.notice["reportUri"]
    assert body["work"] == run.notice["work"]

    by_inbox = runner.invoke(
        app,
        ["report", "example", "--inbox", pipeline.stack.inbox_bucket, *common],
        env={"COLUMNS": "200"},
    )
    assert by_inbox.exit_code == 0, by_inbox.output
    assert "no failed objects" in by_inbox.stdout
    assert run.notice["reportUri"] in by_inbox.stdout


def test_report_of_a_partial_run_lists_the_failed_objects(
    runner: CliRunner, pipeline: EmbeddedPipeline
) -> None:
    manifest = (
        b"bucket,key,size\n"
        b"example-source-bucket,runs/2024-06/README.txt,1234\n"
        b"example-source-bucket,runs/2024-06/_SUCCESS,7\n"
    )
    pipeline.submit("partial", manifest, example("example.json"))
    assert pipeline.run_next(timeout=15).status == "PARTIAL"

    result = runner.invoke(
        app,
        [
            "report",
            "partial",
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--json",
            "--endpoint-url",
            pipeline.stack.endpoint_url,
        ],
    )
    assert result.exit_code == ExitCode.PARTIAL
    body = json.loads(result.stdout)
    assert body["failedTotal"] == 1
    assert body["failed"][0]["source"] == "s3://example-source-bucket/runs/2024-06/_SUCCESS"
    assert body["failed"][0]["error"]


def test_report_of_a_failed_prepare_names_the_rows(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    pipeline.submit("broken", b"bucket,key\nexample-source-bucket,\n", example("example.json"))
    run = pipeline.run_next(timeout=15)
    assert run.status == "FAILED"
    state_machine, _ = start(pipeline, run, others=0)

    result = runner.invoke(
        app,
        ["report", "broken", "--state-machine-arn", state_machine, "--endpoint-url", executing],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "ManifestInvalid" in result.stdout
    assert "key is empty" in result.stdout

    by_inbox = runner.invoke(
        app,
        [
            "report",
            "broken",
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--json",
            "--endpoint-url",
            executing,
        ],
    )
    assert by_inbox.exit_code == ExitCode.FAILED, by_inbox.output
    assert json.loads(by_inbox.stdout)["notice"]["error"] == "ManifestInvalid"


def test_report_with_only_the_inbox_takes_the_latest_run(
    runner: CliRunner, pipeline: EmbeddedPipeline
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    first = pipeline.run_next(timeout=15)
    pipeline.resubmit_sidecar("example", example("example.json"))
    second = pipeline.run_next(timeout=15)
    assert first.notice["runId"] != second.notice["runId"]

    result = runner.invoke(
        app,
        [
            "report",
            "example",
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--json",
            "--endpoint-url",
            pipeline.stack.endpoint_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["notice"]["runId"] == second.notice["runId"]


def test_report_of_an_unknown_job(runner: CliRunner, pipeline: EmbeddedPipeline) -> None:
    result = runner.invoke(
        app,
        [
            "report",
            "never-ran",
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--endpoint-url",
            pipeline.stack.endpoint_url,
        ],
    )
    assert result.exit_code == ExitCode.AWS_ERROR


def test_stack_outputs_name_the_inbox_and_state_machine(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    run = pipeline.run_next(timeout=15)
    state_machine, execution = start(pipeline, run, others=0)
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "InboxBucketName": {"Value": pipeline.stack.inbox_bucket},
            "TopicArn": {"Value": pipeline.stack.topic_arn},
            "StateMachineArn": {"Value": state_machine},
            "WriterRoleArn": {"Value": "arn:aws:iam::123456789012:role/writer"},
        },
    }
    pipeline.stack.client("cloudformation").create_stack(
        StackName="StepsS3Copy", TemplateBody=json.dumps(template)
    )
    common = ["--stack", "StepsS3Copy", "--endpoint-url", executing, "--json"]

    watched = runner.invoke(app, ["watch", "example", *common])
    assert watched.exit_code == 0, watched.output
    assert json.loads(watched.stdout)["executionArn"] == execution

    submitted = runner.invoke(
        app, ["submit", str(EXAMPLES / "example.csv"), str(EXAMPLES / "example.json"), *common]
    )
    assert submitted.exit_code == 0, submitted.output
    assert json.loads(submitted.stdout)["inbox"] == pipeline.stack.inbox_bucket

    policy = runner.invoke(
        app,
        ["destination-policy", "--bucket", "dest-bucket", "--stack", "StepsS3Copy", *common],
    )
    assert policy.exit_code == 0, policy.output
    assert json.loads(policy.stdout)["writerRole"] == "arn:aws:iam::123456789012:role/writer"

    missing = runner.invoke(
        app, ["watch", "example", "--stack", "Nope", "--endpoint-url", executing]
    )
    assert missing.exit_code == ExitCode.AWS_ERROR


def test_watch_of_a_failed_prepare_shows_the_failure_notice(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    pipeline.submit("broken", b"bucket,key\nexample-source-bucket,\n", example("example.json"))
    run = pipeline.run_next(timeout=15)
    state_machine, _ = start(pipeline, run, others=0)

    result = runner.invoke(
        app,
        ["watch", "broken", "--state-machine-arn", state_machine, "--endpoint-url", executing],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "ManifestInvalid" in result.stdout
    assert "key is empty" in result.stdout


def _results(*statuses: Status) -> bytes:
    lines = (
        ObjectResult(
            source=f"s3://src/{i}", destination=f"s3://dst/{i}", status=status, bytes=10 * (i + 1)
        ).model_dump_json()
        for i, status in enumerate(statuses)
    )
    return "\n".join(lines).encode() + b"\n"


def test_watching_results_counts_each_object_once(s3: Any) -> None:
    """A poll reads new and rewritten results files (a retried batch rewrites its file),
    counts each object once, and forgets files that are gone."""
    s3.create_bucket(Bucket="inbox")
    location = RunLocation(bucket="inbox", prefix="work/job/run-1/")
    put = s3.put_object
    put(Bucket="inbox", Key=location.results_key(0), Body=_results(Status.COPIED, Status.FAILED))
    put(Bucket="inbox", Key=location.results_key(1), Body=_results(Status.SKIPPED))
    watcher = run_files.ResultsWatcher(location)

    first = watcher.poll(s3)
    assert (first.objects_done, first.bytes_done, first.failed) == (3, 40, 1)

    # Batch 0 retried: its object that failed is copied now.
    put(Bucket="inbox", Key=location.results_key(0), Body=_results(Status.COPIED, Status.COPIED))
    second = watcher.poll(s3)
    assert (second.objects_done, second.bytes_done, second.failed) == (3, 40, 0)
    assert watcher.poll(s3) == second

    s3.delete_object(Bucket="inbox", Key=location.results_key(1))
    third = watcher.poll(s3)
    assert (third.objects_done, third.bytes_done, third.failed) == (2, 30, 0)


# ----------------------------------------------------------------------------- throughput


def test_watch_reports_the_throughput_of_a_finished_run(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    run = pipeline.run_next(timeout=15)
    time.sleep(1.2)  # the run is at least a second old when its execution ends
    state_machine, execution = start(pipeline, run)
    common = ["--inbox", pipeline.stack.inbox_bucket, "--endpoint-url", executing]

    result = runner.invoke(
        app, ["watch", "example", "--state-machine-arn", state_machine, "--json", *common]
    )

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    # the window ends when the execution stopped and starts no earlier than the first
    # results file: every result is in it
    stopped = pipeline.stack.client("stepfunctions").describe_execution(executionArn=execution)
    location = RunLocation.model_validate(run.notice["work"])
    written = [f["LastModified"] for f in run_files.results_files(pipeline.s3, location)]
    span = min(120.0, (stopped["stopDate"] - min(written)).total_seconds())
    assert body["throughputWindowSeconds"] == pytest.approx(span, abs=0.01)
    assert body["throughputBytesPerSecond"] == pytest.approx(body["bytesDone"] / span, rel=1e-3)
    assert body["throughputObjectsPerSecond"] == pytest.approx(12 / span, rel=1e-3)
    assert body["estimatedSecondsLeft"] == 0

    human = runner.invoke(
        app,
        ["watch", "example", "--state-machine-arn", state_machine, *common],
        env={"COLUMNS": "200"},
    )
    assert human.exit_code == 0, human.output
    assert "objects/s over the last" in human.stdout


def test_watch_estimates_the_time_left_of_a_running_run(
    runner: CliRunner, pipeline: EmbeddedPipeline, executing: str
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    run = pipeline.run_next(timeout=15)
    assert run.result.prepared is not None
    location = RunLocation.model_validate(run.notice["work"])
    [_first, *others] = sorted(f["Key"] for f in run_files.results_files(pipeline.s3, location))
    for key in others:  # one batch of three has ended, the others are still copying
        pipeline.s3.delete_object(Bucket=location.bucket, Key=key)
    sfn = pipeline.stack.client("stepfunctions")
    running = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": {"prepared": run.result.prepared}, "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 60, "End": True},
        },
    }
    arn = sfn.create_state_machine(name="running", definition=json.dumps(running), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, name="r1", input=json.dumps(run.event))
    time.sleep(1.2)
    try:
        args = ["watch", "x", "--execution-arn", execution["executionArn"], "--timeout", "1"]
        args += ["--interval", "0.5", "--endpoint-url", executing]
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == ExitCode.TIMEOUT, result.output
        body = json.loads(result.stdout)
        done = run_files.ResultsWatcher(location).poll(pipeline.s3)
        assert (body["objectsDone"], body["bytesDone"]) == (done.objects_done, done.bytes_done)
        assert 0 < body["objectsDone"] < body["objectsTotal"] == 12
        # everything done so far ended within the window: rate x window = done
        window = body["throughputWindowSeconds"]
        assert body["throughputBytesPerSecond"] * window == pytest.approx(done.bytes_done, 1e-3)
        assert body["throughputObjectsPerSecond"] * window == pytest.approx(done.objects_done, 1e-3)
        # the time left: the longer of the bytes' and the objects' at those rates
        left_bytes = (body["bytesTotal"] - done.bytes_done) / body["throughputBytesPerSecond"]
        left_objects = (12 - done.objects_done) / body["throughputObjectsPerSecond"]
        expected = max(left_bytes, left_objects)
        assert body["estimatedSecondsLeft"] == pytest.approx(expected, rel=1e-3)

        human = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert human.exit_code == ExitCode.TIMEOUT
        assert "throughput" in human.stdout
        assert " left" in human.stdout
    finally:
        sfn.stop_execution(executionArn=execution["executionArn"])

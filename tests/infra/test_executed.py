"""The synthesized definition, executed in moto's Step Functions interpreter.

A CSV and a sidecar land in the inbox -> the EventBridge pattern CDK produced matches ->
the definition CDK produced runs: the real Prepare handler, the Distributed Map over the
real batch index, the real Lambda lane and the container's real entry point for the
Fargate lane, Summarise and Notify -> the notice is read back from an SNS->SQS
subscription, and the destination holds exactly the right objects.
"""

from __future__ import annotations

import copy
import csv
import importlib
import io
import json
import os
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import RestoringEndpoint
from tests.infra.harness import Deployment
from tests.infra.helpers import Synth
from tests.infra.moto_patches import Recorder, patched

pytestmark = pytest.mark.slow

SOURCE = "source-bucket"
DESTINATION = "destination-bucket"
CUTOFF = 1024 * 1024  # objects above this go to the Fargate lane

HANDLER_MODULES = (
    "steps_s3_copy.handlers.prepare",
    "steps_s3_copy.handlers.copy_batch",
    "steps_s3_copy.handlers.destination",
    "steps_s3_copy.handlers.summarise",
    "steps_s3_copy.handlers.notify",
)


def _clear_handler_caches() -> None:
    """Handlers keep their settings and clients from the first call; start each test cold."""
    for name in HANDLER_MODULES:
        runtime = getattr(importlib.import_module(name), "runtime", None)
        if runtime is not None and hasattr(runtime, "cache_clear"):
            runtime.cache_clear()


def _deployed(
    moto_server: str, handlers_endpoint: str, synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """The stack in moto; the handlers reach AWS through ``handlers_endpoint``."""
    saved = dict(os.environ)
    monkeypatch.setenv("MOTO_PORT", moto_server.rsplit(":", 1)[1])  # moto's SFN clients
    monkeypatch.setenv("AWS_ENDPOINT_URL", handlers_endpoint)  # the handlers' clients
    _clear_handler_caches()
    try:
        yield Deployment(moto_server, synth.template)
    finally:
        _clear_handler_caches()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def deployment(
    moto_server: str, synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    yield from _deployed(moto_server, moto_server, synth, monkeypatch)


@pytest.fixture
def thawing_deployment(
    moto_server: str,
    restoring_endpoint: RestoringEndpoint,
    synth: Synth,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployment]:
    """The stack in moto, its handlers talking to S3 through the ``restoring_endpoint``
    relay (tests/conftest.py): moto restores an archived object at once, the relay keeps
    each restore "in progress" for its first HeadObject answers, as S3 does for hours."""
    yield from _deployed(moto_server, restoring_endpoint.url, synth, monkeypatch)


def _sources(deployment: Deployment) -> dict[str, bytes]:
    rng = random.Random(7)
    objects = {
        "runs/2024-06/README.txt": b"read me\n" * 100,
        "runs/2024-06/notes/lab notes (final).txt": b"notes " * 500,
        "runs/2024-06/notes/résumé-ß-データ.txt": "unicode ✓".encode() * 50,
        "runs/2024-06/odd/a+b=c 100%.csv": b"a,b\n1,2\n",
        "runs/2024-06/_SUCCESS": b"",
        "runs/2024-06/large/sample-A.bam": rng.randbytes(CUTOFF + 300_000),
    }
    deployment.s3.create_bucket(Bucket=SOURCE)
    deployment.s3.create_bucket(Bucket=DESTINATION)
    for key, body in objects.items():
        deployment.s3.put_object(Bucket=SOURCE, Key=key, Body=body)
    return objects


def _manifest(rows: list[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["bucket", "key"])
    writer.writerows(rows)
    return buffer.getvalue()


def _sidecar(**extra: Any) -> dict[str, Any]:
    return {
        "destinationBucket": DESTINATION,
        "destinationPrefix": "copied/",
        "maxItemsPerBatch": 2,
        "laneCutoffBytes": CUTOFF,
        **extra,
    }


def _fargate_runs(recorder: Recorder) -> list[Any]:
    return list(recorder.task_runs)


def test_a_sidecar_in_the_inbox_copies_everything_on_both_lanes(deployment: Deployment) -> None:
    objects = _sources(deployment)
    event = deployment.submit("happy", _manifest([(SOURCE, k) for k in objects]), _sidecar())
    assert event["detail-type"] == "Object Created"
    assert event["detail"]["object"]["key"] == "jobs/happy.json"
    # the manifest (uploaded first) and files outside jobs/ do not start anything
    deployment.s3.put_object(Bucket="steps-s3-copy-inbox", Key="work/other.json", Body=b"{}")
    deployment.s3.put_object(Bucket="steps-s3-copy-inbox", Key="jobs/notes.txt", Body=b"")
    assert deployment.no_more_events()

    with patched(deployment.endpoint) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    notice = run.notice
    assert notice["status"] == "SUCCEEDED", notice
    assert notice["counts"]["copied"] == len(objects)
    assert notice["counts"]["failed"] == 0
    assert notice["bytes"]["copied"] == sum(len(b) for b in objects.values())
    assert run.attributes["status"]["Value"] == "SUCCEEDED"

    # exactly the right objects, byte for byte
    assert deployment.objects(DESTINATION) == {f"copied/{k}": v for k, v in objects.items()}

    # both lanes ran: the large object in the container on Fargate Spot, the rest in Lambda
    (task,) = recorder.task_runs
    assert task.capacity_provider == "FARGATE_SPOT"
    assert task.exit_code == 0, task.output
    batch = json.loads(task.environment["S3COPY_BATCH"])
    assert batch["lane"] == "fargate"
    assert task.environment["S3COPY_WORK_BUCKET"] == "steps-s3-copy-inbox"
    copy_calls = [c for c in recorder.lambda_calls if c[0].endswith("copy_batch.handler")]
    assert notice["planned"]["batches"] == {"lambda": 1, "fargate": 1}  # small ones: one batch
    assert len(copy_calls) == 1
    entered = run.states_entered()
    assert entered[:3] == ["Prepare", "CheckDestination", "DryRun"]
    assert entered[-4:] == ["Summarise", "Finish", "Notify", "Done"]
    assert "Copy" in entered
    assert "SummariseFailure" not in entered


def test_the_original_direct_input_still_works(deployment: Deployment) -> None:
    objects = _sources(deployment)
    small = {k: v for k, v in objects.items() if len(v) <= CUTOFF}
    deployment.s3.put_object(
        Bucket=SOURCE, Key="lists/direct.csv", Body=_manifest([(SOURCE, k) for k in small])
    )
    with patched(deployment.endpoint):
        run = deployment.start(
            {
                "sourceFilesCsvBucket": SOURCE,
                "sourceFilesCsvKey": "lists/direct.csv",
                "destinationBucket": DESTINATION,
                "maxItemsPerBatch": 10,
            }
        )
    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert run.notice["status"] == "SUCCEEDED"
    assert deployment.objects(DESTINATION) == small


def test_a_bad_manifest_gives_a_failed_notice_listing_the_problems(
    deployment: Deployment,
) -> None:
    _sources(deployment)
    manifest = "bucket,key\nsource-bucket,runs/2024-06/README.txt\nnot a bucket!,x\n,\n"
    event = deployment.submit("bad", manifest, _sidecar())

    with patched(deployment.endpoint) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "FAILED"  # the run ends in the Fail state, after notifying
    notice = run.notice
    assert notice["status"] == "FAILED"
    assert notice["error"] == "ManifestInvalid"
    assert notice["problems"], notice
    assert any("3" in json.dumps(p) for p in notice["problems"])  # names the bad row
    assert run.attributes["status"]["Value"] == "FAILED"
    entered = run.states_entered()
    assert entered == ["Prepare", "SummariseFailure", "FinishFailure", "NotifyFailure", "Failed"]
    assert recorder.task_runs == []
    assert deployment.objects(DESTINATION) == {}


def test_an_interrupted_container_is_retried_and_the_run_succeeds(
    deployment: Deployment,
) -> None:
    objects = _sources(deployment)
    large = {k: v for k, v in objects.items() if len(v) > CUTOFF}
    event = deployment.submit("spot", _manifest([(SOURCE, k) for k in large]), _sidecar())

    with patched(deployment.endpoint, interrupt_tasks=1) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution

    assert run.notice["status"] == "SUCCEEDED", run.notice
    first, second = recorder.task_runs
    assert first.interrupted
    assert first.exit_code != 0
    assert second.exit_code == 0, second.output
    # retried on Spot (the Retry of CopyBatchSpot), not yet the on-demand fallback
    assert first.capacity_provider == second.capacity_provider == "FARGATE_SPOT"
    assert len(recorder.retry_waits) == 1
    assert 0 <= recorder.retry_waits[0] <= 20  # full jitter over the first 20 s interval
    assert deployment.objects(DESTINATION) == {f"copied/{k}": v for k, v in large.items()}


def test_spot_failing_every_retry_falls_back_to_on_demand_fargate(
    deployment: Deployment,
) -> None:
    objects = _sources(deployment)
    large = {k: v for k, v in objects.items() if len(v) > CUTOFF}
    event = deployment.submit("fallback", _manifest([(SOURCE, k) for k in large]), _sidecar())

    # Spot's first attempt and its 3 retries are all interrupted
    with patched(deployment.endpoint, interrupt_tasks=4) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert run.notice["status"] == "SUCCEEDED", run.notice
    providers = [(r.capacity_provider, r.exit_code != 0) for r in recorder.task_runs]
    assert providers == [
        ("FARGATE_SPOT", True),
        ("FARGATE_SPOT", True),
        ("FARGATE_SPOT", True),
        ("FARGATE_SPOT", True),
        ("FARGATE", False),
    ]
    assert deployment.objects(DESTINATION) == {f"copied/{k}": v for k, v in large.items()}


def test_a_dry_run_skips_the_copy_and_still_notifies(deployment: Deployment) -> None:
    objects = _sources(deployment)
    event = deployment.submit(
        "dry", _manifest([(SOURCE, k) for k in objects]), _sidecar(dryRun=True)
    )

    with patched(deployment.endpoint) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert run.notice["dryRun"] is True
    assert run.notice["planned"]["objects"] == len(objects)
    entered = run.states_entered()
    assert "Copy" not in entered
    assert entered[-4:] == ["Summarise", "Finish", "Notify", "Done"]
    assert recorder.task_runs == []
    assert deployment.objects(DESTINATION) == {}


# --- issue 9: what AWS does at run time ---------------------------------------------------


def _report_rows(deployment: Deployment, notice: dict[str, Any]) -> list[dict[str, str]]:
    """The run's report.csv, row by row."""
    bucket, key = notice["reportUri"].removeprefix("s3://").split("/", 1)
    body = deployment.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def _wait_for(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


def test_a_fargate_batch_with_a_failed_object_is_not_retried_and_its_failure_reaches_the_notice(
    deployment: Deployment,
) -> None:
    objects = _sources(deployment)
    large_key = next(k for k, v in objects.items() if len(v) > CUTOFF)
    event = deployment.submit("gone", _manifest([(SOURCE, k) for k in objects]), _sidecar())

    def delete_the_large_source(_index: int, _environment: dict[str, str]) -> None:
        # after Prepare sized it, before the container copies it: unreadable at copy time
        deployment.s3.delete_object(Bucket=SOURCE, Key=large_key)

    with patched(deployment.endpoint, before_task=delete_the_large_source) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    # the batch ran to its end: exit 0, one task, no retry and no on-demand fallback
    (task,) = recorder.task_runs
    assert task.exit_code == 0, task.output
    assert task.capacity_provider == "FARGATE_SPOT"
    assert recorder.retry_waits == []
    notice = run.notice
    assert notice["status"] == "PARTIAL", notice
    assert notice["counts"]["failed"] == 1
    assert notice["counts"]["copied"] == len(objects) - 1
    (failed,) = [r for r in _report_rows(deployment, notice) if r["status"] == "FAILED"]
    assert failed["source"].endswith(large_key), failed
    assert failed["error"].startswith("NoSuchKey"), failed
    copied = deployment.objects(DESTINATION)
    assert f"copied/{large_key}" not in copied
    assert len(copied) == len(objects) - 1


def test_a_configuration_error_of_the_container_is_neither_retried_nor_run_on_demand(
    deployment: Deployment,
) -> None:
    objects = _sources(deployment)
    large = {k: v for k, v in objects.items() if len(v) > CUTOFF}
    event = deployment.submit("config", _manifest([(SOURCE, k) for k in large]), _sidecar())

    def break_the_batch(_index: int, environment: dict[str, str]) -> None:
        environment["S3COPY_BATCH"] = "{not a batch"  # the container exits 2

    with patched(deployment.endpoint, before_task=break_the_batch) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    (task,) = recorder.task_runs
    assert task.exit_code == 2, task.output
    assert task.capacity_provider == "FARGATE_SPOT"  # no on-demand fallback either
    assert recorder.retry_waits == []
    assert run.notice["status"] == "FAILED", run.notice
    assert run.notice["counts"]["failed"] == len(large)
    rows = _report_rows(deployment, run.notice)
    assert [r["error"].split(":")[0] for r in rows] == ["BatchFailed"]
    assert deployment.objects(DESTINATION) == {}


def test_a_task_that_outlasts_its_timeout_is_stopped_and_the_run_still_notifies(
    deployment: Deployment,
) -> None:
    objects = _sources(deployment)
    large = {k: v for k, v in objects.items() if len(v) > CUTOFF}
    small = {k: v for k, v in objects.items() if len(v) <= CUTOFF}
    event = deployment.submit("hang", _manifest([(SOURCE, k) for k in objects]), _sidecar())

    # the first task hangs; its state's timeout (the batch's timeoutSeconds, half an hour or
    # more) is scaled down to a few seconds
    with patched(deployment.endpoint, hang_tasks=1, timeout_scale=0.002) as recorder:
        run = deployment.start(event)
        assert _wait_for(lambda: len(recorder.task_runs) == 1)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    # the one RunTask state's TimeoutSecondsPath (moto reads it more than once per attempt)
    (timeout,) = set(recorder.timeouts)
    index = (
        deployment.s3.get_object(
            Bucket="steps-s3-copy-inbox", Key=run.notice["work"]["prefix"] + "index.csv"
        )["Body"]
        .read()
        .decode()
    )
    (fargate_row,) = [r for r in csv.DictReader(io.StringIO(index)) if r["lane"] == "fargate"]
    assert timeout == int(fargate_row["timeoutSeconds"]) >= 1800
    (task,) = recorder.task_runs
    assert task.hung
    assert task.stopped_by_state  # stopped when its state timed out, not retried
    assert recorder.retry_waits == []
    notice = run.notice
    assert notice["status"] == "PARTIAL", notice
    assert notice["counts"]["failed"] == len(large)
    assert notice["counts"]["copied"] == len(small)
    failed = [r for r in _report_rows(deployment, notice) if r["status"] == "FAILED"]
    assert [r["error"].split(":")[0] for r in failed] == ["BatchFailed"]
    assert deployment.objects(DESTINATION) == {f"copied/{k}": v for k, v in small.items()}


def test_a_duplicated_event_starts_one_run(deployment: Deployment) -> None:
    objects = _sources(deployment)
    small = {k: v for k, v in objects.items() if len(v) <= CUTOFF}
    event = deployment.submit("twice", _manifest([(SOURCE, k) for k in small]), _sidecar())

    with patched(deployment.endpoint) as recorder:
        first = deployment.start(event)
        # EventBridge delivers the same S3 event again: a new execution, the same event
        second = deployment.start(copy.deepcopy(event), notice=False)

    assert first.notice["status"] == "SUCCEEDED", first.notice
    assert second.execution["status"] == "SUCCEEDED", second.execution
    assert second.states_entered() == ["Prepare", "Duplicate"]
    assert deployment.no_more_notices()
    prepares = [c for c in recorder.lambda_calls if c[0].endswith("prepare.handler")]
    assert [c[2] for c in prepares] == [None, "DuplicateEvent"]
    copies = [c for c in recorder.lambda_calls if c[0].endswith("copy_batch.handler")]
    assert len(copies) == 1  # one run copied
    assert deployment.objects(DESTINATION) == {f"copied/{k}": v for k, v in small.items()}


def test_a_re_upload_of_the_sidecar_starts_a_second_run(deployment: Deployment) -> None:
    objects = _sources(deployment)
    small = {k: v for k, v in objects.items() if len(v) <= CUTOFF}
    first_event = deployment.submit("again", _manifest([(SOURCE, k) for k in small]), _sidecar())

    with patched(deployment.endpoint):
        first = deployment.start(first_event)
        second_event = deployment.submit_sidecar("again", _sidecar())  # the same job, re-uploaded
        second = deployment.start(second_event)

    assert first.notice["status"] == second.notice["status"] == "SUCCEEDED"
    assert first.notice["runId"] != second.notice["runId"]
    assert first.notice["counts"]["copied"] == len(small)
    assert second.notice["counts"]["skipped"] == len(small)  # already there: nothing to redo
    assert "Copy" in second.states_entered()


def test_a_sidecar_before_its_csv_waits_for_the_manifest(deployment: Deployment) -> None:
    objects = _sources(deployment)
    small = {k: v for k, v in objects.items() if len(v) <= CUTOFF}
    manifest = _manifest([(SOURCE, k) for k in small])
    event = deployment.submit_sidecar("early", _sidecar())  # no CSV yet

    def upload_the_csv_once_missed(handler: str, _event: Any, error: str | None) -> None:
        if handler.endswith("prepare.handler") and error == "ManifestNotFound":
            deployment.put_manifest("early", manifest)  # it lands during the retries

    with patched(deployment.endpoint, after_lambda=upload_the_csv_once_missed) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert run.notice["status"] == "SUCCEEDED", run.notice
    prepares = [c[2] for c in recorder.lambda_calls if c[0].endswith("prepare.handler")]
    assert prepares == ["ManifestNotFound", None]
    assert len(recorder.retry_waits) == 1  # one wait, at most the first interval (5 s)
    assert recorder.retry_waits[0] <= 5
    assert deployment.objects(DESTINATION) == {f"copied/{k}": v for k, v in small.items()}


def test_a_destination_that_refuses_writes_fails_before_anything_is_copied(
    deployment: Deployment,
) -> None:
    objects = _sources(deployment)
    deployment.s3.delete_bucket(Bucket=DESTINATION)  # named at deploy, but it does not exist
    event = deployment.submit("nowhere", _manifest([(SOURCE, k) for k in objects]), _sidecar())

    with patched(deployment.endpoint) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "FAILED"
    assert run.notice["status"] == "FAILED", run.notice
    assert run.notice["error"] == "DestinationNotWritable", run.notice
    entered = run.states_entered()
    assert entered[:2] == ["Prepare", "CheckDestination"]
    assert entered[-3:] == ["FinishFailure", "NotifyFailure", "Failed"]
    assert "Copy" not in entered
    assert recorder.task_runs == []
    assert not [c for c in recorder.lambda_calls if c[0].endswith("copy_batch.handler")]


def test_finish_aborts_an_incomplete_upload_left_in_the_destination(
    deployment: Deployment,
) -> None:
    """A multipart copy clears its own key's leftover uploads before it starts; Finish
    catches the rest: here a key of the plan whose copy is skipped on the re-run."""
    objects = _sources(deployment)
    # a source object written in parts (its ETag ends in -1): its copy may be a multipart one
    key, body = "runs/2024-06/parts/assembled.bin", b"x" * 4096
    upload = deployment.s3.create_multipart_upload(Bucket=SOURCE, Key=key)["UploadId"]
    part = deployment.s3.upload_part(
        Bucket=SOURCE, Key=key, UploadId=upload, PartNumber=1, Body=body
    )
    deployment.s3.complete_multipart_upload(
        Bucket=SOURCE,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    small = {k: v for k, v in objects.items() if len(v) <= CUTOFF}
    rows = [(SOURCE, k) for k in [*small, key]]
    with patched(deployment.endpoint):
        first = deployment.start(deployment.submit("leftover", _manifest(rows), _sidecar()))
    assert first.notice["status"] == "SUCCEEDED", first.notice
    assert first.notice["uploadsAborted"] == 0, first.notice

    # a batch killed hard (of some other run of the job) left an upload of a planned key
    left = deployment.s3.create_multipart_upload(Bucket=DESTINATION, Key=f"copied/{key}")
    with patched(deployment.endpoint):
        run = deployment.start(deployment.submit_sidecar("leftover", _sidecar()))

    assert run.notice["status"] == "SUCCEEDED", run.notice
    assert run.notice["counts"]["skipped"] == len(rows), run.notice
    assert run.notice["uploadsAborted"] == 1, run.notice
    uploads = deployment.s3.list_multipart_uploads(Bucket=DESTINATION).get("Uploads", [])
    assert [u["UploadId"] for u in uploads if u["UploadId"] == left["UploadId"]] == []
    assert uploads == []
    assert deployment.objects(DESTINATION)[f"copied/{key}"] == body


# --- issue 12: archived sources wait in Step Functions -------------------------------------


def test_a_batch_with_archived_sources_waits_in_thaw_then_copies(
    thawing_deployment: Deployment, restoring_endpoint: RestoringEndpoint
) -> None:
    deployment = thawing_deployment
    objects = _sources(deployment)
    warm = {k: v for k, v in objects.items() if len(v) <= CUTOFF}
    cold = {"cold/run-1.bam": b"c" * 3000, "cold/run-2.bam": b"d" * 5000}
    for key, body in cold.items():
        deployment.s3.put_object(Bucket=SOURCE, Key=key, Body=body, StorageClass="GLACIER")
    rows = [(SOURCE, k) for k in [*warm, *cold]]
    sidecar = _sidecar(restore={"tier": "Expedited", "days": 1})
    event = deployment.submit("cold", _manifest(rows), sidecar)

    with patched(deployment.endpoint, time_scale=0.001) as recorder:
        run = deployment.start(event)

    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert run.notice["status"] == "SUCCEEDED", run.notice
    # the archived batch passed through Thaw: asked once, then "in progress" twice (the
    # relay), each answer a RestorePendingExpedited that the Retry waited on, then done
    thaws = [c for c in recorder.lambda_calls if c[1].get("action") == "thaw"]
    assert [c[2] for c in thaws] == [
        "RestorePendingExpedited",
        "RestorePendingExpedited",
        "RestorePendingExpedited",
        None,
    ]
    # the waits are Thaw's Expedited Retry, without jitter: 60 s, then x1.5
    assert recorder.retry_waits == [60, 90, 135]
    # one RestoreObject per archived object, however often Thaw ran
    assert sorted(restoring_endpoint.restores) == sorted(f"/{SOURCE}/{k}" for k in cold)
    # Thaw ran for the archived batch only, and its copy came after Thaw's last answer
    calls = [c for c in recorder.lambda_calls if c[0].endswith("copy_batch.handler")]
    assert {c[1]["batch"]["archived"] for c in thaws} == {str(len(cold))}
    copies = [i for i, c in enumerate(calls) if c[1].get("action") is None]
    cold_copy = [i for i in copies if calls[i][1]["batch"]["archived"] != "0"]
    warm_copy = [i for i in copies if calls[i][1]["batch"]["archived"] == "0"]
    assert len(cold_copy) == len(warm_copy) == 1
    assert cold_copy[0] > max(i for i, c in enumerate(calls) if c[1].get("action") == "thaw")
    assert deployment.objects(DESTINATION) == {
        f"copied/{k}": v for k, v in {**warm, **cold}.items()
    }

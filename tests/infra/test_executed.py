"""The synthesized definition, executed in moto's Step Functions interpreter.

A CSV and a sidecar land in the inbox -> the EventBridge pattern CDK produced matches ->
the definition CDK produced runs: the real Prepare handler, the Distributed Map over the
real batch index, the real Lambda lane and the container's real entry point for the
Fargate lane, Summarise and Notify -> the notice is read back from an SNS->SQS
subscription, and the destination holds exactly the right objects.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

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
    "steps_s3_copy.handlers.summarise",
    "steps_s3_copy.handlers.notify",
)


def _clear_handler_caches() -> None:
    """Handlers keep their settings and clients from the first call; start each test cold."""
    for name in HANDLER_MODULES:
        runtime = getattr(importlib.import_module(name), "runtime", None)
        if runtime is not None and hasattr(runtime, "cache_clear"):
            runtime.cache_clear()


@pytest.fixture
def deployment(
    moto_server: str, synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    saved = dict(os.environ)
    monkeypatch.setenv("MOTO_PORT", moto_server.rsplit(":", 1)[1])  # moto's SFN clients
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)  # the handlers' clients
    _clear_handler_caches()
    try:
        yield Deployment(moto_server, synth.template)
    finally:
        _clear_handler_caches()
        os.environ.clear()
        os.environ.update(saved)


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
    assert entered[:2] == ["Prepare", "DryRun"]
    assert {"Copy", "Summarise", "Notify", "Done"} <= set(entered)
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
    assert entered == ["Prepare", "SummariseFailure", "NotifyFailure", "Failed"]
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
    assert entered[-3:] == ["Summarise", "Notify", "Done"]
    assert recorder.task_runs == []
    assert deployment.objects(DESTINATION) == {}

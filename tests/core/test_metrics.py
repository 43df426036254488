"""The metrics contract (docs/architecture.md, "Metrics"), read back from the EMF lines each
step prints: names, units, the total and the per-job copy of each, the dimensions."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from steps_s3_copy import observability, thaw
from steps_s3_copy.errors import ManifestInvalid, RestorePendingBulk
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.local.runner import LocalRunner
from steps_s3_copy.models import CopyOptions, Status
from steps_s3_copy.payloads import BatchOutcome, CopyPayload, StepError
from steps_s3_copy.prepare import PrepareSettings
from steps_s3_copy.summarise import summarise, summarise_failure
from steps_s3_copy.worker import copy_batch
from steps_s3_copy.worker.engine import lean_client
from tests import emf
from tests.conftest import REGION, RestoringEndpoint, client
from tests.core.conftest import DEST, INBOX, SOURCE, World, run_prepare, sidecar_event
from tests.core.test_prepare import read_plan
from tests.core.test_summarise import EXECUTION, NOW, planned, result, write_results
from tests.core.test_thaw import _archived_batch


def captured(capsys: pytest.CaptureFixture[str]) -> list[emf.Point]:
    return emf.points(capsys.readouterr().out)


def test_prepare_counts_a_run_that_planned_and_not_one_that_failed(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.put(SOURCE, "a", b"a")
    event = world.job("team/ünï run", f"{SOURCE},a\n", {"destinationBucket": DEST})
    capsys.readouterr()
    run_prepare(event, run_id="r1", s3=world.s3, settings=world.settings)
    found = captured(capsys)
    job = observability.dimension_value("team/ünï run")
    assert job == "team/%C3%BCn%C3%AF run"
    assert emf.both(found, "RunsStarted", job) == 1
    assert {p.unit for p in found if p.name == "RunsStarted"} == {"Count"}

    bad = world.job("bad", f"{SOURCE},\n", {"destinationBucket": DEST})
    with pytest.raises(ManifestInvalid):
        run_prepare(bad, run_id="r2", s3=world.s3, settings=world.settings)
    assert "RunsStarted" not in emf.names(captured(capsys))


def test_a_batch_counts_objects_and_bytes_by_status_and_itself_by_lane(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.put(SOURCE, "here", b"x" * 10)
    world.put(SOURCE, "there", b"y" * 30)
    event = world.job("one", f"{SOURCE},here\n{SOURCE},there\n", {"destinationBucket": DEST})
    prepared = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    [(ref, _)] = read_plan(world, prepared)
    world.s3.delete_object(Bucket=SOURCE, Key="there")  # gone since Prepare sized it: FAILED
    capsys.readouterr()

    payload = CopyPayload(batch=ref, work=prepared.work)
    outcome = copy_batch.run(payload, endpoint_url=world.endpoint)

    found = captured(capsys)
    assert (outcome.copied, outcome.failed) == (1, 1)
    assert emf.both(found, "ObjectsCopied", "one") == 1
    assert emf.both(found, "ObjectsSkipped", "one") == 0
    assert emf.both(found, "ObjectsFailed", "one") == 1
    assert emf.both(found, "BytesCopied", "one") == 10
    assert emf.both(found, "BytesFailed", "one") == outcome.bytes_failed
    assert {p.unit for p in found if p.name.startswith("Bytes")} == {"Bytes"}
    assert emf.both(found, "BatchesRun", "one", lane="lambda") == 1
    assert emf.total(found, "BatchesRun") is None  # only by lane
    # the Lambda lane knows no capacity provider; nothing was retried
    assert "SpotFallbacks" not in emf.names(found)
    assert "S3Retries" not in emf.names(found)

    capsys.readouterr()
    again = copy_batch.run(payload, endpoint_url=world.endpoint)
    found = captured(capsys)
    assert again.skipped == 1
    assert emf.both(found, "ObjectsSkipped", "one") == 1
    assert emf.both(found, "BytesSkipped", "one") == 10


def test_summarise_counts_the_run_by_status_and_its_failed_batches(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    prepared = planned(world, 4)  # 2 batches of 2
    (ref0, items0), _ = read_plan(world, prepared)
    write_results(world, prepared, ref0, [result(i, Status.COPIED) for i in items0])
    capsys.readouterr()  # the second batch has no results: it failed after its retries

    notice = summarise(prepared, EXECUTION, s3=world.s3, now=NOW)

    found = captured(capsys)
    assert notice.status == "PARTIAL"
    assert emf.both(found, "Runs", "mix", status="PARTIAL") == 1
    assert emf.total(found, "Runs") is None  # only by status
    assert emf.both(found, "BatchesFailed", "mix") == 1

    (ref1, items1) = read_plan(world, prepared)[1]
    write_results(world, prepared, ref1, [result(i, Status.COPIED) for i in items1])
    summarise(prepared, EXECUTION, s3=world.s3, now=NOW)
    found = captured(capsys)
    assert emf.both(found, "Runs", "mix", status="SUCCEEDED") == 1
    assert emf.both(found, "BatchesFailed", "mix") == 0


def test_summarise_after_a_failure_counts_a_failed_run(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sidecar_event(INBOX, "jobs/broken.json")
    error = StepError(error="ManifestInvalid", cause=json.dumps({"errorMessage": "{}"}))
    capsys.readouterr()
    summarise_failure(error, event, EXECUTION, s3=world.s3, layout=InboxLayout(INBOX), now=NOW)
    found = captured(capsys)
    assert emf.both(found, "Runs", "broken", status="FAILED") == 1
    assert "BatchesFailed" not in emf.names(found)  # unknown when the run failed before


def test_thaw_counts_each_restore_once_when_it_finishes(
    world: World, restoring_endpoint: RestoringEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    payload, _ = _archived_batch(world, "Bulk")
    s3 = client("s3", restoring_endpoint.url)
    capsys.readouterr()
    for _ in range(3):
        with pytest.raises(RestorePendingBulk):
            thaw.run(payload, s3=s3)
    assert emf.both(captured(capsys), "ObjectsRestored", "cold") == 0
    thaw.run(payload, s3=s3)
    assert emf.both(captured(capsys), "ObjectsRestored", "cold") == 2
    thaw.run(payload, s3=s3)  # a repeated Thaw (a retry) counts nothing twice
    assert emf.both(captured(capsys), "ObjectsRestored", "cold") == 0


def test_a_run_through_both_lanes(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Every step of a local run, one object per lane: the run's metrics add up."""
    world.put(SOURCE, "small", b"s")
    world.put(SOURCE, "large", b"L" * 100)
    sidecar = {"destinationBucket": DEST, "laneCutoffBytes": 10}
    event = world.job("lanes", f"{SOURCE},small\n{SOURCE},large\n", sidecar)
    runner = LocalRunner(
        session=boto3.session.Session(region_name=REGION),
        endpoint_url=world.endpoint,
        settings=PrepareSettings(layout=InboxLayout(INBOX)),
    )
    capsys.readouterr()
    run = runner.run(event)
    found = captured(capsys)
    assert run.status == "SUCCEEDED", run.notice
    assert emf.both(found, "RunsStarted", "lanes") == 1
    assert emf.both(found, "BatchesRun", "lanes", lane="lambda") == 1
    assert emf.both(found, "BatchesRun", "lanes", lane="fargate") == 1
    assert emf.both(found, "ObjectsCopied", "lanes") == 2
    assert emf.both(found, "BytesCopied", "lanes") == 101
    assert emf.both(found, "Runs", "lanes", status="SUCCEEDED") == 1
    assert emf.both(found, "BatchesFailed", "lanes") == 0
    documented = {
        "RunsStarted", "Runs", "ObjectsCopied", "ObjectsSkipped", "ObjectsFailed",
        "BytesCopied", "BytesSkipped", "BytesFailed", "BatchesRun", "SpotFallbacks",
        "BatchesFailed", "S3Retries", "ObjectsRestored",
    }  # fmt: skip
    assert emf.names(found) <= documented


class _CountingClient:
    """An S3 client that counts its retries by error code (what the engine's client is
    to expose: ``retries``)."""

    retries = {"SlowDown": 3, "InternalError": 1, "Unused": 0}


def test_s3_retries_by_error_when_the_client_counts_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    counts = observability.retry_counts(_CountingClient())
    assert counts == {"SlowDown": 3, "InternalError": 1}
    observability.batch_done("j", "fargate", BatchOutcome(batch_id=0), retries=counts)
    found = captured(capsys)
    assert emf.both(found, "S3Retries", "j", error="SlowDown") == 3
    assert emf.both(found, "S3Retries", "j", error="InternalError") == 1
    assert emf.total(found, "S3Retries") is None
    # a client that has retried nothing counts nothing: nothing is made up
    assert observability.retry_counts(lean_client(CopyOptions())) == {}


def test_spot_fallbacks_count_on_demand_batches_only(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = BatchOutcome(batch_id=0, copied=1)
    observability.batch_done("j", "fargate", outcome, capacity_provider="FARGATE")
    assert emf.both(captured(capsys), "SpotFallbacks", "j") == 1
    observability.batch_done("j", "fargate", outcome, capacity_provider="FARGATE_SPOT")
    assert emf.both(captured(capsys), "SpotFallbacks", "j") == 0


def test_metrics_can_be_sent_elsewhere_or_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = io.StringIO()
    with observability.metrics_output(elsewhere):
        observability.run_started("j")
    assert capsys.readouterr().out == ""
    assert emf.both(emf.points(elsewhere.getvalue()), "RunsStarted", "j") == 1
    with observability.metrics_output(None):
        observability.run_started("j")
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.run_started("j")
    assert capsys.readouterr().out == ""


def test_no_service_dimension_whatever_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployment sets POWERTOOLS_SERVICE_NAME (for the logs); the totals must still
    have no dimension, and the namespace is the contract's."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "steps-s3-copy")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Other")
    observability.run_started("j")
    [document] = emf.documents(capsys.readouterr().out)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [[], ["job"]]
    assert directive["Namespace"] == "StepsS3Copy"
    assert "service" not in document


@pytest.mark.parametrize(
    ("text", "value"),
    [("plain/job-1", "plain/job-1"), ("ü", "%C3%BC"), ("a\nb", "a%0Ab"), ("  ", "unknown")],
)
def test_dimension_values_are_ascii(text: str, value: str) -> None:
    assert observability.dimension_value(text) == value
    assert len(observability.dimension_value("é" * 2000)) == 1024

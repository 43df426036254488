"""Summarise on mixed outcomes, missing and partial batches, dry runs and caught failures."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from steps_s3_copy.errors import ManifestInvalid, PlanNotFound
from steps_s3_copy.models import BatchRef, CopyItem, ObjectResult, Status
from steps_s3_copy.payloads import ExecutionContext, PrepareResult, StepError
from steps_s3_copy.summarise import (
    REPORT_COLUMNS,
    fast_reader,
    summarise,
    summarise_failure,
)
from tests.core.conftest import DEST, EVENTS, INBOX, SOURCE, World, run_prepare
from tests.core.test_prepare import read_plan

EXECUTION = ExecutionContext(
    id="arn:aws:states:us-east-1:111122223333:execution:StepsS3Copy:r",
    name="r",
    start_time="2026-11-25T18:00:00Z",
)
NOW = datetime(2026, 11, 25, 18, 2, 30, tzinfo=UTC)


def planned(world: World, n: int, per_batch: int = 2, **sidecar: Any) -> PrepareResult:
    for i in range(n):
        world.put(SOURCE, f"f{i}", b"x" * (i + 1))
    manifest = "".join(f"{SOURCE},f{i}\n" for i in range(n))
    event = world.job(
        "mix", manifest, {"destinationBucket": DEST, "maxItemsPerBatch": per_batch, **sidecar}
    )
    settings = replace(world.settings, lambda_max_items=per_batch)  # small Lambda batches
    return run_prepare(event, run_id="r", s3=world.s3, settings=settings)


def write_results(world: World, prepared: PrepareResult, ref: BatchRef, results: list[Any]) -> None:
    body = "".join(r.to_json() + "\n" for r in results)
    world.put(INBOX, prepared.work.results_key(ref.batch_id), body)


def result(item: CopyItem, status: Status, **extra: Any) -> ObjectResult:
    return ObjectResult(
        source=f"s3://{item.source_bucket}/{item.source_key}",
        destination=f"s3://{item.destination_bucket}/{item.destination_key}",
        status=status,
        bytes=item.size or 0,
        **extra,
    )


def report_rows(world: World, uri: str) -> list[dict[str, str]]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    text = world.text(bucket, key)
    assert text.splitlines()[0] == ",".join(REPORT_COLUMNS)
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("lean", [False, True], ids=["boto3-reader", "fast-reader"])
def test_mixed_outcomes_are_all_accounted_for(world: World, lean: bool) -> None:
    prepared = planned(world, 8)  # 4 batches of 2
    plan = read_plan(world, prepared)
    (ref0, items0), (ref1, items1), (ref2, items2), (_ref3, _items3) = plan
    write_results(
        world,
        prepared,
        ref0,
        [
            result(items0[0], Status.COPIED, checksum="ETAG:abc", seconds=0.5),
            result(items0[1], Status.SKIPPED),
        ],
    )
    write_results(
        world,
        prepared,
        ref1,
        [
            result(items1[0], Status.COPIED),
            result(items1[1], Status.FAILED, error_code="AccessDenied", error_message="no"),
        ],
    )
    write_results(world, prepared, ref2, [result(items2[0], Status.COPIED)])  # partial
    # batch 3 has no results at all: it failed after its retries

    reader = fast_reader(boto3.session.Session(), endpoint_url=world.endpoint) if lean else None
    notice = summarise(prepared, EXECUTION, s3=world.s3, reader=reader, now=NOW)

    assert notice.status == "PARTIAL"
    assert (notice.counts.copied, notice.counts.skipped, notice.counts.failed) == (3, 1, 4)
    assert notice.bytes.copied == sum(i.size or 0 for i in (items0[0], items1[0], items2[0]))
    total = sum(notice.bytes.model_dump().values())
    assert total == prepared.bytes
    assert notice.duration_seconds == 150.0
    assert notice.execution_id == EXECUTION.id
    assert notice.report_uri == f"s3://{INBOX}/reports/mix/r/report.csv"
    rows = report_rows(world, notice.report_uri)
    assert len(rows) == 8
    errors = {row["destination"]: row["error"] for row in rows if row["status"] == "FAILED"}
    assert errors[f"s3://{DEST}/{items1[1].destination_key}"] == "AccessDenied: no"
    assert errors[f"s3://{DEST}/{items2[1].destination_key}"].startswith("NotAttempted")
    assert sum(e.startswith("BatchFailed") for e in errors.values()) == 2
    copied = next(row for row in rows if row["source"].endswith(items0[0].source_key))
    assert (copied["checksum"], copied["seconds"]) == ("ETAG:abc", "0.5")
    summary = json.loads(world.text(INBOX, "reports/mix/r/summary.json"))
    assert summary["status"] == "PARTIAL"
    assert json.loads(world.text(INBOX, prepared.work.key("summary.json"))) == summary


def test_all_copied_or_skipped_is_succeeded(world: World) -> None:
    prepared = planned(world, 3, per_batch=3)
    [(ref, items)] = read_plan(world, prepared)
    write_results(world, prepared, ref, [result(items[0], Status.SKIPPED)])
    # a retried batch rewrites its file: the later line for the same object wins
    write_results(
        world,
        prepared,
        ref,
        [result(i, Status.COPIED) for i in items[:2]] + [result(items[2], Status.SKIPPED)],
    )
    notice = summarise(prepared, EXECUTION, s3=world.s3, now=NOW)
    assert notice.status == "SUCCEEDED"
    assert (notice.counts.copied, notice.counts.skipped, notice.counts.failed) == (2, 1, 0)


def test_the_notice_names_who_put_the_sidecar(world: World) -> None:
    """Who started the run is in the notice: the S3 event's requester, carried from Prepare
    (issue 8, "who may start a run")."""
    event = json.loads((EVENTS / "eventbridge_s3_object_created.json").read_text())
    requester = event["detail"]["requester"]
    prepared = planned(world, 1, per_batch=1)
    assert prepared.requester == requester
    notice = summarise(prepared, EXECUTION, s3=world.s3, now=NOW)
    assert notice.requester == requester
    assert json.loads(notice.model_dump_json(by_alias=True))["requester"] == requester


def test_nothing_copied_is_failed(world: World) -> None:
    prepared = planned(world, 3)
    notice = summarise(prepared, EXECUTION, s3=world.s3, now=NOW)  # no batch ran
    assert notice.status == "FAILED"
    assert notice.counts.failed == 3
    assert notice.bytes.failed == prepared.bytes


def test_dry_run_notice_has_the_plan_and_no_report(world: World) -> None:
    prepared = planned(world, 5, dryRun=True)
    notice = summarise(prepared, EXECUTION, s3=world.s3, now=NOW)
    assert notice.status == "SUCCEEDED"
    assert notice.dry_run is True
    assert notice.planned is not None
    assert (notice.planned.objects, notice.planned.batches) == (5, {"lambda": 3, "fargate": 0})
    assert notice.report_uri is None
    assert world.keys(INBOX, "reports/mix/r/") == ["reports/mix/r/summary.json"]


def test_missing_plan_is_a_named_error(world: World) -> None:
    prepared = planned(world, 1)
    world.s3.delete_object(Bucket=INBOX, Key=prepared.index_key)
    with pytest.raises(PlanNotFound):
        summarise(prepared, EXECUTION, s3=world.s3, now=NOW)


def test_prepare_failure_becomes_a_failed_notice_listing_the_problems(world: World) -> None:
    event = world.job("broken", f"{SOURCE},a,,x\n{SOURCE},b,,-1\n", {"destinationBucket": DEST})
    with pytest.raises(ManifestInvalid) as info:
        run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    # what a Catch on the Lambda task puts in $.error
    cause = json.dumps({"errorMessage": str(info.value), "errorType": "ManifestInvalid"})
    error = StepError.model_validate({"Error": "ManifestInvalid", "Cause": cause})

    notice = summarise_failure(
        error, event, EXECUTION, s3=world.s3, layout=world.settings.layout, now=NOW
    )

    assert notice.status == "FAILED"
    assert notice.error == "ManifestInvalid"
    assert notice.job_name == "broken"
    assert notice.manifest == f"s3://{INBOX}/jobs/broken.csv"
    assert [(p["row"], p["field"]) for p in notice.problems] == [(1, "size"), (2, "size")]
    assert notice.work.prefix == "work/broken/r/"
    summary = json.loads(world.text(INBOX, "reports/broken/r/summary.json"))
    assert summary["problems"] == notice.problems


def test_failure_with_a_plain_cause_and_unknown_input(world: World) -> None:
    error = StepError.model_validate({"Error": "States.Timeout", "Cause": "the task timed out"})
    notice = summarise_failure(
        error, {"weird": True}, EXECUTION, s3=world.s3, layout=world.settings.layout, now=NOW
    )
    assert notice.status == "FAILED"
    assert notice.job_name == "unknown"
    assert notice.problems == [{"row": None, "field": None, "message": "the task timed out"}]


def test_the_caught_failure_event_shape(world: World) -> None:
    payload = json.loads((EVENTS / "summarise_payload_prepare_failed.json").read_text())
    error = StepError.model_validate(payload["error"])
    execution = ExecutionContext.model_validate(payload["execution"])
    notice = summarise_failure(
        error, payload["input"], execution, s3=world.s3, layout=world.settings.layout, now=NOW
    )
    assert (notice.job_name, notice.run_id, notice.status) == (
        "team/genomes-2026",
        "run-0001",
        "FAILED",
    )
    assert [p["row"] for p in notice.problems] == [3, 7]
    assert notice.duration_seconds == 149.0

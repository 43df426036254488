"""The Destination step: the probe proves a destination takes writes and leaves nothing
behind; the end of a run aborts every incomplete upload of its keys and delivers the
report to a location outside the inbox."""

from __future__ import annotations

import json
from typing import Any

import pytest

from steps_s3_copy import destination
from steps_s3_copy.errors import DestinationNotWritable, ReportNotWritable
from steps_s3_copy.models import MiB
from steps_s3_copy.payloads import (
    CheckPayload,
    ExecutionContext,
    FinishPayload,
    Notice,
    PrepareResult,
    StepError,
)
from steps_s3_copy.summarise import summarise, summarise_failure
from tests.conftest import client
from tests.core.conftest import DEST, INBOX, SOURCE, World, run_prepare

EXECUTION = ExecutionContext(id="arn:aws:states:us-east-1:1:execution:sm:r", name="r")


def _prepared(world: World, sidecar: dict[str, Any], rows: str | None = None) -> PrepareResult:
    world.put(SOURCE, "a.txt", b"a")
    world.put(SOURCE, "big.bin", b"b" * 10)
    manifest = rows if rows is not None else f"{SOURCE},a.txt\n{SOURCE},big.bin\n"
    event = world.job("dest", manifest, sidecar)
    return run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)


def _uploads(world: World, bucket: str) -> list[str]:
    return [u["Key"] for u in world.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_the_probe_leaves_nothing_in_the_destination(world: World) -> None:
    prepared = _prepared(world, {"destinationBucket": DEST, "destinationPrefix": "in/"})
    destination.check(CheckPayload(prepared=prepared), s3=world.s3)
    assert world.keys(DEST) == []
    assert _uploads(world, DEST) == []


def test_a_missing_destination_bucket_is_not_writable(world: World) -> None:
    prepared = _prepared(world, {"destinationBucket": "no-such-destination"})
    with pytest.raises(DestinationNotWritable, match="no-such-destination"):
        destination.check(CheckPayload(prepared=prepared), s3=world.s3)


def test_a_destination_refusing_writes_is_not_writable(world: World, forbidding_proxy: Any) -> None:
    endpoint, locked = forbidding_proxy
    world.s3.create_bucket(Bucket=locked)
    prepared = _prepared(world, {"destinationBucket": locked})
    with pytest.raises(DestinationNotWritable, match=r"locked-bucket.*AccessDenied"):
        destination.check(CheckPayload(prepared=prepared), s3=client("s3", endpoint))
    assert world.keys(locked) == []
    assert _uploads(world, locked) == []


def test_a_report_location_refusing_writes_is_not_writable(
    world: World, forbidding_proxy: Any
) -> None:
    endpoint, locked = forbidding_proxy
    world.s3.create_bucket(Bucket=locked)
    prepared = _prepared(world, {"destinationBucket": DEST, "reportUri": f"s3://{locked}/r/"})
    with pytest.raises(ReportNotWritable, match="report location"):
        destination.check(CheckPayload(prepared=prepared), s3=client("s3", endpoint))


def _notice(world: World, prepared: PrepareResult) -> Notice:
    return summarise(prepared, EXECUTION, s3=world.s3)


def test_finish_aborts_the_runs_incomplete_uploads_and_only_those(world: World) -> None:
    # big.bin is planned with a multipart ETag: the engine would copy it in parts
    world.s3.put_object(Bucket=SOURCE, Key="a.txt", Body=b"a")
    upload = world.s3.create_multipart_upload(Bucket=SOURCE, Key="big.bin")
    part = world.s3.upload_part(
        Bucket=SOURCE,
        Key="big.bin",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"p" * (5 * MiB),
    )
    world.s3.complete_multipart_upload(
        Bucket=SOURCE,
        Key="big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    event = world.job("dest", f"{SOURCE},a.txt\n{SOURCE},big.bin\n", {"destinationBucket": DEST})
    prepared = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    # what a batch killed with SIGKILL leaves, what a probe killed leaves, and someone else's
    left = world.s3.create_multipart_upload(Bucket=DEST, Key="big.bin")["UploadId"]
    world.s3.create_multipart_upload(Bucket=DEST, Key=".steps-s3-copy/write-check/old-run")
    world.s3.create_multipart_upload(Bucket=DEST, Key="not-ours.bin")

    notice = destination.finish(FinishPayload(notice=_notice(world, prepared)), s3=world.s3)

    assert notice.uploads_aborted == 2
    assert _uploads(world, DEST) == ["not-ours.bin"]
    with pytest.raises(world.s3.exceptions.NoSuchUpload):
        world.s3.list_parts(Bucket=DEST, Key="big.bin", UploadId=left)


def test_finish_after_a_failed_prepare_does_nothing(world: World) -> None:
    event = world.job("broken", "not,a,valid,row,at,all\n", {"destinationBucket": DEST})
    error = StepError(error="ManifestInvalid", cause="bad")
    notice = summarise_failure(error, event, EXECUTION, s3=world.s3, layout=world.settings.layout)
    assert destination.finish(FinishPayload(notice=notice), s3=world.s3) == notice


def test_finish_delivers_the_report_outside_the_inbox(world: World) -> None:
    world.s3.create_bucket(Bucket="reports-elsewhere")
    prepared = _prepared(
        world, {"destinationBucket": DEST, "reportUri": "s3://reports-elsewhere/copies/"}
    )
    assert prepared.report_uri.startswith(f"s3://{INBOX}/reports/")  # written in the inbox
    notice = destination.finish(FinishPayload(notice=_notice(world, prepared)), s3=world.s3)
    delivered = sorted(world.keys("reports-elsewhere"))
    assert delivered == [
        "copies/receipt.jsonl",
        "copies/report.csv",
        "copies/report.html",
        "copies/summary.json",
    ]
    summary = json.loads(world.text("reports-elsewhere", "copies/summary.json"))
    assert summary["jobName"] == "dest"
    assert notice.report_uri == prepared.report_uri + "report.csv"


def test_finish_for_a_destination_that_does_not_exist_still_lets_the_notice_out(
    world: World,
) -> None:
    prepared = _prepared(world, {"destinationBucket": "no-such-destination"})
    notice = destination.finish(FinishPayload(notice=_notice(world, prepared)), s3=world.s3)
    assert notice.uploads_aborted == 0

"""run_batch: a working area on the moto server, a slice of the plan, results written."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest

from steps_s3_copy.errors import PlanUnreadable, RunConfigUnreadable
from steps_s3_copy.models import (
    BatchRef,
    CopyItem,
    CopyOptions,
    Lane,
    ObjectResult,
    RunConfig,
    RunLocation,
    Status,
)
from steps_s3_copy.payloads import BatchOutcome
from steps_s3_copy.worker.copy_batch import run_batch
from tests.conftest import REGION
from tests.worker.conftest import DEST, SOURCE

WORK = "work-bucket"
LOCATION = RunLocation(bucket=WORK, prefix="work/job/run-1")


def write_area(
    s3: Any, items: list[CopyItem], sizes: list[int], options: CopyOptions
) -> list[BatchRef]:
    """run.json, plan.jsonl; one BatchRef per group of ``sizes`` consecutive items."""
    s3.create_bucket(Bucket=WORK)
    config = RunConfig(
        job_name="job",
        run_id="run-1",
        manifest=f"s3://{WORK}/jobs/job.csv",
        destination_bucket=DEST,
        options=options,
        report_uri=f"s3://{WORK}/reports/job/run-1/",
        created_at="2026-11-25T00:00:00Z",
    )
    s3.put_object(Bucket=WORK, Key=LOCATION.run_config_key, Body=config.to_json().encode())
    lines = [(i.to_json() + "\n").encode() for i in items]
    s3.put_object(Bucket=WORK, Key=LOCATION.plan_key, Body=b"".join(lines))
    refs, offset, index = [], 0, 0
    for batch_id, count in enumerate(sizes):
        chunk = lines[index : index + count]
        end = offset + sum(len(line) for line in chunk)
        refs.append(
            BatchRef(
                batch_id=batch_id, lane=Lane.FARGATE, start=offset, end=end, objects=count, bytes=0
            )
        )
        offset, index = end, index + count
    return refs


def results_of(s3: Any, batch_id: int) -> list[ObjectResult]:
    body = s3.get_object(Bucket=WORK, Key=LOCATION.results_key(batch_id))["Body"].read()
    return [ObjectResult.model_validate_json(line) for line in body.splitlines()]


def items_for(s3: Any, keys: list[str]) -> list[CopyItem]:
    out = []
    for key in keys:
        s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode() * 10)
        out.append(
            CopyItem(
                source_bucket=SOURCE,
                source_key=key,
                destination_bucket=DEST,
                destination_key=f"copy/{key}",
            )
        )
    return out


@pytest.fixture
def session() -> boto3.session.Session:
    return boto3.session.Session(region_name=REGION)


def test_run_batch_copies_its_slice_and_writes_results(
    buckets: Any, moto_server: str, session: Any
):
    s3 = buckets
    items = [
        *items_for(s3, [f"k{n}" for n in range(7)]),
        CopyItem(
            source_bucket=SOURCE, source_key="gone", destination_bucket=DEST, destination_key="gone"
        ),
    ]
    refs = write_area(s3, items, [3, 5], CopyOptions(concurrency=4))
    first = run_batch(refs[0], LOCATION, session=session, endpoint_url=moto_server)
    assert first == BatchOutcome(
        batch_id=0, copied=3, bytes_copied=3 * 20, results_key=LOCATION.results_key(0)
    )
    copied = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=DEST)["Contents"])
    assert copied == ["copy/k0", "copy/k1", "copy/k2"]

    second = run_batch(refs[1], LOCATION, session=session, endpoint_url=moto_server)
    assert (second.copied, second.failed, second.interrupted) == (4, 1, False)
    results = results_of(s3, 1)
    assert [r.destination for r in results] == [f"s3://{DEST}/copy/k{n}" for n in range(3, 7)] + [
        f"s3://{DEST}/gone"
    ]
    assert results[-1].status is Status.FAILED
    assert results[-1].error_code == "NoSuchKey"

    again = run_batch(refs[0], LOCATION, session=session, endpoint_url=moto_server)
    assert (again.copied, again.skipped, again.bytes_skipped) == (0, 3, 60)


def test_deadline_in_the_past_starts_nothing(buckets: Any, moto_server: str, session: Any):
    s3 = buckets
    refs = write_area(s3, items_for(s3, ["a", "b"]), [2], CopyOptions())
    outcome = run_batch(
        refs[0], LOCATION, session=session, endpoint_url=moto_server, deadline=time.monotonic() - 1
    )
    assert (outcome.not_attempted, outcome.interrupted, outcome.copied) == (2, True, 0)
    assert results_of(s3, 0) == []
    assert not s3.list_objects_v2(Bucket=DEST).get("Contents")


def test_stop_event_already_set_starts_nothing(buckets: Any, moto_server: str, session: Any):
    s3 = buckets
    refs = write_area(s3, items_for(s3, ["a"]), [1], CopyOptions())
    stop = threading.Event()
    stop.set()
    outcome = run_batch(refs[0], LOCATION, session=session, endpoint_url=moto_server, stop=stop)
    assert (outcome.not_attempted, outcome.interrupted) == (1, True)


def test_empty_batch(buckets: Any, moto_server: str, session: Any):
    s3 = buckets
    write_area(s3, [], [], CopyOptions())
    ref = BatchRef(batch_id=9, lane=Lane.LAMBDA, start=0, end=0, objects=0, bytes=0)
    outcome = run_batch(ref, LOCATION, session=session, endpoint_url=moto_server)
    assert outcome == BatchOutcome(batch_id=9, results_key=LOCATION.results_key(9))


def test_missing_run_config_and_bad_plan_are_named_errors(
    buckets: Any, moto_server: str, session: Any
):
    s3 = buckets
    s3.create_bucket(Bucket=WORK)
    ref = BatchRef(batch_id=0, lane=Lane.FARGATE, start=0, end=10, objects=1, bytes=0)
    with pytest.raises(RunConfigUnreadable):
        run_batch(ref, LOCATION, session=session, endpoint_url=moto_server)
    refs = write_area(s3, items_for(s3, ["a"]), [1], CopyOptions())
    s3.put_object(Bucket=WORK, Key=LOCATION.plan_key, Body=b'{"not": "a copy item"}\n')
    with pytest.raises(PlanUnreadable):
        run_batch(refs[0], LOCATION, session=session, endpoint_url=moto_server)
    beyond = BatchRef(batch_id=1, lane=Lane.FARGATE, start=0, end=10_000, objects=1, bytes=0)
    with pytest.raises(PlanUnreadable):
        run_batch(beyond, LOCATION, session=session, endpoint_url=moto_server)

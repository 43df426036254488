"""The container entry point: configuration, exit codes, and SIGTERM in the middle of a
batch (the real ``python -m steps_s3_copy.worker`` as a subprocess against moto)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from steps_s3_copy.models import BatchRef, CopyItem, CopyOptions, Lane, MiB, Status
from steps_s3_copy.payloads import BatchOutcome
from steps_s3_copy.planning import FARGATE_START_SECONDS
from steps_s3_copy.worker.__main__ import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    exit_code,
    main,
    parse_settings,
    task_deadline,
)
from steps_s3_copy.worker.errors import ConfigurationError
from tests.worker.conftest import DEST, SOURCE
from tests.worker.test_batch import LOCATION, WORK, results_of, write_area

REPO = Path(__file__).resolve().parents[2]
BATCH = '{"batchId":"3","lane":"fargate","start":"0","end":"120","objects":"1","bytes":"5"}'


def test_settings_from_environment_and_flags():
    env = {"S3COPY_WORK_BUCKET": "w", "S3COPY_RUN_PREFIX": "work/j/r", "S3COPY_BATCH": BATCH}
    settings = parse_settings([], env)
    assert settings.location.key("run.json") == "work/j/r/run.json"
    assert settings.batch == BatchRef(
        batch_id=3, lane=Lane.FARGATE, start=0, end=120, objects=1, bytes=5
    )
    assert settings.grace_seconds == 100.0
    assert settings.endpoint_url is None
    flagged = parse_settings(
        ["--work-bucket", "other", "--grace-seconds", "5", "--endpoint-url", "http://127.0.0.1:1"],
        {**env, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2"},
    )
    assert (flagged.location.bucket, flagged.grace_seconds) == ("other", 5.0)
    assert flagged.endpoint_url == "http://127.0.0.1:1"


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ([], {}),
        ([], {"S3COPY_WORK_BUCKET": "w", "S3COPY_RUN_PREFIX": "p", "S3COPY_BATCH": "not json"}),
        (
            ["--grace-seconds", "-1"],
            {"S3COPY_WORK_BUCKET": "w", "S3COPY_RUN_PREFIX": "p", "S3COPY_BATCH": BATCH},
        ),
        (["--unknown"], {}),
    ],
)
def test_bad_configuration_exits_2(argv: list[str], env: dict[str, str]):
    with pytest.raises(ConfigurationError):
        parse_settings(argv, env)
    assert main(argv, env) == EXIT_CONFIG


def test_exit_codes():
    assert exit_code(BatchOutcome(batch_id=1, copied=3, skipped=1)) == EXIT_OK
    # a batch that ran to its end succeeds, failed objects included: as in the Lambda lane
    assert exit_code(BatchOutcome(batch_id=1, copied=3, failed=1)) == EXIT_OK
    assert (
        exit_code(BatchOutcome(batch_id=1, failed=1, not_attempted=2, interrupted=True))
        == EXIT_INTERRUPTED
    )


def _worker(moto: str, ref: BatchRef, grace: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "S3COPY_WORK_BUCKET": WORK,
        "S3COPY_RUN_PREFIX": LOCATION.prefix,
        "S3COPY_BATCH": ref.model_dump_json(by_alias=True),
        "AWS_ENDPOINT_URL_S3": moto,
        "S3COPY_GRACE_SECONDS": str(grace),
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "steps_s3_copy.worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_main_exits_0_when_the_batch_ran_to_its_end_failures_included(
    buckets: Any, moto_server: str
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"a")
    items = [
        CopyItem(
            source_bucket=SOURCE, source_key="a", destination_bucket=DEST, destination_key="a"
        ),
        CopyItem(
            source_bucket=SOURCE, source_key="nope", destination_bucket=DEST, destination_key="n"
        ),
    ]
    refs = write_area(s3, items, [1, 1], CopyOptions())
    ok = _worker(moto_server, refs[0], 5)
    out, _ = ok.communicate(timeout=60)
    assert ok.returncode == EXIT_OK, out.decode()
    assert b'"batch outcome"' in out  # one JSON log line with the outcome
    failed = _worker(moto_server, refs[1], 5)
    out, _ = failed.communicate(timeout=60)
    assert failed.returncode == EXIT_OK, out.decode()  # the failure is in the results
    assert results_of(s3, 1)[0].error_code == "NoSuchKey"


def test_sigterm_mid_batch_aborts_uploads_and_a_rerun_completes(buckets: Any, moto_server: str):
    s3 = buckets
    count, size = 8, 15 * MiB
    items = []
    for n in range(count):
        s3.put_object(Bucket=SOURCE, Key=f"big/{n}", Body=os.urandom(size))
        items.append(
            CopyItem(
                source_bucket=SOURCE,
                source_key=f"big/{n}",
                destination_bucket=DEST,
                destination_key=f"big/{n}",
            )
        )
    options = CopyOptions(
        concurrency=2, part_concurrency=1, multipart_threshold=5 * MiB, part_size=5 * MiB
    )
    [ref] = write_area(s3, items, [count], options)

    worker = _worker(moto_server, ref, grace=0)
    try:
        deadline = time.monotonic() + 60
        while not s3.list_multipart_uploads(Bucket=DEST).get("Uploads"):
            assert worker.poll() is None, "the worker ended before any multipart upload started"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == EXIT_INTERRUPTED, out.decode()
    assert not s3.list_multipart_uploads(Bucket=DEST).get("Uploads")
    partial = results_of(s3, ref.batch_id)
    assert len(partial) < count
    assert any(r.error_code == "Interrupted" for r in partial)

    rerun = _worker(moto_server, ref, grace=0)
    out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == EXIT_OK, out.decode()
    final = results_of(s3, ref.batch_id)
    assert len(final) == count
    assert {r.status for r in final} <= {Status.COPIED, Status.SKIPPED}
    for n in range(count):
        assert s3.head_object(Bucket=DEST, Key=f"big/{n}")["ContentLength"] == size
    assert not s3.list_multipart_uploads(Bucket=DEST).get("Uploads")


def test_a_task_stops_taking_objects_before_its_state_times_out():
    batch = BatchRef(
        batch_id=0, lane=Lane.FARGATE, start=0, end=1, objects=1, bytes=1, timeout_seconds=3600
    )
    left = task_deadline(batch, grace=100) - time.monotonic()
    # the state's timeout counts the task's start: the deadline keeps that and the grace back
    assert 3600 - FARGATE_START_SECONDS - 100 - 1 < left <= 3600 - FARGATE_START_SECONDS - 100
    short = batch.model_copy(update={"timeout_seconds": 600})
    assert task_deadline(short, grace=100) - time.monotonic() == pytest.approx(300, abs=1)


def test_kill_9_mid_batch_then_a_rerun_leaves_no_upload_and_identical_objects(
    buckets: Any, moto_server: str, slow_parts_endpoint: str
):
    """A hard kill cannot abort anything: the re-run aborts what the killed attempt left
    (each multipart copy first clears its own key's incomplete uploads), before and
    without the run's Finish step."""
    s3 = buckets
    count, size = 4, 15 * MiB
    items, bodies = [], {}
    for n in range(count):
        bodies[n] = os.urandom(size)
        s3.put_object(Bucket=SOURCE, Key=f"big/{n}", Body=bodies[n])
        head = s3.head_object(Bucket=SOURCE, Key=f"big/{n}")
        items.append(
            CopyItem(
                source_bucket=SOURCE,
                source_key=f"big/{n}",
                destination_bucket=DEST,
                destination_key=f"big/{n}",
                size=size,
                etag=head["ETag"],
            )
        )
    options = CopyOptions(
        concurrency=2, part_concurrency=1, multipart_threshold=5 * MiB, part_size=5 * MiB
    )
    [ref] = write_area(s3, items, [count], options)

    # every UploadPartCopy takes a second through this endpoint: copies are in flight
    worker = _worker(slow_parts_endpoint, ref, grace=100)
    try:
        deadline = time.monotonic() + 60
        while len(s3.list_multipart_uploads(Bucket=DEST).get("Uploads", [])) < 2:
            assert worker.poll() is None, "the worker ended before its uploads started"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL
    left = s3.list_multipart_uploads(Bucket=DEST).get("Uploads", [])
    assert len(left) >= 2  # what a hard kill leaves behind

    rerun = _worker(moto_server, ref, grace=100)
    out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == EXIT_OK, out.decode()
    assert not s3.list_multipart_uploads(Bucket=DEST).get("Uploads")
    final = results_of(s3, ref.batch_id)
    assert [r.status for r in final] == [Status.COPIED] * count
    for n in range(count):
        assert s3.get_object(Bucket=DEST, Key=f"big/{n}")["Body"].read() == bodies[n]

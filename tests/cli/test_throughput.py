"""The throughput and time left ``s3copy watch`` shows, from the results files' times."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from steps_s3_copy.cli import run_files
from steps_s3_copy.cli.throughput import Throughput, describe, duration, estimate
from steps_s3_copy.models import ObjectResult, RunLocation, Status
from steps_s3_copy.progress import Progress

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
GiB = 1024**3


def snap(objects: int, objects_total: int, done: int, total: int) -> Progress:
    return Progress(
        objects_done=objects, objects_total=objects_total, bytes_done=done, bytes_total=total
    )


def test_the_rate_over_the_window_and_the_time_left_at_it() -> None:
    rate = estimate(
        snap(400, 1000, 40 * GiB, 100 * GiB),
        recent_objects=120,
        recent_bytes=12 * GiB,
        now=NOW,
        started=NOW - timedelta(hours=2),
        window_seconds=120,
    )
    assert rate.window_seconds == 120
    assert rate.bytes_per_second == pytest.approx(12 * GiB / 120)
    assert rate.objects_per_second == pytest.approx(1.0)
    # bytes: 60 GiB at 0.1 GiB/s = 600 s; objects: 600 at 1/s = 600 s
    assert rate.seconds_left == pytest.approx(600)
    assert describe(rate) == (
        "throughput 102.4 MiB/s, 1.0 objects/s over the last 2 min; about 10 min left"
    )


def test_the_slower_of_bytes_and_objects_sets_the_time_left() -> None:
    # many small objects left: bytes would be done in 10 s, objects take 1,000 s
    rate = estimate(
        snap(0, 1000, 0, 10 * 1024),
        recent_objects=60,
        recent_bytes=60 * 1024,
        now=NOW,
        started=None,
        window_seconds=60,
    )
    assert rate.seconds_left == pytest.approx(1000)


def test_a_young_run_is_measured_over_its_age() -> None:
    rate = estimate(
        snap(10, 20, 100, 200),
        recent_objects=10,
        recent_bytes=100,
        now=NOW,
        started=NOW - timedelta(seconds=10),
        window_seconds=120,
    )
    assert rate.window_seconds == 10
    assert rate.bytes_per_second == 10
    assert rate.seconds_left == pytest.approx(10)


def test_a_stalled_run_has_no_time_left_estimate() -> None:
    rate = estimate(
        snap(10, 20, 100, 200),
        recent_objects=0,
        recent_bytes=0,
        now=NOW,
        started=NOW - timedelta(hours=1),
    )
    assert rate.bytes_per_second == 0
    assert rate.seconds_left is None
    assert "time left unknown" in describe(rate)


def test_zero_byte_objects_are_timed_by_their_count() -> None:
    rate = estimate(
        snap(5, 10, 0, 0),
        recent_objects=5,
        recent_bytes=0,
        now=NOW,
        started=NOW - timedelta(seconds=50),
    )
    assert rate.seconds_left == pytest.approx(50)


def test_done_and_not_yet_measurable() -> None:
    done = estimate(snap(10, 10, 100, 100), recent_objects=0, recent_bytes=0, now=NOW, started=None)
    assert done.seconds_left == 0
    finished = estimate(
        snap(9, 10, 90, 100),
        recent_objects=9,
        recent_bytes=90,
        now=NOW,
        started=NOW - timedelta(seconds=30),
        finished=True,
    )
    assert finished.seconds_left == 0
    just_started = estimate(
        snap(0, 10, 0, 100), recent_objects=0, recent_bytes=0, now=NOW, started=NOW
    )
    assert just_started == Throughput()
    assert just_started.to_json() == {
        "throughputBytesPerSecond": None,
        "throughputObjectsPerSecond": None,
        "throughputWindowSeconds": None,
        "estimatedSecondsLeft": None,
    }
    assert describe(just_started).startswith("throughput: measuring")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (14 * 60, "14 min"), (5 * 3600, "5.0 h"), (4 * 86400, "4.0 days")],
)
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def _results(n: int, size: int) -> bytes:
    lines = (
        ObjectResult(
            source=f"s3://s/{i}", destination=f"s3://d/{i}", status=Status.COPIED, bytes=size
        ).model_dump_json()
        for i in range(n)
    )
    return ("\n".join(lines) + "\n").encode()


def test_the_watcher_knows_when_each_results_file_was_written(s3: Any) -> None:
    s3.create_bucket(Bucket="inbox")
    location = RunLocation(bucket="inbox", prefix="work/job/run-1/")
    s3.put_object(Bucket="inbox", Key=location.results_key(0), Body=_results(2, 10))
    time.sleep(1.1)  # S3 times have one-second resolution
    between = datetime.now(UTC)
    time.sleep(1.1)
    s3.put_object(Bucket="inbox", Key=location.results_key(1), Body=_results(3, 100))
    watcher = run_files.ResultsWatcher(location)
    total = watcher.poll(s3)
    assert (total.objects_done, total.bytes_done) == (5, 320)

    recent = watcher.written_since(between)
    assert (recent.objects_done, recent.bytes_done) == (3, 300)
    first = watcher.first_written()
    assert first is not None
    assert first < between

    s3.delete_object(Bucket="inbox", Key=location.results_key(0))
    watcher.poll(s3)
    assert watcher.first_written() is not None
    assert watcher.first_written() >= between  # type: ignore[operator]
    assert watcher.written_since(between).objects_done == 3

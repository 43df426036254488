"""ReportStats: what report.html shows, gathered in one pass with bounded memory.

Every statistic is checked against a brute-force computation over the same rows.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_s3_copy.report_stats import (
    MESSAGE_CHARS,
    NO_CODE,
    OTHER_REASONS,
    ObjectRow,
    ReportStats,
)


def row(i: int, status: str = "COPIED", size: int = 100, seconds: float = 1.0, **extra: Any):
    return ObjectRow(
        source=f"s3://src/k{i}",
        destination=f"s3://dst/k{i}",
        status=status,
        bytes=size,
        seconds=seconds,
        lane=extra.pop("lane", "lambda"),
        **extra,
    )


def test_counts_and_bytes_per_status_and_lane() -> None:
    stats = ReportStats()
    stats.add(row(1, "COPIED", 10, lane="lambda"))
    stats.add(row(2, "COPIED", 2000, lane="fargate"))
    stats.add(row(3, "SKIPPED", 7, lane="lambda"))
    stats.add(row(4, "FAILED", 5, lane="fargate", error_code="AccessDenied"))
    assert stats.counts == {"COPIED": 2, "SKIPPED": 1, "FAILED": 1}
    assert stats.bytes == {"COPIED": 2010, "SKIPPED": 7, "FAILED": 5}
    assert stats.lane_counts["lambda"] == {"COPIED": 1, "SKIPPED": 1, "FAILED": 0}
    assert stats.lane_counts["fargate"] == {"COPIED": 1, "SKIPPED": 0, "FAILED": 1}
    assert stats.lane_bytes["fargate"] == {"COPIED": 2000, "SKIPPED": 0, "FAILED": 5}
    assert stats.objects == 4
    assert stats.failed_total == 1


def test_a_results_line_is_read_with_its_camel_case_keys() -> None:
    stats = ReportStats()
    stats.add_result(
        {
            "source": "s3://a/x",
            "destination": "s3://b/x",
            "status": "FAILED",
            "bytes": 12,
            "seconds": 0.5,
            "errorCode": "VerifyFailed",
            "errorMessage": "m" * (MESSAGE_CHARS + 50),
            "finishedAt": 1000.25,
        },
        "fargate",
    )
    [failed] = stats.failed
    assert (failed.error_code, failed.lane, failed.bytes, failed.seconds) == (
        "VerifyFailed",
        "fargate",
        12,
        0.5,
    )
    # long messages are clipped (report.csv keeps them whole)
    assert failed.error_message is not None
    assert len(failed.error_message) == MESSAGE_CHARS
    assert stats.timed == 1
    assert stats.untimed == 0


def test_slowest_and_largest_are_the_top_n_of_every_row() -> None:
    rng = random.Random(3)
    rows = [
        row(i, rng.choice(["COPIED", "SKIPPED", "FAILED"]), rng.randrange(10**6), rng.random())
        for i in range(2000)
    ]
    stats = ReportStats(top_n=10)
    for r in rows:
        stats.add(r)
    assert stats.slowest() == sorted(rows, key=lambda r: r.seconds, reverse=True)[:10]
    assert stats.largest() == sorted(rows, key=lambda r: r.bytes, reverse=True)[:10]


def test_ties_keep_the_earliest_rows() -> None:
    stats = ReportStats(top_n=2)
    for i in range(5):
        stats.add(row(i, size=50, seconds=2.0))
    assert [r.source for r in stats.largest()] == ["s3://src/k0", "s3://src/k1"]
    assert [r.source for r in stats.slowest()] == ["s3://src/k0", "s3://src/k1"]


def test_failed_objects_are_kept_up_to_the_cap_with_the_total() -> None:
    stats = ReportStats(failed_cap=5)
    for i in range(12):
        stats.add(row(i, "FAILED", error_code="AccessDenied"))
        stats.add(row(100 + i, "COPIED"))
    assert [r.source for r in stats.failed] == [f"s3://src/k{i}" for i in range(5)]
    assert stats.failed_total == 12


def test_failures_are_grouped_by_error_code_with_one_example() -> None:
    stats = ReportStats()
    stats.add(row(1, "FAILED", 10, error_code="AccessDenied", error_message="first"))
    stats.add(row(2, "FAILED", 20, error_code="NoSuchKey", error_message="gone"))
    stats.add(row(3, "FAILED", 30, error_code="AccessDenied", error_message="second"))
    stats.add(row(4, "FAILED", 40, error_message="no code"))
    reasons = stats.reasons()
    assert [(r.code, r.count, r.bytes) for r in reasons] == [
        ("AccessDenied", 2, 40),
        (NO_CODE, 1, 40),
        ("NoSuchKey", 1, 20),
    ]
    assert reasons[0].example is not None
    assert reasons[0].example.error_message == "first"


def test_reasons_beyond_the_limit_are_counted_together_last() -> None:
    stats = ReportStats(max_reasons=2)
    for i, code in enumerate(["A", "B", "C", "D", "A", "C", "E"]):
        stats.add(row(i, "FAILED", 1, error_code=code))
    reasons = stats.reasons()
    assert [(r.code, r.count) for r in reasons] == [("A", 2), ("B", 1), (OTHER_REASONS, 4)]
    assert sum(r.count for r in reasons) == stats.failed_total


def test_no_finish_times_means_no_timeline() -> None:
    stats = ReportStats()
    for i in range(3):
        stats.add(row(i))
    assert stats.timeline() is None
    assert (stats.timed, stats.untimed) == (0, 3)


def test_copied_bytes_are_spread_over_the_copy_time() -> None:
    stats = ReportStats()
    # 100 bytes copied from t=1000 to t=1010: 10 bytes in each one-second bucket
    stats.add(row(1, "COPIED", 100, seconds=10.0), finished_at=1010.0)
    # a skipped object counts where it finished and copies no bytes
    stats.add(row(2, "SKIPPED", 999, seconds=0.01), finished_at=1003.5)
    timeline = stats.timeline()
    assert timeline is not None
    assert (timeline.start, timeline.width) == (1000.0, 1)
    assert [round(b.copied_bytes, 6) for b in timeline.buckets] == [10.0] * 10 + [0.0]
    assert [b.objects["COPIED"] for b in timeline.buckets] == [0] * 10 + [1]
    assert timeline.buckets[3].objects["SKIPPED"] == 1


def test_buckets_widen_to_stay_within_the_limit() -> None:
    stats = ReportStats(max_buckets=120)
    for i in range(3600):  # one object a second for an hour
        stats.add(row(i, "COPIED", 10, seconds=0.5), finished_at=7200.0 + i)
    timeline = stats.timeline()
    assert timeline is not None
    assert len(timeline.buckets) <= 120
    assert timeline.width == 60  # 1 s, 2 s, 10 s, 20 s are too narrow for an hour
    assert sum(b.objects["COPIED"] for b in timeline.buckets) == 3600
    assert sum(b.copied_bytes for b in timeline.buckets) == pytest.approx(36000)
    # the first copy began half a second before the first finished, in the minute before
    assert timeline.start == 7140.0
    assert [b.objects["COPIED"] for b in timeline.buckets] == [0] + [60] * 60


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["COPIED", "SKIPPED", "FAILED"]),
            st.integers(0, 10**9),
            st.floats(0, 5000, allow_nan=False),
            st.one_of(st.none(), st.floats(1.7e9, 1.7e9 + 10**6, allow_nan=False)),
            st.sampled_from(["lambda", "fargate"]),
        ),
        max_size=80,
    ),
    st.integers(1, 30),
)
def test_invariants_hold_for_any_rows(rows: list[Any], max_buckets: int) -> None:
    stats = ReportStats(top_n=3, failed_cap=4, max_reasons=2, max_buckets=max_buckets)
    for i, (status, size, seconds, finished, lane) in enumerate(rows):
        code = f"E{i % 3}" if status == "FAILED" else None
        stats.add(row(i, status, size, seconds, lane=lane, error_code=code), finished_at=finished)
    assert stats.objects == len(rows)
    assert sum(stats.bytes.values()) == sum(r[1] for r in rows)
    for lane in ("lambda", "fargate"):
        assert sum(stats.lane_counts[lane].values()) == sum(r[4] == lane for r in rows)
    assert len(stats.failed) == min(4, stats.failed_total)
    assert sum(r.count for r in stats.reasons()) == stats.failed_total
    assert len(stats.reasons()) <= 3  # two reasons and the others
    timeline = stats.timeline()
    timed = [r for r in rows if r[3] is not None]
    assert stats.timed == len(timed)
    if not timed:
        assert timeline is None
        return
    assert timeline is not None
    assert len(timeline.buckets) <= max_buckets
    assert sum(sum(b.objects.values()) for b in timeline.buckets) == len(timed)
    copied = sum(r[1] for r in timed if r[0] == "COPIED")
    assert sum(b.copied_bytes for b in timeline.buckets) == pytest.approx(copied, rel=1e-6)
    end = timeline.start + timeline.width * len(timeline.buckets)
    assert all(timeline.start <= r[3] < end for r in timed)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ReportStats(top_n=0)

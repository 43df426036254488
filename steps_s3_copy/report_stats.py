"""The statistics behind ``report.html``, gathered in one pass with bounded memory.

Summarise streams every result row of a run (a million or more) once, writing
``report.csv``; :class:`ReportStats` rides along on the same pass. What it keeps does not
grow with the number of rows:

- objects and bytes per status, and per lane and status (a batch's lane is its
  ``index.csv`` row's);
- the slowest and the largest objects: two heaps of ``top_n`` rows each;
- failures per reason (the error code): a count, the bytes, one example; at most
  ``max_reasons`` reasons, the rest counted under :data:`OTHER_REASONS`;
- the first ``failed_cap`` failed objects, and how many failed in all;
- objects and copied bytes over time, from each result's ``finishedAt``: at most
  ``max_buckets`` time buckets, whose width grows (1 s, 2 s, 10 s, 20 s, 1 min, ...) as
  the run's span does, merging neighbours, so the buckets never outnumber the limit.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from steps_s3_copy.models import Lane, Status

STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
COPIED, FAILED = Status.COPIED.value, Status.FAILED.value
LANES: tuple[str, ...] = tuple(lane.value for lane in Lane)

#: the reason of failures counted after ``max_reasons`` distinct reasons were seen
OTHER_REASONS = "(other reasons)"
#: the reason of a failure whose result names no error code
NO_CODE = "(no error code)"
#: characters of an error message kept per row (a message can be long; the CSV has it all)
MESSAGE_CHARS = 500

#: widths of a time bucket, each a multiple of the one before, so buckets merge exactly
#: (past a day the width doubles)
_WIDTHS = (1, 2, 10, 20, 60, 120, 600, 1200, 3600, 7200, 21600, 43200, 86400)


def _width(index: int) -> int:
    if index < len(_WIDTHS):
        return _WIDTHS[index]
    return _WIDTHS[-1] << (index - len(_WIDTHS) + 1)


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One object as the report shows it."""

    source: str
    destination: str
    status: str
    bytes: int
    seconds: float
    lane: str
    error_code: str | None = None
    error_message: str | None = None

    @property
    def reason(self) -> str:
        return self.error_code or NO_CODE


@dataclass(slots=True)
class Reason:
    """The failures that share an error code."""

    code: str
    count: int = 0
    bytes: int = 0
    example: ObjectRow | None = None


@dataclass(slots=True)
class Bucket:
    """The objects that finished within one time bucket."""

    #: objects that finished in the bucket, per status
    objects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    #: bytes copied during the bucket: each copied object's bytes spread evenly over the
    #: time it took (``seconds`` before its ``finishedAt``)
    copied_bytes: float = 0.0

    def merge(self, other: Bucket) -> None:
        for status, n in other.objects.items():
            self.objects[status] += n
        self.copied_bytes += other.copied_bytes


@dataclass(frozen=True, slots=True)
class Timeline:
    """Objects and copied bytes per time bucket, oldest first (empty buckets included)."""

    #: seconds since the epoch where the first bucket starts
    start: float
    #: seconds per bucket
    width: int
    buckets: list[Bucket]


def _clip(message: str | None) -> str | None:
    if message is None or len(message) <= MESSAGE_CHARS:
        return message
    return message[: MESSAGE_CHARS - 1] + "…"


class ReportStats:
    """Everything ``report.html`` shows about a run's objects; fed one row at a time."""

    def __init__(
        self,
        *,
        top_n: int = 10,
        failed_cap: int = 1000,
        max_reasons: int = 50,
        max_buckets: int = 120,
    ) -> None:
        if min(top_n, failed_cap, max_reasons, max_buckets) < 1:
            raise ValueError("every limit of ReportStats must be at least 1")
        self.top_n = top_n
        self.failed_cap = failed_cap
        self.max_reasons = max_reasons
        self.max_buckets = max_buckets
        self.counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self.bytes: dict[str, int] = dict.fromkeys(STATUSES, 0)
        #: lane -> status -> objects, and bytes
        self.lane_counts: dict[str, dict[str, int]] = {
            lane: dict.fromkeys(STATUSES, 0) for lane in LANES
        }
        self.lane_bytes: dict[str, dict[str, int]] = {
            lane: dict.fromkeys(STATUSES, 0) for lane in LANES
        }
        self.failed: list[ObjectRow] = []
        self._reasons: dict[str, Reason] = {}
        # min-heaps of (value, -sequence, row): the earliest row wins a tie
        self._slowest: list[tuple[float, int, ObjectRow]] = []
        self._largest: list[tuple[float, int, ObjectRow]] = []
        self._sequence = 0
        #: objects with a finish time, and without one (older engines, unaccounted objects)
        self.timed = 0
        self.untimed = 0
        self._width_index = 0
        self._width = _width(0)
        self._buckets: dict[int, Bucket] = {}
        self._first = self._last = 0
        #: what a row must beat to enter the top-N, once it is full
        self._slowest_floor = math.inf
        self._largest_floor = math.inf

    # -- feeding ------------------------------------------------------------------------

    def add_result(self, result: dict[str, Any], lane: str) -> None:
        """One line of ``results/<batchId>.jsonl`` (camelCase keys, as decoded).

        The hot path of a million-row run: an :class:`ObjectRow` is made only for a row
        that is kept (a failure, or one that enters a top-N)."""
        status = result["status"]
        size = int(result.get("bytes") or 0)
        seconds = result.get("seconds") or 0.0
        if not 0.0 < seconds < math.inf:  # also NaN
            seconds = 0.0
        row = None
        if (
            status == FAILED
            or seconds > self._slowest_floor
            or size > self._largest_floor
            or self._sequence < self.top_n
        ):
            row = ObjectRow(
                source=str(result["source"]),
                destination=str(result["destination"]),
                status=status,
                bytes=size,
                seconds=float(seconds),
                lane=lane,
                error_code=result.get("errorCode") or None,
                error_message=_clip(result.get("errorMessage") or None),
            )
        finished = result.get("finishedAt")
        self._record(status, size, float(seconds), lane, finished=finished, row=row)

    def add(self, row: ObjectRow, *, finished_at: float | None = None) -> None:
        """One object of the run."""
        seconds = row.seconds if 0.0 < row.seconds < math.inf else 0.0
        self._record(row.status, row.bytes, seconds, row.lane, finished=finished_at, row=row)

    def _record(
        self,
        status: str,
        size: int,
        seconds: float,
        lane: str,
        *,
        finished: Any,
        row: ObjectRow | None,
    ) -> None:
        self.counts[status] += 1
        self.bytes[status] += size
        per_lane = self.lane_counts.get(lane)
        if per_lane is None:
            per_lane = self.lane_counts[lane] = dict.fromkeys(STATUSES, 0)
            self.lane_bytes[lane] = dict.fromkeys(STATUSES, 0)
        per_lane[status] += 1
        self.lane_bytes[lane][status] += size
        self._sequence += 1
        if row is not None:
            self._rank(row, seconds, size)
            if status == FAILED:
                self._failure(row)
        if finished is None:
            self.untimed += 1
            return
        when = float(finished)
        if not math.isfinite(when):
            self.untimed += 1
            return
        self.timed += 1
        self._at(when, status, size, seconds)

    def _rank(self, row: ObjectRow, seconds: float, size: int) -> None:
        """Keep ``row`` if it is among the slowest or the largest so far."""
        order = -self._sequence  # the earliest row wins a tie
        ranked: tuple[tuple[list[tuple[float, int, ObjectRow]], float], ...] = (
            (self._slowest, seconds),
            (self._largest, size),
        )
        for heap, value in ranked:
            if len(heap) < self.top_n:
                heapq.heappush(heap, (value, order, row))
            elif value > heap[0][0]:
                heapq.heapreplace(heap, (value, order, row))
        if len(self._slowest) == self.top_n:
            self._slowest_floor = self._slowest[0][0]
        if len(self._largest) == self.top_n:
            self._largest_floor = self._largest[0][0]

    def _failure(self, row: ObjectRow) -> None:
        if len(self.failed) < self.failed_cap:
            self.failed.append(row)
        code = row.reason
        reason = self._reasons.get(code)
        if reason is None:
            if len(self._reasons) >= self.max_reasons:
                code = OTHER_REASONS
                reason = self._reasons.get(code)
            if reason is None:
                reason = self._reasons[code] = Reason(code)
        reason.count += 1
        reason.bytes += row.bytes
        if reason.example is None:
            reason.example = row

    def _at(self, when: float, status: str, size: int, seconds: float) -> None:
        copied = status == COPIED and size > 0
        began = when - seconds if copied else when
        width = self._width
        low, key = int(began // width), int(when // width)
        if not self._buckets or low < self._first or key > self._last:
            self._cover(low, key)
            width = self._width
            low, key = int(began // width), int(when // width)
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = Bucket()
        bucket.objects[status] += 1
        if not copied:
            return
        if low == key or began == when:
            bucket.copied_bytes += size
            return
        # the bytes of each bucket the copy overlapped, in proportion to the overlap
        per_second = size / (when - began)
        for each in range(low, key + 1):
            overlap = min(when, (each + 1) * width) - max(began, each * width)
            if overlap > 0:
                target = buckets.get(each)
                if target is None:
                    target = buckets[each] = Bucket()
                target.copied_bytes += per_second * overlap

    def _cover(self, low: int, high: int) -> None:
        """Make the buckets span keys ``low`` to ``high`` (at the current width), widening
        them when that would take more than ``max_buckets``."""
        if not self._buckets:
            self._first, self._last = low, high
        else:
            self._first, self._last = min(self._first, low), max(self._last, high)
        if self._last - self._first >= self.max_buckets:
            self._coarsen()

    def _coarsen(self) -> None:
        """Widen the buckets until the span from the first to the last fits the limit
        (floor division keeps the order, so the first and last stay first and last)."""
        while self._last - self._first >= self.max_buckets:
            old, new = _width(self._width_index), _width(self._width_index + 1)
            self._width_index += 1
            self._width = new
            merged: dict[int, Bucket] = {}
            for key, bucket in self._buckets.items():
                target = key * old // new
                if target in merged:
                    merged[target].merge(bucket)
                else:
                    merged[target] = bucket
            self._buckets = merged
            self._first, self._last = self._first * old // new, self._last * old // new

    # -- reading ------------------------------------------------------------------------

    @property
    def objects(self) -> int:
        return sum(self.counts.values())

    @property
    def failed_total(self) -> int:
        return self.counts[Status.FAILED]

    def slowest(self) -> list[ObjectRow]:
        """The ``top_n`` objects that took longest, slowest first."""
        return [row for _, _, row in sorted(self._slowest, reverse=True)]

    def largest(self) -> list[ObjectRow]:
        """The ``top_n`` largest objects, largest first."""
        return [row for _, _, row in sorted(self._largest, reverse=True)]

    def reasons(self) -> list[Reason]:
        """Failures per reason, most frequent first (the other reasons last)."""
        return sorted(
            self._reasons.values(), key=lambda r: (r.code == OTHER_REASONS, -r.count, r.code)
        )

    def timeline(self) -> Timeline | None:
        """Objects and copied bytes over time; None when no object has a finish time."""
        if not self._buckets:
            return None
        width = self._width
        first, last = self._first, self._last
        return Timeline(
            start=float(first * width),
            width=width,
            buckets=[self._buckets.get(key, Bucket()) for key in range(first, last + 1)],
        )

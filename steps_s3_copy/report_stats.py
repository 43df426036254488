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
        self._largest: list[tuple[int, int, ObjectRow]] = []
        self._sequence = 0
        #: objects with a finish time, and without one (older engines, unaccounted objects)
        self.timed = 0
        self.untimed = 0
        self._width_index = 0
        self._buckets: dict[int, Bucket] = {}
        self._first = self._last = 0

    # -- feeding ------------------------------------------------------------------------

    def add_result(self, result: dict[str, Any], lane: str) -> None:
        """One line of ``results/<batchId>.jsonl`` (camelCase keys, as decoded)."""
        finished = result.get("finishedAt")
        seconds = float(result.get("seconds") or 0.0)
        self.add(
            ObjectRow(
                source=str(result["source"]),
                destination=str(result["destination"]),
                status=str(result["status"]),
                bytes=int(result.get("bytes") or 0),
                seconds=seconds if math.isfinite(seconds) and seconds > 0 else 0.0,
                lane=lane,
                error_code=result.get("errorCode") or None,
                error_message=_clip(result.get("errorMessage") or None),
            ),
            finished_at=None if finished is None else float(finished),
        )

    def add(self, row: ObjectRow, *, finished_at: float | None = None) -> None:
        """One object of the run."""
        status, size = row.status, row.bytes
        self.counts[status] += 1
        self.bytes[status] += size
        self.lane_counts.setdefault(row.lane, dict.fromkeys(STATUSES, 0))[status] += 1
        self.lane_bytes.setdefault(row.lane, dict.fromkeys(STATUSES, 0))[status] += size
        self._sequence += 1
        self._push(self._slowest, (row.seconds, -self._sequence, row))
        self._push(self._largest, (size, -self._sequence, row))
        if status == Status.FAILED:
            self._failure(row)
        if finished_at is None or not math.isfinite(finished_at):
            self.untimed += 1
        else:
            self.timed += 1
            self._at(finished_at, status, size, row.seconds)

    def _push(self, heap: list[Any], entry: tuple[Any, int, ObjectRow]) -> None:
        if len(heap) < self.top_n:
            heapq.heappush(heap, entry)
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)

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
        began = when - max(seconds, 0.0) if status == Status.COPIED and size else when
        self._cover(began, when)
        width = _width(self._width_index)
        self._bucket(math.floor(when / width)).objects[status] += 1
        if began == when:
            if status == Status.COPIED:
                self._bucket(math.floor(when / width)).copied_bytes += size
            return
        # the bytes of each bucket the copy overlapped, in proportion to the overlap
        per_second = size / (when - began)
        for key in range(math.floor(began / width), math.floor(when / width) + 1):
            overlap = min(when, (key + 1) * width) - max(began, key * width)
            if overlap > 0:
                self._bucket(key).copied_bytes += per_second * overlap

    def _bucket(self, key: int) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket()
        return bucket

    def _cover(self, began: float, ended: float) -> None:
        """Make the buckets span ``[began, ended]``, widening them when it would take more
        than ``max_buckets``."""
        width = _width(self._width_index)
        low, high = math.floor(began / width), math.floor(ended / width)
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
        width = _width(self._width_index)
        first, last = self._first, self._last
        return Timeline(
            start=float(first * width),
            width=width,
            buckets=[self._buckets.get(key, Bucket()) for key in range(first, last + 1)],
        )

"""Batch planning: cut a stream of sized copy items into batches, each sized for its lane.

Items larger than the lane cut-off go to the Fargate lane, the rest to the Lambda lane.
The two lanes are sized for what runs them:

- **Fargate lane**: the seed's ``maxItemsPerBatch`` (default 10) and ``maxBytesPerBatch``:
  a task per batch, few large objects, so a Spot interruption redoes little.
- **Lambda lane**: by count (at most :data:`LAMBDA_MAX_ITEMS`), bytes and the estimated
  copy time of :class:`CopyModel`, which must fit well inside the function's timeout
  (:data:`LAMBDA_BUDGET_SECONDS` of the 900 s), whatever the sidecar says. A batch's fixed
  costs (a child execution, a plan read, a destination listing, a results file) are then
  paid about once per thousand small objects, not once per ten. The lane takes objects
  up to :data:`LAMBDA_MAX_OBJECT_BYTES` at most, however high the sidecar sets the cut-off.

Each lane has one open batch; a batch is closed (its lines written to the plan, its
:class:`~steps_s3_copy.models.BatchRef` row recorded) when one more item would break one
of its limits. An item above the byte limit gets a batch of its own. The lines of one
batch are contiguous in the plan, so a batch is a byte range ``[start, end)`` of
``plan.jsonl``. Each batch also gets a ``timeoutSeconds``: how long its task state may
run before Step Functions stops it (a hung task must end in a notice, not at the
execution's 7-day timeout).

Items are plain dicts in the CopyItem wire shape (camelCase): one pydantic model per row
would cost more than the rest of planning together on a million-row manifest.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from steps_s3_copy.models import MAX_COPY_OBJECT_BYTES, BatchRef, Lane, MiB

#: the Lambda lane's function timeout (infra sets the CopyBatch function's to this)
LAMBDA_TIMEOUT_SECONDS = 900
#: the estimated copy time a Lambda-lane batch may take: about half the timeout, so a batch
#: that runs twice as slowly as estimated still ends before its deadline
LAMBDA_BUDGET_SECONDS = 420.0
#: objects in one Lambda-lane batch at most (its plan slice and results stay small)
LAMBDA_MAX_ITEMS = 2000
#: the largest object the Lambda lane copies: one CopyObject (above it a multipart copy of
#: a large object belongs in a Fargate task, which has no 15-minute limit)
LAMBDA_MAX_OBJECT_BYTES = MAX_COPY_OBJECT_BYTES
#: a Fargate task's start (capacity, image pull, RunTask) before it copies anything
FARGATE_START_SECONDS = 600
#: a Fargate-lane batch's timeout is this many times its estimated copy time (plus start)
FARGATE_TIMEOUT_FACTOR = 4
#: ... and never less than this
FARGATE_MIN_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True, slots=True)
class CopyModel:
    """What the engine needs to copy objects: the estimate planning and ``s3copy plan``
    use (docs/engine.md says where each figure comes from).

    One object costs its requests' round trips plus its bytes at S3's server-side copy
    rate; a batch runs ``concurrency`` objects at once; a multipart copy runs
    ``part_concurrency`` parts at once.
    """

    #: one S3 request's round trip from Lambda or Fargate in the same region
    request_seconds: float = 0.05
    #: requests per small object: the copy (its answer verifies it; the skip check is a
    #: listing shared by up to 1,000 objects)
    requests_per_object: float = 1.0
    #: bytes per second S3 copies server-side for one CopyObject or one UploadPartCopy
    copy_bytes_per_second: float = 100 * MiB
    #: objects copied at once within a batch, and parts at once within an object
    concurrency: int = 16
    part_concurrency: int = 8
    multipart_threshold: int = MAX_COPY_OBJECT_BYTES
    part_size: int = 256 * MiB

    def object_seconds(self, size: int) -> float:
        """Time to copy one object of ``size`` bytes (verification included)."""
        requests = self.requests_per_object * self.request_seconds
        if size <= self.multipart_threshold:
            return requests + size / self.copy_bytes_per_second
        parts = max(1, math.ceil(size / self.part_size))
        waves = math.ceil(parts / self.part_concurrency)
        # create, complete and verify, then the parts in waves of part_concurrency
        return 3 * self.request_seconds + waves * (
            self.request_seconds + min(size, self.part_size) / self.copy_bytes_per_second
        )

    def batch_seconds(self, object_seconds: float, longest: float) -> float:
        """Time of a batch whose objects take ``object_seconds`` in all: spread over
        ``concurrency`` workers, and never less than its longest object."""
        return max(object_seconds / self.concurrency, longest)


@dataclass(frozen=True, slots=True)
class LaneLimits:
    """When a lane's open batch is full."""

    max_items: int
    max_bytes: int
    #: estimated copy time (CopyModel) at most; math.inf: not bounded by time
    max_seconds: float = math.inf


def lambda_limits(max_bytes_per_batch: int) -> LaneLimits:
    """The Lambda lane's limits: count, bytes and time, the sidecar's byte cap included."""
    return LaneLimits(LAMBDA_MAX_ITEMS, max_bytes_per_batch, LAMBDA_BUDGET_SECONDS)


def clamp_lane_cutoff(requested: int) -> int:
    """The lane cut-off a run uses: the Lambda lane never takes more than it can copy."""
    return min(requested, LAMBDA_MAX_OBJECT_BYTES)


def fargate_timeout_seconds(estimated: float) -> int:
    """The TimeoutSeconds of one Fargate-lane batch's task state."""
    seconds = FARGATE_START_SECONDS + FARGATE_TIMEOUT_FACTOR * estimated
    return int(max(FARGATE_MIN_TIMEOUT_SECONDS, math.ceil(seconds / 60) * 60))


class Writable(Protocol):
    """Where plan lines go: a binary file, a BytesIO, a MultipartWriter."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(slots=True)
class _OpenBatch:
    lane: Lane
    #: whether its objects wait for a restore (they are kept apart from the others, so
    #: that objects ready now are not held back by the restore)
    archived: bool = False
    lines: list[bytes] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    longest: float = 0.0


#: one encoder for every line (json.dumps with options builds a new encoder per call)
_encode = json.JSONEncoder(separators=(",", ":")).encode


def encode_item(item: dict[str, Any]) -> bytes:
    """One plan line: compact ASCII JSON, newline-terminated.

    ASCII (\\u escapes) so that no key character (U+2028, U+0085, ...) can look like a line
    break to a reader that splits decoded text on every Unicode line boundary.
    """
    return (_encode(item) + "\n").encode()


class Planner:
    """Writes plan lines to ``out`` and records the batches; call :meth:`finish` at the end.

    ``max_items`` and ``max_bytes`` are the Fargate lane's limits (the sidecar's);
    ``lambda_lane`` the Lambda lane's (default: :func:`lambda_limits` with ``max_bytes``).
    """

    def __init__(
        self,
        out: Writable,
        *,
        max_items: int,
        max_bytes: int,
        lane_cutoff: int,
        lambda_lane: LaneLimits | None = None,
        model: CopyModel | None = None,
    ) -> None:
        if max_items < 1 or max_bytes < 1 or lane_cutoff < 0:
            raise ValueError("max_items and max_bytes must be positive, lane_cutoff >= 0")
        self.out = out
        self.lane_cutoff = lane_cutoff
        self.model = model or CopyModel()
        self.limits = {
            Lane.FARGATE: LaneLimits(max_items, max_bytes),
            Lane.LAMBDA: lambda_lane or lambda_limits(max_bytes),
        }
        self.offset = 0
        self.batches: list[BatchRef] = []
        self.objects = 0
        self.bytes = 0
        #: estimated copy time of every batch, by batch id
        self.estimates: list[float] = []
        self._open = {
            (lane, archived): _OpenBatch(lane, archived)
            for lane in Lane
            for archived in (False, True)
        }

    def lane_of(self, size: int) -> Lane:
        return Lane.FARGATE if size > self.lane_cutoff else Lane.LAMBDA

    def add(self, item: dict[str, Any], size: int) -> None:
        """Plan one item of ``size`` bytes (its line is ``encode_item(item)``); an item whose
        source waits for a restore goes to a batch of such items."""
        archived = item.get("restore") in ("needed", "ongoing")
        self.add_line(encode_item(item), size, archived=archived)

    def add_line(self, line: bytes, size: int, *, archived: bool = False) -> None:
        lane = self.lane_of(size)
        limits = self.limits[lane]
        seconds = self.model.object_seconds(size)
        self.objects += 1
        self.bytes += size
        if size >= limits.max_bytes:  # a batch of its own; the lane's open batch stays open
            self._close(_OpenBatch(lane, archived, [line], size, seconds, seconds))
            return
        batch = self._open[(lane, archived)]
        if batch.lines and (
            len(batch.lines) >= limits.max_items
            or batch.bytes + size > limits.max_bytes
            or self._seconds(batch.seconds + seconds, max(batch.longest, seconds))
            > limits.max_seconds
        ):
            self._close(batch)
        batch.lines.append(line)
        batch.bytes += size
        batch.seconds += seconds
        batch.longest = max(batch.longest, seconds)
        if len(batch.lines) >= limits.max_items or batch.bytes >= limits.max_bytes:
            self._close(batch)

    def _seconds(self, total: float, longest: float) -> float:
        return self.model.batch_seconds(total, longest)

    def _close(self, batch: _OpenBatch) -> None:
        start = self.offset
        for line in batch.lines:
            self.out.write(line)
            self.offset += len(line)
        estimate = self._seconds(batch.seconds, batch.longest)
        timeout = (
            LAMBDA_TIMEOUT_SECONDS
            if batch.lane is Lane.LAMBDA
            else fargate_timeout_seconds(estimate)
        )
        self.batches.append(
            BatchRef(
                batch_id=len(self.batches),
                lane=batch.lane,
                start=start,
                end=self.offset,
                objects=len(batch.lines),
                bytes=batch.bytes,
                timeout_seconds=timeout,
                archived=len(batch.lines) if batch.archived else 0,
            )
        )
        self.estimates.append(estimate)
        batch.lines = []
        batch.bytes = 0
        batch.seconds = 0.0
        batch.longest = 0.0

    def finish(self) -> list[BatchRef]:
        for batch in self._open.values():
            if batch.lines:
                self._close(batch)
        return self.batches

    def batches_per_lane(self) -> dict[str, int]:
        counts = {lane.value: 0 for lane in Lane}
        for batch in self.batches:
            counts[batch.lane.value] += 1
        return counts

    def worst_case_seconds(self, max_concurrency: int, restore_wait_seconds: float = 0.0) -> float:
        """How long the Map can take at most: every batch's timeout, and for a batch with
        archived sources the longest its Map item waits for their restore first
        (``restore_wait_seconds``), ``max_concurrency`` at a time (what the execution's
        timeout must stay above)."""
        if not self.batches:
            return 0.0
        width = max(1, min(max_concurrency, len(self.batches)))
        timeouts = [
            b.timeout_seconds + (restore_wait_seconds if b.archived else 0.0) for b in self.batches
        ]
        return max(sum(timeouts) / width, *timeouts)

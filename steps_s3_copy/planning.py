"""Batch planning: cut a stream of sized copy items into batches by count and by bytes.

Items larger than the lane cut-off go to the Fargate lane, the rest to the Lambda lane.
Each lane has one open batch; a batch is closed (its lines written to the plan, its
:class:`~steps_s3_copy.models.BatchRef` row recorded) when one more item would break
``max_items`` or ``max_bytes``. An item larger than ``max_bytes`` gets a batch of its own.
The lines of one batch are contiguous in the plan, so a batch is a byte range
``[start, end)`` of ``plan.jsonl``: its row of ``index.csv`` is a
:class:`~steps_s3_copy.models.BatchRef`. Batch ids are given in the order batches are closed.

Items are plain dicts in the CopyItem wire shape (camelCase): one pydantic model per row
would cost more than the rest of planning together on a million-row manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from steps_s3_copy.models import BatchRef, Lane


class Writable(Protocol):
    """Where plan lines go: a binary file, a BytesIO, a MultipartWriter."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(slots=True)
class _OpenBatch:
    lane: Lane
    lines: list[bytes] = field(default_factory=list)
    bytes: int = 0


#: one encoder for every line (json.dumps with options builds a new encoder per call)
_encode = json.JSONEncoder(separators=(",", ":")).encode


def encode_item(item: dict[str, Any]) -> bytes:
    """One plan line: compact ASCII JSON, newline-terminated.

    ASCII (\\u escapes) so that no key character (U+2028, U+0085, ...) can look like a line
    break to a reader that splits decoded text on every Unicode line boundary.
    """
    return (_encode(item) + "\n").encode()


class Planner:
    """Writes plan lines to ``out`` and records the batches; call :meth:`finish` at the end."""

    def __init__(self, out: Writable, *, max_items: int, max_bytes: int, lane_cutoff: int) -> None:
        if max_items < 1 or max_bytes < 1 or lane_cutoff < 0:
            raise ValueError("max_items and max_bytes must be positive, lane_cutoff >= 0")
        self.out = out
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.lane_cutoff = lane_cutoff
        self.offset = 0
        self.batches: list[BatchRef] = []
        self.objects = 0
        self.bytes = 0
        self._open = {lane: _OpenBatch(lane) for lane in Lane}

    def lane_of(self, size: int) -> Lane:
        return Lane.FARGATE if size > self.lane_cutoff else Lane.LAMBDA

    def add(self, item: dict[str, Any], size: int) -> None:
        """Plan one item of ``size`` bytes (its line is ``encode_item(item)``)."""
        self.add_line(encode_item(item), size)

    def add_line(self, line: bytes, size: int) -> None:
        lane = self.lane_of(size)
        self.objects += 1
        self.bytes += size
        if size >= self.max_bytes:  # a batch of its own; the lane's open batch stays open
            self._close(_OpenBatch(lane, [line], size))
            return
        batch = self._open[lane]
        if batch.lines and (
            len(batch.lines) >= self.max_items or batch.bytes + size > self.max_bytes
        ):
            self._close(batch)
        batch.lines.append(line)
        batch.bytes += size
        if len(batch.lines) >= self.max_items or batch.bytes >= self.max_bytes:
            self._close(batch)

    def _close(self, batch: _OpenBatch) -> None:
        start = self.offset
        for line in batch.lines:
            self.out.write(line)
            self.offset += len(line)
        self.batches.append(
            BatchRef(
                batch_id=len(self.batches),
                lane=batch.lane,
                start=start,
                end=self.offset,
                objects=len(batch.lines),
                bytes=batch.bytes,
            )
        )
        batch.lines = []
        batch.bytes = 0

    def finish(self) -> list[BatchRef]:
        for lane in Lane:
            if self._open[lane].lines:
                self._close(self._open[lane])
        return self.batches

    def batches_per_lane(self) -> dict[str, int]:
        counts = {lane.value: 0 for lane in Lane}
        for batch in self.batches:
            counts[batch.lane.value] += 1
        return counts

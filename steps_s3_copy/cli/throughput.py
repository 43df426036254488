"""How fast a run is going and when it will be done, from what ``s3copy watch`` reads.

A batch writes its ``results/<batchId>.jsonl`` once, when it ends, so what a watcher can
see grows by whole batches. The rate is therefore measured the way the objects become
visible: the objects and bytes of the results files written (their ``LastModified``)
within the recent window, divided by the window. While batches keep ending this is the
run's throughput (the files that ended in the window carry, on average, a window's worth
of copying), it is known from the first poll (no history of polls is needed), and it
falls to zero when nothing has ended for a whole window: a stalled run shows as one.

The window never reaches back before the run's first sign of life (its execution's start,
or an earlier results file), so a run younger than the window is not diluted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from steps_s3_copy.cli.common import human_bytes
from steps_s3_copy.progress import Progress

#: how far back the rate looks by default (``watch --window``)
DEFAULT_WINDOW_SECONDS = 120.0
#: below this the window is too short to say anything (a run that just started)
MIN_SPAN_SECONDS = 1.0


@dataclass(frozen=True)
class Throughput:
    """The recent rate and the time left; None where it cannot be known yet."""

    #: the span the rate was measured over (the window, or the run's age if shorter)
    window_seconds: float | None = None
    bytes_per_second: float | None = None
    objects_per_second: float | None = None
    #: 0 when everything is done; None when nothing has ended in the window (or no total)
    seconds_left: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` fields (camelCase, units in the names)."""
        return {
            "throughputBytesPerSecond": _rounded(self.bytes_per_second),
            "throughputObjectsPerSecond": _rounded(self.objects_per_second),
            "throughputWindowSeconds": _rounded(self.window_seconds),
            "estimatedSecondsLeft": _rounded(self.seconds_left),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def estimate(
    snap: Progress,
    *,
    recent_objects: int,
    recent_bytes: int,
    now: datetime,
    started: datetime | None,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
    finished: bool = False,
) -> Throughput:
    """The rate over the window ending at ``now`` and the time left at that rate.

    ``recent_objects`` / ``recent_bytes``: what the results files written within the
    window hold; ``started``: the run's first sign of life (None: unknown, the whole
    window counts).
    """
    span = window_seconds
    if started is not None:
        span = min(span, (now - started).total_seconds())
    if span < MIN_SPAN_SECONDS:
        return Throughput(seconds_left=0.0 if finished else None)
    bytes_rate = recent_bytes / span
    objects_rate = recent_objects / span
    return Throughput(
        window_seconds=span,
        bytes_per_second=bytes_rate,
        objects_per_second=objects_rate,
        seconds_left=0.0 if finished else _seconds_left(snap, bytes_rate, objects_rate),
    )


def _seconds_left(snap: Progress, bytes_rate: float, objects_rate: float) -> float | None:
    """The longer of the bytes' and the objects' time left (both must be done)."""
    if snap.objects_total and snap.objects_done >= snap.objects_total:
        return 0.0
    left: list[float] = []
    bytes_left = max(snap.bytes_total - snap.bytes_done, 0)
    objects_left = max(snap.objects_total - snap.objects_done, 0)
    for remaining, rate, total in (
        (bytes_left, bytes_rate, snap.bytes_total),
        (objects_left, objects_rate, snap.objects_total),
    ):
        if not total or not remaining:
            continue
        if rate <= 0:
            return None  # nothing ended within the window: no honest estimate
        left.append(remaining / rate)
    return max(left) if left else None


def describe(rate: Throughput) -> str:
    """One line for a terminal: ``12.3 MiB/s, 40.0 objects/s over the last 2 min;
    about 14 min left``."""
    if rate.bytes_per_second is None or rate.window_seconds is None:
        return "throughput: measuring (no batch has ended yet)"
    text = (
        f"throughput {human_bytes(rate.bytes_per_second)}/s, "
        f"{rate.objects_per_second or 0:.1f} objects/s over the last "
        f"{duration(rate.window_seconds)}"
    )
    if rate.seconds_left is None:
        return text + "; time left unknown (no batch ended in that time)"
    if rate.seconds_left == 0:
        return text
    return text + f"; about {duration(rate.seconds_left)} left"


def duration(seconds: float) -> str:
    """``45 s``, ``14 min``, ``2.5 h``, ``3.1 days``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"

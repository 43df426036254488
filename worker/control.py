"""When to stop: a stop request (SIGTERM), a deadline, and the grace period in between.

``Control.may_start()`` is asked before each object: after a stop or past the deadline no
new object starts. ``Control.must_abort()`` is asked before each part of a multipart copy:
once the grace period after the stop (or a short overrun past the deadline) is over, the
copy stops and its upload is aborted, so nothing is left half-written when the process
is killed.
"""

from __future__ import annotations

import threading
import time

#: Grace period after a stop request before in-flight multipart copies are aborted.
DEFAULT_GRACE_SECONDS = 100.0
#: In-flight multipart copies are aborted this long after a ``deadline`` (the Lambda lane
#: passes its remaining time minus a margin; a function killed at its timeout could not
#: abort anything).
DEADLINE_OVERRUN_SECONDS = 5.0


class CopyInterruptedError(Exception):
    """Raised inside a multipart copy when the grace period after a stop has passed."""


class Control:
    """When to stop starting objects, and when to abort what is in flight."""

    def __init__(self, stop: threading.Event | None, deadline: float | None, grace: float) -> None:
        self.stop = stop
        self.deadline = deadline
        self.grace = grace
        self._stop_seen: float | None = None
        self.stopped_early = False

    def may_start(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self._note_stop()
            self.stopped_early = True
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped_early = True
            return False
        return True

    def _note_stop(self) -> float:
        if self._stop_seen is None:
            self._stop_seen = time.monotonic()
        return self._stop_seen

    def must_abort(self) -> bool:
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline + DEADLINE_OVERRUN_SECONDS:
            return True
        if self.stop is None or not self.stop.is_set():
            return False
        return now >= self._note_stop() + self.grace


def unbounded() -> Control:
    """A control that never stops (one object copied on its own)."""
    return Control(None, None, DEFAULT_GRACE_SECONDS)

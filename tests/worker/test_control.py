"""Stop requests, deadlines and the grace period (``worker/control.py``)."""

from __future__ import annotations

import threading
import time

from steps_s3_copy.worker.control import Control


def test_control_stops_starting_and_aborts_after_grace_or_deadline():
    stop = threading.Event()
    control = Control(stop, None, grace=0.2)
    assert control.may_start()
    assert not control.must_abort()
    stop.set()
    assert not control.may_start()
    assert not control.must_abort()  # within the grace period
    time.sleep(0.25)
    assert control.must_abort()
    late = Control(None, time.monotonic() - 10, grace=100)
    assert not late.may_start()
    assert late.must_abort()  # well past the deadline: abort rather than be killed

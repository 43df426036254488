"""The local runner retries a batch as the deployed definition does: the same retriers,
in the same order, with the same counts (steps_s3_copy.retries)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from steps_s3_copy import retries
from steps_s3_copy.errors import PlanUnreadable
from steps_s3_copy.local import demo
from steps_s3_copy.local.pipeline import EmbeddedPipeline
from steps_s3_copy.models import Lane
from steps_s3_copy.worker import copy_batch
from tests.cli.conftest import destination_keys, example

pytestmark = pytest.mark.slow

CRASH_RETRIES = retries.COPY_BATCH_LAMBDA_CRASH.max_attempts


def crashing(
    monkeypatch: pytest.MonkeyPatch, lane: Lane, times: int, error: type[Exception]
) -> Counter[int]:
    """Each ``lane`` batch raises ``error`` on its first ``times`` tries, then runs (a
    fault injected around the real step, as a crash of the function would be)."""
    real = copy_batch.run
    calls: Counter[int] = Counter()

    def run(payload: Any, **kwargs: Any) -> Any:
        if payload.batch.lane is lane:
            calls[payload.batch.batch_id] += 1
            if calls[payload.batch.batch_id] <= times:
                raise error("injected")
        return real(payload, **kwargs)

    monkeypatch.setattr(copy_batch, "run", run)  # the module the local runner calls
    return calls


def submit(emulator: Any) -> Any:
    pipeline = EmbeddedPipeline(emulator)
    demo.seed(pipeline.s3)
    pipeline.submit("example", example("example.csv"), example("example.json"))
    return pipeline, pipeline.run_next(timeout=60)


def test_a_crashed_lambda_batch_is_retried_as_often_as_the_definition_says(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = crashing(monkeypatch, Lane.LAMBDA, CRASH_RETRIES, RuntimeError)
    pipeline, run = submit(emulator)

    assert run.status == "SUCCEEDED", run.notice
    assert len(calls) == 2  # the demo's two Lambda-lane batches
    assert set(calls.values()) == {CRASH_RETRIES + 1}
    assert len(destination_keys(pipeline.s3)) == run.notice["counts"]["copied"] == 12


def test_a_lambda_batch_crashing_once_more_than_that_is_recorded_failed(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = crashing(monkeypatch, Lane.LAMBDA, CRASH_RETRIES + 1, RuntimeError)
    _, run = submit(emulator)

    assert run.status == "PARTIAL", run.notice
    assert set(calls.values()) == {CRASH_RETRIES + 1}
    assert len(run.result.batch_failures) == 2


def test_a_configuration_error_is_not_retried_in_either_lane(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lambda_calls = crashing(monkeypatch, Lane.LAMBDA, 1, PlanUnreadable)
    fargate_calls = crashing(monkeypatch, Lane.FARGATE, 1, PlanUnreadable)
    _, run = submit(emulator)

    assert run.status == "FAILED", run.notice
    assert set(lambda_calls.values()) == {1}
    assert set(fargate_calls.values()) == {1}


def test_a_crashed_fargate_batch_gets_the_spot_then_the_on_demand_tries(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tries = retries.COPY_BATCH_SPOT.attempts + retries.COPY_BATCH_ON_DEMAND.attempts
    calls = crashing(monkeypatch, Lane.FARGATE, tries, RuntimeError)
    _, run = submit(emulator)

    assert run.status == "PARTIAL", run.notice
    assert list(calls.values()) == [tries]
    assert len(run.result.batch_failures) == 1

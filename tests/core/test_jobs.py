"""A job's history: a duplicated event starts one run, a re-upload starts another, a job
runs once at a time, and a lock left by an ended execution is taken over."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from steps_s3_copy import notify, prepare
from steps_s3_copy.errors import DuplicateEvent, JobAlreadyRunning
from steps_s3_copy.payloads import ExecutionContext, NotifyPayload, PreparePayload, PrepareResult
from steps_s3_copy.summarise import summarise
from tests.core.conftest import DEST, INBOX, SOURCE, World


def _run(
    world: World, event: dict[str, Any], name: str, running: set[str] | None = None
) -> PrepareResult:
    execution = {"id": f"arn:aws:states:us-east-1:1:execution:sm:{name}", "name": name}
    payload = PreparePayload.model_validate({"input": event, "execution": execution})
    return prepare.run(
        payload,
        s3=world.s3,
        settings=world.settings,
        is_running=(running if running is not None else set()).__contains__,
    )


def _end(world: World, result: PrepareResult, name: str) -> None:
    """Summarise and Notify, as the end of the run does (Notify releases the lock)."""
    execution = ExecutionContext(id=f"arn:aws:states:us-east-1:1:execution:sm:{name}", name=name)
    notice = summarise(result, execution, s3=world.s3)
    notify.run(NotifyPayload(notice=notice), sns=None, s3=world.s3, topic_arn=None)


@pytest.fixture
def event(world: World) -> dict[str, Any]:
    world.put(SOURCE, "a", b"1")
    return world.job("j", f"{SOURCE},a\n", {"destinationBucket": DEST})


def test_the_same_event_delivered_twice_starts_one_run(world: World, event: dict[str, Any]) -> None:
    first = _run(world, event, "exec-1")
    with pytest.raises(DuplicateEvent, match="exec-1"):
        _run(world, copy.deepcopy(event), "exec-2")
    runs = {k.split("/")[2] for k in world.keys(INBOX, "work/j/") if k.endswith("run.json")}
    assert runs == {first.run_id}


def test_a_retried_prepare_is_not_a_duplicate(world: World, event: dict[str, Any]) -> None:
    first = _run(world, event, "exec-1")
    again = _run(world, event, "exec-1")  # Step Functions retried the same execution
    assert again.run_id == first.run_id


def test_a_reupload_starts_a_new_run_once_the_first_ended(
    world: World, event: dict[str, Any]
) -> None:
    first = _run(world, event, "exec-1")
    _end(world, first, "exec-1")
    reuploaded = copy.deepcopy(event)
    reuploaded["time"] = "2026-11-25T18:05:00Z"  # the sidecar written again: a new event
    second = _run(world, reuploaded, "exec-2")
    assert second.run_id == "exec-2"


def test_a_second_run_while_the_first_runs_is_refused_naming_it(
    world: World, event: dict[str, Any]
) -> None:
    holder = "arn:aws:states:us-east-1:1:execution:sm:exec-1"
    _run(world, event, "exec-1")
    reuploaded = copy.deepcopy(event)
    reuploaded["time"] = "2026-11-25T18:05:00Z"
    with pytest.raises(JobAlreadyRunning, match="exec-1") as info:
        _run(world, reuploaded, "exec-2", running={holder})
    assert "nothing was copied" in str(info.value)
    assert world.keys(INBOX, "work/j/exec-2/") == []
    # the running job's lock is untouched: Notify of the refused run does not release it
    lock = world.text(INBOX, "work/j/lock.json")
    assert "exec-1" in lock


def test_a_lock_left_by_an_ended_execution_is_taken_over(
    world: World, event: dict[str, Any]
) -> None:
    _run(world, event, "exec-1")  # never reached Notify (it timed out, say)
    reuploaded = copy.deepcopy(event)
    reuploaded["time"] = "2026-11-25T18:05:00Z"
    second = _run(world, reuploaded, "exec-2", running=set())
    assert second.run_id == "exec-2"
    assert "exec-2" in world.text(INBOX, "work/j/lock.json")


def test_notify_releases_only_its_own_executions_lock(world: World, event: dict[str, Any]) -> None:
    first = _run(world, event, "exec-1")
    _end(world, first.model_copy(update={"run_id": "other"}), "exec-other")
    assert "exec-1" in world.text(INBOX, "work/j/lock.json")
    _end(world, first, "exec-1")
    assert "work/j/lock.json" not in world.keys(INBOX, "work/j/")

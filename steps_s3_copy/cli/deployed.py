"""A deployed stack as the CLI reads it: its outputs, the execution a sidecar started,
Prepare's result and the notice in the execution's history, the Distributed Map's counters.

Executions started by EventBridge get generated names, so a job's execution is found by
its input: the ``Object Created`` event whose ``detail.object.key`` is the job's sidecar.
Progress has two sources: the Distributed Map's counters (batches, here) and the
per-object results the batches write to the run's working area (objects and bytes,
:mod:`steps_s3_copy.cli.run_files`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from steps_s3_copy.progress import Progress

_PREPARED_KEYS = frozenset({"jobName", "runId", "work", "indexKey"})


class NotFoundError(LookupError):
    """The stack, execution or working area asked for does not exist."""


@dataclass(frozen=True)
class StackOutputs:
    inbox_bucket: str | None = None
    topic_arn: str | None = None
    state_machine_arn: str | None = None
    writer_role_arn: str | None = None


def resolve_stack(cloudformation: Any, stack_name: str) -> StackOutputs:
    """The inbox bucket, topic and state machine of a deployed stack, from its outputs.

    Outputs are recognised by their keys ("...Inbox...", "...Topic...", "...StateMachine...")
    so that a stack embedding the construct under another id still resolves.
    """
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:
        raise NotFoundError(f"stack {stack_name!r} not found: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def pick(*words: str) -> str | None:
        for key, value in sorted(outputs.items()):
            if any(word.lower() in key.lower() for word in words):
                return str(value)
        return None

    return StackOutputs(
        inbox_bucket=pick("InboxBucket", "Inbox"),
        topic_arn=pick("Topic"),
        state_machine_arn=pick("StateMachine"),
        writer_role_arn=pick("WriterRole"),
    )


def _decoded(execution: dict[str, Any], name: str) -> Any:
    """The execution's ``input`` or ``output`` JSON; None when absent or not JSON."""
    try:
        return json.loads(execution.get(name) or "null")
    except json.JSONDecodeError:
        return None


def _started_by(execution: dict[str, Any]) -> tuple[str | None, str | None]:
    """(key, bucket) of the ``Object Created`` event an execution was started with."""
    payload = _decoded(execution, "input")
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if not isinstance(detail, dict):
        return None, None
    key = (detail.get("object") or {}).get("key")
    bucket = (detail.get("bucket") or {}).get("name")
    return (str(key) if key else None), (str(bucket) if bucket else None)


def event_bucket(execution: dict[str, Any]) -> str | None:
    """The inbox bucket named by the execution's input event."""
    return _started_by(execution)[1]


def find_execution(
    sfn: Any,
    state_machine_arn: str,
    sidecar_key: str,
    *,
    bucket: str | None = None,
    started_after: datetime | None = None,
    max_scanned: int = 500,
    exclude: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The newest execution whose input is the event for ``sidecar_key`` (DescribeExecution),
    other than those of ``exclude`` (ARNs: earlier runs of the same sidecar)."""
    scanned = 0
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        # ListExecutions returns the newest first.
        for summary in page.get("executions", []):
            if started_after is not None and summary["startDate"] < started_after:
                break
            if summary["executionArn"] in exclude:
                continue
            scanned += 1
            described: dict[str, Any] = sfn.describe_execution(executionArn=summary["executionArn"])
            key, started_in = _started_by(described)
            if key == sidecar_key and (bucket is None or started_in == bucket):
                return described
            if scanned >= max_scanned:
                break
    raise NotFoundError(
        f"no execution of {state_machine_arn} was started by {sidecar_key!r}"
        + (f" in {bucket}" if bucket else "")
    )


def _prepared_in(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        if value.keys() >= _PREPARED_KEYS:
            return value
        prepared = value.get("prepared")
        if isinstance(prepared, dict) and prepared.keys() >= _PREPARED_KEYS:
            return prepared
    return None


def _history(sfn: Any, execution_arn: str) -> Iterator[dict[str, Any]]:
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, includeExecutionData=True
    ):
        yield from page.get("events", [])


def prepared_of(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """Prepare's result (PrepareResult), from the execution's history once Prepare is done."""
    for event in _history(sfn, execution_arn):
        for details in event.values():
            if isinstance(details, dict) and isinstance(details.get("output"), str):
                try:
                    found = _prepared_in(json.loads(details["output"]))
                except json.JSONDecodeError:
                    continue
                if found is not None:
                    return found
    return None


def notice_of(execution: dict[str, Any]) -> dict[str, Any] | None:
    """The notice in a finished execution's output, when its definition passes it through."""
    output = _decoded(execution, "output")
    if isinstance(output, dict):
        notice = output.get("notice", output.get("summary"))
        if isinstance(notice, dict) and "status" in notice:
            return notice
        if "status" in output and "jobName" in output:
            return output
    return None


def map_counters(sfn: Any, execution_arn: str) -> Progress:
    """The batches (the Map's items) summed over the execution's map runs (ListMapRuns +
    DescribeMapRun ``itemCounts``): total, done (succeeded or failed) and failed, where
    failed counts failed, timed-out and aborted items (the counters of
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_MapRunItemCounts.html).
    """
    batches = Progress()
    for run in sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", []):
        items = sfn.describe_map_run(mapRunArn=run["mapRunArn"]).get("itemCounts", {})
        failed = sum(int(items.get(name, 0)) for name in ("failed", "timedOut", "aborted"))
        batches.batches_total += int(items.get("total", 0))
        batches.batches_done += int(items.get("succeeded", 0)) + failed
        batches.batches_failed += failed
    return batches

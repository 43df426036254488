"""Reading a deployed stack's runs: the execution a sidecar started, its progress, its notice.

Executions started by EventBridge get generated names, so a job's execution is found by
its input: the ``Object Created`` event whose ``detail.object.key`` is the job's sidecar.
Progress has two sources: the Distributed Map's counters (batches) and the per-object
results the batches write to the run's working area (objects and bytes).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from steps_s3_copy.models import ObjectResult, RunLocation, Status

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


def _execution_input_key(
    sfn: Any, execution_arn: str
) -> tuple[str | None, str | None, dict[str, Any]]:
    described = sfn.describe_execution(executionArn=execution_arn)
    try:
        payload = json.loads(described.get("input") or "{}")
    except json.JSONDecodeError:
        return None, None, described
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if not isinstance(detail, dict):
        return None, None, described
    key = (detail.get("object") or {}).get("key")
    bucket = (detail.get("bucket") or {}).get("name")
    return key, bucket, described


def find_execution(
    sfn: Any,
    state_machine_arn: str,
    sidecar_key: str,
    *,
    bucket: str | None = None,
    started_after: datetime | None = None,
    max_scanned: int = 500,
) -> dict[str, Any]:
    """The newest execution whose input is the event for ``sidecar_key`` (DescribeExecution)."""
    scanned = 0
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        # ListExecutions returns the newest first.
        for summary in page.get("executions", []):
            if started_after is not None and summary["startDate"] < started_after:
                break
            scanned += 1
            key, event_bucket, described = _execution_input_key(sfn, summary["executionArn"])
            if key == sidecar_key and (bucket is None or event_bucket == bucket):
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
    try:
        output = json.loads(execution.get("output") or "null")
    except json.JSONDecodeError:
        return None
    if isinstance(output, dict):
        notice = output.get("notice", output.get("summary"))
        if isinstance(notice, dict) and "status" in notice:
            return notice
        if "status" in output and "jobName" in output:
            return output
    return None


@dataclass
class MapCounters:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    status: str | None = None


def map_counters(sfn: Any, execution_arn: str) -> MapCounters:
    """The item counters summed over the execution's map runs (ListMapRuns + DescribeMapRun)."""
    counters = MapCounters()
    for run in sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", []):
        described = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
        items = described.get("itemCounts", {})
        counters.total += int(items.get("total", 0))
        counters.succeeded += int(items.get("succeeded", 0))
        counters.failed += int(items.get("failed", 0)) + int(items.get("timedOut", 0))
        counters.failed += int(items.get("aborted", 0))
        counters.running += int(items.get("running", 0))
        counters.pending += int(items.get("pending", 0))
        counters.status = described.get("status", counters.status)
    return counters


@dataclass
class ObjectTally:
    """Objects and bytes done, by status."""

    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    bytes_failed: int = 0

    @property
    def done(self) -> int:
        return self.copied + self.skipped + self.failed

    @property
    def bytes_done(self) -> int:
        return self.bytes_copied + self.bytes_skipped + self.bytes_failed

    def add(self, result: ObjectResult) -> None:
        if result.status is Status.COPIED:
            self.copied += 1
            self.bytes_copied += result.bytes
        elif result.status is Status.SKIPPED:
            self.skipped += 1
            self.bytes_skipped += result.bytes
        else:
            self.failed += 1
            self.bytes_failed += result.bytes

    def __iadd__(self, other: ObjectTally) -> ObjectTally:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass
class ResultsWatcher:
    """Follows ``results/*.jsonl`` of a working area across polls.

    Each poll lists the results (one request per 1,000 batches) and reads only the files
    that are new or changed since the last poll (a retried batch rewrites its file), so
    watching a million-object run does not re-read every result every few seconds.
    """

    location: RunLocation
    _files: dict[str, tuple[str, ObjectTally]] = field(default_factory=dict)

    def poll(self, s3: Any) -> ObjectTally:
        seen: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.results_prefix
        ):
            for item in page.get("Contents", []):
                key, etag = item["Key"], str(item.get("ETag", ""))
                seen.add(key)
                known = self._files.get(key)
                if known is not None and known[0] == etag:
                    continue
                tally = ObjectTally()
                body = s3.get_object(Bucket=self.location.bucket, Key=key)["Body"].read()
                for line in body.decode("utf-8").splitlines():
                    if line.strip():
                        tally.add(ObjectResult.model_validate_json(line))
                self._files[key] = (etag, tally)
        total = ObjectTally()
        for key, (_, tally) in self._files.items():
            if key in seen:
                total += tally
        return total


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    value = json.loads(body)
    return value if isinstance(value, dict) else None


def notice_in_work_area(s3: Any, location: RunLocation) -> dict[str, Any] | None:
    """The run's notice: ``summary.json`` of the working area, else the notice marker's."""
    summary = read_json(s3, location.bucket, location.key("summary.json"))
    if summary is not None and "status" in summary:
        return summary
    marker = read_json(s3, location.bucket, location.key("notice.json"))
    if marker is not None:
        inner = marker.get("notice", marker)
        if isinstance(inner, dict) and "status" in inner:
            return inner
    return None


def event_bucket(execution: dict[str, Any]) -> str | None:
    """The inbox bucket named by the execution's input event."""
    try:
        payload = json.loads(execution.get("input") or "{}")
    except json.JSONDecodeError:
        return None
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, dict):
        name = (detail.get("bucket") or {}).get("name")
        return str(name) if name else None
    return None


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def latest_run(
    s3: Any, inbox_bucket: str, job_name: str, work_prefix: str = "work/"
) -> RunLocation | None:
    """The newest finished working area of ``job_name``: the one whose ``summary.json``
    (written by Summarise, also after a failed Prepare) is newest; without any, the newest
    ``run.json`` (a run still going).

    S3 times have one-second resolution, so runs finished within the same second are told
    apart by their summary's ``finishedAt``.
    """
    found: dict[str, list[tuple[datetime, str]]] = {"summary.json": [], "run.json": []}
    depth = f"{work_prefix}{job_name}/".count("/") + 1
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=inbox_bucket, Prefix=f"{work_prefix}{job_name}/"
    ):
        for item in page.get("Contents", []):
            key = item["Key"]
            name = key.rsplit("/", 1)[1]
            # <work>/<job>/<run>/<name> only: not results/, nor a deeper job's files
            if key.count("/") == depth and name in found:
                found[name].append((item["LastModified"], key))
    candidates = found["summary.json"] or found["run.json"]
    if not candidates:
        return None
    newest = max(when for when, _ in candidates)
    tied = [key for when, key in candidates if when == newest]
    if len(tied) > 1 and found["summary.json"]:
        tied.sort(key=lambda key: str((read_json(s3, inbox_bucket, key) or {}).get("finishedAt")))
    return RunLocation(bucket=inbox_bucket, prefix=tied[-1].rsplit("/", 1)[0] + "/")


def failed_rows(s3: Any, report_uri: str, *, limit: int) -> tuple[list[dict[str, str]], int]:
    """FAILED rows of report.csv (streamed: the report may have millions of rows).

    Returns the first ``limit`` rows (all with ``limit=0``) and how many there are.
    """
    bucket, key = split_s3_uri(report_uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    lines = (line.decode("utf-8") for line in body.iter_lines(keepends=True))
    shown: list[dict[str, str]] = []
    total = 0
    for row in csv.DictReader(lines):
        if row.get("status") == Status.FAILED.value:
            total += 1
            if limit == 0 or len(shown) < limit:
                shown.append(dict(row))
    return shown, total

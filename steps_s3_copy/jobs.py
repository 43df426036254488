"""A job's history in its working area: which sidecar events started a run, and which
execution is running the job now.

S3 delivers events to EventBridge at least once, and EventBridge starts every execution
with a generated name (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html), so the same
sidecar write can start two executions that race to the same keys. Two markers, each
created with a conditional write (``If-None-Match: *``: the write fails with 412 when the
key exists, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html):

- ``work/<job>/events/<sequencer>-<time>``: one per sidecar write (an event's
  ``detail.object.sequencer`` is unique per write of a key; a duplicate delivery repeats
  it and the event's time). A second delivery finds it: ``DuplicateEvent``, which the
  state machine ends quietly.
- ``work/<job>/lock.json``: the execution running the job. A second execution of the job
  while the first is RUNNING is refused (``JobAlreadyRunning``, a FAILED notice naming
  it); a lock left by an execution that has ended (it failed before Notify, or timed
  out) is taken over. Notify deletes the lock of its own execution.

Both markers name the execution that wrote them, so Step Functions' own retries of
Prepare find their own markers and go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from steps_s3_copy.errors import DuplicateEvent, JobAlreadyRunning
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.observability import logger

#: answers of a conditional write whose condition did not hold (412), or that raced with
#: another conditional write of the same key (409)
_CONDITION_FAILED = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
#: how often Prepare tries to take a lock that keeps changing hands
_LOCK_ATTEMPTS = 3


def condition_failed(exc: ClientError) -> bool:
    """Whether a conditional write was refused because of its condition."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in _CONDITION_FAILED or status in (409, 412)


def _not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404")


def _create(s3: Any, bucket: str, key: str, body: dict[str, Any]) -> bool:
    """Create ``key`` unless it exists; False when it does."""
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(body).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def _read(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    data = json.loads(body)
    return data if isinstance(data, dict) else {}


def claim_event(s3: Any, layout: InboxLayout, job: str, sequencer: str, execution_id: str) -> None:
    """Record that ``execution_id`` runs the sidecar write ``sequencer``; ``DuplicateEvent``
    when another execution already does."""
    key = layout.event_key(job, sequencer)
    if _create(s3, layout.bucket, key, {"executionId": execution_id}):
        return
    first = _read(s3, layout.bucket, key) or {}
    if first.get("executionId") == execution_id:
        return  # Step Functions retried Prepare
    raise DuplicateEvent(
        f"the sidecar write {sequencer} of job {job} already started execution "
        f"{first.get('executionId', '(unknown)')}: this delivery of its event is a duplicate"
    )


def acquire_lock(
    s3: Any,
    layout: InboxLayout,
    job: str,
    *,
    execution_id: str,
    run_id: str,
    started: datetime,
    is_running: Callable[[str], bool],
) -> None:
    """Take the job's lock for ``execution_id``; ``JobAlreadyRunning`` names the holder
    when another execution of the job is still running."""
    key = layout.lock_key(job)
    body = {"executionId": execution_id, "runId": run_id, "startedAt": started.isoformat()}
    for _ in range(_LOCK_ATTEMPTS):
        if _create(s3, layout.bucket, key, body):
            return
        holder = _read(s3, layout.bucket, key)
        if holder is None:
            continue  # released in between: try again
        holder_id = str(holder.get("executionId", ""))
        if holder_id == execution_id:
            return
        if holder_id and is_running(holder_id):
            raise JobAlreadyRunning(
                f"job {job} is already running as execution {holder_id} (started "
                f"{holder.get('startedAt', '?')}): this run was refused, nothing was copied; "
                "wait for that run to end (or stop it), then upload the sidecar again"
            )
        logger.warning(
            "taking over the lock of an ended execution",
            extra={"job": job, "holder": holder_id, "execution": execution_id},
        )
        s3.delete_object(Bucket=layout.bucket, Key=key)
    raise JobAlreadyRunning(f"job {job}'s lock kept changing hands: try again")


def release_lock(s3: Any, layout: InboxLayout, job: str, execution_id: str) -> bool:
    """Delete the job's lock if ``execution_id`` holds it; whether it did."""
    key = layout.lock_key(job)
    holder = _read(s3, layout.bucket, key)
    if holder is None or holder.get("executionId") != execution_id:
        return False
    s3.delete_object(Bucket=layout.bucket, Key=key)
    return True


def step_functions_is_running(sfn: Any) -> Callable[[str], bool]:
    """``is_running`` for a deployment: DescribeExecution of the lock's holder."""

    def is_running(execution_arn: str) -> bool:
        try:
            status = sfn.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise
        return bool(status == "RUNNING")

    return is_running

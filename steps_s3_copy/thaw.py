"""The Thaw step: restore a batch's archived sources, and wait for them in Step Functions.

A batch whose plan lines say their sources are archived (``restore`` "needed" or
"ongoing") passes through Thaw before it is copied. For each such object Thaw asks S3
(HeadObject, conditional on the planned ETag) whether a restored copy is readable; if not
and none was asked for, it asks once (RestoreObject with the sidecar's tier and days; a
restore already in progress answers ``RestoreAlreadyInProgress`` and is not repeated).
While any object is still being restored it raises ``RestorePending<Tier>``: the state
machine's Retry for that tier waits (an hour between tries for Standard and Bulk) and runs
Thaw again; no function or task sleeps. When all are readable the batch goes on to its
lane and is copied (the copy keeps each object's original storage class unless the
sidecar sets one).

The time each restore was asked for and first seen done is kept in the run's working area
(``restores/<batchId>.json``), so the report can say how long each waited.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from steps_s3_copy import observability
from steps_s3_copy.errors import ERRORS_BY_NAME, RestorePending, SourceArchived
from steps_s3_copy.models import CopyItem, RestoreOptions
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import CopyPayload, Payload
from steps_s3_copy.prepare import restore_state
from steps_s3_copy.workarea import WorkArea

#: HeadObject / RestoreObject calls at once
CONCURRENCY = 16


class ThawOutcome(Payload):
    """Thaw's answer once every archived source of the batch is readable."""

    batch_id: int
    restored: int
    #: restores asked for by this attempt (0 when they were all asked before)
    requested: int = 0


def _key(item: CopyItem) -> str:
    return item.destination_key


def _restore_request(item: CopyItem, restore: RestoreOptions) -> dict[str, Any]:
    """RestoreObject's request: Intelligent-Tiering's archive tiers take no Days (the object
    moves back to its frequent tier: https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html)."""
    request: dict[str, Any] = {"GlacierJobParameters": {"Tier": restore.tier}}
    if item.storage_class != "INTELLIGENT_TIERING":
        request["Days"] = restore.days
    return request


def _state(s3: Any, item: CopyItem, restore: RestoreOptions) -> tuple[str, bool]:
    """(the object's restore state after this call, whether a restore was asked now)."""
    version = {"VersionId": item.source_version_id} if item.source_version_id else {}
    condition = {"IfMatch": item.etag} if item.etag else {}
    head = s3.head_object(Bucket=item.source_bucket, Key=item.source_key, **version, **condition)
    state = restore_state(head) or "done"
    if state != "needed":
        return state, False
    try:
        s3.restore_object(
            Bucket=item.source_bucket,
            Key=item.source_key,
            RestoreRequest=_restore_request(item, restore),
            **version,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
            raise
    return "ongoing", True


def run(payload: CopyPayload, *, s3: Any, now: datetime | None = None) -> ThawOutcome:
    """The Thaw state of one batch: ``RestorePending<Tier>`` while a source is still being
    restored, the outcome once every one of them is readable."""
    area = WorkArea(s3, payload.work)
    config = area.read_run_config()
    restore = config.restore
    items = [i for i in area.read_batch(payload.batch) if i.restore in ("needed", "ongoing")]
    if not items:
        return ThawOutcome(batch_id=payload.batch.batch_id, restored=0)
    if restore is None:
        raise SourceArchived(f"batch {payload.batch.batch_id} has archived sources and no restore")
    stamp = (now or datetime.now(UTC)).isoformat()
    record = area.read_restores(payload.batch.batch_id)
    with ThreadPoolExecutor(min(CONCURRENCY, len(items)), thread_name_prefix="thaw") as pool:
        states = list(pool.map(lambda item: _state(s3, item, restore), items))
    pending = requested = restored_now = 0
    for item, (state, asked) in zip(items, states, strict=True):
        entry = record.setdefault(
            _key(item), {"source": f"s3://{item.source_bucket}/{item.source_key}"}
        )
        if asked:
            requested += 1
            entry.setdefault("requestedAt", stamp)
        if state == "done":
            if "readyAt" not in entry:  # seen done for the first time
                restored_now += 1
            entry.setdefault("readyAt", stamp)
        else:
            pending += 1
            entry.setdefault("requestedAt", stamp)
    area.write_restores(payload.batch.batch_id, record)
    observability.objects_restored(config.job_name, restored_now)
    log = {"batch": payload.batch.batch_id, "pending": pending, "requested": requested}
    if pending:
        logger.info("restores still running", extra=log)
        error = ERRORS_BY_NAME[f"RestorePending{restore.tier}"]
        assert issubclass(error, RestorePending)
        raise error(
            f"{pending} of {len(items)} archived object(s) of batch {payload.batch.batch_id} are "
            f"still being restored ({restore.tier}); the state machine tries again later"
        )
    logger.info("restores done", extra=log)
    return ThawOutcome(batch_id=payload.batch.batch_id, restored=len(items), requested=requested)

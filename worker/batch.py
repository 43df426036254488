"""One batch of a run: read its slice of the plan, copy it, write its results.

``run_batch`` is what both lanes call: the Fargate container (``python -m
steps_s3_copy.worker``) and the small-object Lambda (``handlers/copy_batch.py``).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from steps_s3_copy.models import (
    BatchOutcome,
    BatchRef,
    CopyItem,
    ObjectResult,
    RunConfig,
    RunLocation,
    Status,
)
from steps_s3_copy.observability import logger
from steps_s3_copy.worker.engine import DEFAULT_GRACE_SECONDS, CopyEngine
from steps_s3_copy.worker.errors import (
    PlanUnreadableError,
    ResultsNotWritableError,
    RunConfigUnreadableError,
)


def run_batch(
    ref: BatchRef,
    location: RunLocation,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    stop: threading.Event | None = None,
    deadline: float | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> BatchOutcome:
    """Copy the objects of batch ``ref`` and write ``results/<batchId>.jsonl``.

    ``deadline`` (a ``time.monotonic()`` value) and ``stop`` (set on SIGTERM) stop new
    objects from starting; objects never started count as ``not_attempted`` and the
    outcome is ``interrupted``. ``grace`` is how long in-flight multipart copies may run
    after ``stop`` before they are aborted.

    Raises ``RunConfigUnreadableError``, ``PlanUnreadableError`` or
    ``ResultsNotWritableError`` when the batch as a whole is impossible; one object's
    failure is a FAILED result instead.
    """
    session = session or boto3.session.Session()
    client = session.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 8}),
    )
    config = read_run_config(client, location)
    items = read_plan(client, location, ref)
    engine = CopyEngine(config.options, session=session, endpoint_url=endpoint_url)
    results = engine.copy(items, stop=stop, deadline=deadline, grace=grace)
    outcome = summarise(ref.batch_id, results, len(items))
    key = location.results_key(ref.batch_id)
    write_results(client, location.bucket, key, results)
    outcome = outcome.model_copy(update={"results_key": key})
    logger.info("batch finished", extra={"outcome": outcome.model_dump(by_alias=True)})
    return outcome


def read_run_config(client: Any, location: RunLocation) -> RunConfig:
    try:
        body = client.get_object(Bucket=location.bucket, Key=location.run_config_key)["Body"]
        return RunConfig.model_validate_json(body.read())
    except (ClientError, BotoCoreError, ValidationError) as exc:
        raise RunConfigUnreadableError(
            f"cannot read s3://{location.bucket}/{location.run_config_key}: {exc}"
        ) from exc


def read_plan(client: Any, location: RunLocation, ref: BatchRef) -> list[CopyItem]:
    """The ``CopyItem`` lines in bytes ``[ref.start, ref.end)`` of ``plan.jsonl``."""
    if ref.end <= ref.start:
        return []
    try:
        body = client.get_object(
            Bucket=location.bucket,
            Key=location.plan_key,
            Range=f"bytes={ref.start}-{ref.end - 1}",
        )["Body"].read()
        if len(body) != ref.end - ref.start:
            raise PlanUnreadableError(
                f"plan range {ref.start}-{ref.end} returned {len(body)} bytes (plan too short?)"
            )
        return [CopyItem.model_validate_json(line) for line in body.splitlines() if line.strip()]
    except (ClientError, BotoCoreError, ValidationError, UnicodeDecodeError) as exc:
        raise PlanUnreadableError(
            f"cannot read batch {ref.batch_id} from s3://{location.bucket}/{location.plan_key}"
            f" [{ref.start}, {ref.end}): {exc}"
        ) from exc


def summarise(batch_id: int, results: list[ObjectResult], planned: int) -> BatchOutcome:
    counts = dict.fromkeys(Status, 0)
    sizes = dict.fromkeys(Status, 0)
    for result in results:
        counts[result.status] += 1
        sizes[result.status] += result.bytes
    interrupted = len(results) < planned or any(r.error_code == "Interrupted" for r in results)
    return BatchOutcome(
        batch_id=batch_id,
        copied=counts[Status.COPIED],
        skipped=counts[Status.SKIPPED],
        failed=counts[Status.FAILED],
        bytes_copied=sizes[Status.COPIED],
        bytes_skipped=sizes[Status.SKIPPED],
        bytes_failed=sizes[Status.FAILED],
        not_attempted=planned - len(results),
        interrupted=interrupted,
    )


def results_jsonl(results: list[ObjectResult]) -> bytes:
    return "".join(r.to_json() + "\n" for r in results).encode()


def write_results(client: Any, bucket: str, key: str, results: list[ObjectResult]) -> None:
    try:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=results_jsonl(results),
            ContentType="application/x-ndjson",
        )
    except (ClientError, BotoCoreError) as exc:
        raise ResultsNotWritableError(f"cannot write s3://{bucket}/{key}: {exc}") from exc

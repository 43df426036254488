"""The copy step: one batch of a run, read from its slice of the plan, copied, its
results written.

:func:`run` is the step both lanes run: the Lambda lane's handler
(``handlers/copy_batch.py``), the Fargate container (``python -m steps_s3_copy.worker``)
and the local runner are thin adapters over it.
"""

from __future__ import annotations

import threading
import time

import boto3

from steps_s3_copy import aws, observability
from steps_s3_copy.errors import BatchIncomplete
from steps_s3_copy.models import BatchRef, ObjectResult, RunLocation, Status
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import BatchOutcome, CopyPayload
from steps_s3_copy.workarea import WorkArea
from steps_s3_copy.worker.engine import DEFAULT_GRACE_SECONDS, CopyEngine

#: the Lambda lane's function timeout (infra sets the function's), and the time kept back
#: from it to finish in-flight copies and write the results
LAMBDA_TIMEOUT_SECONDS = 900.0
LAMBDA_MARGIN_SECONDS = 60.0


def lambda_deadline(
    remaining_seconds: float, margin_seconds: float = LAMBDA_MARGIN_SECONDS
) -> float:
    """The ``time.monotonic()`` after which a Lambda-lane batch starts no new object."""
    return time.monotonic() + max(remaining_seconds - margin_seconds, remaining_seconds / 2)


def run(
    payload: CopyPayload,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    stop: threading.Event | None = None,
    deadline: float | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
    capacity_provider: str | None = None,
) -> BatchOutcome:
    """Copy one Map item's batch; ``BatchIncomplete`` when it stopped before its end.

    The results of the objects it did are written either way, so a retry of the batch
    skips them. Objects that FAILED are in the results: the batch still ran to its end.
    ``capacity_provider``: the Fargate task's, for the SpotFallbacks metric.
    """
    outcome = run_batch(
        payload.batch,
        payload.work,
        session=session,
        endpoint_url=endpoint_url,
        stop=stop,
        deadline=deadline,
        grace=grace,
        capacity_provider=capacity_provider,
    )
    if outcome.interrupted:
        raise BatchIncomplete(
            f"batch {outcome.batch_id} stopped with {outcome.not_attempted} object(s) left",
            outcome=outcome,
        )
    return outcome


def run_batch(
    ref: BatchRef,
    location: RunLocation,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    stop: threading.Event | None = None,
    deadline: float | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
    capacity_provider: str | None = None,
) -> BatchOutcome:
    """Copy the objects of batch ``ref`` and write ``results/<batchId>.jsonl``.

    ``deadline`` (a ``time.monotonic()`` value) and ``stop`` (set on SIGTERM) stop new
    objects from starting; objects never started count as ``not_attempted`` and the
    outcome is ``interrupted``. ``grace`` is how long in-flight multipart copies may run
    after ``stop`` before they are aborted.

    Raises ``RunConfigUnreadable``, ``PlanUnreadable`` or ``ResultsNotWritable`` when the
    batch as a whole is impossible; one object's failure is a FAILED result instead.
    """
    session = session or boto3.session.Session()
    area = WorkArea(aws.client("s3", session=session, endpoint_url=endpoint_url), location)
    config = area.read_run_config()
    items = area.read_batch(ref)
    engine = CopyEngine(config.options, session=session, endpoint_url=endpoint_url)
    results = engine.copy(items, stop=stop, deadline=deadline, grace=grace)
    outcome = summarise(ref.batch_id, results, len(items))
    key = area.write_results(ref.batch_id, results)
    outcome = outcome.model_copy(update={"results_key": key})
    logger.info("batch finished", extra={"outcome": outcome.model_dump(by_alias=True)})
    observability.batch_done(
        config.job_name,
        ref.lane.value,
        outcome,
        retries=observability.retry_counts(engine.s3),
        capacity_provider=capacity_provider,
    )
    return outcome


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

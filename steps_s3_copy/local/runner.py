"""The local runner: the state machine's steps, run on this machine by the same code.

It does what the deployed state machine does, in the same order, with the same payload
models (``steps_s3_copy.payloads``) and the same step functions the Lambda handlers and
the container call, with the same kinds of client (``aws.StepClients``: the same results
reader as the Summarise function) and the same retry counts (``steps_s3_copy.retries``):

    Prepare   prepare.run(PreparePayload)  -> PrepareResult
              a named error (ManifestInvalid, ...) is caught -> Summarise's failure mode
    CheckDestination destination.check(CheckPayload): a probe write, nothing left behind
    DryRun?   straight to Summarise
    Copy      every row of index.csv, in parallel (a thread pool as wide as maxConcurrency
              allows), each through copy_batch.run(CopyPayload): the step behind both the
              Lambda lane's handler and the Fargate container; a batch that raises is
              retried as the Map's Retry fields say, then caught and left to Summarise (a
              batch that ran to its end succeeds, its FAILED objects in its results)
    Summarise summarise.run(SummarisePayload) -> Notice
    Finish    destination.finish(FinishPayload): incomplete uploads of the run aborted
    Notify    notify.run(NotifyPayload) to the SNS topic (embedded mode), or the notice is
              returned

The runner has no user interface; ``on_progress`` receives a :class:`Progress` after each
batch and the CLI draws it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import boto3

from steps_s3_copy import destination, notify, prepare, retries, summarise, thaw
from steps_s3_copy.aws import StepClients
from steps_s3_copy.errors import BatchIncomplete, DuplicateEvent, StepsS3CopyError
from steps_s3_copy.models import BatchRef, Lane, RunLocation
from steps_s3_copy.payloads import (
    BatchOutcome,
    CheckPayload,
    CopyPayload,
    FinishPayload,
    NotifyPayload,
    PreparePayload,
    SummarisePayload,
)
from steps_s3_copy.prepare import PrepareSettings
from steps_s3_copy.progress import Progress
from steps_s3_copy.workarea import WorkArea
from steps_s3_copy.worker import copy_batch

#: How one batch is retried in each lane, as the definition's Retry fields say: the Lambda
#: lane's retriers as they are; the Fargate lane's as the container's exit codes make them
#: (a configuration error, exit 2, is never retried; an interruption or a crash gets the
#: Spot tries, then the on-demand ones its Catch falls back to). The waits are the
#: Lambda lane's (scaled down): a task's start is not modelled.
BATCH_RETRIERS: dict[Lane, tuple[retries.RetryPolicy, ...]] = {
    Lane.LAMBDA: retries.COPY_BATCH_LAMBDA_RETRIERS,
    Lane.FARGATE: (
        retries.BATCH_NOT_RETRIED,
        dataclasses.replace(
            retries.COPY_BATCH_LAMBDA,
            errors=("States.TaskFailed",),
            max_attempts=retries.COPY_BATCH_SPOT.attempts
            + retries.COPY_BATCH_ON_DEMAND.attempts
            - 1,
        ),
    ),
}
#: threads copying batches at once, whatever maxConcurrency says (one machine, not a fleet)
MAX_LOCAL_WORKERS = 16
#: the definition's retry waits, scaled for one machine (the counts stay the same)
LOCAL_TIME_SCALE = 0.05
#: after Ctrl-C or SIGTERM, how long in-flight multipart copies may finish before they are
#: aborted (a Fargate task gets Spot's two minutes; someone at a terminal does not wait)
LOCAL_GRACE_SECONDS = 10.0
#: ... and never more than this between two tries (an hour's wait for a restore, scaled,
#: is still minutes; the emulator restores at once)
LOCAL_MAX_WAIT_SECONDS = 2.0
#: executions running in this process: the local answer to "is the job's lock holder
#: still running?" (a deployment asks Step Functions)
_RUNNING: set[str] = set()
_T = TypeVar("_T")
STATE_MACHINE_NAME = "s3copy-local"


@dataclass
class BatchFailure:
    batch_id: int
    error: str
    cause: str


@dataclass
class RunResult:
    """What one local run produced."""

    execution: dict[str, str]
    notice: dict[str, Any]
    prepared: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    outcomes: list[BatchOutcome] = field(default_factory=list)
    batch_failures: list[BatchFailure] = field(default_factory=list)
    published: dict[str, Any] | None = None
    seconds: float = 0.0
    #: why the run did nothing: its event had already started another run
    duplicate: str | None = None
    #: Ctrl-C or SIGTERM stopped the copy early (the report lists what was not copied)
    interrupted: bool = False

    @property
    def status(self) -> str:
        if self.duplicate is not None:
            return "DUPLICATE"
        return str(self.notice.get("status", "FAILED"))


def execution_context(region: str, account: str) -> dict[str, str]:
    """``$$.Execution`` as Step Functions gives it; EventBridge-started runs get UUID names."""
    name = str(uuid.uuid4())
    return {
        "id": f"arn:aws:states:{region}:{account}:execution:{STATE_MACHINE_NAME}:{name}",
        "name": name,
        "startTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


class CaughtError(Exception):
    """A step failed; ``error`` and ``cause`` are what a Catch puts in ``$.error``."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause

    @classmethod
    def from_lambda(cls, exc: BaseException) -> CaughtError:
        """As Step Functions reports a Lambda function's error: Cause is Lambda's JSON."""
        name = type(exc).__name__
        cause = json.dumps(
            {
                "errorMessage": str(exc),
                "errorType": name,
                "requestId": str(uuid.uuid4()),
                "stackTrace": [],
            },
            ensure_ascii=False,
        )
        return cls(name, cause)


class LocalRunner:
    """Runs one job, from its event (or direct input) to its notice."""

    def __init__(
        self,
        *,
        session: boto3.session.Session,
        endpoint_url: str | None,
        settings: PrepareSettings,
        topic_arn: str | None = None,
        account: str = "123456789012",
        on_progress: Callable[[Progress], None] | None = None,
        max_workers: int = MAX_LOCAL_WORKERS,
        stop: threading.Event | None = None,
        time_scale: float = LOCAL_TIME_SCALE,
        grace: float = LOCAL_GRACE_SECONDS,
    ) -> None:
        self.session = session
        self.time_scale = time_scale
        self.grace = grace
        self.endpoint_url = endpoint_url
        self.settings = settings
        self.topic_arn = topic_arn
        self.region = session.region_name or "us-east-1"
        self.account = account
        self.on_progress = on_progress or (lambda _p: None)
        self.max_workers = max_workers
        self.stop = stop or threading.Event()
        self.clients = StepClients(session, endpoint_url)
        self.s3 = self.clients.s3

    def run(self, execution_input: dict[str, Any]) -> RunResult:
        started = time.monotonic()
        execution = execution_context(self.region, self.account)
        result = RunResult(execution=execution, notice={})
        _RUNNING.add(execution["id"])
        try:
            self._run(execution_input, execution, result)
        finally:
            _RUNNING.discard(execution["id"])
        result.seconds = time.monotonic() - started
        return result

    def _run(
        self, execution_input: dict[str, Any], execution: dict[str, str], result: RunResult
    ) -> None:
        try:
            prepared = self._retried(
                retries.PREPARE_MANIFEST_WAIT,
                lambda: prepare.run(
                    PreparePayload.model_validate(
                        {"input": execution_input, "execution": execution}
                    ),
                    s3=self.s3,
                    settings=self.settings,
                    is_running=_RUNNING.__contains__,
                ).to_payload(),
            )
            result.prepared = prepared
            destination.check(CheckPayload.model_validate({"prepared": prepared}), s3=self.s3)
            if self.stop.is_set():
                result.interrupted = True  # stopped before copying: nothing is copied
            elif not prepared.get("dryRun"):
                self._copy(prepared, result)
            summary_input = {"prepared": prepared, "execution": execution}
            result.notice = self._summarise(summary_input)
        except DuplicateEvent as exc:
            # The Catch on DuplicateEvent: the event already started a run; nothing to do.
            result.duplicate = str(exc)
            return
        except Exception as exc:
            # The Catch (States.ALL) on Prepare, CheckDestination, the Map and Summarise:
            # the failure path, Summarise in its failure mode, Finish, then Notify.
            caught = exc if isinstance(exc, CaughtError) else CaughtError.from_lambda(exc)
            result.error = {"Error": caught.error, "Cause": caught.cause}
            result.notice = self._summarise(
                {"error": result.error, "input": execution_input, "execution": execution}
            )
        result.notice = destination.finish(
            FinishPayload.model_validate({"notice": result.notice}), s3=self.s3
        ).to_payload()
        published = notify.run(
            NotifyPayload.model_validate({"notice": result.notice}),
            sns=self.clients.sns if self.topic_arn else None,
            s3=self.s3,
            topic_arn=self.topic_arn,
            work_prefix=self.settings.layout.work_prefix,
        )
        if self.topic_arn:
            result.published = published.to_payload()

    def _retried(self, policy: retries.RetryPolicy, call: Callable[[], _T]) -> _T:
        """``call`` tried as the definition's ``policy`` says (its waits scaled down)."""
        for attempt in range(policy.attempts):
            try:
                return call()
            except StepsS3CopyError as exc:
                if exc.error_name not in policy.errors or attempt == policy.attempts - 1:
                    raise
            wait = min(
                policy.interval_seconds * policy.backoff_rate**attempt, policy.max_delay_seconds
            )
            if self.stop.wait(min(wait * self.time_scale, LOCAL_MAX_WAIT_SECONDS)):
                break
        raise BatchIncomplete("stopped while waiting to retry")

    def _summarise(self, payload: dict[str, Any]) -> dict[str, Any]:
        notice = summarise.run(
            SummarisePayload.model_validate(payload),
            s3=self.s3,
            kms=self.clients.kms,
            layout=self.settings.layout,
            reader=self.clients.results_reader,
        )
        return notice.to_payload()

    def _copy(self, prepared: dict[str, Any], result: RunResult) -> None:
        location = RunLocation.model_validate(prepared["work"])
        refs = WorkArea(self.s3, location).read_index()
        progress = Progress(
            objects_total=int(prepared.get("objects", 0)),
            bytes_total=int(prepared.get("bytes", 0)),
            batches_total=len(refs),
        )
        self.on_progress(progress)
        width = max(1, min(self.max_workers, int(prepared.get("maxConcurrency") or 1)))
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="batch") as pool:
            pending: dict[Future[BatchOutcome], BatchRef] = {
                pool.submit(self._run_batch_with_retries, ref, location): ref for ref in refs
            }
            try:
                self._collect(pending, progress, result)
            except BaseException:
                self.stop.set()
                for future in pending:
                    future.cancel()
                raise

    def _collect(
        self,
        pending: dict[Future[BatchOutcome], BatchRef],
        progress: Progress,
        result: RunResult,
    ) -> None:
        """Record each batch as it ends (the Map's per-item Catch for the failed ones).

        When ``stop`` is set (Ctrl-C, SIGTERM) batches not started are dropped (Summarise
        reports their objects as not copied), running ones stop taking new objects and
        abort in-flight uploads after the grace period, and the run goes on to Summarise,
        Finish and Notify.
        """
        while pending:
            if self.stop.is_set() and not result.interrupted:
                result.interrupted = True
                for future in list(pending):
                    if future.cancel():
                        pending.pop(future)
                if not pending:
                    break
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                ref = pending.pop(future)
                progress.batches_done += 1
                exc = future.exception()
                if exc is not None:
                    # The Map item's Catch: recorded, Summarise accounts for its objects.
                    progress.batches_failed += 1
                    progress.objects_done += ref.objects
                    progress.failed += ref.objects
                    progress.bytes_done += ref.bytes
                    result.batch_failures.append(
                        BatchFailure(ref.batch_id, type(exc).__name__, str(exc))
                    )
                else:
                    outcome = future.result()
                    result.outcomes.append(outcome)
                    progress.objects_done += outcome.copied + outcome.skipped + outcome.failed
                    progress.failed += outcome.failed
                    progress.bytes_done += (
                        outcome.bytes_copied + outcome.bytes_skipped + outcome.bytes_failed
                    )
                self.on_progress(progress)

    def _run_batch_with_retries(self, ref: BatchRef, location: RunLocation) -> BatchOutcome:
        """One Map item: Thaw first when the batch has archived sources (waiting between
        tries as the tier's Retry does, scaled), then the batch's step, tried as often as
        the definition's Retry says."""
        payload = CopyPayload(batch=ref, work=location)
        if ref.archived:
            tier = WorkArea(self.s3, location).read_run_config().restore
            policy = retries.RESTORE_WAIT[tier.tier if tier else "Bulk"]
            self._retried(policy, lambda: thaw.run(payload, s3=self.s3))
        retriers = BATCH_RETRIERS[ref.lane]
        retried = [0] * len(retriers)
        attempt = 0
        while not self.stop.is_set():
            deadline = None
            if ref.lane is Lane.LAMBDA:
                deadline = copy_batch.lambda_deadline(copy_batch.LAMBDA_TIMEOUT_SECONDS)
            try:
                # a batch that ran to its end succeeds, failed objects included
                return copy_batch.run(
                    payload,
                    session=self.session,
                    endpoint_url=self.endpoint_url,
                    stop=self.stop,
                    deadline=deadline,
                    grace=self.grace,
                )
            except Exception as exc:
                # named as Step Functions names a Lambda function's error: our errors by
                # their name, any other exception (a crash) by its type
                name = exc.error_name if isinstance(exc, StepsS3CopyError) else type(exc).__name__
                index = retries.first_retrier(retriers, name)
                if index is None or retried[index] >= retriers[index].max_attempts:
                    raise
                retried[index] += 1
            attempt += 1
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise BatchIncomplete(f"batch {ref.batch_id} was not run: stopped")

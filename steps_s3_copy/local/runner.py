"""The local runner: the state machine's steps, run on this machine by the same code.

It does what the deployed state machine does, in the same order and with the same
payloads (docs/architecture.md), calling the same functions the Lambda handlers and the
container call:

    Prepare   {"input": <event>, "execution": {...}}  -> PrepareResult
              a named error (ManifestInvalid, ...) is caught -> Summarise's failure mode
    DryRun?   straight to Summarise
    Copy      every row of index.csv, in parallel (a thread pool as wide as maxConcurrency
              allows), each through ``run_batch``: the function behind both the Lambda lane's
              handler and the Fargate container; a batch that raises or is interrupted (and,
              in the Fargate lane, one with failed objects: the container's exit 3) is
              retried like the Map's Retry, then caught and left to Summarise
    Summarise {"prepared": ..., "execution": ...} or {"error": ..., "input": ..., ...}
    Notify    publishes the notice to the SNS topic (embedded mode), or returns it

The runner has no user interface; ``on_progress`` receives a :class:`Progress` after each
batch and the CLI draws it.
"""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from steps_s3_copy.local import steps
from steps_s3_copy.models import BatchOutcome, BatchRef, Lane, RunLocation
from steps_s3_copy.prepare import PrepareSettings

#: the state machine retries a failed batch this many times (then catches it)
BATCH_ATTEMPTS = 3
#: threads copying batches at once, whatever maxConcurrency says (one machine, not a fleet)
MAX_LOCAL_WORKERS = 16
STATE_MACHINE_NAME = "s3copy-local"


@dataclass
class Progress:
    """How far the copy has got, after each batch."""

    objects_total: int = 0
    bytes_total: int = 0
    batches_total: int = 0
    batches_done: int = 0
    batches_failed: int = 0
    objects_done: int = 0
    bytes_done: int = 0
    objects_failed: int = 0


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

    @property
    def status(self) -> str:
        return str(self.notice.get("status", "FAILED"))


def execution_context(region: str, account: str) -> dict[str, str]:
    """``$$.Execution`` as Step Functions gives it; EventBridge-started runs get UUID names."""
    name = str(uuid.uuid4())
    return {
        "id": f"arn:aws:states:{region}:{account}:execution:{STATE_MACHINE_NAME}:{name}",
        "name": name,
        "startTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def read_index(s3: Any, location: RunLocation, index_key: str) -> list[BatchRef]:
    body = s3.get_object(Bucket=location.bucket, Key=index_key)["Body"].read()
    reader = csv.DictReader(io.StringIO(body.decode("utf-8")))
    return [BatchRef.model_validate(row) for row in reader]


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
    ) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self.settings = settings
        self.topic_arn = topic_arn
        self.region = session.region_name or "us-east-1"
        self.account = account
        self.on_progress = on_progress or (lambda _p: None)
        self.max_workers = max_workers
        self.stop = stop or threading.Event()
        self.s3 = steps.client(session, "s3", endpoint_url)

    def run(self, execution_input: dict[str, Any]) -> RunResult:
        started = time.monotonic()
        execution = execution_context(self.region, self.account)
        result = RunResult(execution=execution, notice={})
        try:
            prepared = steps.prepare(
                {"input": execution_input, "execution": execution},
                s3=self.s3,
                settings=self.settings,
            )
            result.prepared = prepared
            if not prepared.get("dryRun"):
                self._copy(prepared, result)
            result.notice = steps.summarise(
                {"prepared": prepared, "execution": execution}, s3=self.s3, settings=self.settings
            )
        except Exception as exc:
            # The Catch (States.ALL) on Prepare, on the Map and on Summarise: the failure
            # path, Summarise in its failure mode, then Notify.
            caught = (
                exc if isinstance(exc, steps.CaughtError) else steps.CaughtError.from_lambda(exc)
            )
            result.error = {"Error": caught.error, "Cause": caught.cause}
            result.notice = steps.summarise(
                {"error": result.error, "input": execution_input, "execution": execution},
                s3=self.s3,
                settings=self.settings,
            )
        if self.topic_arn:
            result.published = steps.notify(
                {"notice": result.notice},
                sns=steps.client(self.session, "sns", self.endpoint_url),
                s3=self.s3,
                topic_arn=self.topic_arn,
            )
        result.seconds = time.monotonic() - started
        return result

    def _copy(self, prepared: dict[str, Any], result: RunResult) -> None:
        location = RunLocation.model_validate(prepared["work"])
        refs = read_index(self.s3, location, prepared["indexKey"])
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
                # Ctrl-C or an error here: no new batches, in-flight ones stop early.
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
        """Record each batch as it ends (the Map's per-item Catch for the failed ones)."""
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                ref = pending.pop(future)
                progress.batches_done += 1
                exc = future.exception()
                if exc is not None:
                    # The Map item's Catch: recorded, Summarise accounts for its objects.
                    progress.batches_failed += 1
                    progress.objects_done += ref.objects
                    progress.objects_failed += ref.objects
                    progress.bytes_done += ref.bytes
                    result.batch_failures.append(
                        BatchFailure(ref.batch_id, type(exc).__name__, str(exc))
                    )
                else:
                    outcome = future.result()
                    result.outcomes.append(outcome)
                    progress.objects_done += outcome.copied + outcome.skipped + outcome.failed
                    progress.objects_failed += outcome.failed
                    progress.bytes_done += (
                        outcome.bytes_copied + outcome.bytes_skipped + outcome.bytes_failed
                    )
                self.on_progress(progress)

    def _run_batch_with_retries(self, ref: BatchRef, location: RunLocation) -> BatchOutcome:
        last: BaseException | None = None
        for attempt in range(BATCH_ATTEMPTS):
            if self.stop.is_set():
                break
            try:
                outcome = steps.copy_batch(
                    ref,
                    location,
                    session=self.session,
                    endpoint_url=self.endpoint_url,
                    stop=self.stop,
                )
            except Exception as exc:
                last = exc
            else:
                final = attempt == BATCH_ATTEMPTS - 1
                if outcome.interrupted:
                    # The Lambda handler raises BatchIncomplete, the container exits 4: retried.
                    last = steps.BatchInterruptedError(f"batch {ref.batch_id} was interrupted")
                elif ref.lane is Lane.FARGATE and outcome.failed and not final:
                    # The container exits 3 when objects failed: States.TaskFailed, which the
                    # Fargate lane retries (the retry skips what is already copied).
                    continue
                else:
                    return outcome
            time.sleep(min(2.0, 0.2 * 2**attempt))
        if last is None:
            last = steps.BatchInterruptedError(f"batch {ref.batch_id} was not run: stopped")
        raise last

"""Summarise: merge every batch's results into one report and decide the run's status.

Streams ``index.csv`` and each ``results/<batchId>.jsonl`` (fetched in parallel, a bounded
window ahead), so a million result rows never sit in memory at once. Every planned object
is accounted for: the objects of a batch without a results file (it failed after its
retries) are FAILED with ``BatchFailed``; objects missing from a partial results file are
FAILED with ``NotAttempted``. Writes ``report.csv`` (source, destination, status, bytes,
checksum, seconds, error) and ``summary.json`` to the report location, ``summary.json``
to the working area, and returns the :class:`Notice`.

Status: SUCCEEDED when nothing failed; FAILED when nothing was copied or skipped, or
Prepare failed; PARTIAL otherwise. A dry run is SUCCEEDED with the plan's numbers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from steps_s3_copy import observability
from steps_s3_copy.errors import (
    MAX_PROBLEMS_IN_MESSAGE,
    InputInvalid,
    ReceiptNotSigned,
    ResultsUnreadable,
    StepsS3CopyError,
    parse_error_message,
)
from steps_s3_copy.events import job_source
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.models import BatchRef, MiB, RunLocation, Status
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import (
    ExecutionContext,
    Notice,
    PlanSummary,
    PrepareResult,
    RunStatus,
    StatusCounts,
    StepError,
    SummarisePayload,
)
from steps_s3_copy.receipt import (
    RECEIPT_CONTENT_TYPE,
    RECEIPT_NAME,
    SIGNATURE_NAME,
    ReceiptInfo,
    ReceiptSignature,
    ReceiptWriter,
    sign_digest,
    signature_body,
)
from steps_s3_copy.report_html import write as write_report_html
from steps_s3_copy.report_stats import ObjectRow, ReportStats
from steps_s3_copy.s3io import MultipartWriter
from steps_s3_copy.s3uri import S3Uri
from steps_s3_copy.workarea import WorkArea
from steps_s3_copy.worker.s3client import ObjectRef, S3Error
from steps_s3_copy.worker.s3http import LeanS3Client

REPORT_COLUMNS = ("source", "destination", "status", "bytes", "checksum", "seconds", "error")


@dataclass(slots=True)
class _Tally:
    counts: dict[str, int]
    bytes: dict[str, int]
    #: batches without a results file: failed after their retries (the BatchesFailed metric)
    batches_failed: int = 0

    @classmethod
    def empty(cls) -> _Tally:
        return cls({s.value: 0 for s in Status}, {s.value: 0 for s in Status})

    def add(self, status: str, size: int) -> None:
        self.counts[status] += 1
        self.bytes[status] += size

    def status(self) -> RunStatus:
        if not self.counts[Status.FAILED]:
            return "SUCCEEDED"
        if not self.counts[Status.COPIED] and not self.counts[Status.SKIPPED]:
            return "FAILED"
        return "PARTIAL"

    def models(self) -> tuple[StatusCounts, StatusCounts]:
        def lower(values: dict[str, int]) -> StatusCounts:
            return StatusCounts.model_validate({k.lower(): v for k, v in values.items()})

        return lower(self.counts), lower(self.bytes)


def _duration(execution: ExecutionContext, finished: datetime) -> tuple[str | None, float]:
    if not execution.start_time:
        return None, 0.0
    try:
        started = datetime.fromisoformat(execution.start_time)
    except ValueError:
        return execution.start_time, 0.0
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return execution.start_time, round(max((finished - started).total_seconds(), 0.0), 3)


# -- reading the run ---------------------------------------------------------------------


class ObjectReader(Protocol):
    """Reads one whole object; None when it does not exist."""

    def __call__(self, bucket: str, key: str) -> bytes | None: ...


def boto3_reader(s3: Any) -> ObjectReader:
    """An ObjectReader over a boto3 client (about 1.3 ms of client CPU per GET)."""

    def read(bucket: str, key: str) -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return body

    return read


def fast_reader(
    session: boto3.session.Session, *, endpoint_url: str | None = None, max_connections: int = 64
) -> ObjectReader:
    """An ObjectReader over the copy engine's lean S3 client (about 0.4 of a boto3 GET's CPU).

    A million result rows in batches of 10 are 100,000 results files: with botocore's
    per-request overhead, reading them would take minutes of Lambda CPU.
    """
    s3 = LeanS3Client(
        credentials=session.get_credentials(),
        region=session.region_name or "us-east-1",
        endpoint_url=endpoint_url,
        max_connections=max_connections,
    )

    def read(bucket: str, key: str) -> bytes | None:
        try:
            return s3.get_object(ObjectRef(bucket, key))
        except S3Error as exc:
            raise ResultsUnreadable(f"cannot read s3://{bucket}/{key}: {exc}") from exc

    return read


_T = TypeVar("_T")


def _windowed(
    pool: ThreadPoolExecutor,
    batches: list[BatchRef],
    fetch: Callable[[BatchRef], _T],
    window: int,
) -> Iterator[tuple[BatchRef, _T]]:
    """(batch, what ``fetch`` gave for it) in index order, fetching up to ``window``
    batches ahead."""
    queue: deque[tuple[BatchRef, Future[_T]]] = deque()
    position = 0
    while position < len(batches) or queue:
        while position < len(batches) and len(queue) < window:
            batch = batches[position]
            queue.append((batch, pool.submit(fetch, batch)))
            position += 1
        batch, future = queue.popleft()
        yield batch, future.result()


def _error_text(result: dict[str, Any]) -> str:
    code = result.get("errorCode")
    message = result.get("errorMessage")
    if code and message:
        return f"{code}: {message}"
    return str(code or message or "")


# -- the normal path ---------------------------------------------------------------------


def summarise(
    prepared: PrepareResult,
    execution: ExecutionContext,
    *,
    s3: Any,
    kms: Any = None,
    reader: ObjectReader | None = None,
    now: datetime | None = None,
    concurrency: int = 32,
) -> Notice:
    """Merge the run's results, write report.csv, receipt.jsonl, report.html and
    summary.json, return the notice.

    ``reader`` fetches the results files (default: through ``s3``; the handler passes
    :func:`fast_reader`); ``kms`` signs the receipt when the sidecar names a key.
    """
    work = prepared.work
    report = S3Uri.parse(prepared.report_uri).as_prefix()
    planned = PlanSummary(
        objects=prepared.objects, bytes=prepared.bytes, batches=dict(prepared.batches)
    )
    tally = _Tally.empty()
    stats = ReportStats()  # what report.html shows, gathered on the same pass
    report_uri: str | None = None
    html_uri: str | None = None
    receipt: ReceiptInfo | None = None
    delivery_uri: str | None = None
    problems: list[dict[str, Any]] = []
    restored = _RestoreTally()
    finished = now or datetime.now(UTC)
    if not prepared.dry_run:
        area = WorkArea(s3, work)
        batches = area.read_index()
        report_csv = report.join("report.csv")
        receipt_uri = report.join(RECEIPT_NAME)
        header = {
            "job": prepared.job_name,
            "runId": prepared.run_id,
            "executionId": execution.id,
            "manifest": prepared.manifest,
            "destination": prepared.destination,
            "createdAt": finished.isoformat(),
        }
        written = _write_report(
            s3,
            reader or boto3_reader(s3),
            work,
            tally,
            bucket=report_csv.bucket,
            key=report_csv.key,
            concurrency=concurrency,
            stats=stats,
            batches=batches,
            receipt=(receipt_uri, header),
            restores=restored,
        )
        report_uri = str(report_csv)
        html_uri = str(report.join("report.html"))
        receipt = ReceiptInfo(
            uri=str(receipt_uri), sha256=written.sha256, objects=written.objects, size=written.size
        )
        if prepared.receipt_signing_key_id:
            receipt, problem = _signed(s3, kms, receipt, report, prepared.receipt_signing_key_id)
            problems += problem
        delivery_uri = prepared.delivery_uri
    started_at, duration = _duration(execution, finished)
    counts, sizes = tally.models()
    notice = Notice(
        job_name=prepared.job_name,
        run_id=prepared.run_id,
        execution_id=execution.id,
        manifest=prepared.manifest,
        status="SUCCEEDED" if prepared.dry_run else tally.status(),
        dry_run=prepared.dry_run,
        counts=counts,
        bytes=sizes,
        planned=planned,
        started_at=started_at,
        finished_at=finished.isoformat(),
        duration_seconds=duration,
        report_uri=report_uri,
        report_html_uri=html_uri,
        summary_uri=str(report.join("summary.json")),
        work=work,
        requester=prepared.requester,
        problems=problems,
        receipt=receipt,
        delivery_uri=delivery_uri,
        objects_restored=restored.objects,
        restore_wait_seconds=restored.wait_seconds(),
    )
    if html_uri:
        write_report_html(s3, html_uri, notice, stats)
    _write_summary(s3, notice)
    logger.info(
        "run summarised",
        extra={"job": notice.job_name, "run_id": notice.run_id, "status": notice.status},
    )
    observability.run_ended(notice.job_name, notice.status, batches_failed=tally.batches_failed)
    return notice


def _signed(
    s3: Any, kms: Any, receipt: ReceiptInfo, report: S3Uri, key_id: str
) -> tuple[ReceiptInfo, list[dict[str, Any]]]:
    """The receipt with its KMS signature (written as receipt.sig.json beside it), or as
    it is with the problem that kept it unsigned: the copy stands either way."""
    try:
        if kms is None:
            raise ReceiptNotSigned("no KMS client was given to sign with")
        signature: ReceiptSignature = sign_digest(kms, key_id, receipt.sha256)
    except (ReceiptNotSigned, ClientError, BotoCoreError) as exc:
        text = exc.message if isinstance(exc, ReceiptNotSigned) else str(exc)
        logger.warning("receipt not signed", extra={"key": key_id, "error": text})
        message = f"the receipt is not signed: {text}"
        return receipt, [{"row": None, "field": "receiptSigningKeyId", "message": message}]
    target = report.join(SIGNATURE_NAME)
    s3.put_object(
        Bucket=target.bucket,
        Key=target.key,
        Body=signature_body(signature),
        ContentType="application/json",
    )
    signed = receipt.model_copy(update={"signature_uri": str(target), "signature": signature})
    return signed, []


@dataclass(slots=True)
class _RestoreTally:
    """Archived sources restored for the run (seen done by Thaw) and the time from the
    first restore asked for to the last seen done, gathered from each archived batch's
    ``restores/<batchId>.json`` on the report's pass."""

    objects: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, record: dict[str, dict[str, str]]) -> None:
        for entry in record.values():
            ready = _stamp(entry.get("readyAt"))
            if ready is None:
                continue
            self.objects += 1
            asked = _stamp(entry.get("requestedAt")) or ready
            self.first = asked if self.first is None else min(self.first, asked)
            self.last = ready if self.last is None else max(self.last, ready)

    def wait_seconds(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        return round(max((self.last - self.first).total_seconds(), 0.0), 3)


def _stamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Written:
    """What the pass wrote into the receipt."""

    sha256: str
    objects: int
    size: int


def _write_report(
    s3: Any,
    reader: ObjectReader,
    work: RunLocation,
    tally: _Tally,
    *,
    bucket: str,
    key: str,
    concurrency: int,
    stats: ReportStats | None = None,
    batches: list[BatchRef] | None = None,
    receipt: tuple[S3Uri, dict[str, Any]] | None = None,
    restores: _RestoreTally | None = None,
) -> _Written:
    """report.csv (and, given ``receipt`` = its location and header, receipt.jsonl) in
    one pass over the results, in the index's order; given ``restores``, the archived
    batches' restore records are read on the same pass (counted there, and each restored
    object's restore in its receipt line)."""
    area = WorkArea(s3, work)
    if batches is None:
        batches = area.read_index()
    decode = json.JSONDecoder().decode
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(concurrency, thread_name_prefix="results"))
        raw = stack.enter_context(MultipartWriter(s3, bucket, key, content_type="text/csv"))
        evidence: ReceiptWriter | None = None
        if receipt is not None:
            where, header = receipt
            target = stack.enter_context(
                MultipartWriter(s3, where.bucket, where.key, content_type=RECEIPT_CONTENT_TYPE)
            )
            evidence = ReceiptWriter(target, header)
        # rows are formatted into a small text buffer and written out in ~1 MiB pieces:
        # a csv writer over a TextIOWrapper costs several times more per row
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)

        tally_restores = restores if restores is not None else _RestoreTally()

        def fetch(batch: BatchRef) -> tuple[bytes | None, dict[str, dict[str, str]]]:
            record = (
                area.read_restores(batch.batch_id)
                if restores is not None and batch.archived
                else {}
            )
            return reader(work.bucket, work.results_key(batch.batch_id)), record

        for batch, (body, record) in _windowed(pool, batches, fetch, concurrency * 4):
            tally_restores.add(record)  # {} unless restores are asked for
            seen: dict[str, dict[str, Any]] = {}
            if body:
                for line in body.split(b"\n"):  # bytes: only \n ends a line
                    if line.strip():
                        result = decode(line.decode())
                        seen[result["destination"]] = result  # a retry's line wins
            for result in seen.values():
                status = result["status"]
                size = int(result.get("bytes") or 0)
                tally.add(status, size)
                if stats is not None:
                    stats.add_result(result, batch.lane)
                if evidence is not None:
                    restored = (
                        record.get(S3Uri.parse(result["destination"]).key) if record else None
                    )
                    evidence.add(result, restored)
                writer.writerow(
                    (
                        result["source"],
                        result["destination"],
                        status,
                        size,
                        result.get("checksum") or "",
                        result.get("seconds", 0),
                        _error_text(result),
                    )
                )
            if len(seen) < batch.objects:
                _unaccounted(
                    area,
                    batch,
                    seen=seen,
                    partial=body is not None,
                    tally=tally,
                    writer=writer,
                    stats=stats,
                )
            if buffer.tell() >= MiB:
                raw.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
        raw.write(buffer.getvalue().encode())
        if evidence is None:
            return _Written("", 0, 0)
        evidence.end(tally.counts, tally.status())
        return _Written(evidence.sha256, evidence.objects, evidence.size)


def _unaccounted(
    area: WorkArea,
    batch: BatchRef,
    *,
    seen: dict[str, dict[str, Any]],
    partial: bool,
    tally: _Tally,
    writer: Any,
    stats: ReportStats | None = None,
) -> None:
    """FAILED rows for the planned objects of ``batch`` that have no result."""
    code = "NotAttempted" if partial else "BatchFailed"
    if not partial:
        tally.batches_failed += 1
    message = (
        "the batch stopped before this object"
        if partial
        else f"batch {batch.batch_id} ({batch.lane} lane) failed after its retries"
    )
    for item in area.read_batch(batch):
        source = str(S3Uri(item.source_bucket, item.source_key))
        destination = str(S3Uri(item.destination_bucket, item.destination_key))
        if destination in seen:
            continue
        size = item.size if item.size is not None else (item.expected_size or 0)
        tally.add(Status.FAILED, size)
        if stats is not None:
            stats.add(
                ObjectRow(
                    source, destination, Status.FAILED.value, size, 0.0, batch.lane, code, message
                )
            )
        writer.writerow(
            (source, destination, Status.FAILED.value, size, "", 0, f"{code}: {message}")
        )


def _write_summary(s3: Any, notice: Notice) -> None:
    body = json.dumps(notice.to_payload(), ensure_ascii=False, indent=2).encode()
    targets = [(notice.work.bucket, notice.work.key("summary.json"))]
    if notice.summary_uri:
        summary = S3Uri.parse(notice.summary_uri)
        targets.append((summary.bucket, summary.key))
    for bucket, key in targets:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


# -- the failure path --------------------------------------------------------------------


def problems_of(error: StepError) -> tuple[list[dict[str, Any]], int, str]:
    """(problems, how many more, message) from a caught error's Cause.

    A Lambda error's Cause is ``{"errorMessage", "errorType", ...}`` whose errorMessage is
    our JSON (see steps_s3_copy.errors); anything else becomes one problem with its text.
    """
    cause = error.cause or ""
    message = cause
    try:
        outer = json.loads(cause)
    except ValueError:
        outer = None
    if isinstance(outer, dict) and "errorMessage" in outer:
        message = str(outer["errorMessage"])
    body = parse_error_message(message)
    if body is None:
        text = message or error.error
        return [{"row": None, "field": None, "message": text}], 0, text
    problems = list(body.get("problems", []))[:MAX_PROBLEMS_IN_MESSAGE]
    if not problems:
        problems = [{"row": None, "field": None, "message": body["message"]}]
    return problems, int(body.get("moreProblems", 0)), str(body["message"])


def summarise_failure(
    error: StepError,
    raw_input: Any,
    execution: ExecutionContext,
    *,
    s3: Any,
    layout: InboxLayout,
    now: datetime | None = None,
) -> Notice:
    """The FAILED notice of a run whose Prepare (or another step) failed; writes summary.json."""
    job_name = "unknown"
    manifest: str | None = None
    requester: str | None = None
    if isinstance(raw_input, dict):
        try:
            source = job_source(raw_input, layout.jobs_prefix)
        except StepsS3CopyError:
            pass
        else:
            job_name, manifest = source.job_name, source.manifest_uri
            requester = source.requester
    problems, more, _ = problems_of(error)
    finished = now or datetime.now(UTC)
    started_at, duration = _duration(execution, finished)
    report = layout.report_uri(job_name, execution.name)
    notice = Notice(
        job_name=job_name,
        run_id=execution.name,
        execution_id=execution.id,
        manifest=manifest,
        status="FAILED",
        started_at=started_at,
        finished_at=finished.isoformat(),
        duration_seconds=duration,
        summary_uri=str(report.join("summary.json")),
        work=layout.work(job_name, execution.name),
        requester=requester,
        error=error.error,
        problems=problems,
        more_problems=more,
    )
    _write_summary(s3, notice)
    logger.info(
        "run failed",
        extra={"job": job_name, "run_id": execution.name, "error": error.error},
    )
    observability.run_ended(job_name, notice.status)
    return notice


# -- the step ----------------------------------------------------------------------------


def run(
    payload: SummarisePayload,
    *,
    s3: Any,
    layout: InboxLayout,
    kms: Any = None,
    reader: ObjectReader | None = None,
    now: datetime | None = None,
) -> Notice:
    """The Summarise step: the notice of a run that copied (or planned a dry run), or of a
    run whose earlier step failed (the Catch's ``error`` with the execution input)."""
    if payload.error is not None:
        return summarise_failure(
            payload.error, payload.input, payload.execution, s3=s3, layout=layout, now=now
        )
    if payload.prepared is None:
        raise InputInvalid("a Summarise payload needs 'prepared' or 'error'")
    return summarise(payload.prepared, payload.execution, s3=s3, kms=kms, reader=reader, now=now)

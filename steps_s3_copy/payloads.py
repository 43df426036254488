"""What each step of the state machine takes and returns: the payload models, in one place.

``models.py`` holds what is stored in a run's working area (plan lines, index rows,
results, ``run.json``); this module holds what travels between the steps (docs/
architecture.md has the same contract in prose). The Lambda handlers and the local runner
parse their input with these models and hand it to the step's ``run`` function.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, model_validator

from steps_s3_copy.models import BatchRef, Model, RunLocation
from steps_s3_copy.receipt import ReceiptInfo

RunStatus = Literal["SUCCEEDED", "PARTIAL", "FAILED"]


class Payload(Model):
    """Base of the step payloads: camelCase, strict about unknown fields."""

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


#: envelopes the state machine builds: unknown keys are ignored
_LENIENT = Model.model_config | ConfigDict(extra="ignore")


class ExecutionContext(Payload):
    """``$$.Execution`` of the state machine: the run id is its ``name``.

    Accepts the camelCase keys of the contract and the PascalCase keys of the context object.
    """

    model_config = _LENIENT

    id: str
    name: str
    start_time: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _camel_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                (k[:1].lower() + k[1:]) if isinstance(k, str) else k: v for k, v in data.items()
            }
        return data


# -- Prepare ------------------------------------------------------------------------------


class PreparePayload(Payload):
    """Prepare's input: ``{"input": <execution input>, "execution": {...}}``."""

    input: dict[str, Any]
    execution: ExecutionContext


class ArchivedSummary(Model):
    """The archived sources of a run: restored before they are copied."""

    objects: int
    bytes: int
    by_storage_class: dict[str, int]
    tier: str
    days: int
    #: how long the slowest restore may take (AWS's figure for the class and tier)
    expected_hours: float


class PrepareResult(Payload):
    """What Prepare returns to the state machine."""

    job_name: str
    run_id: str
    #: s3:// URI of the manifest
    manifest: str
    work: RunLocation
    index_key: str
    objects: int
    bytes: int
    #: batches per lane: {"lambda": n, "fargate": n}
    batches: dict[str, int]
    max_concurrency: int
    dry_run: bool
    #: s3://bucket/prefix/ where Summarise writes report.csv and summary.json
    report_uri: str
    #: who wrote the sidecar (the S3 event's detail.requester; None for the direct input)
    requester: str | None = None
    #: the lane cut-off the run uses (the sidecar's or the deployment's, clamped)
    lane_cutoff_bytes: int | None = None
    #: what Prepare changed from what the sidecar asked, and why
    notes: list[str] = []
    #: archived sources to restore first (None: none)
    archived: ArchivedSummary | None = None
    #: s3://bucket/prefix the objects are copied to (the receipt's header names it)
    destination: str | None = None
    #: the KMS key Summarise signs the receipt's digest with (the sidecar's
    #: receiptSigningKeyId; None: unsigned)
    receipt_signing_key_id: str | None = None
    #: s3:// prefix in the destination where Finish delivers the report files and the
    #: receipt (None: the sidecar's deliverToDestination is off)
    delivery_uri: str | None = None


# -- one batch ---------------------------------------------------------------------------


class CopyPayload(Payload):
    """One Map item: ``{"batch": <index.csv row, values as strings>, "work": {...}}``."""

    model_config = _LENIENT

    batch: BatchRef
    work: RunLocation


class BatchOutcome(Payload):
    """What running one batch returns (to the Map, and printed by the container)."""

    batch_id: int
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    bytes_failed: int = 0
    #: objects not attempted because the run was interrupted (SIGTERM, Lambda time)
    not_attempted: int = 0
    interrupted: bool = False
    results_key: str | None = None


# -- Destination -------------------------------------------------------------------------


class CheckPayload(Payload):
    """CheckDestination's input: ``{"prepared": PrepareResult}``."""

    model_config = _LENIENT

    prepared: PrepareResult


# -- Summarise ---------------------------------------------------------------------------


class StepError(Payload):
    """What a Catch puts in ``$.error``: ``{"Error": name, "Cause": text}``."""

    model_config = Model.model_config | ConfigDict(alias_generator=lambda name: name.capitalize())

    error: str
    cause: str | None = None


class SummarisePayload(Payload):
    """``{"prepared": PrepareResult, "execution": ...}`` after a copy (or a dry run), or
    ``{"error": {"Error", "Cause"}, "input": <execution input>, "execution": ...}`` after a
    caught failure."""

    model_config = _LENIENT

    execution: ExecutionContext
    prepared: PrepareResult | None = None
    error: StepError | None = None
    input: Any = None


class StatusCounts(Model):
    copied: int = 0
    skipped: int = 0
    failed: int = 0


class PlanSummary(Model):
    objects: int
    bytes: int
    #: batches per lane: {"lambda": n, "fargate": n}
    batches: dict[str, int]


class Notice(Payload):
    """The completion notice: published as JSON on SNS, and written as summary.json."""

    job_name: str
    run_id: str
    execution_id: str
    #: s3:// URI of the manifest (None when the input named none)
    manifest: str | None = None
    status: RunStatus
    dry_run: bool = False
    #: objects and bytes per status
    counts: StatusCounts = StatusCounts()
    bytes: StatusCounts = StatusCounts()
    #: what Prepare planned (None when Prepare failed)
    planned: PlanSummary | None = None
    started_at: str | None = None
    finished_at: str
    duration_seconds: float
    #: s3:// URI of report.csv (None for a dry run or a failed Prepare)
    report_uri: str | None = None
    #: s3:// URI of report.html, the report to look at (None when there is no report.csv)
    report_html_uri: str | None = None
    summary_uri: str | None = None
    #: the run's working area (where notice.json makes publishing idempotent)
    work: RunLocation
    #: who wrote the sidecar that started the run (the S3 event's detail.requester)
    requester: str | None = None
    #: the error name and its problems when the run failed before copying
    error: str | None = None
    problems: list[dict[str, Any]] = []
    more_problems: int = 0
    #: incomplete multipart uploads of the run's destination keys aborted at its end
    uploads_aborted: int = 0
    #: the receipt (receipt.jsonl beside report.csv): its SHA-256, object count and, when
    #: the sidecar named receiptSigningKeyId, the KMS signature of that digest
    receipt: ReceiptInfo | None = None
    #: s3:// prefix in the destination where the report files and the receipt are
    #: delivered at the end of the run (None: deliverToDestination is off, or no report)
    delivery_uri: str | None = None
    #: whether the Destination step delivered them there (set by Finish)
    delivered: bool = False
    #: archived sources restored for this run, and how long the restores took (the first
    #: RestoreObject to the last restore seen done, seconds; None when none was restored)
    objects_restored: int = 0
    restore_wait_seconds: float | None = None


class NoticeResult(Payload):
    """Summarise's and Finish's answer: ``{"notice": Notice}``."""

    notice: Notice


# -- Notify ------------------------------------------------------------------------------


class NotifyPayload(Payload):
    """``{"notice": Notice}``."""

    model_config = _LENIENT

    notice: Notice


class FinishPayload(Payload):
    """Finish's input: ``{"notice": Notice}`` (it returns the same shape)."""

    model_config = _LENIENT

    notice: Notice


class PublishResult(Payload):
    """Notify's answer."""

    published: bool
    message_id: str | None = None

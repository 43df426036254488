"""The contracts every part of the pipeline shares.

Prepare writes them, the copy engine (Lambda lane and Fargate container) reads and
writes them, Summarise reads them. Everything that crosses a process or S3 boundary is
a pydantic model serialised with camelCase keys (``model_dump(by_alias=True)``), the
same style as the sidecar the user writes.

The working area of one run (``RunLocation``) holds::

    <prefix>/run.json             RunConfig: the job, the validated options
    <prefix>/plan.jsonl           one CopyItem per line; the lines of one batch are contiguous
    <prefix>/index.csv            one BatchRef per row (header row first): the Map's items
    <prefix>/results/<id>.jsonl   one ObjectResult per line, written by the batch <id>
    <prefix>/summary.json         written by Summarise
    <prefix>/notice.json          the published notice (its presence makes publishing idempotent)

A batch is a byte range ``[start, end)`` of ``plan.jsonl``, so a million-row plan is one
object plus one index, and no file list ever travels through a task's environment.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

#: CopyObject refuses sources above this; larger objects need a multipart copy.
MAX_COPY_OBJECT_BYTES = 5 * GiB
#: S3 limits for multipart uploads.
MAX_PARTS = 10_000
MIN_PART_BYTES = 5 * MiB
MAX_PART_BYTES = 5 * GiB
MAX_OBJECT_BYTES = 5 * TiB

INDEX_COLUMNS = (
    "batchId",
    "lane",
    "start",
    "end",
    "objects",
    "bytes",
    "timeoutSeconds",
    "archived",
)


class Model(BaseModel):
    """Base for every boundary model: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class ChecksumAlgorithm(StrEnum):
    CRC32 = "CRC32"
    CRC32C = "CRC32C"
    CRC64NVME = "CRC64NVME"
    SHA1 = "SHA1"
    SHA256 = "SHA256"


class OverwritePolicy(StrEnum):
    #: skip when the destination has the same size and matching content evidence; otherwise copy
    IF_DIFFERENT = "if-different"
    #: always copy, even when the destination looks identical
    ALWAYS = "always"
    #: never replace an existing destination object (skip it whatever its content)
    NEVER = "never"


class Lane(StrEnum):
    LAMBDA = "lambda"
    FARGATE = "fargate"


class Status(StrEnum):
    COPIED = "COPIED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


StorageClass = Literal[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
]


class ExpectedChecksum(Model):
    """A checksum the manifest promises for a source object.

    ``value`` is base64, as S3 reports it (``ETAG`` is the quoted-or-bare hex ETag). It is
    checked against the destination after the copy.
    """

    algorithm: ChecksumAlgorithm | Literal["ETAG"]
    value: str


class CopyItem(Model):
    """One object to copy: a line of ``plan.jsonl``."""

    source_bucket: str
    source_key: str
    source_version_id: str | None = None
    destination_bucket: str
    destination_key: str
    #: size the manifest promised (checked against the source before copying)
    expected_size: Annotated[int, Field(ge=0)] | None = None
    expected_checksum: ExpectedChecksum | None = None
    #: size and ETag of the source as Prepare saw it (saves a HeadObject per object)
    size: Annotated[int, Field(ge=0)] | None = None
    etag: str | None = None
    #: the source's storage class as Prepare saw it (None: STANDARD, or not looked at)
    storage_class: str | None = None
    #: an archived source's restore, as Prepare saw it: "needed" (none asked yet),
    #: "ongoing" (asked, not done), "done" (a restored copy is readable); None: not archived
    restore: Literal["needed", "ongoing", "done"] | None = None


#: storage classes whose objects must be restored before they can be read (GLACIER_IR need
#: not: https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects.html);
#: INTELLIGENT_TIERING only in its archive tiers, which HeadObject's ArchiveStatus tells
ARCHIVE_STORAGE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE", "INTELLIGENT_TIERING"})
RestoreTier = Literal["Bulk", "Standard", "Expedited"]


class RestoreOptions(Model):
    """How archived sources are restored before they are copied (the sidecar's ``restore``)."""

    tier: RestoreTier
    #: how long the restored copy stays readable (the copy must happen within it)
    days: Annotated[int, Field(strict=True, ge=1, le=365)] = 7


class CopyOptions(Model):
    """How to copy: taken from the sidecar, the same for every object of a run."""

    storage_class: StorageClass | None = None
    sse_kms_key_id: str | None = None
    copy_tags: bool = True
    copy_metadata: bool = True
    #: additional checksum the destination gets; None keeps whatever the source has
    checksum_algorithm: ChecksumAlgorithm | None = None
    requester_pays: bool = False
    overwrite: OverwritePolicy = OverwritePolicy.IF_DIFFERENT
    #: the destination account, sent as ExpectedBucketOwner on every destination request
    destination_account: Annotated[str, Field(pattern=r"^\d{12}$")] | None = None
    #: objects copied at once within one batch
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    #: UploadPartCopy calls at once within one multipart copy
    part_concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    #: objects above this size (and multipart sources) are copied with UploadPartCopy
    multipart_threshold: Annotated[int, Field(ge=MIN_PART_BYTES, le=MAX_COPY_OBJECT_BYTES)] = (
        MAX_COPY_OBJECT_BYTES
    )
    #: part size for single-part sources copied in parts (raised when 10,000 parts do not fit)
    part_size: Annotated[int, Field(ge=MIN_PART_BYTES, le=MAX_PART_BYTES)] = 256 * MiB


class ObjectResult(Model):
    """The outcome of one object: a line of ``results/<batchId>.jsonl``."""

    source: str
    destination: str
    status: Status
    bytes: Annotated[int, Field(ge=0)] = 0
    method: Literal["copy", "multipart", "skip", "none"] = "none"
    #: content evidence: "ETAG:<etag>" or "<ALGORITHM>:<base64>[-<parts>]"
    checksum: str | None = None
    seconds: float = 0.0
    error_code: str | None = None
    error_message: str | None = None
    #: when the object's copy ended (seconds since the epoch): throughput over time
    finished_at: float | None = None
    #: the receipt's evidence (COPIED and SKIPPED), from answers the engine already had:
    #: the source as copied (version id when known, size, ETag without quotes, checksum
    #: "<ALGORITHM>:<base64>" when a HeadObject of the source showed one) ...
    source_version_id: str | None = None
    source_size: Annotated[int, Field(ge=0)] | None = None
    source_etag: str | None = None
    source_checksum: str | None = None
    #: ... and the destination as written or found (a listing gives no version id and no
    #: checksum value; CopyObject's answer and HeadObject do)
    destination_version_id: str | None = None
    destination_size: Annotated[int, Field(ge=0)] | None = None
    destination_etag: str | None = None
    destination_checksum: str | None = None


class RunLocation(Model):
    """Where one run's working area is."""

    bucket: str
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix.rstrip('/')}/{name}"

    @property
    def run_config_key(self) -> str:
        return self.key("run.json")

    @property
    def plan_key(self) -> str:
        return self.key("plan.jsonl")

    @property
    def index_key(self) -> str:
        return self.key("index.csv")

    def results_key(self, batch_id: int) -> str:
        return self.key(f"results/{batch_id:08d}.jsonl")

    @property
    def results_prefix(self) -> str:
        return self.key("results/")


class BatchRef(Model):
    """One Map item: a row of ``index.csv`` pointing at a byte range of ``plan.jsonl``.

    Step Functions reads CSV values as strings; pydantic turns them back into numbers.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    batch_id: Annotated[int, Field(ge=0)]
    lane: Lane
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]
    objects: Annotated[int, Field(ge=0)]
    bytes: Annotated[int, Field(ge=0)]
    #: how long the batch's task state may run (the Fargate lane's TimeoutSecondsPath)
    timeout_seconds: Annotated[int, Field(ge=1)] = 900
    #: objects of the batch still to be restored: the batch waits in Thaw first
    archived: Annotated[int, Field(ge=0)] = 0


class RunConfig(Model):
    """``run.json``: what Prepare decided for the run, read by every batch and by Summarise.

    Batches need only ``options``; the rest is for Summarise and the notice.
    """

    job_name: str
    run_id: str
    #: s3:// URI of the manifest CSV, and of the sidecar (None for the direct input)
    manifest: str
    sidecar: str | None = None
    destination_bucket: str
    destination_prefix: str = ""
    options: CopyOptions = CopyOptions()
    #: s3:// URI prefix in the inbox where Summarise writes report.csv and summary.json
    report_uri: str
    #: the sidecar's reportUri when it is outside the inbox: the Destination step copies
    #: the report there at the end of the run (as the writer role)
    deliver_uri: str | None = None
    dry_run: bool = False
    #: how archived sources are restored (None: the run has none, or none may be restored)
    restore: RestoreOptions | None = None
    #: the KMS key Summarise signs the receipt's digest with (None: the receipt is unsigned)
    receipt_signing_key_id: str | None = None
    #: the Destination step delivers the report files and the receipt into the destination
    #: (``<destinationPrefix>.steps-s3-copy/runs/<job>/<run-id>/``) at the end of the run
    deliver_to_destination: bool = True
    objects: int = 0
    bytes: int = 0
    batches: int = 0
    created_at: str

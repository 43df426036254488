"""The sidecar (``jobs/<name>.json``) and the original direct input, as validated models.

Unknown fields, wrong types and out-of-range values are errors naming the field
(``SidecarInvalid``). Integers and booleans are strict: ``"10"`` is not a number and
``"yes"`` is not a boolean. See docs/manifest.md for the reference with examples.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from steps_s3_copy.errors import Problems, SidecarInvalid
from steps_s3_copy.models import (
    ChecksumAlgorithm,
    CopyOptions,
    GiB,
    MiB,
    Model,
    OverwritePolicy,
    RestoreOptions,
    StorageClass,
    TiB,
)
from steps_s3_copy.s3uri import S3Uri

DEFAULT_MAX_ITEMS_PER_BATCH = 10
MAX_ITEMS_PER_BATCH = 1000
DEFAULT_MAX_BYTES_PER_BATCH = 100 * GiB
MIN_MAX_BYTES_PER_BATCH = 1 * MiB
DEFAULT_MAX_CONCURRENCY = 25
MAX_CONCURRENCY = 1000
#: objects larger than this go to the Fargate lane (the rest to the Lambda lane)
DEFAULT_LANE_CUTOFF_BYTES = 1 * GiB

#: bucket names as S3 accepts them (including legacy us-east-1 names with capitals and _)
BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
#: a KMS key as S3's SSEKMSKeyId takes it: key id, key ARN, alias name or alias ARN
#: (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id); nothing
#: else reaches the x-amz-server-side-encryption-aws-kms-key-id header
KMS_KEY_RE = re.compile(
    r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})"
    r"|[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})$"
)
#: a sidecar is a few hundred bytes; anything this large is not one
MAX_SIDECAR_BYTES = 64 * 1024


def _bucket(value: str) -> str:
    if not BUCKET_RE.match(value):
        raise ValueError(f"{value!r} is not a valid bucket name")
    return value


def _s3_prefix_uri(value: str) -> str:
    try:
        uri = S3Uri.parse(value).as_prefix()
    except ValueError as exc:
        raise ValueError(f"must be an s3:// URI, e.g. s3://bucket/reports/ ({exc})") from exc
    _bucket(uri.bucket)
    return str(uri)


StrictInt = Annotated[int, Field(strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]


class Sidecar(Model):
    """``jobs/<name>.json``: where to copy to and how. Only ``destinationBucket`` is required."""

    destination_bucket: str
    #: prepended to every destination key as written ("" keeps the source key as it is)
    destination_prefix: str = ""
    max_items_per_batch: Annotated[int, Field(strict=True, ge=1, le=MAX_ITEMS_PER_BATCH)] = (
        DEFAULT_MAX_ITEMS_PER_BATCH
    )
    max_bytes_per_batch: Annotated[
        int, Field(strict=True, ge=MIN_MAX_BYTES_PER_BATCH, le=5 * TiB)
    ] = DEFAULT_MAX_BYTES_PER_BATCH
    max_concurrency: Annotated[int, Field(strict=True, ge=1, le=MAX_CONCURRENCY)] = (
        DEFAULT_MAX_CONCURRENCY
    )
    #: objects above this size are copied by the Fargate lane (default: the deployment's)
    lane_cutoff_bytes: Annotated[int, Field(strict=True, ge=0, le=5 * TiB)] | None = None
    storage_class: StorageClass | None = None
    sse_kms_key_id: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    copy_tags: StrictBool = True
    copy_metadata: StrictBool = True
    checksum_algorithm: ChecksumAlgorithm | None = None
    requester_pays: StrictBool = False
    overwrite: OverwritePolicy = OverwritePolicy.IF_DIFFERENT
    destination_account: Annotated[str, Field(pattern=r"^\d{12}$")] | None = None
    dry_run: StrictBool = False
    #: restore archived sources (GLACIER, DEEP_ARCHIVE, Intelligent-Tiering's archive tiers)
    #: before copying them; without it a run meeting one fails before anything is copied
    restore: RestoreOptions | None = None
    #: copy from sources in other regions (inter-region transfer is charged per GiB)
    allow_cross_region: StrictBool = False
    #: s3://bucket/prefix/ for report.csv and summary.json (default: the deployment's)
    report_uri: str | None = None
    #: a KMS key (asymmetric, SIGN_VERIFY) that signs the receipt's SHA-256 digest; one of
    #: the keys the deployment names (its KMS_KEYS)
    receipt_signing_key_id: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    #: write report.csv, report.html and receipt.jsonl into the destination, under
    #: <destinationPrefix>.steps-s3-copy/runs/<job>/<run-id>/, once the run has ended
    deliver_to_destination: StrictBool = True

    @field_validator("destination_bucket")
    @classmethod
    def _check_bucket(cls, value: str) -> str:
        return _bucket(value)

    @field_validator("destination_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if value.startswith("/"):
            raise ValueError("must not start with '/'")
        if len(value.encode()) > 512:
            raise ValueError("must be at most 512 bytes")
        return value

    @field_validator("sse_kms_key_id", "receipt_signing_key_id")
    @classmethod
    def _check_kms_key(cls, value: str | None) -> str | None:
        if value is not None and not KMS_KEY_RE.match(value):
            raise ValueError(
                "must be a KMS key id, key ARN, alias (alias/name) or alias ARN"
                f" (got {value[:80]!r})"
            )
        return value

    @field_validator("checksum_algorithm", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("report_uri")
    @classmethod
    def _check_report_uri(cls, value: str | None) -> str | None:
        return None if value is None else _s3_prefix_uri(value)

    def copy_options(self) -> CopyOptions:
        return CopyOptions(
            storage_class=self.storage_class,
            sse_kms_key_id=self.sse_kms_key_id,
            copy_tags=self.copy_tags,
            copy_metadata=self.copy_metadata,
            checksum_algorithm=self.checksum_algorithm,
            requester_pays=self.requester_pays,
            overwrite=self.overwrite,
            destination_account=self.destination_account,
        )


class DirectInput(Sidecar):
    """The original system's input, given to the state machine directly::

        {"sourceFilesCsvBucket": "b", "sourceFilesCsvKey": "k.csv",
         "destinationBucket": "d", "maxItemsPerBatch": 10}

    Every sidecar field is accepted here too.
    """

    source_files_csv_bucket: str
    source_files_csv_key: Annotated[str, Field(min_length=1)]

    @field_validator("source_files_csv_bucket")
    @classmethod
    def _check_csv_bucket(cls, value: str) -> str:
        return _bucket(value)


def _problems_of(exc: ValidationError) -> Problems:
    problems = Problems()
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or None
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = f"unknown field {field!r}"
        elif err["type"] == "missing":
            message = f"required field {field!r} is missing"
        problems.add(message, field=field, code="SidecarInvalid")
    return problems


def parse_sidecar(data: bytes | str, *, where: str) -> Sidecar:
    """Validate the sidecar's JSON text; ``SidecarInvalid`` lists every field in error."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarInvalid(f"{where} is larger than {MAX_SIDECAR_BYTES} bytes: not a sidecar")
    try:
        raw = json.loads(data)
    except RecursionError as exc:
        raise SidecarInvalid(f"{where} is not a sidecar: JSON nested too deeply") from exc
    except ValueError as exc:
        raise SidecarInvalid(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SidecarInvalid(f"{where} must be a JSON object")
    try:
        return Sidecar.model_validate(raw)
    except ValidationError as exc:
        problems = _problems_of(exc)
        raise SidecarInvalid(
            f"{problems.total} problem(s) in the sidecar {where}", problems.items
        ) from exc


def parse_direct_input(raw: dict[str, Any]) -> DirectInput:
    """Validate the direct input; ``SidecarInvalid`` names every field in error."""
    try:
        return DirectInput.model_validate(raw)
    except ValidationError as exc:
        problems = _problems_of(exc)
        raise SidecarInvalid(
            f"{problems.total} problem(s) in the direct input", problems.items
        ) from exc

"""One validation of a job, for Prepare and for ``s3copy validate`` alike.

Everything that can be checked without an AWS call is checked here, by the same code in
both places, with the same messages: the sidecar (its model, then the deployment's
boundaries), every manifest row (its form, its keys, where it reads from), and every
object's destination (its key, that it is not its own source, that no two objects land
on the same key). Prepare adds what needs AWS (sizes, existence, writability) on top.

The boundaries are what the deployment lets a job touch: the inbox bucket is never a
source or a destination (it holds other jobs, working files and reports), and when the
deployment names its source and destination buckets, nothing else is read or written.
IAM enforces the same at run time; these checks make a violation a clear error, with its
row or field, before anything is copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from steps_s3_copy.errors import Problem, Problems, StepsS3CopyError
from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, DEFAULT_REPORTS_PREFIX, DEFAULT_WORK_PREFIX
from steps_s3_copy.manifest import (
    JsonlManifestReader,
    ManifestReader,
    ManifestRow,
    decoded_lines,
    key_problem,
)
from steps_s3_copy.receipt import reserved_prefix
from steps_s3_copy.s3uri import S3Uri
from steps_s3_copy.sidecar import Sidecar, parse_sidecar


@dataclass(frozen=True, slots=True)
class Boundaries:
    """What a deployment lets a job read and write (unknown offline: ``None`` / empty)."""

    #: the inbox bucket: jobs, working areas and reports; never a source or a destination
    inbox_bucket: str | None = None
    #: the part of the inbox the service owns: "" (the whole bucket) for a deployment; a
    #: prefix such as ".steps-s3-copy/" when a local run shares a bucket with data
    inbox_prefix: str = ""
    jobs_prefix: str = DEFAULT_JOBS_PREFIX
    work_prefix: str = DEFAULT_WORK_PREFIX
    reports_prefix: str = DEFAULT_REPORTS_PREFIX
    #: buckets objects may be read from / written to; None: not restricted by name
    source_buckets: frozenset[str] | None = None
    destination_buckets: frozenset[str] | None = None
    #: KMS keys a sidecar may name for SSE-KMS; None or empty: not restricted by name
    kms_keys: frozenset[str] | None = None
    #: KMS keys a sidecar may name as ``receiptSigningKeyId``: the deployment's (its
    #: ``KMS_KEYS``, the only keys Summarise may sign with; empty: none); None: not known
    #: (``s3copy validate`` offline checks the key's form only)
    signing_keys: frozenset[str] | None = None


def _listed(buckets: frozenset[str]) -> str:
    return ", ".join(sorted(buckets)) or "none"


def owned_prefix(*prefixes: str) -> str:
    """The folder the given prefixes share ("" when they share none): what the service
    owns in its inbox bucket."""
    folders = [prefix.split("/")[:-1] for prefix in prefixes]
    shared: list[str] = []
    for parts in zip(*folders, strict=False):
        if any(part != parts[0] for part in parts):
            break
        shared.append(parts[0])
    return "".join(f"{part}/" for part in shared)


class JobChecker:
    """The checks of one job that need no AWS call; problems go to ``problems``."""

    def __init__(self, sidecar: Sidecar, boundaries: Boundaries, problems: Problems) -> None:
        self.sidecar = sidecar
        self.boundaries = boundaries
        self.problems = problems
        self._destinations: dict[int, int] = {}
        #: the first row reading each source bucket (where a bucket-wide problem is shown)
        self.first_rows: dict[str, int] = {}

    # -- the sidecar --------------------------------------------------------------------

    def check_sidecar(self) -> None:
        """The sidecar against the boundaries (its own fields are checked by its model)."""
        bounds = self.boundaries
        bucket = self.sidecar.destination_bucket
        if bucket == bounds.inbox_bucket and not bounds.inbox_prefix:
            self._sidecar_problem(
                "destinationBucket",
                f"{bucket!r} is this deployment's inbox (its jobs, working files and reports):"
                " it is never a destination",
            )
        elif bounds.destination_buckets is not None and bucket not in bounds.destination_buckets:
            self._sidecar_problem(
                "destinationBucket",
                f"{bucket!r} is not one of the buckets this deployment may write "
                f"({_listed(bounds.destination_buckets)})",
            )
        if self.sidecar.report_uri:
            self._check_report_uri(S3Uri.parse(self.sidecar.report_uri))
        key = self.sidecar.sse_kms_key_id
        if key and bounds.kms_keys and key not in bounds.kms_keys:
            self._sidecar_problem(
                "sseKmsKeyId",
                f"{key!r} is not one of the KMS keys this deployment may use "
                f"({_listed(bounds.kms_keys)}); name the key by its ARN as deployed",
            )
        self._check_signing_key()

    def _check_signing_key(self) -> None:
        key = self.sidecar.receipt_signing_key_id
        keys = self.boundaries.signing_keys
        if not key or keys is None:
            return
        if not keys:
            self._sidecar_problem(
                "receiptSigningKeyId",
                f"{key!r} cannot sign receipts here: this deployment names no KMS keys "
                "(kms_keys), and Summarise may sign with no other key; deploy with the key "
                "in kms_keys, or leave receiptSigningKeyId out",
            )
        elif key not in keys:
            self._sidecar_problem(
                "receiptSigningKeyId",
                f"{key!r} is not one of the KMS keys this deployment may sign receipts with "
                f"({_listed(keys)}); name the key by its ARN as deployed",
            )

    def _check_report_uri(self, uri: S3Uri) -> None:
        bounds = self.boundaries
        if uri.bucket == bounds.inbox_bucket:
            if not uri.key.startswith(bounds.reports_prefix):
                self._sidecar_problem(
                    "reportUri",
                    f"{uri} is in the inbox outside {bounds.reports_prefix}: the inbox's "
                    f"{bounds.jobs_prefix} and {bounds.work_prefix} belong to the service "
                    "(a report there could start or overwrite a job)",
                )
        elif bounds.destination_buckets is not None and uri.bucket not in (
            bounds.destination_buckets
        ):
            self._sidecar_problem(
                "reportUri",
                f"{uri} is neither in the inbox's {bounds.reports_prefix} nor in a bucket this "
                f"deployment may write ({_listed(bounds.destination_buckets)})",
            )

    def _reserved_problem(self, destination_key: str) -> str | None:
        """Why a destination key (or folder) may not be written: it is under the folder the
        service keeps for itself in the destination (write checks, delivered receipts)."""
        reserved = reserved_prefix(self.sidecar.destination_prefix)
        if destination_key.startswith(reserved):
            return (
                f"{destination_key!r} is under {reserved!r}, which the service keeps for its "
                "write checks and the runs' delivered reports and receipts"
            )
        return None

    def _sidecar_problem(self, name: str, message: str) -> None:
        self.problems.add(message, field=name, code="SidecarInvalid")

    # -- the manifest -------------------------------------------------------------------

    def _in_inbox(self, bucket: str, key: str, *, is_prefix: bool = False) -> bool:
        """Whether ``bucket``/``key`` (or the keys under prefix ``key``) are the service's."""
        bounds = self.boundaries
        if bucket != bounds.inbox_bucket:
            return False
        owned = bounds.inbox_prefix
        return key.startswith(owned) or (is_prefix and owned.startswith(key))

    def check_row(self, row: ManifestRow) -> tuple[bool, dict[str, Any] | None]:
        """(ok, item): where a row reads from and, for an object row, its CopyItem (wire
        dict) once its destination passed :meth:`item`. A ``prefix/*`` row's objects are
        checked with :meth:`item` when the prefix is listed."""
        bounds = self.boundaries
        self.first_rows.setdefault(row.bucket, row.row)
        source_key = row.prefix if row.is_prefix else row.key
        if self._in_inbox(row.bucket, source_key, is_prefix=row.is_prefix):
            self.problems.add(
                f"reads from {row.bucket!r}, this deployment's inbox (its jobs, working files"
                " and reports): the inbox is never a source",
                row=row.row,
                field="bucket",
            )
            return False, None
        if bounds.source_buckets is not None and row.bucket not in bounds.source_buckets:
            self.problems.add(
                f"source bucket {row.bucket!r} is not one of the buckets this deployment may "
                f"read ({_listed(bounds.source_buckets)})",
                row=row.row,
                field="bucket",
            )
            return False, None
        if row.is_prefix:
            if row.destination_key is not None:
                folder = self.sidecar.destination_prefix + row.destination_key
                problem = key_problem(folder) or self._reserved_problem(folder)
                if problem:
                    self.problems.add(
                        f"destination prefix {problem}", row=row.row, field="destination_key"
                    )
                    return False, None
            return True, None
        item = self.item(row.row, row.bucket, row.key, row.destination_key or row.key)
        if item is None:
            return False, None
        if row.size is not None:
            item["expectedSize"] = row.size
        if row.checksum is not None:
            item["expectedChecksum"] = row.checksum
        return True, item

    def item(
        self, row: int, bucket: str, key: str, relative_destination: str
    ) -> dict[str, Any] | None:
        """The CopyItem (wire dict) of one object, or None when its destination is wrong:
        a bad key, the source itself, or a key another row already copies to."""
        destination_bucket = self.sidecar.destination_bucket
        destination_key = self.sidecar.destination_prefix + relative_destination
        problem = key_problem(destination_key)
        if problem:
            self.problems.add(f"destination key {problem}", row=row, field="destination_key")
            return None
        target = f"s3://{destination_bucket}/{destination_key}"
        if self._in_inbox(destination_bucket, destination_key):
            self.problems.add(
                f"copies to {target}, in this deployment's own working area (jobs, working"
                " files, reports)",
                row=row,
                field="destination_key",
            )
            return None
        reserved = self._reserved_problem(destination_key)
        if reserved:
            self.problems.add(f"destination key {reserved}", row=row, field="destination_key")
            return None
        if destination_bucket == bucket and destination_key == key:
            self.problems.add(
                f"copies {target} onto itself (the destination is the source)",
                row=row,
                field="destination_key",
            )
            return None
        digest = hash(destination_key)
        first = self._destinations.get(digest)
        if first is not None:
            self.problems.add(
                f"rows {first} and {row} both copy to {target}", row=row, field="destination_key"
            )
            return None
        self._destinations[digest] = row
        return {
            "sourceBucket": bucket,
            "sourceKey": key,
            "destinationBucket": destination_bucket,
            "destinationKey": destination_key,
        }


def checked_rows(
    raw: BinaryIO, checker: JobChecker, *, max_rows: int | None = None, jsonl: bool = False
) -> Iterator[tuple[ManifestRow, dict[str, Any] | None]]:
    """The manifest's rows that pass every offline check, from a binary stream (CSV, or the
    original system's JSON Lines copy instructions), each with its CopyItem (None for a
    ``prefix/*`` row, whose objects are known only by listing)."""
    reader = JsonlManifestReader if jsonl else ManifestReader
    rows = reader(checker.problems, max_rows=max_rows)
    for row in rows.read(decoded_lines(raw, checker.problems)):
        ok, item = checker.check_row(row)
        if ok:
            yield row, item


@dataclass
class JobCheck:
    """Everything wrong with a job (sidecar and manifest), or its parsed sidecar and rows."""

    sidecar: Sidecar | None = None
    rows: list[ManifestRow] = field(default_factory=list)
    sidecar_problems: list[Problem] = field(default_factory=list)
    manifest_problems: list[Problem] = field(default_factory=list)
    manifest_problem_total: int = 0

    @property
    def ok(self) -> bool:
        return not self.sidecar_problems and not self.manifest_problem_total

    def to_dict(self) -> dict[str, Any]:
        """The report ``s3copy validate --json`` prints."""
        return {
            "valid": self.ok,
            "rows": len(self.rows),
            "prefixRows": sum(1 for r in self.rows if r.is_prefix),
            "sidecarProblems": [p.to_dict() for p in self.sidecar_problems],
            "manifestProblems": [p.to_dict() for p in self.manifest_problems],
            "manifestProblemTotal": self.manifest_problem_total,
        }


def check_job(
    sidecar_text: bytes,
    manifest: BinaryIO,
    *,
    where: str,
    boundaries: Boundaries | None = None,
    keep: int = 1000,
    jsonl: bool = False,
) -> JobCheck:
    """Every offline check Prepare runs, on a sidecar's text and a manifest's bytes."""
    boundaries = boundaries or Boundaries()
    result = JobCheck()
    try:
        result.sidecar = parse_sidecar(sidecar_text, where=where)
    except StepsS3CopyError as exc:
        result.sidecar_problems = exc.problems or [
            Problem(message=exc.message, code=exc.error_name)
        ]
    problems = Problems(keep=keep)
    if result.sidecar is not None:
        checker = JobChecker(result.sidecar, boundaries, problems)
        checker.check_sidecar()
        result.sidecar_problems = [p for p in problems.items if p.code == "SidecarInvalid"]
        problems = Problems(keep=keep)
        checker.problems = problems
        result.rows = [row for row, _ in checked_rows(manifest, checker, jsonl=jsonl)]
    else:
        # without a sidecar the rows can still be checked for their own form
        reader = JsonlManifestReader(problems) if jsonl else ManifestReader(problems)
        result.rows = list(reader.read(decoded_lines(manifest, problems)))
    result.manifest_problems = sorted(problems.items, key=lambda p: (p.row is None, p.row or 0))
    result.manifest_problem_total = problems.total
    return result

"""What every step of one object's copy shares: the client, the options, the source facts.

``CopyContext`` is built once per engine; ``Source`` once per object; ``Outcome`` is what
each step (skip check, copy, verification) answers, turned into an ``ObjectResult`` by the
engine.

**The source's contract.** The ETag the plan carries (or, when it carries none, the ETag
the first HeadObject of the source answers) is what the copy is of: every later request
that reads the source is conditional on it. CopyObject and UploadPartCopy carry
``x-amz-copy-source-if-match``, HeadObject carries ``If-Match`` (S3 answers 412
Precondition Failed when the object's ETag differs: "CopyObject", "UploadPartCopy",
"HeadObject" in the Amazon S3 API Reference,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html), GetObjectAttributes
(which takes no condition) is asked for the ETag too and compared, and GetObjectTagging and
GetObjectAttributes read the version the first HeadObject reported where the source is
versioned. A 412 is ``SourceChangedError``: the object is FAILED with ``SourceChanged``,
never copied as it is now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from steps_s3_copy.models import ARCHIVE_STORAGE_CLASSES, CopyItem, CopyOptions, Status
from steps_s3_copy.worker.evidence import norm_etag
from steps_s3_copy.worker.s3client import (
    Access,
    HeadResult,
    ListEntry,
    ObjectRef,
    S3Client,
    S3Error,
)

Method = Literal["copy", "multipart", "skip", "none"]


class SourceChangedError(Exception):
    """The source is no longer the object that was planned (its ETag changed)."""

    code = "SourceChanged"


def is_precondition_failed(exc: S3Error) -> bool:
    return exc.status == 412 or exc.code == "PreconditionFailed"


@contextmanager
def reading_source(etag: str) -> Iterator[None]:
    """Around a request conditional on the source's ETag: its 412 is ``SourceChangedError``."""
    try:
        yield
    except S3Error as exc:
        if is_precondition_failed(exc):
            raise SourceChangedError(
                "the source changed since it was planned: its ETag is no longer "
                f'"{norm_etag(etag)}"'
            ) from exc
        raise


@dataclass(frozen=True)
class Source:
    """What is known about a source object before copying it.

    ``etag`` is the contract (see the module docstring); ``version_id`` the plan's (the
    copy requests name it); ``head`` the source's HeadObject answer once one was made.
    """

    size: int
    etag: str
    version_id: str | None
    head: HeadResult | None = None

    @property
    def read_version(self) -> str | None:
        """The version that reads of tags and attributes name: the plan's, else the one
        the source's HeadObject reported (a versioned source)."""
        return self.version_id or (self.head.version_id if self.head else None)


@dataclass(frozen=True)
class Evidence:
    """What identifies one side's content, for the receipt (issue 12): from answers the
    engine already has, None where it has none."""

    version_id: str | None = None
    size: int | None = None
    #: without quotes
    etag: str | None = None
    #: ``<ALGORITHM>:<base64>`` (a composite checksum keeps its ``-<parts>``)
    checksum: str | None = None


def checksum_of(checksums: dict[str, str]) -> str | None:
    """``<ALGORITHM>:<value>`` of an object's additional checksum, None without one."""
    for algorithm in sorted(checksums):
        return f"{algorithm}:{checksums[algorithm]}"
    return None


def head_evidence(head: HeadResult) -> Evidence:
    return Evidence(head.version_id, head.size, norm_etag(head.etag), checksum_of(head.checksums))


def listed_evidence(entry: ListEntry | HeadResult) -> Evidence:
    """A destination as a listing (or a HeadObject) saw it."""
    if isinstance(entry, HeadResult):
        return head_evidence(entry)
    return Evidence(None, entry.size, norm_etag(entry.etag), None)


def source_evidence(source: Source, *, version_id: str | None = None) -> Evidence:
    """The source as copied: the contract's size and ETag, a version id and a checksum
    where a HeadObject (or the copy's answer, ``version_id``) gave one."""
    head = source.head
    return Evidence(
        version_id=version_id or source.read_version,
        size=source.size,
        etag=norm_etag(source.etag),
        checksum=checksum_of(head.checksums) if head else None,
    )


@dataclass(frozen=True)
class Outcome:
    """One object's outcome before it has its URIs and timing (see ``engine.py``)."""

    status: Status
    bytes: int
    method: Method
    checksum: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: the receipt's evidence of both sides (COPIED and SKIPPED)
    source: Evidence | None = None
    destination: Evidence | None = None


def failed(size: int, code: str, message: str) -> Outcome:
    return Outcome(Status.FAILED, size, "none", None, code, message)


def source_ref(item: CopyItem) -> ObjectRef:
    return ObjectRef(item.source_bucket, item.source_key, item.source_version_id)


def destination_ref(item: CopyItem) -> ObjectRef:
    return ObjectRef(item.destination_bucket, item.destination_key)


@dataclass(frozen=True)
class CopyContext:
    """The client and options of one engine, and who pays and owns on each side."""

    s3: S3Client
    options: CopyOptions

    @cached_property
    def source_access(self) -> Access:
        """Reads of the source: requester pays when the options say so."""
        return Access(request_payer=self.options.requester_pays)

    @cached_property
    def destination_access(self) -> Access:
        """Requests to the destination: the expected owner when the options name one."""
        return Access(expected_owner=self.options.destination_account)

    @cached_property
    def copy_access(self) -> Access:
        """A copy reads the source and writes the destination: both."""
        return Access(
            request_payer=self.options.requester_pays,
            expected_owner=self.options.destination_account,
        )

    def storage_class(self, item: CopyItem) -> str | None:
        """The destination's storage class: the options', else an archived source's own."""
        if self.options.storage_class:
            return self.options.storage_class
        if item.storage_class in ARCHIVE_STORAGE_CLASSES:
            return item.storage_class
        return None

    def head_source(self, item: CopyItem, planned: Source | None = None) -> Source:
        """The source with its HeadObject answer; ``S3Error`` NoSuchKey when it is gone.

        Without ``planned`` (the plan had no ETag) this first HeadObject's ETag becomes the
        contract; with it the HeadObject is conditional on the planned ETag, and another
        ETag or size is ``SourceChangedError``.
        """
        if_match = f'"{norm_etag(planned.etag)}"' if planned is not None else None
        with reading_source(planned.etag if planned else ""):
            head = self.s3.head_object(
                source_ref(item), if_match=if_match, access=self.source_access
            )
        if head is None:
            raise S3Error("NoSuchKey", "The specified source key does not exist.", 404)
        if planned is None:
            return Source(head.size, head.etag, item.source_version_id, head)
        if norm_etag(head.etag) != norm_etag(planned.etag) or head.size != planned.size:
            raise SourceChangedError(
                f"the source changed since it was planned: {head.size} bytes, ETag "
                f'"{norm_etag(head.etag)}" (planned {planned.size} bytes, '
                f'"{norm_etag(planned.etag)}")'
            )
        return Source(planned.size, planned.etag, planned.version_id, head)

    def with_head(self, item: CopyItem, source: Source) -> Source:
        """``source`` with its HeadObject answer (asked, conditionally, if not known yet)."""
        return source if source.head is not None else self.head_source(item, source)

    def head_destination(self, item: CopyItem) -> HeadResult | None:
        """The destination as it is now, None when absent."""
        try:
            return self.s3.head_object(destination_ref(item), access=self.destination_access)
        except S3Error as exc:
            if exc.status == 403:
                # Without s3:ListBucket a missing key answers 403: treat it as absent.
                return None
            raise

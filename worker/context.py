"""What every step of one object's copy shares: the client, the options, the source facts.

``CopyContext`` is built once per engine; ``Source`` once per object; ``Outcome`` is what
each step (skip check, copy, verification) answers, turned into an ``ObjectResult`` by the
engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from steps_s3_copy.models import CopyItem, CopyOptions, Status
from steps_s3_copy.worker.s3client import Access, HeadResult, ObjectRef, S3Client, S3Error

Method = Literal["copy", "multipart", "skip", "none"]


@dataclass(frozen=True)
class Source:
    """What is known about a source object before copying it."""

    size: int
    etag: str
    version_id: str | None
    head: HeadResult | None = None


@dataclass(frozen=True)
class Outcome:
    """One object's outcome before it has its URIs and timing (see ``engine.py``)."""

    status: Status
    bytes: int
    method: Method
    checksum: str | None = None
    error_code: str | None = None
    error_message: str | None = None


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

    def head_source(self, item: CopyItem) -> Source:
        """The source's size, ETag and headers; ``S3Error`` NoSuchKey when it is gone."""
        head = self.s3.head_object(source_ref(item), access=self.source_access)
        if head is None:
            raise S3Error("NoSuchKey", "The specified source key does not exist.", 404)
        return Source(head.size, head.etag, item.source_version_id, head)

    def head_destination(self, item: CopyItem) -> HeadResult | None:
        """The destination as it is now, None when absent."""
        try:
            return self.s3.head_object(destination_ref(item), access=self.destination_access)
        except S3Error as exc:
            if exc.status == 403:
                # Without s3:ListBucket a missing key answers 403: treat it as absent.
                return None
            raise

"""The one interface the copy engine talks to S3 through, and the types it speaks.

Two implementations exist and are interchangeable (``tests/worker/test_engine.py`` runs
every engine test against each):

- ``LeanS3Client`` (``s3http.py``): the product's client. botocore's own SigV4 signer,
  urllib3 connection pools, a dozen small XML answers parsed with ElementTree; about
  0.4 of a boto3 call's client CPU per request (see docs/engine.md).
- ``Boto3S3Client`` (``s3boto.py``): the same operations through an ordinary botocore
  client; the reference the lean client is checked against.

Everything S3-specific that both share lives here: the result types, ``S3Error`` and
which errors are worth another try, the bounded backoff, the request-header checks (no
control characters ever reach the wire) and how header text is represented.

**Header text.** HTTP header values are bytes. S3 answers user metadata and content
headers (``Content-Disposition`` with a UTF-8 file name, say) as the bytes they were
stored with; http.client, and therefore urllib3 and botocore, hand them over decoded as
ISO-8859-1, while botocore *sends* ``str`` header values encoded as UTF-8. Carried from a
HeadObject answer into a CreateMultipartUpload unchanged, a UTF-8 value would come out
double-encoded. Both clients therefore hold header text as *the wire bytes decoded as
UTF-8* (``header_text``) and send it encoded as UTF-8, so a value read from the source
reaches the destination byte for byte. (For user metadata, S3 returns non-ASCII values
RFC 2047-encoded, which is ASCII, and decodes RFC 2047 values it receives: "Working with
object metadata", https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html;
carried byte for byte, they also come out equal.) Bytes that are not UTF-8 are kept with
``surrogateescape`` and refused by ``check_header_value`` before anything is sent: SigV4
signs the canonical request as UTF-8 text, so such a value could not be signed.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from steps_s3_copy.worker.errors import WorkerError

CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")

#: Content headers as S3's API names them, and their HTTP names (the headers a
#: CreateMultipartUpload must carry over from the source, and that a CopyObject with
#: ``MetadataDirective=REPLACE`` must restate).
CONTENT_HEADERS = {
    "ContentType": "content-type",
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentEncoding": "content-encoding",
    "ContentLanguage": "content-language",
    "Expires": "expires",
}

#: Error codes worth another try. Answers without a code (a dropped connection) and the
#: statuses 500, 502, 503 and 504 are retried whatever the code says.
#: RequestTimeTooSkewed is not here: another try with the same clock fails the same way;
#: the lean client corrects its signing clock and retries at once (``s3http.py``).
RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "ExpiredToken",
        "TooManyRequests",
    }
)
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})

#: Names of errors S3 answers without a body (HEAD), after the status, as botocore does.
CODE_OF_STATUS = {
    301: "PermanentRedirect",
    400: "BadRequest",
    403: "AccessDenied",
    404: "NotFound",
    412: "PreconditionFailed",
    503: "SlowDown",
}


class S3Error(Exception):
    """An error answer from S3, or a request that could not be completed.

    ``status`` is the HTTP status (0: no answer, a dropped connection or a timeout).
    ``retry_at_once``: the client fixed the cause itself (its signing clock) and the next
    try needs no backoff.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 0,
        *,
        retryable: bool | None = None,
        retry_at_once: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status
        self.retry_at_once = retry_at_once
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        if self._retryable is not None:
            return self._retryable
        return self.status == 0 or self.status in RETRYABLE_STATUSES or self.code in RETRYABLE_CODES


class InvalidHeaderValueError(WorkerError, ValueError):
    """A request header value that must not be sent (a control character, or not UTF-8)."""

    code = "InvalidHeaderValue"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff."""

    max_attempts: int = 8
    base_seconds: float = 0.1
    cap_seconds: float = 20.0

    def delay(self, attempt: int) -> float:
        """Seconds to sleep before retry ``attempt`` (1 for the first retry)."""
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))


T = TypeVar("T")


class RetryCounts:
    """Retried tries by S3 error code (``SlowDown``, ``InternalError``, ...; a dropped
    connection counts under its exception's name), added up from every thread of one
    client: the ``S3Retries`` metric of a batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, code: str) -> None:
        with self._lock:
            self._counts[code] = self._counts.get(code, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def call_with_retries(
    policy: RetryPolicy, attempt: Callable[[], T], counts: RetryCounts | None = None
) -> T:
    """Run ``attempt`` until it returns, retrying the ``S3Error``s worth another try (each
    retry counted in ``counts``)."""
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except S3Error as error:
            if not error.retryable or tries >= policy.max_attempts:
                raise
            if counts is not None:
                counts.add(error.code)
            if not error.retry_at_once:
                time.sleep(policy.delay(tries))


# -- header values -------------------------------------------------------------------

# Control characters (HTAB is allowed in a field value, RFC 9110 section 5.5) and lone
# surrogates, which stand for bytes that were not UTF-8 (see the module docstring).
_FORBIDDEN_IN_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


def check_header_value(name: str, value: str) -> str:
    """``value`` if it may be sent as header ``name``; else ``InvalidHeaderValueError``.

    A CR or LF would end the header line and start another one (header injection); no
    value with a control character is ever sent, folded or not.
    """
    found = _FORBIDDEN_IN_HEADER.search(value)
    if found is None:
        return value
    char = found.group()
    what = (
        "a byte sequence that is not UTF-8"
        if "\ud800" <= char <= "\udfff"
        else f"the control character {char!r}"
    )
    raise InvalidHeaderValueError(f"header {name} holds {what}; the request was not sent")


def header_text(value: str) -> str:
    """A response header value as received (ISO-8859-1-decoded bytes) -> UTF-8 text."""
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "surrogateescape")


# -- what the engine asks and what S3 answers ----------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One object (or, for a destination, the key to write)."""

    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """Who pays and who must own the bucket: headers every request of one side carries.

    ``request_payer``: ``x-amz-request-payer: requester`` (a requester-pays source).
    ``expected_owner``: ``x-amz-expected-bucket-owner`` (the destination's account).
    """

    request_payer: bool = False
    expected_owner: str | None = None


NO_ACCESS = Access()


@dataclass(frozen=True, slots=True)
class WriteSettings:
    """What a write sets on the destination besides the content."""

    storage_class: str | None = None
    sse_kms_key_id: str | None = None
    #: additional checksum algorithm the destination gets
    checksum_algorithm: str | None = None


@dataclass(frozen=True)
class CopyResult:
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    #: the new object's version id (a versioned destination)
    version_id: str | None = None
    sse: str | None = None
    #: the version of the source that was copied (``x-amz-copy-source-version-id``)
    source_version_id: str | None = None


@dataclass(frozen=True)
class HeadResult:
    size: int
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    parts_count: int | None = None
    version_id: str | None = None
    sse: str | None = None
    storage_class: str | None = None
    #: content headers by API name (``ContentType``...), as header text (see above)
    content: dict[str, str] = field(default_factory=dict)
    #: user metadata, names lower-case without ``x-amz-meta-``, values as header text
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListEntry:
    key: str
    size: int
    etag: str
    checksum_algorithms: tuple[str, ...] = ()
    checksum_type: str | None = None


@dataclass(frozen=True)
class ListPage:
    """One ListObjectsV2 answer: its entries, and whether more keys follow."""

    entries: list[ListEntry]
    truncated: bool


@dataclass(frozen=True)
class ObjectParts:
    """GetObjectAttributes ``ETag`` and ``ObjectParts``: the object's ETag and part sizes."""

    etag: str
    #: part sizes in order; empty when S3 lists no parts (it lists them only for objects
    #: written with an additional checksum)
    sizes: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Upload:
    """A multipart upload in progress, as ListMultipartUploads lists it."""

    key: str
    upload_id: str


@dataclass(frozen=True)
class PartResult:
    """A part as UploadPartCopy answered it, or as ListParts lists it."""

    part_number: int
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)
    size: int | None = None


def head_result(headers: Mapping[str, str]) -> HeadResult:
    """A HeadObject answer from its lower-case response headers (both clients use it)."""
    checksums = {}
    for algorithm in CHECKSUM_ALGORITHMS:
        value = headers.get("x-amz-checksum-" + algorithm.lower())
        if value:
            checksums[algorithm] = value
    parts = headers.get("x-amz-mp-parts-count")
    return HeadResult(
        size=int(headers.get("content-length", "0")),
        etag=headers.get("etag", ""),
        checksums=checksums,
        checksum_type=headers.get("x-amz-checksum-type"),
        parts_count=int(parts) if parts else None,
        version_id=headers.get("x-amz-version-id"),
        sse=headers.get("x-amz-server-side-encryption"),
        storage_class=headers.get("x-amz-storage-class"),
        content={
            api: header_text(headers[name])
            for api, name in CONTENT_HEADERS.items()
            if name in headers
        },
        metadata={
            name[len("x-amz-meta-") :]: header_text(value)
            for name, value in headers.items()
            if name.startswith("x-amz-meta-")
        },
    )


Directive = Literal["COPY", "REPLACE"]


class S3Client(Protocol):
    """The S3 operations the copy engine uses; nothing else of a client is needed.

    Every method raises ``S3Error`` for an error answer (after the retries the error is
    worth) and ``InvalidHeaderValueError`` before sending a header value that must not
    be sent. Thread-safe: one instance serves every thread of an engine.
    """

    @property
    def requests(self) -> int:
        """Requests sent so far, retries included."""
        ...

    @property
    def retries(self) -> Mapping[str, int]:
        """Retried tries so far by S3 error code."""
        ...

    def head_object(
        self,
        obj: ObjectRef,
        *,
        part_number: int | None = None,
        if_match: str | None = None,
        access: Access = NO_ACCESS,
    ) -> HeadResult | None:
        """HeadObject with checksums (``x-amz-checksum-mode: ENABLED``); None if absent.

        ``if_match``: an ETag; S3 answers 412 (``S3Error`` PreconditionFailed) when the
        object's ETag differs.
        """
        ...

    def list_objects(
        self,
        bucket: str,
        prefix: str,
        *,
        start_after: str | None = None,
        access: Access = NO_ACCESS,
    ) -> Iterator[ListEntry]:
        """ListObjectsV2 under ``prefix``, page by page, in key order."""
        ...

    def list_objects_page(
        self,
        bucket: str,
        prefix: str,
        *,
        start_after: str | None = None,
        max_keys: int = 1000,
        access: Access = NO_ACCESS,
    ) -> ListPage:
        """One ListObjectsV2 request: at most ``max_keys`` keys after ``start_after``."""
        ...

    def get_object(self, obj: ObjectRef, *, access: Access = NO_ACCESS) -> bytes | None:
        """The whole body of an object; None if it does not exist."""
        ...

    def copy_object(
        self,
        source: ObjectRef,
        destination: ObjectRef,
        *,
        if_match: str | None = None,
        metadata_directive: Directive = "COPY",
        content: Mapping[str, str] | None = None,
        tagging_directive: Directive = "COPY",
        settings: WriteSettings = WriteSettings(),
        access: Access = NO_ACCESS,
    ) -> CopyResult:
        """CopyObject. ``content`` (API names) is sent with ``metadata_directive`` REPLACE."""
        ...

    def get_object_tagging(
        self, obj: ObjectRef, *, access: Access = NO_ACCESS
    ) -> list[tuple[str, str]]:
        """GetObjectTagging: the tag set as (key, value) pairs."""
        ...

    def get_object_parts(self, obj: ObjectRef, *, access: Access = NO_ACCESS) -> ObjectParts:
        """GetObjectAttributes ``ETag`` and ``ObjectParts``, every page."""
        ...

    def create_multipart_upload(
        self,
        destination: ObjectRef,
        *,
        content: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Sequence[tuple[str, str]] = (),
        settings: WriteSettings = WriteSettings(),
        checksum_type: str | None = None,
        access: Access = NO_ACCESS,
    ) -> str:
        """CreateMultipartUpload; returns the upload id."""
        ...

    def upload_part_copy(
        self,
        source: ObjectRef,
        destination: ObjectRef,
        *,
        upload_id: str,
        part_number: int,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
        access: Access = NO_ACCESS,
    ) -> PartResult:
        """UploadPartCopy of bytes ``byte_range`` (first, last; inclusive) of ``source``."""
        ...

    def list_parts(
        self, destination: ObjectRef, *, upload_id: str, access: Access = NO_ACCESS
    ) -> list[PartResult]:
        """ListParts of an upload in progress, every page."""
        ...

    def complete_multipart_upload(
        self,
        destination: ObjectRef,
        *,
        upload_id: str,
        parts: Sequence[PartResult],
        access: Access = NO_ACCESS,
    ) -> str:
        """CompleteMultipartUpload; returns the new object's ETag."""
        ...

    def abort_multipart_upload(
        self, destination: ObjectRef, *, upload_id: str, access: Access = NO_ACCESS
    ) -> None:
        """AbortMultipartUpload."""
        ...

    def list_multipart_uploads(
        self, bucket: str, prefix: str, *, access: Access = NO_ACCESS
    ) -> list[Upload]:
        """ListMultipartUploads of the keys under ``prefix``, every page."""
        ...

    def close(self) -> None:
        """Close the connection pools."""
        ...

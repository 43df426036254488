"""Check a receipt (``receipt.jsonl``, :mod:`steps_s3_copy.receipt`) against S3: what the
receiving account runs (``s3copy verify-receipt``).

For each object line the destination object is looked at with HeadObject
(``ChecksumMode=ENABLED``, so S3 returns the additional checksum it stores:
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html) and, when the
receipt names a checksum HeadObject did not return, GetObjectAttributes
(``ObjectAttributes=Checksum``:
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html); no object's
data is read. Unless ``destination_only``, the source is looked at the same way, by the
version the receipt recorded. Size, ETag, checksum and version id are compared with what
the receipt recorded (a value the receipt has as ``null`` is not compared).

The destination is checked as it is now (its current version): an object overwritten
since the copy differs, even in a versioned bucket where the copied version still exists
(``recorded_versions`` checks the recorded versions instead).

The receipt itself is checked too: its first line must be a version-1 header, its last an
end line whose object count matches; its SHA-256 (of the exact bytes read) is compared with
``expected_sha256`` when given, and a signature (``receipt.sig.json``) is checked with KMS
Verify (``MessageType=DIGEST``: https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html;
a failed check answers ``KMSInvalidSignatureException``).

Lines are streamed and checked ``concurrency`` at a time, the results reported in the
receipt's order: a receipt of millions of objects needs a window of lines in memory, not
the receipt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from botocore.exceptions import BotoCoreError, ClientError

from steps_s3_copy.receipt import (
    RECEIPT_VERSION,
    SERVICE,
    SIGNATURE_NAME,
    ReceiptSignature,
    parse_signature,
)
from steps_s3_copy.s3uri import S3Uri

Side = Literal["source", "destination", "receipt"]
_CHUNK = 1024 * 1024
_PARTS = re.compile(r"-\d+$")
CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class ReceiptUnreadableError(Exception):
    """The receipt cannot be read, or is not a receipt this version understands."""


class VerificationError(Exception):
    """An AWS call needed for the check failed in a way that says nothing about the
    objects (no credentials, an endpoint that does not answer)."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the world differs from the receipt."""

    #: the receipt's line number (1-based; 0 for the receipt as a whole)
    line: int
    side: Side
    #: "missing", "unreadable", "size", "etag", "checksum", "version", "error", or, for the
    #: receipt: "sha256", "signature", "truncated", "count"
    what: str
    uri: str | None = None
    expected: Any = None
    found: Any = None
    detail: str | None = None

    def text(self) -> str:
        where = f"{self.side} {self.uri}" if self.uri else self.side
        if self.detail:
            return f"{where}: {self.what}: {self.detail}"
        found, expected = _shown(self.found), _shown(self.expected)
        return f"{where}: {self.what} is {found}, the receipt says {expected}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text()}


def _shown(value: Any) -> str:
    return "none" if value is None else json.dumps(value, ensure_ascii=False)


@dataclass
class Summary:
    """What a verification found."""

    header: dict[str, Any] = field(default_factory=dict)
    objects: int = 0
    matched: int = 0
    #: objects with at least one difference
    differing: int = 0
    differences: int = 0
    sha256: str = ""
    #: True/False when compared with an expected digest, None when not compared
    sha256_matches: bool | None = None
    #: "valid", "invalid", "absent" or "unchecked"
    signature: str = "absent"
    signature_detail: str | None = None
    signature_key: str | None = None
    destination_only: bool = False

    @property
    def ok(self) -> bool:
        return self.differences == 0 and self.signature != "invalid"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.header.get("job"),
            "runId": self.header.get("runId"),
            "objects": self.objects,
            "matched": self.matched,
            "differing": self.differing,
            "differences": self.differences,
            "sha256": self.sha256,
            "sha256Matches": self.sha256_matches,
            "signature": self.signature,
            "signatureDetail": self.signature_detail,
            "signatureKey": self.signature_key,
            "destinationOnly": self.destination_only,
            "ok": self.ok,
        }


# -- reading the receipt ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptSource:
    """Where a receipt is (a local path or an ``s3://`` URI) and how to read it and the
    signature beside it."""

    location: str
    s3: Any = None

    @property
    def uri(self) -> S3Uri | None:
        return (
            S3Uri.parse(self.location, need_key=True) if self.location.startswith("s3://") else None
        )

    def chunks(self) -> Iterator[bytes]:
        """The receipt's bytes, a piece at a time; ``ReceiptUnreadableError`` when it cannot
        be opened."""
        uri = self.uri
        if uri is None:
            try:
                handle: BinaryIO = Path(self.location).open("rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise ReceiptUnreadableError(f"cannot read {self.location}: {exc}") from exc
            with handle:
                while chunk := handle.read(_CHUNK):
                    yield chunk
            return
        try:
            body = self.s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise ReceiptUnreadableError(f"cannot read {uri}: {_reason(exc)}") from exc
        try:
            yield from body.iter_chunks(_CHUNK)
        except (ClientError, BotoCoreError) as exc:
            raise ReceiptUnreadableError(f"cannot read {uri}: {_reason(exc)}") from exc

    def sibling_signature(self) -> bytes | None:
        """``receipt.sig.json`` beside the receipt, None when there is none."""
        uri = self.uri
        if uri is None:
            path = Path(self.location).with_name(SIGNATURE_NAME)
            return path.read_bytes() if path.is_file() else None
        key = uri.key.rsplit("/", 1)[0] + "/" + SIGNATURE_NAME if "/" in uri.key else SIGNATURE_NAME
        return read_location(S3Uri(uri.bucket, key), self.s3, missing_ok=True)


def read_location(uri: S3Uri, s3: Any, *, missing_ok: bool = False) -> bytes | None:
    """One small object's bytes (a signature); None when absent and ``missing_ok``."""
    try:
        data: bytes = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except ClientError as exc:
        if missing_ok and _code(exc) in ("NoSuchKey", "404"):
            return None
        raise ReceiptUnreadableError(f"cannot read {uri}: {_reason(exc)}") from exc
    except BotoCoreError as exc:
        raise ReceiptUnreadableError(f"cannot read {uri}: {exc}") from exc
    return data


def hashed_lines(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    """The lines of ``chunks`` (without their ``\\n``), every byte fed to ``digest``."""
    rest = b""
    for chunk in chunks:
        digest.update(chunk)
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from lines
    if rest:
        yield rest


def _decode(raw: bytes, number: int) -> dict[str, Any]:
    try:
        line = json.loads(raw)
    except ValueError as exc:
        raise ReceiptUnreadableError(f"line {number} is not JSON: {exc}") from exc
    if not isinstance(line, dict):
        raise ReceiptUnreadableError(f"line {number} is not a JSON object")
    version = line.get("v")
    if version != RECEIPT_VERSION:
        raise ReceiptUnreadableError(
            f"line {number} is of receipt version {version!r}; this s3copy reads version "
            f"{RECEIPT_VERSION}"
        )
    return line


def _object(line: dict[str, Any], number: int) -> dict[str, Any]:
    for side in ("source", "destination"):
        value = line.get(side)
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("bucket"), str)
            or not isinstance(value.get("key"), str)
        ):
            raise ReceiptUnreadableError(f"line {number}: its {side} has no bucket and key")
    return line


# -- comparing one object ---------------------------------------------------------------------


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchKey", "NoSuchVersion", "NotFound") or status == 404:
        return "404"
    if code in ("AccessDenied", "Forbidden") or status == 403:
        return "403"
    return code or str(status)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def _norm_etag(value: Any) -> str | None:
    return None if value is None else str(value).strip().strip('"')


def _same_checksum(recorded: str, found: str) -> bool:
    """Checksums equal; a composite one's ``-<parts>`` is ignored when only one side has
    it (HeadObject shows it, GetObjectAttributes does not)."""
    if recorded == found:
        return True
    if bool(_PARTS.search(recorded)) != bool(_PARTS.search(found)):
        return _PARTS.sub("", recorded) == _PARTS.sub("", found)
    return False


class ObjectChecker:
    """HEADs one side of one receipt line and lists what differs."""

    def __init__(self, s3: Any, *, recorded_versions: bool) -> None:
        self.s3 = s3
        self.recorded_versions = recorded_versions

    def check(self, line: int, side: Side, recorded: dict[str, Any]) -> list[Difference]:
        bucket, key = recorded["bucket"], recorded["key"]
        uri = str(S3Uri(bucket, key))
        version = recorded.get("versionId")
        # the source by the version copied; the destination as it is now, unless asked
        by_version = bool(version) and (side == "source" or self.recorded_versions)
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if by_version:
            request["VersionId"] = version
        try:
            head = self.s3.head_object(**request, ChecksumMode="ENABLED")
        except ClientError as exc:
            code = _code(exc)
            if code == "404":
                what = "the version the receipt names" if by_version else "the object"
                return [Difference(line, side, "missing", uri, detail=f"{what} does not exist")]
            if code == "403":
                detail = "access denied (403): missing, or no s3:GetObject on it"
                return [Difference(line, side, "unreadable", uri, detail=detail)]
            return [Difference(line, side, "error", uri, detail=f"not checked: {_reason(exc)}")]
        except BotoCoreError as exc:
            raise VerificationError(f"cannot reach S3 for {uri}: {exc}") from exc
        found: list[Difference] = []
        size = recorded.get("size")
        if size is not None and head.get("ContentLength") != size:
            found.append(Difference(line, side, "size", uri, size, head.get("ContentLength")))
        etag = _norm_etag(recorded.get("etag"))
        if etag is not None and _norm_etag(head.get("ETag")) != etag:
            found.append(Difference(line, side, "etag", uri, etag, _norm_etag(head.get("ETag"))))
        if version and not by_version and head.get("VersionId") != version:
            found.append(Difference(line, side, "version", uri, version, head.get("VersionId")))
        checksum = recorded.get("checksum")
        if checksum:
            found += self._checksum(
                line, side=side, uri=uri, request=request, head=head, recorded=str(checksum)
            )
        return found

    def _checksum(
        self,
        line: int,
        *,
        side: Side,
        uri: str,
        request: dict[str, Any],
        head: dict[str, Any],
        recorded: str,
    ) -> list[Difference]:
        algorithm, _, _ = recorded.partition(":")
        value = head.get(f"Checksum{algorithm}")
        if value is None and algorithm in CHECKSUM_ALGORITHMS:
            try:
                attributes = self.s3.get_object_attributes(**request, ObjectAttributes=["Checksum"])
            except ClientError as exc:
                detail = f"not checked: GetObjectAttributes answered {_reason(exc)}"
                return [Difference(line, side, "checksum", uri, recorded, None, detail)]
            except BotoCoreError as exc:
                raise VerificationError(f"cannot reach S3 for {uri}: {exc}") from exc
            value = (attributes.get("Checksum") or {}).get(f"Checksum{algorithm}")
        found = f"{algorithm}:{value}" if value is not None else None
        if found is None or not _same_checksum(recorded, found):
            return [Difference(line, side, "checksum", uri, recorded, found)]
        return []


# -- the signature ----------------------------------------------------------------------------


def _signature_problem(signature: ReceiptSignature, sha256: str) -> str | None:
    """What makes a signature invalid before KMS is asked (None: nothing)."""
    if signature.sha256.lower() != sha256:
        return (
            f"it signs the digest {signature.sha256}, the receipt's is {sha256}: the receipt "
            "is not the one that was signed"
        )
    if signature.message_type != "DIGEST":
        return f"message type {signature.message_type!r}, not DIGEST"
    try:
        base64.b64decode(signature.signature, validate=True)
    except ValueError:
        return "the signature is not base64"
    return None


_NOT_THIS_KEY = "KMS says the signature was not made with this key of this digest"


def check_signature(kms: Any, signature: ReceiptSignature, sha256: str) -> tuple[str, str | None]:
    """("valid" | "invalid" | "unchecked", why): the signature of ``sha256`` with its key."""
    problem = _signature_problem(signature, sha256)
    if problem is not None:
        return "invalid", problem
    try:
        answer = kms.verify(
            KeyId=signature.key_id,
            Message=bytes.fromhex(sha256),
            MessageType="DIGEST",
            Signature=base64.b64decode(signature.signature),
            SigningAlgorithm=signature.signing_algorithm,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "KMSInvalidSignatureException":
            return "invalid", _NOT_THIS_KEY
        return "unchecked", f"KMS Verify answered {_reason(exc)}"
    except BotoCoreError as exc:
        return "unchecked", f"KMS Verify failed: {exc}"
    if not answer.get("SignatureValid"):
        return "invalid", _NOT_THIS_KEY
    return "valid", None


# -- the whole receipt ------------------------------------------------------------------------


@dataclass
class _LineState:
    number: int = 0
    end: dict[str, Any] | None = None


@dataclass
class Verifier:
    """Checks one receipt; ``on_difference`` hears each difference as it is found (in the
    receipt's order), ``on_object`` each object checked."""

    s3: Any
    kms: Any = None
    source_s3: Any = None
    destination_only: bool = False
    recorded_versions: bool = False
    concurrency: int = 32
    expected_sha256: str | None = None
    on_difference: Callable[[Difference], None] = lambda _d: None
    on_object: Callable[[int], None] = lambda _n: None

    def run(
        self,
        receipt: ReceiptSource,
        *,
        signature: bytes | None = None,
        require_signature: bool = False,
    ) -> Summary:
        """Check every line of ``receipt``; its signature (given, or found beside it)."""
        summary = Summary(destination_only=self.destination_only)
        digest = hashlib.sha256()
        lines = hashed_lines(receipt.chunks(), digest)
        self._objects(lines, summary)
        summary.sha256 = digest.hexdigest()
        if self.expected_sha256:
            summary.sha256_matches = summary.sha256 == self.expected_sha256.lower()
            if not summary.sha256_matches:
                self._receipt_difference(
                    summary,
                    "sha256",
                    f"the receipt's SHA-256 is {summary.sha256}, not {self.expected_sha256}",
                )
        body = signature if signature is not None else receipt.sibling_signature()
        if body is None:
            if require_signature:
                self._receipt_difference(summary, "signature", "no signature was found")
            return summary
        try:
            parsed = parse_signature(body)
        except ValueError as exc:
            raise ReceiptUnreadableError(str(exc)) from exc
        summary.signature_key = parsed.key_id
        summary.signature, summary.signature_detail = check_signature(
            self.kms, parsed, summary.sha256
        )
        if summary.signature == "invalid":
            self._receipt_difference(summary, "signature", summary.signature_detail or "invalid")
        return summary

    def _receipt_difference(self, summary: Summary, what: str, detail: str) -> None:
        summary.differences += 1
        self.on_difference(Difference(0, "receipt", what, detail=detail))

    def _objects(self, lines: Iterator[bytes], summary: Summary) -> None:
        """Check the object lines, ``concurrency`` at a time, reporting in order."""
        destination = ObjectChecker(self.s3, recorded_versions=self.recorded_versions)
        source = ObjectChecker(self.source_s3 or self.s3, recorded_versions=False)

        def check(number: int, line: dict[str, Any]) -> list[Difference]:
            found = destination.check(number, "destination", line["destination"])
            if not self.destination_only:
                found += source.check(number, "source", line["source"])
            return found

        window: deque[Future[list[Difference]]] = deque()
        state = _LineState()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="verify") as pool:
            try:
                for line in self._object_lines(lines, summary, state):
                    window.append(pool.submit(check, state.number, line))
                    summary.objects += 1
                    while len(window) >= self.concurrency * 4:
                        self._report(window.popleft(), summary)
                while window:
                    self._report(window.popleft(), summary)
            except BaseException:
                for future in window:
                    future.cancel()
                raise
        if not summary.header:
            raise ReceiptUnreadableError("the receipt is empty")
        if state.end is None:
            self._receipt_difference(
                summary, "truncated", "it has no end line: it was cut short or added to"
            )
        elif state.end.get("objects") != summary.objects:
            self._receipt_difference(
                summary,
                "count",
                f"its end line counts {state.end.get('objects')} objects, it lists "
                f"{summary.objects}",
            )

    def _object_lines(
        self, lines: Iterator[bytes], summary: Summary, state: _LineState
    ) -> Iterator[dict[str, Any]]:
        """The object lines; the header goes to ``summary``, the end line to ``state``."""
        for raw in lines:
            state.number += 1
            if not raw.strip():
                continue
            line = _decode(raw, state.number)
            kind = line.get("type")
            if not summary.header:
                if kind != "header" or line.get("service") != SERVICE:
                    raise ReceiptUnreadableError(
                        f"line {state.number} is not a {SERVICE} receipt header (type {kind!r})"
                    )
                summary.header = line
            elif kind == "end":
                state.end = line
            elif kind == "object":
                if state.end is not None:
                    self._receipt_difference(
                        summary, "truncated", f"line {state.number} follows the end line"
                    )
                    state.end = None
                yield _object(line, state.number)
            else:
                raise ReceiptUnreadableError(f"line {state.number} has an unknown type {kind!r}")

    def _report(self, future: Future[list[Difference]], summary: Summary) -> None:
        found = future.result()
        self.on_object(summary.matched + summary.differing + 1)
        if found:
            summary.differing += 1
            summary.differences += len(found)
            for difference in found:
                self.on_difference(difference)
        else:
            summary.matched += 1

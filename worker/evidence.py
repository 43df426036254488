"""Content evidence: what proves two objects hold the same bytes, and part arithmetic.

Pure functions, no S3 calls. S3 gives two kinds of evidence:

- the **ETag**: an MD5 of the content for a single-part object in plaintext or SSE-S3,
  not an MD5 with SSE-C or SSE-KMS, and a digest of the parts (``...-<N>``) for a
  multipart upload ("Object", ETag, https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html);
  so equal ETags prove equal content only between objects with the same part layout and
  no SSE-KMS;
- **additional checksums** (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), either of the
  whole object (``FULL_OBJECT``) or of the part checksums (``COMPOSITE``): comparable
  only with the same algorithm and the same type.
"""

from __future__ import annotations

from steps_s3_copy.models import MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES
from steps_s3_copy.worker.s3client import HeadResult


def norm_etag(etag: str | None) -> str:
    return (etag or "").strip().strip('"')


def parts_in_etag(etag: str) -> int | None:
    """The part count of a multipart ETag (``"<hex>-N"``), else None."""
    value = norm_etag(etag)
    if "-" in value:
        tail = value.rsplit("-", 1)[1]
        if tail.isdigit():
            return int(tail)
    return None


def plan_parts(size: int, part_size: int) -> list[int]:
    """Part sizes for a single-part source: ``part_size``, raised so parts fit in 10,000."""
    part = max(part_size, MIN_PART_BYTES)
    while (size + part - 1) // part > MAX_PARTS:
        part *= 2
    part = min(part, MAX_PART_BYTES)
    if size == 0:
        return [0]
    full, rest = divmod(size, part)
    return [part] * full + ([rest] if rest else [])


def byte_ranges(layout: list[int]) -> list[tuple[int, int] | None]:
    """(first, last) byte of each part; None for the one empty part of an empty object."""
    ranges: list[tuple[int, int] | None] = []
    start = 0
    for size in layout:
        ranges.append((start, start + size - 1) if size > 0 else None)
        start += size
    return ranges


def checksum_evidence(
    a: dict[str, str], a_type: str | None, b: dict[str, str], b_type: str | None
) -> tuple[bool | None, str | None]:
    """Compare checksums of the same algorithm and type.

    Returns (True, evidence) when one matches, (False, detail) when one differs and
    (None, None) when nothing is comparable. A difference counts only when both types are
    declared (S3 declares them; some emulators do not, and a composite checksum never
    equals a full-object one).
    """
    if a_type and b_type and a_type != b_type:
        return None, None
    for algorithm in sorted(set(a) & set(b)):
        if a[algorithm] == b[algorithm]:
            return True, f"{algorithm}:{b[algorithm]}"
        if a_type and b_type:
            return False, f"{algorithm} {a[algorithm]} != {b[algorithm]}"
    return None, None


def checksum_type(head: HeadResult) -> str | None:
    """The type of an object's checksum: as S3 declares it, else FULL_OBJECT for an object
    written in one part (its ETag has no part count: a PutObject's or CopyObject's), whose
    checksum is always of the whole object ("PutObject", x-amz-checksum-type: "For
    PutObject uploads, the checksum type is always FULL_OBJECT",
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html). Some emulators
    declare no type for such objects; a multipart object's type is never guessed."""
    if head.checksum_type:
        return head.checksum_type
    if head.checksums and parts_in_etag(head.etag) is None:
        return "FULL_OBJECT"
    return None


def evidence_of(checksums: dict[str, str], etag: str) -> str:
    """The evidence string of a result: a checksum when there is one, else the ETag."""
    for algorithm in sorted(checksums):
        return f"{algorithm}:{checksums[algorithm]}"
    return f"ETAG:{norm_etag(etag)}"


def is_kms(sse: str | None) -> bool:
    """SSE-KMS (or DSSE-KMS): the ETag is not an MD5 of the content."""
    return bool(sse and sse.startswith("aws:kms"))


def multipart_checksum_type(algorithm: str, head: HeadResult, mirrored: bool) -> str | None:
    """The checksum type that keeps the destination's checksum equal to the source's."""
    if algorithm == "CRC64NVME":
        return "FULL_OBJECT"
    if algorithm in ("SHA1", "SHA256"):
        return "COMPOSITE"
    if parts_in_etag(head.etag) is None:
        # A single-part source's checksum is a full-object one; keep it comparable.
        return "FULL_OBJECT"
    if algorithm in head.checksums and head.checksum_type:
        if head.checksum_type == "COMPOSITE" and not mirrored:
            return "FULL_OBJECT"
        return head.checksum_type
    return None

"""Content evidence and part arithmetic (``worker/evidence.py``): pure, no S3."""

from __future__ import annotations

from steps_s3_copy.models import MiB
from steps_s3_copy.worker.evidence import (
    byte_ranges,
    checksum_evidence,
    checksum_type,
    evidence_of,
    is_kms,
    multipart_checksum_type,
    norm_etag,
    parts_in_etag,
    plan_parts,
)
from steps_s3_copy.worker.s3client import HeadResult


def test_part_plan_respects_the_10000_part_limit():
    assert plan_parts(12 * MiB + 5, 5 * MiB) == [5 * MiB, 5 * MiB, 2 * MiB + 5]
    huge = 5 * 1024**4
    parts = plan_parts(huge, 5 * MiB)
    assert len(parts) <= 10_000
    assert sum(parts) == huge
    assert max(parts) <= 5 * 1024**3


def test_byte_ranges_cover_the_object_exactly_once():
    assert byte_ranges([5, 7, 1]) == [(0, 4), (5, 11), (12, 12)]
    assert byte_ranges([0]) == [None]  # an empty object is one empty part, no range


def test_etag_arithmetic():
    assert norm_etag(' "abc-3" ') == "abc-3"
    assert parts_in_etag('"abc-3"') == 3
    assert parts_in_etag('"abc"') is None
    assert parts_in_etag('"abc-x"') is None


def test_checksums_compare_only_with_the_same_algorithm_and_type():
    same = checksum_evidence({"CRC32": "a"}, "FULL_OBJECT", {"CRC32": "a"}, "FULL_OBJECT")
    assert same == (True, "CRC32:a")
    differ = checksum_evidence({"CRC32": "a"}, "FULL_OBJECT", {"CRC32": "b"}, "FULL_OBJECT")
    assert differ[0] is False
    assert checksum_evidence({"CRC32": "a"}, "COMPOSITE", {"CRC32": "b"}, "FULL_OBJECT") == (
        None,
        None,
    )
    # an undeclared type (some emulators) never counts as a difference
    assert checksum_evidence({"CRC32": "a"}, None, {"CRC32": "b"}, "FULL_OBJECT") == (None, None)
    assert checksum_evidence({"SHA1": "a"}, "COMPOSITE", {"CRC32": "a"}, "COMPOSITE") == (
        None,
        None,
    )


def test_a_missing_etag_is_empty_not_made_up():
    # two objects without an ETag compare equal, and evidence never names an invented one
    assert norm_etag(None) == ""
    assert norm_etag("") == ""


def test_evidence_names_the_objects_own_etag_without_a_checksum():
    assert evidence_of({}, '"d41d8cd98f00b204e9800998ecf8427e"') == (
        "ETAG:d41d8cd98f00b204e9800998ecf8427e"
    )
    assert evidence_of({"SHA256": "s", "CRC32": "c"}, '"abc"') == "CRC32:c"


def test_sse_kms_and_dsse_kms_are_recognised_other_encryption_is_not():
    # "aws:kms" and "aws:kms:dsse" are the ServerSideEncryption values whose ETag is not
    # an MD5 of the content (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html)
    assert is_kms("aws:kms") is True
    assert is_kms("aws:kms:dsse") is True
    assert is_kms("AES256") is False
    assert is_kms(None) is False


def test_checksum_type_is_declared_or_full_object_for_one_part_never_guessed_for_parts():
    declared = HeadResult(
        size=1, etag='"abc-2"', checksums={"CRC32": "a"}, checksum_type="COMPOSITE"
    )
    assert checksum_type(declared) == "COMPOSITE"
    one_part = HeadResult(size=1, etag='"abc"', checksums={"CRC32": "a"})
    assert checksum_type(one_part) == "FULL_OBJECT"
    # a multipart object's checksum may be composite: comparing it as a full-object one
    # would call equal content a ChecksumMismatch
    in_parts = HeadResult(size=1, etag='"abc-2"', checksums={"CRC32": "a"})
    assert checksum_type(in_parts) is None
    # no checksum at all: there is no type to declare
    assert checksum_type(HeadResult(size=1, etag='"abc"')) is None


def _head(etag: str, checksums: dict[str, str], kind: str | None = None) -> HeadResult:
    return HeadResult(size=1, etag=etag, checksums=checksums, checksum_type=kind)


def test_multipart_checksum_type_keeps_the_destination_comparable_with_the_source():
    # "Checking object integrity in Amazon S3" (S3 User Guide): CRC64NVME is full-object
    # only, SHA1 and SHA256 composite only, CRC32 and CRC32C either
    parts = _head('"abc-3"', {"CRC32": "a"}, "COMPOSITE")
    assert multipart_checksum_type("CRC64NVME", parts, mirrored=True) == "FULL_OBJECT"
    assert multipart_checksum_type("SHA1", parts, mirrored=True) == "COMPOSITE"
    assert multipart_checksum_type("SHA256", parts, mirrored=True) == "COMPOSITE"
    # a single-part source's checksum is of the whole object
    assert multipart_checksum_type("CRC32", _head('"abc"', {"CRC32": "a"}), True) == "FULL_OBJECT"
    # a multipart source: its own type, mirrored parts keep a composite checksum equal...
    assert multipart_checksum_type("CRC32", parts, mirrored=True) == "COMPOSITE"
    full = _head('"abc-3"', {"CRC32": "a"}, "FULL_OBJECT")
    assert multipart_checksum_type("CRC32", full, mirrored=True) == "FULL_OBJECT"
    assert multipart_checksum_type("CRC32", full, mirrored=False) == "FULL_OBJECT"
    # ...other parts cannot, so the destination gets a full-object one
    assert multipart_checksum_type("CRC32", parts, mirrored=False) == "FULL_OBJECT"
    # an algorithm the source lacks, or a type it does not declare: S3's default
    assert multipart_checksum_type("CRC32C", parts, mirrored=True) is None
    assert multipart_checksum_type("CRC32", _head('"abc-3"', {"CRC32": "a"}), True) is None

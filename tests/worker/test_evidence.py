"""Content evidence and part arithmetic (``worker/evidence.py``): pure, no S3."""

from __future__ import annotations

from steps_s3_copy.models import MiB
from steps_s3_copy.worker.evidence import (
    byte_ranges,
    checksum_evidence,
    norm_etag,
    parts_in_etag,
    plan_parts,
)


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

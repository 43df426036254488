"""Receipt evidence (issue 12, section 3) and timing in every ObjectResult, and archived
sources keeping their storage class (issue 12, section 1).

Each COPIED or SKIPPED result carries the source's evidence (version id when known, size,
ETag, checksum when a HeadObject showed one) and the destination's, from answers the
engine already had: no request is added for a small object.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from steps_s3_copy.models import MiB, ObjectResult, Status
from steps_s3_copy.worker.engine import CopyEngine
from tests.worker.conftest import DEST, SOURCE
from tests.worker.test_engine import item, planned, put_multipart

Engine = Callable[..., CopyEngine]


def checksum_of(head: dict[str, Any]) -> str | None:
    for algorithm in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        if head.get(f"Checksum{algorithm}"):
            return f"{algorithm}:{head[f'Checksum{algorithm}']}"
    return None


def assert_destination_evidence(s3: Any, result: ObjectResult, key: str) -> None:
    head = s3.head_object(Bucket=DEST, Key=key, ChecksumMode="ENABLED")
    assert result.destination_size == head["ContentLength"]
    assert result.destination_etag == head["ETag"].strip('"')
    if result.destination_version_id is not None:
        assert result.destination_version_id == head["VersionId"]
    if result.destination_checksum is not None:
        assert result.destination_checksum == checksum_of(head)


def test_a_small_copy_carries_both_sides_evidence_from_its_one_request(
    buckets: Any, make_engine: Engine
):
    s3 = buckets
    for bucket in (SOURCE, DEST):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=SOURCE, Key="a/one", Body=b"one")
    s3.put_object(Bucket=SOURCE, Key="a/two", Body=b"two!")
    items = [planned(s3, "a/one"), planned(s3, "a/two")]
    engine = make_engine(checksum_algorithm="CRC32")
    before = time.time()
    results = engine.copy(items)
    after = time.time()
    assert engine.s3.requests == 1 + 2  # the listing, one CopyObject each: nothing added
    for result, key in zip(results, ("a/one", "a/two"), strict=True):
        assert (result.status, result.method) == (Status.COPIED, "copy"), result
        source = s3.head_object(Bucket=SOURCE, Key=key)
        assert result.source_size == source["ContentLength"]
        assert result.source_etag == source["ETag"].strip('"')
        assert result.source_version_id == source["VersionId"]  # CopyObject's answer
        assert result.destination_version_id is not None
        assert result.destination_checksum is not None
        assert_destination_evidence(s3, result, key)
        assert result.finished_at is not None
        assert before - 0.001 <= result.finished_at <= after + 0.001  # to the millisecond


def test_skipped_objects_carry_the_listing_s_evidence(buckets: Any, make_engine: Engine):
    s3 = buckets
    for key in ("b/1", "b/2"):
        s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode())
        s3.put_object(Bucket=DEST, Key=key, Body=key.encode())
    engine = make_engine()
    results = engine.copy([planned(s3, "b/1"), planned(s3, "b/2")])
    assert engine.s3.requests == 1
    for result, key in zip(results, ("b/1", "b/2"), strict=True):
        assert result.status is Status.SKIPPED
        assert result.source_size == len(key)
        assert result.source_etag == s3.head_object(Bucket=SOURCE, Key=key)["ETag"].strip('"')
        assert result.destination_version_id is None  # a listing names no version
        assert_destination_evidence(s3, result, key)
        assert result.finished_at is not None


def test_a_skip_by_head_object_and_a_multipart_copy_carry_checksums(
    buckets: Any, make_engine: Engine
):
    s3 = buckets
    s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=SOURCE, Key="solo", Body=b"solo", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=DEST, Key="solo", Body=b"solo", ChecksumAlgorithm="SHA256")
    put_multipart(s3, "mp.bin", [5 * MiB, 1 * MiB], ChecksumAlgorithm="CRC32")
    [skipped] = make_engine().copy([planned(s3, "solo")])
    [copied] = make_engine(multipart_threshold=5 * MiB).copy([planned(s3, "mp.bin")])

    assert skipped.status is Status.SKIPPED
    assert_destination_evidence(s3, skipped, "solo")
    assert skipped.destination_checksum is not None
    assert skipped.destination_checksum.startswith("SHA256:")

    assert (copied.status, copied.method) == (Status.COPIED, "multipart"), copied
    source = s3.head_object(Bucket=SOURCE, Key="mp.bin", ChecksumMode="ENABLED")
    assert copied.source_version_id == source["VersionId"]
    assert copied.source_etag == source["ETag"].strip('"')
    assert copied.source_checksum == checksum_of(source)
    assert copied.source_checksum is not None
    assert_destination_evidence(s3, copied, "mp.bin")
    assert copied.destination_checksum is not None


def test_a_failed_object_has_its_end_time(buckets: Any, make_engine: Engine):
    before = time.time()
    [result] = make_engine().copy([item("missing")])
    assert result.status is Status.FAILED
    assert result.finished_at is not None
    assert before - 0.001 <= result.finished_at <= time.time() + 0.001


@pytest.mark.parametrize("threshold", [5 * 1024**3, 5 * MiB], ids=["copy-object", "multipart"])
@pytest.mark.parametrize(
    ("source_class", "option", "expected"),
    [
        ("GLACIER", None, "GLACIER"),
        ("DEEP_ARCHIVE", None, "DEEP_ARCHIVE"),
        ("GLACIER", "STANDARD_IA", "STANDARD_IA"),
        ("STANDARD_IA", None, "STANDARD"),
    ],
)
def test_an_archived_source_keeps_its_storage_class_unless_the_options_set_one(
    buckets: Any,
    make_engine: Engine,
    threshold: int,
    source_class: str,
    option: str | None,
    expected: str,
):
    s3 = buckets
    data = os.urandom(6 * MiB)
    s3.put_object(Bucket=SOURCE, Key="cold", Body=data, StorageClass=source_class)
    if source_class in ("GLACIER", "DEEP_ARCHIVE"):
        s3.restore_object(Bucket=SOURCE, Key="cold", RestoreRequest={"Days": 1})
    plan = planned(s3, "cold").model_copy(update={"storage_class": source_class})
    engine = make_engine(multipart_threshold=threshold, part_size=5 * MiB, storage_class=option)
    [result] = engine.copy([plan])
    assert result.status is Status.COPIED, result
    head = s3.head_object(Bucket=DEST, Key="cold")
    assert head.get("StorageClass", "STANDARD") == expected

"""The planned ETag is the contract of every read of the source (issue 8, item 3).

A source overwritten, grown or deleted between planning and copy (or during a multipart
copy) is FAILED ``SourceChanged`` / ``NoSuchKey``: never a copy of the new content, the
destination untouched and no upload left. A server that copies another object than the
one asked is caught by verification.

moto ignores copy conditions, so these tests run through the fault proxy with
``enforce_conditions`` (412 as S3 answers it) or ``swap_sources``
(``tests/worker/conftest.py``). Every test runs against both S3 clients.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from steps_s3_copy.models import MiB, Status
from steps_s3_copy.worker.engine import CopyEngine
from tests.conftest import client
from tests.worker.conftest import DEST, SOURCE, FaultProxy
from tests.worker.test_engine import body_of, item, no_uploads_left, planned, put_multipart

Engine = Callable[..., CopyEngine]

#: (size of the source, engine options): one CopyObject, or a multipart copy
PATHS = {
    "copy-object": (64 * 1024, {}),
    "multipart": (11 * MiB, {"multipart_threshold": 5 * MiB, "part_size": 5 * MiB}),
}


def change(s3: Any, key: str, how: str, size: int) -> None:
    """Change the source the way ``how`` says."""
    if how == "overwritten":  # same size, other bytes
        s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(size))
    elif how == "grown":
        s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(size + 1))
    else:
        s3.delete_object(Bucket=SOURCE, Key=key)


def destination_untouched(s3: Any, key: str, before: bytes | None) -> bool:
    listed = s3.list_objects_v2(Bucket=DEST, Prefix=key).get("Contents", [])
    if before is None:
        return not listed
    return body_of(s3, DEST, key) == before


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("how", ["overwritten", "grown", "deleted"])
def test_a_source_changed_after_planning_is_not_copied(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, path: str, how: str
):
    s3 = buckets
    size, options = PATHS[path]
    s3.put_object(Bucket=SOURCE, Key="data.bin", Body=os.urandom(size))
    s3.put_object(Bucket=DEST, Key="data.bin", Body=b"what the destination held")
    plan = planned(s3, "data.bin")
    change(s3, "data.bin", how, size)
    fault_proxy.enforce_conditions = True

    [result] = make_engine(endpoint=fault_proxy.url, **options).copy([plan])

    expected = "NoSuchKey" if how == "deleted" else "SourceChanged"
    assert (result.status, result.error_code) == (Status.FAILED, expected), result
    assert destination_untouched(s3, "data.bin", b"what the destination held")
    assert no_uploads_left(s3)


@pytest.mark.parametrize("path", PATHS)
def test_without_a_planned_etag_the_first_head_is_the_contract(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, path: str
):
    """The plan has no ETag: the source is HEAD-ed once, and changed right after that
    HeadObject; what the HeadObject saw is what may be copied, nothing else."""
    s3 = buckets
    size, options = PATHS[path]
    s3.put_object(Bucket=SOURCE, Key="late.bin", Body=os.urandom(size))
    upstream = client("s3", fault_proxy.upstream)
    changed: list[bool] = []

    def overwrite_after_first_head(method: str, target: str, _query: str) -> None:
        if method == "HEAD" and target == f"/{SOURCE}/late.bin" and not changed:
            changed.append(True)
            upstream.put_object(Bucket=SOURCE, Key="late.bin", Body=os.urandom(size))

    fault_proxy.after.append(overwrite_after_first_head)
    fault_proxy.enforce_conditions = True

    [result] = make_engine(endpoint=fault_proxy.url, **options).copy([item("late.bin")])

    assert changed
    assert (result.status, result.error_code) == (Status.FAILED, "SourceChanged"), result
    assert destination_untouched(s3, "late.bin", None)
    assert no_uploads_left(s3)


def test_a_source_overwritten_during_a_multipart_copy_is_refused_part_by_part(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    """Overwritten after the upload began: every UploadPartCopy carries the planned ETag,
    so S3 refuses them, the upload is aborted and nothing is written."""
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="big.bin", Body=os.urandom(16 * MiB))
    plan = planned(s3, "big.bin")
    upstream = client("s3", fault_proxy.upstream)

    def overwrite_when_the_upload_starts(method: str, _target: str, query: str) -> None:
        if method == "POST" and query == "uploads":
            upstream.put_object(Bucket=SOURCE, Key="big.bin", Body=os.urandom(16 * MiB))

    fault_proxy.after.append(overwrite_when_the_upload_starts)
    fault_proxy.enforce_conditions = True
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)

    [result] = engine.copy([plan])

    assert (result.status, result.error_code) == (Status.FAILED, "SourceChanged"), result
    part_copies = fault_proxy.requests_of("PUT", "partNumber=")
    assert part_copies
    planned_etag = (plan.etag or "").strip('"')
    assert {r.headers.get("x-amz-copy-source-if-match", "").strip('"') for r in part_copies} == {
        planned_etag
    }
    assert any(status == 412 for _m, _t, status, _c in fault_proxy.injected)
    assert destination_untouched(s3, "big.bin", None)
    assert no_uploads_left(s3)


@pytest.mark.parametrize("path", PATHS)
def test_every_read_of_an_unchanged_source_names_the_planned_etag(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, path: str
):
    s3 = buckets
    size, options = PATHS[path]
    data = os.urandom(size)
    s3.put_object(Bucket=SOURCE, Key="same.bin", Body=data, Tagging="k=v")
    plan = planned(s3, "same.bin")
    fault_proxy.enforce_conditions = True

    [result] = make_engine(endpoint=fault_proxy.url, copy_metadata=False, **options).copy([plan])

    assert (result.status, result.error_code) == (Status.COPIED, None), result
    assert body_of(s3, DEST, "same.bin") == data
    etag = (plan.etag or "").strip('"')
    reads = [r for r in fault_proxy.seen if r.target.startswith(f"/{SOURCE}/")]
    copies = [r for r in fault_proxy.seen if "x-amz-copy-source" in r.headers]
    assert reads  # HeadObject of the source (the content headers are restated)
    for seen in reads:
        if seen.method == "HEAD" and "partNumber=" not in seen.target:
            assert seen.headers.get("if-match", "").strip('"') == etag, seen
    assert copies
    for seen in copies:
        assert seen.headers.get("x-amz-copy-source-if-match", "").strip('"') == etag, seen


def test_tags_and_attributes_of_a_versioned_source_are_read_from_the_version_seen(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    data = put_multipart(s3, "v.bin", [5 * MiB, 2 * MiB], Tagging="team=bio")
    version = s3.head_object(Bucket=SOURCE, Key="v.bin")["VersionId"]
    fault_proxy.enforce_conditions = True

    [result] = make_engine(endpoint=fault_proxy.url).copy([planned(s3, "v.bin")])

    assert (result.status, result.method) == (Status.COPIED, "multipart"), result
    assert body_of(s3, DEST, "v.bin") == data
    tag_reads = fault_proxy.requests_of("GET", "tagging")
    attribute_reads = fault_proxy.requests_of("GET", "attributes")
    assert tag_reads
    assert attribute_reads
    for seen in [*tag_reads, *attribute_reads]:
        assert f"versionId={version}" in seen.target, seen.target
    assert result.source_version_id == version


@pytest.mark.parametrize(
    ("path", "checksums", "decoy_size", "caught_by"),
    [
        ("copy-object", True, 0, "ChecksumMismatch"),
        ("copy-object", False, 0, "ETagMismatch"),
        ("copy-object", True, 1, "SizeMismatch"),
        ("multipart", True, 0, "ChecksumMismatch"),
    ],
    ids=["copy-object-checksum", "copy-object-etag", "copy-object-size", "multipart-checksum"],
)
def test_a_server_that_copies_another_object_is_caught_by_verification(
    buckets: Any,
    make_engine: Engine,
    fault_proxy: FaultProxy,
    path: str,
    checksums: bool,
    decoy_size: int,
    caught_by: str,
):
    """The server copies a decoy: the engine must not report COPIED, and says why.

    Without additional checksums (the objects written with no checksum at all) only the
    ETag can tell; a single-part source cut in parts has no comparable ETag, so there the
    checksum is the evidence.
    """
    size, options = PATHS[path]
    writer = client(
        "s3",
        fault_proxy.upstream,
        request_checksum_calculation="when_supported" if checksums else "when_required",
    )
    writer.put_object(Bucket=SOURCE, Key="real.bin", Body=os.urandom(size))
    writer.put_object(Bucket=SOURCE, Key="decoy.bin", Body=os.urandom(size + decoy_size))
    fault_proxy.swap_sources[(SOURCE, "real.bin")] = (SOURCE, "decoy.bin")

    [result] = make_engine(endpoint=fault_proxy.url, **options).copy([planned(buckets, "real.bin")])

    assert fault_proxy.swapped
    assert (result.status, result.error_code) == (Status.FAILED, caught_by), result
    assert no_uploads_left(buckets)


def test_a_server_that_copies_the_parts_of_another_multipart_object_is_caught(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    """Mirrored parts of a decoy with the same layout: only the ETag can tell."""
    s3 = buckets
    put_multipart(s3, "real.bin", [5 * MiB, 1 * MiB])
    put_multipart(s3, "decoy.bin", [5 * MiB, 1 * MiB])
    fault_proxy.swap_sources[(SOURCE, "real.bin")] = (SOURCE, "decoy.bin")

    [result] = make_engine(endpoint=fault_proxy.url).copy([planned(s3, "real.bin")])

    assert fault_proxy.swapped
    assert (result.status, result.error_code) == (Status.FAILED, "ETagMismatch"), result
    assert no_uploads_left(s3)


def test_the_proxy_enforces_copy_conditions_as_s3_does(buckets: Any, fault_proxy: FaultProxy):
    """The guard of the tests above: a wrong ETag is refused with 412, the right one and
    a missing source are not the proxy's to refuse."""
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"v")
    etag = s3.head_object(Bucket=SOURCE, Key="k")["ETag"]
    fault_proxy.enforce_conditions = True
    via = client("s3", fault_proxy.url)
    source = {"Bucket": SOURCE, "Key": "k"}
    with pytest.raises(via.exceptions.ClientError) as refused:
        via.copy_object(
            Bucket=DEST, Key="k", CopySource=source, CopySourceIfMatch='"' + "0" * 32 + '"'
        )
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(via.exceptions.ClientError) as head_refused:
        via.head_object(Bucket=SOURCE, Key="k", IfMatch='"' + "0" * 32 + '"')
    assert head_refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    via.copy_object(Bucket=DEST, Key="k", CopySource=source, CopySourceIfMatch=etag)
    assert via.head_object(Bucket=SOURCE, Key="k", IfMatch=etag)["ETag"] == etag
    with pytest.raises(via.exceptions.NoSuchKey):
        via.copy_object(
            Bucket=DEST,
            Key="gone",
            CopySource={"Bucket": SOURCE, "Key": "gone"},
            CopySourceIfMatch=etag,
        )
    assert body_of(s3, DEST, "k") == b"v"

"""Tests that guard the engine's guards (issue 8): each one kills mutants of the code that
decides SKIPPED / COPIED / FAILED that the other engine tests let live (``./dev mutate``,
docs/testing.md). Each shows a decision for a real reason: what S3 holds afterwards, what
the result reports, or how many requests it cost.

moto on 127.0.0.1 as in the other engine tests; where a server must misbehave, the fault
proxy of ``tests/worker/conftest.py``. Every test runs against both S3 clients.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import pytest

from steps_s3_copy.models import ExpectedChecksum, MiB, OverwritePolicy, Status
from steps_s3_copy.worker.engine import CopyEngine
from tests.conftest import client
from tests.worker.conftest import DEST, SOURCE, FaultProxy
from tests.worker.test_engine import body_of, item, planned

Engine = Callable[..., CopyEngine]


def put_full_object_crc32_in_one_part(s3: Any, bucket: str, key: str, body: bytes) -> None:
    """``body`` as a multipart upload of one part with a FULL_OBJECT CRC32 checksum: the
    same content and checksum as a PutObject of it, another ETag (``<md5>-1``)."""
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    answer = s3.upload_part(
        Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=body, ChecksumAlgorithm="CRC32"
    )
    part = {"PartNumber": 1, "ETag": answer["ETag"], "ChecksumCRC32": answer["ChecksumCRC32"]}
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": [part]}
    )


def test_overwrite_never_reports_the_etag_of_what_it_left_in_place(
    buckets: Any, make_engine: Engine
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"new")
    s3.put_object(Bucket=DEST, Key="a", Body=b"old")
    kept = s3.head_object(Bucket=DEST, Key="a")["ETag"].strip('"')

    [result] = make_engine(overwrite=OverwritePolicy.NEVER).copy([item("a")])

    assert (result.status, result.method) == (Status.SKIPPED, "skip")
    assert (result.checksum, result.bytes) == (f"ETAG:{kept}", len(b"old"))
    assert body_of(s3, DEST, "a") == b"old"
    # the receipt: the source as it was, the destination as it was left
    source = s3.head_object(Bucket=SOURCE, Key="a")["ETag"].strip('"')
    assert (result.source_size, result.source_etag) == (len(b"new"), source)
    assert (result.destination_size, result.destination_etag) == (len(b"old"), kept)


def test_a_skip_by_equal_etags_names_the_etag(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="same", Body=b"same bytes")
    s3.put_object(Bucket=DEST, Key="same", Body=b"same bytes")
    etag = s3.head_object(Bucket=DEST, Key="same")["ETag"].strip('"')

    [result] = make_engine().copy([planned(s3, "same")])

    assert (result.status, result.checksum) == (Status.SKIPPED, f"ETAG:{etag}"), result


def test_a_skip_by_checksum_uses_the_destinations_one_head_object(
    buckets: Any, make_engine: Engine
):
    """Same content, other ETags (a PutObject and a one-part upload): the FULL_OBJECT
    CRC32 checksums prove it, from the HeadObject the skip check already made. At
    millions of objects a second HeadObject each is a cost, not a detail."""
    s3 = buckets
    body = os.urandom(4096)
    s3.put_object(Bucket=SOURCE, Key="same", Body=body, ChecksumAlgorithm="CRC32")
    put_full_object_crc32_in_one_part(s3, DEST, "same", body)
    checksum = s3.head_object(Bucket=SOURCE, Key="same", ChecksumMode="ENABLED")["ChecksumCRC32"]
    assert s3.head_object(Bucket=DEST, Key="same")["ETag"].endswith('-1"')

    engine = make_engine()
    [result] = engine.copy([item("same")])

    assert (result.status, result.method) == (Status.SKIPPED, "skip"), result
    assert (result.bytes, result.checksum) == (len(body), f"CRC32:{checksum}")
    assert engine.s3.requests == 2  # HeadObject of the source and of the destination
    # the receipt: both sides as the two HeadObjects saw them
    source = s3.head_object(Bucket=SOURCE, Key="same")
    dest = s3.head_object(Bucket=DEST, Key="same")
    assert (result.source_size, result.source_etag, result.source_checksum) == (
        len(body),
        source["ETag"].strip('"'),
        f"CRC32:{checksum}",
    )
    assert (result.destination_size, result.destination_etag, result.destination_checksum) == (
        len(body),
        dest["ETag"].strip('"'),
        f"CRC32:{checksum}",
    )


#: moto's account, the owner of both buckets
ACCOUNT = "123456789012"


@pytest.mark.parametrize("size", [1024, 6 * MiB], ids=["copy-object", "multipart"])
def test_every_request_names_who_pays_and_who_must_own_the_bucket(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, size: int
):
    """With a requester-pays source and a destination account, each request of a copy,
    its skip check and its verification carries ``x-amz-request-payer`` when it reads
    the source and ``x-amz-expected-bucket-owner`` when it touches the destination: a
    request without the first is refused by a requester-pays bucket, one without the
    second may write into a bucket of another account ("Verifying bucket ownership with
    bucket owner condition", https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html;
    "Using Requester Pays buckets", https://docs.aws.amazon.com/AmazonS3/latest/userguide/RequesterPaysBuckets.html)."""
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="paid", Body=os.urandom(size))
    s3.put_object(Bucket=DEST, Key="paid", Body=b"older")
    engine = make_engine(
        endpoint=fault_proxy.url,
        requester_pays=True,
        destination_account=ACCOUNT,
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
    )

    [result] = engine.copy([item("paid")])

    assert result.status is Status.COPIED, result
    assert body_of(s3, DEST, "paid") == body_of(s3, SOURCE, "paid")
    for seen in fault_proxy.seen:
        path = seen.target.partition("?")[0]
        reads_source = path.startswith(f"/{SOURCE}/") or "x-amz-copy-source" in seen.headers
        if reads_source:
            assert seen.headers.get("x-amz-request-payer") == "requester", seen
        if path.startswith(f"/{DEST}/"):
            assert seen.headers.get("x-amz-expected-bucket-owner") == ACCOUNT, seen
    heads_of_destination = [
        s for s in fault_proxy.seen if s.method == "HEAD" and s.target.startswith(f"/{DEST}/")
    ]
    assert heads_of_destination  # the skip check (and the verification) were seen


def test_a_destination_gone_after_the_copy_is_not_copied(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    """The upload is completed, then the destination is gone before the verification's
    HeadObject (a concurrent delete, a lifecycle rule, a server that acknowledged what it
    did not keep): FAILED, never COPIED."""
    s3 = buckets
    size = 6 * MiB
    s3.put_object(Bucket=SOURCE, Key="gone", Body=os.urandom(size))

    def delete_after_complete(method: str, path: str, query: str) -> None:
        if method == "POST" and path == f"/{DEST}/gone" and "uploadId=" in query:
            s3.delete_object(Bucket=DEST, Key="gone")

    fault_proxy.after.append(delete_after_complete)
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)

    [result] = engine.copy([planned(s3, "gone")])

    assert (result.status, result.error_code) == (Status.FAILED, "VerifyFailed"), result
    assert result.error_message == "destination missing after the copy"
    assert result.bytes == size  # the bytes whose copy failed
    assert not s3.list_objects_v2(Bucket=DEST).get("Contents")


def test_parts_that_do_not_mirror_the_source_make_etags_incomparable_not_a_mismatch(
    buckets: Any, make_engine: Engine, moto_server: str
):
    """A single-part source copied in parts: the destination's ETag is a digest of its
    parts ("<md5>-2"), never the source's MD5 ("Object", ETag,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html). Without checksums
    nothing more can be compared: COPIED on the size, not an ETagMismatch."""
    writer = client("s3", moto_server, request_checksum_calculation="when_required")
    body = os.urandom(6 * MiB)
    writer.put_object(Bucket=SOURCE, Key="cut", Body=body)
    source = buckets.head_object(Bucket=SOURCE, Key="cut", ChecksumMode="ENABLED")
    assert not [name for name in source if name.startswith("Checksum")]

    engine = make_engine(multipart_threshold=5 * MiB, part_size=5 * MiB)
    [result] = engine.copy([planned(buckets, "cut")])

    dest_etag = buckets.head_object(Bucket=DEST, Key="cut")["ETag"].strip('"')
    assert dest_etag.endswith("-2")
    assert (result.status, result.method) == (Status.COPIED, "multipart"), result
    assert result.checksum == f"ETAG:{dest_etag}"
    assert body_of(buckets, DEST, "cut") == body


def test_the_proxy_gives_sse_kms_objects_an_etag_that_is_not_their_md5(
    buckets: Any, fault_proxy: FaultProxy, moto_server: str
):
    """The guard of the two tests below: through the proxy an SSE-KMS object's ETag is
    not the MD5 of its bytes, a plaintext object's is, and a condition on the answered
    ETag holds."""
    writer = client("s3", moto_server, request_checksum_calculation="when_required")
    writer.put_object(Bucket=SOURCE, Key="kms", Body=b"secret", ServerSideEncryption="aws:kms")
    writer.put_object(Bucket=SOURCE, Key="plain", Body=b"secret")
    fault_proxy.kms_etags = True
    via = client("s3", fault_proxy.url)
    md5 = hashlib.md5(b"secret", usedforsecurity=False).hexdigest()

    kms = via.head_object(Bucket=SOURCE, Key="kms")["ETag"]
    assert kms != f'"{md5}"'
    assert via.head_object(Bucket=SOURCE, Key="plain")["ETag"] == f'"{md5}"'
    assert via.head_object(Bucket=SOURCE, Key="kms", IfMatch=kms)["ETag"] == kms
    copied = via.copy_object(
        Bucket=DEST,
        Key="kms",
        CopySource={"Bucket": SOURCE, "Key": "kms"},
        ServerSideEncryption="aws:kms",
    )
    assert copied["CopyObjectResult"]["ETag"] != f'"{md5}"'
    assert copied["CopyObjectResult"]["ETag"] == via.head_object(Bucket=DEST, Key="kms")["ETag"]


def test_an_sse_kms_source_copied_to_plaintext_is_not_an_etag_mismatch(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, moto_server: str
):
    """The source's ETag is not an MD5 (SSE-KMS), the destination's is: the ETags differ
    for equal content, so they prove nothing either way. Without checksums the copy is
    COPIED on its size, as S3 would answer it."""
    writer = client("s3", moto_server, request_checksum_calculation="when_required")
    writer.put_object(Bucket=SOURCE, Key="k", Body=b"secret data", ServerSideEncryption="aws:kms")
    fault_proxy.kms_etags = True
    plan = planned(client("s3", fault_proxy.url), "k")

    [result] = make_engine(endpoint=fault_proxy.url).copy([plan])

    assert (result.status, result.method) == (Status.COPIED, "copy"), result
    assert body_of(buckets, DEST, "k") == b"secret data"
    assert plan.etag is not None
    assert result.source_etag == plan.etag.strip('"') != result.destination_etag


def test_a_copy_into_a_bucket_encrypted_with_sse_kms_is_not_an_etag_mismatch(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, moto_server: str
):
    """The destination bucket encrypts with SSE-KMS by default ("Setting default
    server-side encryption behavior for Amazon S3 buckets",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-encryption.html): the
    copy's ETag is not an MD5 although the job named no KMS key. COPIED, not FAILED."""
    buckets.put_bucket_encryption(
        Bucket=DEST,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    writer = client("s3", moto_server, request_checksum_calculation="when_required")
    writer.put_object(Bucket=SOURCE, Key="k", Body=b"plain data")
    fault_proxy.kms_etags = True

    [result] = make_engine(endpoint=fault_proxy.url).copy([planned(buckets, "k")])

    assert (result.status, result.method) == (Status.COPIED, "copy"), result
    assert body_of(buckets, DEST, "k") == b"plain data"
    dest = buckets.head_object(Bucket=DEST, Key="k")
    assert dest["ServerSideEncryption"] == "aws:kms"
    assert result.destination_etag != result.source_etag


def multipart_etag(body: bytes, part_size: int) -> str:
    """The ETag S3 gives an object uploaded in parts of ``part_size``: the MD5 of the
    parts' MD5 digests, then ``-<parts>``."""
    parts = [body[at : at + part_size] for at in range(0, len(body), part_size)]
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"


def test_a_copy_in_parts_is_held_to_the_manifests_expected_checksum(
    buckets: Any, make_engine: Engine
):
    """The expected checksum is enforced after a multipart copy too (its verification),
    and a failure there reports the object's bytes and how it was copied."""
    s3 = buckets
    size = 6 * MiB
    bodies = {}
    for key in ("etag-wrong", "etag-right", "crc32-right", "sha256-unknown"):
        bodies[key] = os.urandom(size)
        s3.put_object(Bucket=SOURCE, Key=key, Body=bodies[key], ChecksumAlgorithm="CRC32")
    crc32 = s3.head_object(Bucket=SOURCE, Key="crc32-right", ChecksumMode="ENABLED")
    expected = {
        "etag-wrong": ExpectedChecksum(algorithm="ETAG", value="0" * 32 + "-2"),
        "etag-right": ExpectedChecksum(
            algorithm="ETAG", value=multipart_etag(bodies["etag-right"], 5 * MiB)
        ),
        "crc32-right": ExpectedChecksum(algorithm="CRC32", value=crc32["ChecksumCRC32"]),
        "sha256-unknown": ExpectedChecksum(algorithm="SHA256", value="A" * 43 + "="),
    }
    items = [
        planned(s3, key).model_copy(update={"expected_checksum": value})
        for key, value in expected.items()
    ]

    results = make_engine(multipart_threshold=5 * MiB, part_size=5 * MiB).copy(items)

    assert [(r.status, r.method, r.error_code) for r in results] == [
        (Status.FAILED, "multipart", "ExpectedChecksumMismatch"),
        (Status.COPIED, "multipart", None),
        (Status.COPIED, "multipart", None),
        (Status.FAILED, "multipart", "ChecksumUnverifiable"),
    ], results
    assert [r.bytes for r in results] == [size] * 4
    assert results[0].error_message == (
        f"ETAG: destination {multipart_etag(bodies['etag-wrong'], 5 * MiB)} != manifest "
        + "0" * 32
        + "-2"
    )
    assert results[2].checksum == f"CRC32:{crc32['ChecksumCRC32']}"
    assert results[3].error_message == "destination has no SHA256 checksum"


@pytest.mark.parametrize("caught_by", ["SizeMismatch", "ChecksumMismatch", "ETagMismatch"])
def test_a_swapped_copy_reports_what_differed_and_the_bytes_at_stake(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, moto_server: str, caught_by: str
):
    """The server copies a decoy (``swap_sources``): the failure says which evidence
    differed, with both values, so an operator can tell a swapped object from a bug."""
    writer = client(
        "s3",
        moto_server,
        request_checksum_calculation=(
            "when_supported" if caught_by == "ChecksumMismatch" else "when_required"
        ),
    )
    size = 64 * 1024
    writer.put_object(Bucket=SOURCE, Key="real", Body=os.urandom(size))
    decoy_size = size + 1 if caught_by == "SizeMismatch" else size
    writer.put_object(Bucket=SOURCE, Key="decoy", Body=os.urandom(decoy_size))
    fault_proxy.swap_sources[(SOURCE, "real")] = (SOURCE, "decoy")
    real = buckets.head_object(Bucket=SOURCE, Key="real", ChecksumMode="ENABLED")
    decoy = buckets.head_object(Bucket=SOURCE, Key="decoy", ChecksumMode="ENABLED")

    [result] = make_engine(endpoint=fault_proxy.url).copy([planned(buckets, "real")])

    assert fault_proxy.swapped
    assert (result.status, result.error_code, result.bytes) == (
        Status.FAILED,
        caught_by,
        size,
    ), result
    said = {
        "SizeMismatch": f"destination {decoy_size} != source {size}",
        "ChecksumMismatch": (f"CRC32 {real.get('ChecksumCRC32')} != {decoy.get('ChecksumCRC32')}"),
        "ETagMismatch": (
            f"destination {decoy['ETag'].strip(chr(34))} != source {real['ETag'].strip(chr(34))}"
        ),
    }
    assert result.error_message == said[caught_by]


@pytest.mark.parametrize("bare", [False, True], ids=["answer-with-checksum", "bare-answer"])
def test_an_expected_checksum_is_read_from_the_copys_answer_else_from_the_destination(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, bare: bool
):
    """The copy's answer names the destination's checksum: the manifest's expectation is
    checked against it without another request. An answer without it (the API allows
    that; ``bare_copy_answers``) costs one HeadObject of the destination, never a false
    ChecksumUnverifiable."""
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"expected", ChecksumAlgorithm="CRC32")
    crc32 = s3.head_object(Bucket=SOURCE, Key="k", ChecksumMode="ENABLED")["ChecksumCRC32"]
    fault_proxy.bare_copy_answers = bare
    wanted = planned(s3, "k").model_copy(
        update={"expected_checksum": ExpectedChecksum(algorithm="CRC32", value=crc32)}
    )
    engine = make_engine(endpoint=fault_proxy.url)

    [result] = engine.copy([wanted])

    assert (result.status, result.method, result.error_code) == (Status.COPIED, "copy", None)
    # HeadObject of the destination (skip check), CopyObject, and without a checksum in
    # the answer one more HeadObject of the destination
    assert engine.s3.requests == (3 if bare else 2)
    assert body_of(s3, DEST, "k") == b"expected"


def test_the_receipt_names_the_version_the_copy_read_not_a_later_one(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, moto_server: str
):
    """A versioned source is written again with the same bytes right after the copy (same
    ETag, a new version). The copy's answer is verified by HeadObject (the destination
    encrypts with SSE-KMS, its ETag proves nothing): the receipt still names the version
    CopyObject read (its ``x-amz-copy-source-version-id``), not the one HeadObject saw."""
    s3 = buckets
    s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=DEST,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    writer = client("s3", moto_server, request_checksum_calculation="when_required")
    copied = writer.put_object(Bucket=SOURCE, Key="v", Body=b"same bytes")["VersionId"]
    plan = planned(s3, "v")
    later: list[str] = []

    def write_again(method: str, path: str, query: str) -> None:
        if method == "PUT" and path == f"/{DEST}/v" and not later:
            later.append(writer.put_object(Bucket=SOURCE, Key="v", Body=b"same bytes")["VersionId"])

    fault_proxy.after.append(write_again)
    fault_proxy.kms_etags = True

    [result] = make_engine(endpoint=fault_proxy.url).copy([plan])

    assert (result.status, result.method) == (Status.COPIED, "copy"), result
    assert later
    assert later[0] != copied
    assert result.source_version_id == copied


def test_a_destination_head_denied_403_is_absent_not_a_failure(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    """Without s3:ListBucket on the destination, HeadObject of a missing key answers 403,
    not 404 ("HeadObject", https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html):
    the skip check takes it as absent and copies."""
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"to copy")
    fault_proxy.deny(
        lambda method, path, _q: (
            (403, "AccessDenied") if method == "HEAD" and path == f"/{DEST}/k" else None
        )
    )

    [result] = make_engine(endpoint=fault_proxy.url).copy([item("k")])

    assert (result.status, result.method) == (Status.COPIED, "copy"), result
    assert fault_proxy.injected  # the skip check's HeadObject was refused
    assert body_of(s3, DEST, "k") == b"to copy"


def test_a_source_changed_before_a_multipart_copy_names_the_planned_etag(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=os.urandom(6 * MiB))
    plan = planned(s3, "k")
    s3.put_object(Bucket=SOURCE, Key="k", Body=os.urandom(6 * MiB))
    fault_proxy.enforce_conditions = True
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)

    [result] = engine.copy([plan])

    assert (result.status, result.error_code) == (Status.FAILED, "SourceChanged"), result
    assert plan.etag is not None
    planned_etag = plan.etag.strip('"')
    assert result.error_message == (
        f'the source changed since it was planned: its ETag is no longer "{planned_etag}"'
    )


def test_an_expected_checksum_that_cannot_be_read_is_unverifiable_not_copied(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    """The copy's answer names no checksum and the destination is gone when it is asked
    for one: the manifest's promise cannot be checked, so the object is not COPIED."""
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"expected", ChecksumAlgorithm="CRC32")
    crc32 = s3.head_object(Bucket=SOURCE, Key="k", ChecksumMode="ENABLED")["ChecksumCRC32"]
    fault_proxy.bare_copy_answers = True

    def delete_after_copy(method: str, path: str, _query: str) -> None:
        if method == "PUT" and path == f"/{DEST}/k":
            s3.delete_object(Bucket=DEST, Key="k")

    fault_proxy.after.append(delete_after_copy)
    wanted = planned(s3, "k").model_copy(
        update={"expected_checksum": ExpectedChecksum(algorithm="CRC32", value=crc32)}
    )

    [result] = make_engine(endpoint=fault_proxy.url).copy([wanted])

    assert (result.status, result.error_code) == (Status.FAILED, "ChecksumUnverifiable"), result
    assert result.error_message == "destination has no CRC32 checksum"


def test_a_missing_source_says_so(buckets: Any, make_engine: Engine):
    [result] = make_engine().copy([item("missing")])
    assert (result.status, result.error_code) == (Status.FAILED, "NoSuchKey"), result
    assert result.error_message == "The specified source key does not exist."


def test_an_unplanned_row_naming_a_version_copies_that_version(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=SOURCE, Key="v", Body=b"the old version")["VersionId"]
    s3.put_object(Bucket=SOURCE, Key="v", Body=b"the newest version")

    [result] = make_engine().copy([item("v", source_version_id=old)])

    assert result.status is Status.COPIED, result
    assert body_of(s3, DEST, "v") == b"the old version"
    assert result.source_version_id == old


def test_a_plan_whose_size_is_not_the_sources_is_a_changed_source(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    """The plan's size and ETag are both the contract: the same ETag with another size
    (a plan that is wrong, or stale) is SourceChanged, and nothing is written."""
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=os.urandom(6 * MiB))
    plan = planned(s3, "k")
    assert plan.etag is not None
    wrong = plan.model_copy(update={"size": 6 * MiB + 1})
    fault_proxy.enforce_conditions = True
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)

    [result] = engine.copy([wrong])

    etag = plan.etag.strip('"')
    assert (result.status, result.error_code) == (Status.FAILED, "SourceChanged"), result
    assert result.error_message == (
        f'the source changed since it was planned: {6 * MiB} bytes, ETag "{etag}" '
        f'(planned {6 * MiB + 1} bytes, "{etag}")'
    )
    assert not s3.list_objects_v2(Bucket=DEST).get("Contents")

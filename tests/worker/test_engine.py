"""The copy engine against a moto server on 127.0.0.1 (through a fault proxy where the
test needs throttling, denial or a signature check).

Every test that uses ``make_engine`` runs once per S3 client implementation (the lean
client and the boto3-backed one, ``tests/worker/conftest.py``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.handlers import validate_ascii_metadata

from steps_s3_copy.models import (
    CopyItem,
    CopyOptions,
    ExpectedChecksum,
    MiB,
    OverwritePolicy,
    Status,
)
from steps_s3_copy.worker.engine import CopyEngine
from steps_s3_copy.worker.s3http import LeanS3Client
from tests.worker.conftest import DEST, SOURCE, FaultProxy

Engine = Callable[..., CopyEngine]


def item(key: str, dest_key: str | None = None, **extra: Any) -> CopyItem:
    return CopyItem(
        source_bucket=SOURCE,
        source_key=key,
        destination_bucket=DEST,
        destination_key=dest_key if dest_key is not None else key,
        **extra,
    )


def put_multipart(s3: Any, key: str, part_sizes: list[int], **create: Any) -> bytes:
    """A multipart source object with the given (possibly uneven) part sizes."""
    upload = s3.create_multipart_upload(Bucket=SOURCE, Key=key, **create)["UploadId"]
    parts, data = [], b""
    for number, size in enumerate(part_sizes, start=1):
        body = os.urandom(size)
        data += body
        answer = s3.upload_part(
            Bucket=SOURCE, Key=key, UploadId=upload, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=SOURCE, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return data


def body_of(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def no_uploads_left(s3: Any) -> bool:
    return not s3.list_multipart_uploads(Bucket=DEST).get("Uploads")


def planned(s3: Any, key: str, dest_key: str | None = None) -> CopyItem:
    """An item as Prepare plans it: with the source's size and ETag."""
    head = s3.head_object(Bucket=SOURCE, Key=key)
    return item(key, dest_key, size=head["ContentLength"], etag=head["ETag"])


def test_small_and_zero_byte_objects_are_copied_and_verified(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="small.txt", Body=b"hello world")
    s3.put_object(Bucket=SOURCE, Key="empty", Body=b"")
    results = make_engine().copy([item("small.txt"), item("empty")])
    assert [(r.status, r.method, r.bytes) for r in results] == [
        (Status.COPIED, "copy", 11),
        (Status.COPIED, "copy", 0),
    ]
    assert body_of(s3, DEST, "small.txt") == b"hello world"
    assert body_of(s3, DEST, "empty") == b""
    etag = s3.head_object(Bucket=SOURCE, Key="small.txt")["ETag"].strip('"')
    evidence = results[0].checksum or ""
    assert evidence == f"ETAG:{etag}" or evidence.startswith("CRC32:")
    assert results[0].source == f"s3://{SOURCE}/small.txt"
    assert results[0].destination == f"s3://{DEST}/small.txt"


AWKWARD_KEYS = [
    "with space/and more spaces.txt",
    "unicode/ünïcødé-日本語-🙂.bin",
    "plus+sign+key",
    "percent%20literal%2Fkey",
    "equals=sign&amp=x",
    "tilde~and(parens)[brackets]!*'",
    "k" * 1024,
    "deep/" * 100 + "leaf",
]


def test_awkward_keys_survive_exactly(buckets: Any, make_engine: Engine):
    s3 = buckets
    for n, key in enumerate(AWKWARD_KEYS):
        s3.put_object(Bucket=SOURCE, Key=key, Body=f"body {n}".encode())
    # Without size/ETag in the items the engine must HEAD the awkward keys too.
    results = make_engine(concurrency=4).copy([item(k) for k in AWKWARD_KEYS])
    assert [r.status for r in results] == [Status.COPIED] * len(AWKWARD_KEYS)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=DEST)["Contents"]]
    assert sorted(listed) == sorted(AWKWARD_KEYS)
    for n, key in enumerate(AWKWARD_KEYS):
        assert body_of(s3, DEST, key) == f"body {n}".encode()


def test_rename_to_another_awkward_key(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"x")
    [result] = make_engine().copy([item("a", dest_key="to/ä b+c%=.txt")])
    assert result.status is Status.COPIED
    assert body_of(s3, DEST, "to/ä b+c%=.txt") == b"x"


def test_multipart_source_with_uneven_parts_is_mirrored(buckets: Any, make_engine: Engine):
    s3 = buckets
    sizes = [5 * MiB + 17, 7 * MiB, 5 * MiB, 123]
    data = put_multipart(s3, "uneven.bin", sizes, Metadata={"origin": "lab"})
    source_etag = s3.head_object(Bucket=SOURCE, Key="uneven.bin")["ETag"]
    assert source_etag.strip('"').endswith("-4")
    [result] = make_engine().copy([item("uneven.bin")])
    assert result.status is Status.COPIED, result
    assert result.method == "multipart"
    assert result.bytes == sum(sizes)
    head = s3.head_object(Bucket=DEST, Key="uneven.bin")
    assert head["ETag"] == source_etag
    assert head["Metadata"] == {"origin": "lab"}
    assert hashlib.sha256(body_of(s3, DEST, "uneven.bin")).digest() == hashlib.sha256(data).digest()
    for number, size in enumerate(sizes, start=1):
        part = s3.head_object(Bucket=DEST, Key="uneven.bin", PartNumber=number)
        assert part["ContentLength"] == size
    assert no_uploads_left(s3)


def test_above_threshold_single_part_source_is_copied_in_parts(buckets: Any, make_engine: Engine):
    s3 = buckets
    data = os.urandom(12 * MiB + 5)
    s3.put_object(Bucket=SOURCE, Key="big.bin", Body=data)
    engine = make_engine(multipart_threshold=5 * MiB, part_size=5 * MiB)
    [result] = engine.copy([item("big.bin")])
    assert result.status is Status.COPIED, result
    assert result.method == "multipart"
    assert body_of(s3, DEST, "big.bin") == data
    head = s3.head_object(Bucket=DEST, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")
    assert no_uploads_left(s3)


@pytest.mark.parametrize("threshold", [5 * 1024**3, 5 * MiB], ids=["copy-object", "multipart"])
def test_metadata_content_headers_and_tags_are_preserved(
    buckets: Any, make_engine: Engine, threshold: int
):
    s3 = buckets
    s3.put_object(
        Bucket=SOURCE,
        Key="doc.html",
        Body=os.urandom(6 * MiB),
        ContentType="text/html; charset=utf-8",
        CacheControl="max-age=3600",
        ContentDisposition='attachment; filename="doc.html"',
        ContentLanguage="en-GB",
        Metadata={"project": "genomes", "sample": "S1"},
        Tagging="team=bio&stage=raw",
    )
    [result] = make_engine(multipart_threshold=threshold, part_size=5 * MiB).copy(
        [item("doc.html")]
    )
    assert result.status is Status.COPIED, result
    assert result.method == ("copy" if threshold > 6 * MiB else "multipart")
    head = s3.head_object(Bucket=DEST, Key="doc.html")
    assert head["ContentType"] == "text/html; charset=utf-8"
    assert head["CacheControl"] == "max-age=3600"
    assert head["ContentDisposition"] == 'attachment; filename="doc.html"'
    assert head["ContentLanguage"] == "en-GB"
    assert head["Metadata"] == {"project": "genomes", "sample": "S1"}
    tags = s3.get_object_tagging(Bucket=DEST, Key="doc.html")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("stage", "raw"), ("team", "bio")]


@pytest.mark.parametrize("threshold", [5 * 1024**3, 5 * MiB], ids=["copy-object", "multipart"])
def test_storage_class_and_sse_kms_are_applied(buckets: Any, make_engine: Engine, threshold: int):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="cold.bin", Body=os.urandom(6 * MiB))
    engine = make_engine(
        storage_class="STANDARD_IA",
        sse_kms_key_id="arn:aws:kms:us-east-1:123456789012:key/test-key",
        multipart_threshold=threshold,
        part_size=5 * MiB,
    )
    [result] = engine.copy([item("cold.bin")])
    assert result.status is Status.COPIED, result
    head = s3.head_object(Bucket=DEST, Key="cold.bin")
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("key/test-key")


def test_skip_when_identical_uses_one_listing(buckets: Any, make_engine: Engine):
    s3 = buckets
    keys = [f"set/obj-{n:03d}" for n in range(20)]
    for key in keys:
        s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode())
    items = []
    for key in keys:
        head = s3.head_object(Bucket=SOURCE, Key=key)
        items.append(item(key, size=head["ContentLength"], etag=head["ETag"]))
    first = make_engine()
    assert {r.status for r in first.copy(items)} == {Status.COPIED}
    assert first.s3.requests == 1 + len(keys)  # one listing, one CopyObject each
    again = make_engine()
    results = again.copy(items)
    assert {(r.status, r.method) for r in results} == {(Status.SKIPPED, "skip")}
    assert all(r.checksum and r.checksum.startswith("ETAG:") for r in results)
    assert again.s3.requests == 1  # the listing answered everything


def test_skip_check_by_head_for_a_single_object(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="one", Body=b"1")
    s3.put_object(Bucket=DEST, Key="one", Body=b"1")
    engine = make_engine()
    [result] = engine.copy([item("one")])
    assert (result.status, result.method) == (Status.SKIPPED, "skip")
    assert engine.s3.requests == 2  # HeadObject of the source and of the destination


def test_recopy_when_destination_differs(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"new content")
    s3.put_object(Bucket=SOURCE, Key="b", Body=b"same size 1")
    s3.put_object(Bucket=DEST, Key="a", Body=b"old")
    s3.put_object(Bucket=DEST, Key="b", Body=b"same size 2")
    results = make_engine().copy([item("a"), item("b")])
    assert [r.status for r in results] == [Status.COPIED, Status.COPIED]
    assert body_of(s3, DEST, "a") == b"new content"
    assert body_of(s3, DEST, "b") == b"same size 1"


def test_overwrite_never_and_always(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"new")
    s3.put_object(Bucket=DEST, Key="a", Body=b"old")
    [never] = make_engine(overwrite=OverwritePolicy.NEVER).copy([item("a")])
    assert never.status is Status.SKIPPED
    assert body_of(s3, DEST, "a") == b"old"
    s3.put_object(Bucket=DEST, Key="a", Body=b"new")
    [always] = make_engine(overwrite=OverwritePolicy.ALWAYS).copy([item("a")])
    assert (always.status, always.method) == (Status.COPIED, "copy")


def test_missing_source_fails_with_nosuchkey_and_the_batch_goes_on(
    buckets: Any, make_engine: Engine
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="present", Body=b"p")
    results = make_engine().copy(
        [
            item("absent"),
            item("absent-planned", size=3, etag='"0123456789abcdef0123456789abcdef"'),
            item("present"),
        ]
    )
    assert [(r.status, r.error_code) for r in results] == [
        (Status.FAILED, "NoSuchKey"),
        (Status.FAILED, "NoSuchKey"),
        (Status.COPIED, None),
    ]
    assert results[0].error_message


def test_expected_size_and_checksum_are_enforced(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"abc")
    s3.put_object(Bucket=SOURCE, Key="b", Body=b"abc")
    s3.put_object(Bucket=SOURCE, Key="c", Body=b"abc")
    md5 = hashlib.md5(b"abc").hexdigest()
    results = make_engine().copy(
        [
            item("a", expected_size=4),
            item("b", expected_checksum=ExpectedChecksum(algorithm="ETAG", value="0" * 32)),
            item("c", expected_checksum=ExpectedChecksum(algorithm="ETAG", value=md5)),
        ]
    )
    assert [(r.status, r.error_code) for r in results] == [
        (Status.FAILED, "ExpectedSizeMismatch"),
        (Status.FAILED, "ExpectedChecksumMismatch"),
        (Status.COPIED, None),
    ]
    assert not s3.list_objects_v2(Bucket=DEST, Prefix="a").get("Contents")


def test_destination_access_denied_fails_only_that_object(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.create_bucket(Bucket="locked-bucket")
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"a")
    s3.put_object(Bucket=SOURCE, Key="b", Body=b"b")
    fault_proxy.deny(
        lambda method, path, _q: (
            (403, "AccessDenied")
            if method == "PUT" and path.startswith("/locked-bucket/")
            else None
        )
    )
    denied = CopyItem(
        source_bucket=SOURCE,
        source_key="a",
        destination_bucket="locked-bucket",
        destination_key="a",
    )
    results = make_engine(endpoint=fault_proxy.url).copy([denied, item("b")])
    assert [(r.status, r.error_code) for r in results] == [
        (Status.FAILED, "AccessDenied"),
        (Status.COPIED, None),
    ]
    assert not s3.list_objects_v2(Bucket="locked-bucket").get("Contents")


def test_injected_slowdown_is_retried(buckets: Any, make_engine: Engine, fault_proxy: FaultProxy):
    s3 = buckets
    keys = [f"t/{n}" for n in range(6)]
    for key in keys:
        s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode())
    fault_proxy.fail_first(
        8, 503, "SlowDown", match=lambda m, _p, _q: (503, "SlowDown") if m == "PUT" else None
    )
    fault_proxy.fail_first(
        2, 500, "InternalError", match=lambda m, _p, _q: (1, "") if m == "HEAD" else None
    )
    engine = make_engine(endpoint=fault_proxy.url, concurrency=3)
    results = engine.copy([item(k) for k in keys])
    assert [r.status for r in results] == [Status.COPIED] * len(keys)
    assert sum(1 for f in fault_proxy.injected if f[3] == "SlowDown") == 8
    assert sum(1 for f in fault_proxy.injected if f[3] == "InternalError") == 2
    # every retry counted by its error code, from every thread (the S3Retries metric); an
    # error answering HEAD has no body (S3 sends none), so its code is the HTTP status
    assert engine.s3.retries == {"SlowDown": 8, "500": 2}
    for key in keys:
        assert body_of(s3, DEST, key) == key.encode()


def test_throttling_that_never_ends_fails_the_object_not_the_batch(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="x", Body=b"x")
    fault_proxy.deny(lambda m, _p, _q: (503, "SlowDown") if m == "PUT" else None)
    [result] = make_engine(endpoint=fault_proxy.url).copy([item("x")])
    assert (result.status, result.error_code) == (Status.FAILED, "SlowDown")
    assert len(fault_proxy.injected) == 8  # bounded: max_attempts


def test_failed_part_copy_aborts_the_upload(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="big", Body=os.urandom(11 * MiB))
    fault_proxy.deny(
        lambda m, _p, q: (403, "AccessDenied") if m == "PUT" and "partNumber=2" in q else None
    )
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)
    [result] = engine.copy([item("big")])
    assert (result.status, result.error_code) == (Status.FAILED, "AccessDenied")
    assert no_uploads_left(s3)
    assert not s3.list_objects_v2(Bucket=DEST).get("Contents")


def test_planned_items_in_one_folder_list_once_and_copy_only_what_differs(
    buckets: Any, make_engine: Engine
):
    s3 = buckets
    for name in ("a", "b", "c"):
        s3.put_object(Bucket=SOURCE, Key=f"in/{name}", Body=name.encode() * 3)
    s3.put_object(Bucket=DEST, Key="out/a", Body=b"aaa")  # identical
    s3.put_object(Bucket=DEST, Key="out/b", Body=b"old")  # same size, other content
    engine = make_engine()
    results = engine.copy([planned(s3, f"in/{n}", f"out/{n}") for n in "abc"])
    assert [(r.destination, r.status) for r in results] == [
        (f"s3://{DEST}/out/a", Status.SKIPPED),
        (f"s3://{DEST}/out/b", Status.COPIED),
        (f"s3://{DEST}/out/c", Status.COPIED),
    ]
    # one listing, two CopyObject, and for "b" (same size, other ETag, listed with a
    # checksum algorithm) one HeadObject on each side to compare checksums
    assert engine.s3.requests == 1 + 2 + 2
    assert body_of(s3, DEST, "out/b") == b"bbb"


def test_copy_one_alone_checks_the_destination(buckets: Any, make_engine: Engine):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="solo", Body=b"same")
    s3.put_object(Bucket=DEST, Key="solo", Body=b"same")
    result = make_engine().copy_one(item("solo"))
    assert (result.status, result.method) == (Status.SKIPPED, "skip")


def test_slowdown_on_part_copies_is_retried_by_the_multipart_path(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    data = os.urandom(11 * MiB)
    s3.put_object(Bucket=SOURCE, Key="big", Body=data)
    fault_proxy.fail_first(
        2,
        503,
        "SlowDown",
        match=lambda m, _p, q: (1, "") if m == "PUT" and "partNumber=" in q else None,
    )
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)
    [result] = engine.copy([item("big")])
    assert (result.status, result.method) == (Status.COPIED, "multipart"), result
    assert len(fault_proxy.injected) == 2
    assert body_of(s3, DEST, "big") == data
    assert no_uploads_left(s3)


def test_without_endpoint_url_the_engine_follows_botocores_configured_endpoint(
    buckets: Any, moto_server: str, monkeypatch: pytest.MonkeyPatch
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="env", Body=b"e")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    engine = CopyEngine(CopyOptions(), session=boto3.session.Session(region_name="us-east-1"))
    assert isinstance(engine.s3, LeanS3Client)
    assert engine.s3.host == moto_server.removeprefix("http://")
    [result] = engine.copy([item("env")])
    assert result.status is Status.COPIED
    assert body_of(s3, DEST, "env") == b"e"


def test_on_aws_the_hot_path_uses_virtual_hosted_addressing():
    engine = CopyEngine(CopyOptions(), session=boto3.session.Session(region_name="eu-west-1"))
    assert isinstance(engine.s3, LeanS3Client)
    host, path = engine.s3._where("my-bucket", "a b")
    assert host.startswith("my-bucket.s3.")
    assert host.endswith(".amazonaws.com")
    assert path == "/a%20b"
    assert engine.s3.scheme == "https"


# -- protocol: header text, header injection, errors inside 200 answers ---------------

UTF8_DISPOSITION = 'attachment; filename="résumé-日本.pdf"'


@pytest.mark.parametrize("threshold", [5 * 1024**3, 5 * MiB], ids=["copy-object", "multipart"])
def test_non_ascii_content_disposition_and_metadata_are_carried_byte_for_byte(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, threshold: int
):
    s3 = buckets
    # A source written with UTF-8 metadata, as S3 accepts it (botocore refuses it:
    # boto/botocore#2552; S3 answers such values RFC 2047-encoded, moto as they came).
    s3.meta.events.unregister("before-parameter-build.s3.PutObject", validate_ascii_metadata)
    s3.put_object(
        Bucket=SOURCE,
        Key="doc.pdf",
        Body=os.urandom(6 * MiB),
        ContentType="application/pdf",
        ContentDisposition=UTF8_DISPOSITION,
        Metadata={"author": "Zoë Ñandú", "city": "Zürich"},
    )
    # through the proxy, which also checks that the UTF-8 values were signed as sent
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=threshold, part_size=5 * MiB)
    [result] = engine.copy([item("doc.pdf")])
    assert result.status is Status.COPIED, result
    assert result.method == ("copy" if threshold > 6 * MiB else "multipart")
    source = s3.head_object(Bucket=SOURCE, Key="doc.pdf")
    dest = s3.head_object(Bucket=DEST, Key="doc.pdf")
    for name in ("ContentDisposition", "ContentType", "Metadata"):
        assert dest[name] == source[name], name
    wire = dest["ResponseMetadata"]["HTTPHeaders"]
    assert wire["content-disposition"].encode("latin-1") == UTF8_DISPOSITION.encode()
    assert wire["x-amz-meta-author"].encode("latin-1") == "Zoë Ñandú".encode()


def test_a_header_value_with_cr_lf_is_refused_and_never_sent(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"v")
    engine = make_engine(
        endpoint=fault_proxy.url,
        overwrite=OverwritePolicy.ALWAYS,
        sse_kms_key_id="alias/key\r\nx-amz-injected: yes",
    )
    [result] = engine.copy([planned(s3, "k")])
    assert (result.status, result.error_code) == (Status.FAILED, "InvalidHeaderValue")
    assert "control character" in (result.error_message or "")
    assert fault_proxy.seen == []  # nothing reached the wire
    assert not s3.list_objects_v2(Bucket=DEST).get("Contents")


def test_errors_inside_200_answers_of_the_copy_operations_are_retried(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="small", Body=b"small")
    data = os.urandom(11 * MiB)
    s3.put_object(Bucket=SOURCE, Key="big", Body=data)

    def copy_object(m: str, p: str, _q: str) -> tuple[int, str] | None:
        return (1, "") if m == "PUT" and p.endswith("/small") else None

    def part_copy(m: str, _p: str, q: str) -> tuple[int, str] | None:
        return (1, "") if m == "PUT" and "partNumber=2" in q else None

    def complete(m: str, _p: str, q: str) -> tuple[int, str] | None:
        return (1, "") if m == "POST" and "uploadId=" in q else None

    fault_proxy.fail_first(1, 200, "InternalError", match=copy_object)
    fault_proxy.fail_first(1, 200, "InternalError", match=part_copy)
    fault_proxy.fail_first(1, 200, "SlowDown", match=complete)
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)
    results = engine.copy([item("small"), item("big")])
    assert [(r.status, r.method) for r in results] == [
        (Status.COPIED, "copy"),
        (Status.COPIED, "multipart"),
    ], results
    injected = sorted(f[3] for f in fault_proxy.injected)
    assert injected == ["InternalError", "InternalError", "SlowDown"]
    assert body_of(s3, DEST, "small") == b"small"
    assert body_of(s3, DEST, "big") == data
    assert no_uploads_left(s3)


def test_an_error_inside_every_200_copy_answer_fails_the_object_after_bounded_retries(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="x", Body=b"x")
    fault_proxy.deny(lambda m, _p, _q: (200, "AccessDenied") if m == "PUT" else None)
    [result] = make_engine(endpoint=fault_proxy.url).copy([planned(s3, "x")])
    assert (result.status, result.error_code) == (Status.FAILED, "AccessDenied")
    # counted as a 500 (the copy failed on the way), as botocore counts it: bounded
    assert len(fault_proxy.injected) == 8


@pytest.mark.parametrize("key", ["big.bin", "dir/ä b+c%20.bin"])
def test_a_multipart_copy_first_aborts_its_own_keys_leftover_uploads_only(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy, key: str
):
    """Uploads an earlier, killed attempt left for this key are aborted; an upload of
    another key that merely starts with it is not. (Through the proxy, which URL-encodes
    the listed keys as S3 does when asked.)"""
    s3 = buckets
    data = os.urandom(11 * MiB)
    s3.put_object(Bucket=SOURCE, Key=key, Body=data)
    for leftover in (key, key, key + ".other"):
        s3.create_multipart_upload(Bucket=DEST, Key=leftover)
    engine = make_engine(endpoint=fault_proxy.url, multipart_threshold=5 * MiB, part_size=5 * MiB)
    [result] = engine.copy([planned(s3, key)])
    assert (result.status, result.method) == (Status.COPIED, "multipart"), result
    assert body_of(s3, DEST, key) == data
    left = s3.list_multipart_uploads(Bucket=DEST).get("Uploads", [])
    assert [u["Key"] for u in left] == [key + ".other"]
    [listing] = fault_proxy.requests_of("GET", "uploads")
    assert "encoding-type=url" in listing.target

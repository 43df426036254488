"""The S3 clients at the protocol level: signing, addressing, error bodies, clock skew,
header values, proxies and connection reuse.

Tests of behaviour both clients share run against each (``client_kind``); the rest are
about the lean client's own transport. The fault proxy checks every request's signature
as S3 would (``tests/worker/conftest.py``).
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from steps_s3_copy.models import MiB
from steps_s3_copy.summarise import fast_reader
from steps_s3_copy.worker.s3client import (
    Access,
    InvalidHeaderValueError,
    ObjectRef,
    RetryPolicy,
    S3Error,
    WriteSettings,
    check_header_value,
    header_text,
)
from steps_s3_copy.worker.s3http import LeanS3Client, copy_source, parse_error
from tests.conftest import REGION
from tests.worker.conftest import DEST, FAST_RETRY, SOURCE, TRUNCATED, FaultProxy, make_client

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token/with+chars=")

AWKWARD_KEYS = [
    "with space/and more spaces.txt",
    "unicode/ünïcødé-日本語-🙂.bin",
    "plus+sign+key",
    "percent%20literal%2Fkey",
    "equals=sign&amp=x",
    "tilde~and(parens)[brackets]!*'",
]


def lean(endpoint: str, **kwargs: Any) -> LeanS3Client:
    client = make_client("lean", endpoint, **kwargs)
    assert isinstance(client, LeanS3Client)
    return client


def test_copy_source_is_url_encoded_with_version():
    assert copy_source(ObjectRef("b", "a b/ü+%=~.txt")) == "b/a%20b/%C3%BC%2B%25%3D~.txt"
    assert copy_source(ObjectRef("b", "k", "3/L4kqtJl+cE=")) == "b/k?versionId=3%2FL4kqtJl%2BcE%3D"


def test_addressing_virtual_on_aws_path_on_custom_endpoints():
    aws = LeanS3Client(credentials=CREDS, region="eu-west-2")
    assert aws._where("my-bucket", "a b") == ("my-bucket.s3.eu-west-2.amazonaws.com", "/a%20b")
    assert aws._where("dotted.bucket", "k") == ("s3.eu-west-2.amazonaws.com", "/dotted.bucket/k")
    local = LeanS3Client(
        credentials=CREDS, region="us-east-1", endpoint_url="http://127.0.0.1:9000/"
    )
    assert local._where("my-bucket", "x/y") == ("127.0.0.1:9000", "/my-bucket/x/y")
    assert local._where("my-bucket", None) == ("127.0.0.1:9000", "/my-bucket")


def test_error_documents_and_retryability():
    body = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Reduce</Message></Error>"
    error = parse_error(body, 503)
    assert (error.code, error.message, error.retryable) == ("SlowDown", "Reduce", True)
    assert parse_error(b"", 404).code == "NotFound"
    assert not parse_error(b"", 403).retryable
    assert S3Error("InternalError", "", 200).retryable
    # another try with the same clock would fail the same way (see the skew tests)
    assert not S3Error("RequestTimeTooSkewed", "", 403).retryable


def test_backoff_is_bounded_with_jitter():
    policy = RetryPolicy(max_attempts=5, base_seconds=0.1, cap_seconds=1.0)
    delays: list[Any] = [policy.delay(n) for n in range(1, 30)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 1


def test_header_values_are_checked_and_decoded_as_utf8():
    assert check_header_value("x", "tab\tis fine: é 日本") == "tab\tis fine: é 日本"
    for bad in ("a\r\nb", "a\nb", "a\r\n b", "nul\x00", "del\x7f"):
        with pytest.raises(InvalidHeaderValueError, match="control character"):
            check_header_value("x-amz-meta-a", bad)
    # http.client hands header bytes over as ISO-8859-1; header_text recovers the UTF-8
    received = "résumé".encode().decode("latin-1")
    assert header_text(received) == "résumé"
    not_utf8 = header_text(b"caf\xe9".decode("latin-1"))  # latin-1 bytes from elsewhere
    with pytest.raises(InvalidHeaderValueError, match="not UTF-8"):
        check_header_value("content-disposition", not_utf8)


# -- both clients ----------------------------------------------------------------------


def test_requests_for_awkward_keys_are_signed_as_s3_checks_them(
    buckets: Any, fault_proxy: FaultProxy, client_kind: str
):
    s3 = buckets
    versioned = "versioned-bucket"
    s3.create_bucket(Bucket=versioned)
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=versioned, Key="v+k", Body=b"v1")["VersionId"]
    s3.put_object(Bucket=versioned, Key="v+k", Body=b"v2")
    client = make_client(client_kind, fault_proxy.url)
    for n, key in enumerate(AWKWARD_KEYS):
        s3.put_object(Bucket=SOURCE, Key=key, Body=f"{n}".encode())
        head = client.head_object(ObjectRef(SOURCE, key))
        assert head is not None
        assert head.size == len(f"{n}")
        client.copy_object(ObjectRef(SOURCE, key), ObjectRef(DEST, "copy/" + key))
        assert client.get_object(ObjectRef(DEST, "copy/" + key)) == f"{n}".encode()
    listed = [e.key for e in client.list_objects(DEST, "copy/u", start_after="copy/t")]
    assert listed == ["copy/unicode/ünïcødé-日本語-🙂.bin"]
    assert client.get_object(ObjectRef(versioned, "v+k", version)) == b"v1"
    assert client.get_object_tagging(ObjectRef(versioned, "v+k", version)) == []
    # every one of those requests passed the proxy's signature check (its teardown asserts)
    assert len(fault_proxy.seen) == 3 * len(AWKWARD_KEYS) + 3


def test_a_get_returns_the_body_even_when_it_reads_like_an_error(
    buckets: Any, moto_server: str, client_kind: str
):
    s3 = buckets
    # a results file whose objects have awkward names: a GET body is data, never an error
    body = b'<Error><Code>InternalError</Code></Error>\n{"source": "s3://b/logs/<Error>.txt"}\n'
    s3.put_object(Bucket=SOURCE, Key="results/1.jsonl", Body=body)
    client = make_client(client_kind, moto_server)
    assert client.get_object(ObjectRef(SOURCE, "results/1.jsonl")) == body
    assert client.get_object(ObjectRef(SOURCE, "results/absent.jsonl")) is None


def test_summarise_reads_such_a_results_file_with_the_lean_client(buckets: Any, moto_server: str):
    s3 = buckets
    line = b'{"source":"s3://b/logs/<Error>.txt","status":"COPIED"}\n'
    s3.put_object(Bucket=SOURCE, Key="results/00000001.jsonl", Body=line)
    read = fast_reader(boto3.session.Session(region_name=REGION), endpoint_url=moto_server)
    assert read(SOURCE, "results/00000001.jsonl") == line
    assert read(SOURCE, "results/00000002.jsonl") is None


def test_a_listing_cut_short_is_asked_again(
    buckets: Any, fault_proxy: FaultProxy, client_kind: str
):
    # "A 200 OK response can contain valid or invalid XML" (ListObjectsV2)
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="a/1", Body=b"1")
    fault_proxy.fail_first(
        1, 200, TRUNCATED, match=lambda m, _p, q: (1, "") if "list-type=2" in q else None
    )
    client = make_client(client_kind, fault_proxy.url)
    assert [e.key for e in client.list_objects(SOURCE, "a/")] == ["a/1"]
    assert [f[3] for f in fault_proxy.injected] == [TRUNCATED]


def test_header_values_with_cr_lf_are_refused_before_anything_is_sent(
    buckets: Any, fault_proxy: FaultProxy, client_kind: str
):
    client = make_client(client_kind, fault_proxy.url)
    source, dest = ObjectRef(SOURCE, "k"), ObjectRef(DEST, "k")
    with pytest.raises(InvalidHeaderValueError, match="control character"):
        client.copy_object(source, dest, settings=WriteSettings(sse_kms_key_id="k\r\nx-evil: 1"))
    with pytest.raises(InvalidHeaderValueError, match="control character"):
        client.create_multipart_upload(dest, metadata={"folded": "a\r\n b"})
    with pytest.raises(InvalidHeaderValueError, match="control character"):
        client.create_multipart_upload(dest, content={"ContentDisposition": "x\ny"})
    with pytest.raises(InvalidHeaderValueError, match="control character"):
        client.head_object(source, access=Access(expected_owner="1\r\n2"))
    assert fault_proxy.seen == []


def test_multipart_operations_list_parts_and_abort(
    buckets: Any, moto_server: str, client_kind: str
):
    s3 = buckets
    data = os.urandom(6 * MiB)
    s3.put_object(Bucket=SOURCE, Key="big", Body=data)
    client = make_client(client_kind, moto_server)
    source, dest = ObjectRef(SOURCE, "big"), ObjectRef(DEST, "big")
    upload = client.create_multipart_upload(
        dest, content={"ContentType": "text/plain"}, tags=[("team", "bio lab")]
    )
    first = client.upload_part_copy(
        source, dest, upload_id=upload, part_number=1, byte_range=(0, 5 * MiB - 1)
    )
    assert first.etag
    listed = client.list_parts(dest, upload_id=upload)
    assert [(p.part_number, p.size) for p in listed] == [(1, 5 * MiB)]
    client.abort_multipart_upload(dest, upload_id=upload)
    assert not s3.list_multipart_uploads(Bucket=DEST).get("Uploads")
    # and the whole cycle, with an If-Match on the source's ETag
    etag = s3.head_object(Bucket=SOURCE, Key="big")["ETag"]
    upload = client.create_multipart_upload(dest, tags=[("team", "bio lab")])
    parts = [
        client.upload_part_copy(
            source, dest, upload_id=upload, part_number=n, byte_range=r, if_match=etag
        )
        for n, r in ((1, (0, 5 * MiB - 1)), (2, (5 * MiB, len(data) - 1)))
    ]
    assert client.complete_multipart_upload(dest, upload_id=upload, parts=parts).endswith('-2"')
    assert s3.get_object(Bucket=DEST, Key="big")["Body"].read() == data
    assert client.get_object_tagging(dest) == [("team", "bio lab")]


def test_proxies_come_from_the_environment_as_botocore_takes_them(
    buckets: Any, moto_server: str, fault_proxy: FaultProxy, client_kind: str, monkeypatch: Any
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"through the proxy")
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fault_proxy.url)
    client = make_client(client_kind, moto_server)  # the endpoint is moto itself
    assert client.get_object(ObjectRef(SOURCE, "k")) == b"through the proxy"
    assert [s.proxied for s in fault_proxy.seen] == [True]
    # NO_PROXY naming the endpoint's host bypasses the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = make_client(client_kind, moto_server)
    assert direct.get_object(ObjectRef(SOURCE, "k")) == b"through the proxy"
    assert len(fault_proxy.seen) == 1


# -- the lean client's own behaviour ----------------------------------------------------


def test_a_skewed_clock_is_corrected_from_the_server_date_and_not_retried_blindly(
    buckets: Any, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"v")
    fault_proxy.clock_offset = 3600.0  # the server's clock is an hour ahead of ours
    client = lean(fault_proxy.url)
    assert client.head_object(ObjectRef(SOURCE, "k")) is not None
    refused = [f for f in fault_proxy.injected if f[3] == "RequestTimeTooSkewed"]
    assert len(refused) == 1  # one refusal, then signed with the server's time
    assert abs(client.clock.offset - 3600.0) < 5
    assert client.get_object(ObjectRef(SOURCE, "k")) == b"v"
    assert len(fault_proxy.injected) == 1  # the correction holds for later requests


def test_the_boto3_client_cannot_correct_the_clock_and_does_not_retry_in_vain(
    buckets: Any, fault_proxy: FaultProxy
):
    fault_proxy.clock_offset = 3600.0
    client = make_client("boto3", fault_proxy.url)
    with pytest.raises(S3Error) as caught:
        client.get_object(ObjectRef(SOURCE, "k"))
    assert (caught.value.code, caught.value.status) == ("RequestTimeTooSkewed", 403)
    assert len(fault_proxy.injected) == 1  # botocore has no clock correction: no retries


def test_kept_alive_connections_are_reused_through_a_keep_alive_server(
    buckets: Any, fault_proxy: FaultProxy
):
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"v")
    client = lean(fault_proxy.url)
    for _ in range(5):
        assert client.head_object(ObjectRef(SOURCE, "k")) is not None
    pool = client.transport.pool("http", fault_proxy.url.removeprefix("http://"))
    assert pool.num_connections == 1  # one connection served all five requests
    assert client.requests == 5
    client.close()
    assert client.head_object(ObjectRef(SOURCE, "missing")) is None


def test_retries_are_bounded_and_counted(buckets: Any, fault_proxy: FaultProxy):
    fault_proxy.deny(lambda m, _p, _q: (503, "SlowDown") if m == "HEAD" else None)
    client = lean(fault_proxy.url, retry=FAST_RETRY)
    with pytest.raises(S3Error) as caught:
        client.head_object(ObjectRef(SOURCE, "k"))
    assert (caught.value.code, caught.value.status) == ("SlowDown", 503)
    assert client.requests == len(fault_proxy.injected) == FAST_RETRY.max_attempts


def test_the_client_keeps_one_open_pool_per_host(buckets: Any, fault_proxy: FaultProxy):
    # With virtual-hosted addressing every bucket is a host. A PoolManager keeps ten
    # pools (urllib3 1.26, which botocore allows, closes the ones it drops): the client
    # owns its pools instead, one per host, for as long as it lives.
    s3 = buckets
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"v")
    client = lean(fault_proxy.url)
    assert client.get_object(ObjectRef(SOURCE, "k")) == b"v"
    host = fault_proxy.url.removeprefix("http://")
    first = client.transport.pool("http", host)
    others = {client.transport.pool("http", f"127.0.0.1:{port}") for port in range(1, 21)}
    assert len(others) == 20  # never connected to
    assert client.transport.pool("http", host) is first
    assert client.get_object(ObjectRef(SOURCE, "k")) == b"v"
    assert first.num_connections == 1

"""The hot-path client's signing and addressing agree with botocore's, byte for byte."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from steps_s3_copy.worker.s3http import (
    EMPTY_SHA256,
    FastS3,
    RetryPolicy,
    S3Error,
    SigV4Signer,
    _read_response,
    canonical_query,
    copy_source,
    parse_error,
)

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token/with+chars=")
AMZ_DATE = "20261125T120000Z"


@pytest.mark.parametrize(
    ("path", "params", "extra"),
    [
        ("/bucket/plain.txt", {}, {}),
        ("/bucket/with%20space/%C3%BC%2B%25%3D.bin", {"versionId": "a+b/c="}, {}),
        ("/bucket", {"list-type": "2", "prefix": "a b/ü", "encoding-type": "url"}, {}),
        (
            "/bucket/" + "k" * 1024,
            {"partNumber": "3"},
            {
                "x-amz-copy-source": copy_source("src", "dir/ä b+%=.txt", "v1+x"),
                "x-amz-metadata-directive": "COPY",
                "x-amz-request-payer": "requester",
            },
        ),
    ],
)
def test_signature_matches_botocore(path: str, params: dict[str, str], extra: dict[str, str]):
    host = "s3.us-east-1.amazonaws.com"
    query = canonical_query(params)
    headers = {"host": host, **extra}
    SigV4Signer("us-east-1").sign(
        "PUT",
        path,
        query,
        headers,
        access_key=CREDS.access_key,
        secret_key=CREDS.secret_key,
        token=CREDS.token,
        amz_date=AMZ_DATE,
    )
    url = f"https://{host}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(
        method="PUT", url=url, headers={k: v for k, v in headers.items() if k != "authorization"}
    )
    request.context["timestamp"] = AMZ_DATE
    auth = S3SigV4Auth(CREDS, "s3", "us-east-1")
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    expected = auth.signature(string_to_sign, request)
    assert headers["authorization"].endswith(f"Signature={expected}")
    assert (
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))},"
        in headers["authorization"]
    )


def test_copy_source_is_url_encoded_with_version():
    assert copy_source("b", "a b/ü+%=~.txt") == "b/a%20b/%C3%BC%2B%25%3D~.txt"
    assert copy_source("b", "k", "3/L4kqtJl+cE=") == "b/k?versionId=3%2FL4kqtJl%2BcE%3D"


def test_addressing_virtual_on_aws_path_on_custom_endpoints():
    aws = FastS3(credentials=CREDS, region="eu-west-2")
    assert aws._where("my-bucket", "a b") == ("my-bucket.s3.eu-west-2.amazonaws.com", "/a%20b")
    assert aws._where("dotted.bucket", "k") == ("s3.eu-west-2.amazonaws.com", "/dotted.bucket/k")
    local = FastS3(credentials=CREDS, region="us-east-1", endpoint_url="http://127.0.0.1:9000/")
    assert local._where("my-bucket", "x/y") == ("127.0.0.1:9000", "/my-bucket/x/y")
    assert local._where("my-bucket", None) == ("127.0.0.1:9000", "/my-bucket")


def test_error_documents_and_retryability():
    body = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Reduce</Message></Error>"
    error = parse_error(body, 503)
    assert (error.code, error.message, error.retryable) == ("SlowDown", "Reduce", True)
    assert parse_error(b"", 404).code == "NotFound"
    assert not parse_error(b"", 403).retryable
    assert S3Error("InternalError", "", 200).retryable
    assert EMPTY_SHA256.startswith("e3b0c442")


def test_backoff_is_bounded_with_jitter():
    policy = RetryPolicy(max_attempts=5, base_seconds=0.1, cap_seconds=1.0)
    delays: list[Any] = [policy.delay(n) for n in range(1, 30)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 1


def test_http_responses_with_length_chunks_and_close():
    raw = BytesIO(b'Content-Length: 5\r\nETag: "x"\r\n\r\nhelloNEXT')
    assert _read_response(raw, b"HTTP/1.1 200 OK\r\n", "GET") == (
        200,
        {"content-length": "5", "etag": '"x"'},
        b"hello",
        True,
    )
    assert raw.read() == b"NEXT"  # the next response on the connection is untouched
    chunked = BytesIO(b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n")
    assert _read_response(chunked, b"HTTP/1.1 200 OK\r\n", "GET")[2:] == (b"abcdefg", True)
    closing = BytesIO(b"Connection: close\r\n\r\nuntil the end")
    assert _read_response(closing, b"HTTP/1.1 500 Oops\r\n", "GET")[0::2] == (500, b"until the end")
    head = BytesIO(b"Content-Length: 1048576\r\n\r\n")
    assert _read_response(head, b"HTTP/1.1 200 OK\r\n", "HEAD")[1]["content-length"] == "1048576"


def test_kept_alive_connections_are_reused_through_a_keep_alive_server(
    buckets: Any, make_engine: Any, fault_proxy: Any
):

    s3 = buckets
    s3.put_object(Bucket="source-bucket", Key="k", Body=b"v")
    engine = make_engine(endpoint=fault_proxy.url)
    fast: FastS3 = engine.fast
    for _ in range(5):
        assert fast.head_object("source-bucket", "k") is not None
    idle = [c for conns in fast.transport._idle.values() for c in conns]
    assert len(idle) == 1  # one connection served all five requests
    fast.transport.close()
    assert fast.head_object("source-bucket", "missing") is None

"""The hot-path client's signing and addressing agree with botocore's, byte for byte."""

from __future__ import annotations

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

"""Fixtures every test area shares: safe AWS settings and a moto server on 127.0.0.1.

Area-specific fixtures live in each folder's own conftest.py (tests/worker/, tests/core/,
tests/infra/, tests/cli/).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"

# Never reach a real account or a proxy from a test: dummy credentials, loopback only.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "StepsS3CopyTests",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the session, on a free port of 127.0.0.1."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_server(moto_endpoint: str) -> str:
    """The session's moto server, emptied before the test."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return moto_endpoint


def client(service: str, endpoint: str, **config: Any) -> Any:
    """A boto3 client for the moto server, with short timeouts so a test cannot hang."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}, **config),
    )


#: classes whose objects GetObject refuses until restored (InvalidObjectState)
ARCHIVED = frozenset({"GLACIER", "DEEP_ARCHIVE"})


def read_body(s3: Any, bucket: str, key: str) -> bytes:
    """An object's bytes; an archived one (a restored source's copy keeps its class) is
    restored first, which moto does at once."""
    if s3.head_object(Bucket=bucket, Key=key).get("StorageClass") in ARCHIVED:
        s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


@pytest.fixture
def s3(moto_server: str) -> Any:
    return client("s3", moto_server)


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Forwards every request to ``upstream``; UploadPartCopy answers ``delay`` late."""

    upstream = ""
    delay = 0.0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if (
            self.command == "PUT"
            and "partNumber=" in self.path
            and "x-amz-copy-source" in self.headers
        ):
            time.sleep(self.delay)
        target = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body or None, headers=dict(self.headers))
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.send_response(response.status)
        length_header = str(len(data))
        for name, value in response.getheaders():
            if name.lower() == "content-length" and self.command == "HEAD":
                length_header = value
            elif name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", length_header)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay  # noqa: N815


@contextlib.contextmanager
def relay(handler: type[_SlowHandler], **attributes: Any) -> Iterator[str]:
    """A ``handler`` relay (a subclass of ``_SlowHandler`` with ``attributes`` set, e.g.
    ``upstream``) served on 127.0.0.1 while the block runs; yields its URL."""
    subclass = type(handler.__name__, (handler,), attributes)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), subclass)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slow_parts_endpoint(moto_server: str) -> Iterator[str]:
    """An S3 endpoint on 127.0.0.1 in front of the moto server where every UploadPartCopy
    takes a second: a multipart copy is then in flight long enough to be stopped."""
    with relay(_SlowHandler, upstream=moto_server, delay=1.0) as url:
        yield url


class _RestoringHandler(_SlowHandler):
    """moto restores an archived object at once; this relay makes each restored object's
    HeadObject answer ``x-amz-restore: ongoing-request="true"`` for its first ``heads``
    HEADs after the RestoreObject request, as S3 does for the hours a restore takes."""

    heads = 0
    restores: dict[str, int] = {}
    lock = threading.Lock()

    def _relay(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if self.command == "POST" and "restore" in urllib.parse.urlsplit(self.path).query:
            with self.lock:
                self.restores[path] = self.heads
        super()._relay()

    def send_header(self, keyword: str, value: str) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if self.command == "HEAD" and keyword.lower() == "x-amz-restore":
            with self.lock:
                left = self.restores.get(path, 0)
                if left > 0:
                    self.restores[path] = left - 1
                    value = 'ongoing-request="true"'
        super().send_header(keyword, value)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay  # noqa: N815


@dataclass
class RestoringEndpoint:
    url: str
    #: RestoreObject requests seen, by object path (/bucket/key)
    restores: dict[str, int]


@pytest.fixture
def restoring_endpoint(moto_server: str) -> Iterator[RestoringEndpoint]:
    """An S3 endpoint on 127.0.0.1 in front of the moto server where a restore stays "in
    progress" for the first two HeadObject answers after it was asked for."""
    restores: dict[str, int] = {}
    with relay(_RestoringHandler, upstream=moto_server, heads=2, restores=restores) as url:
        yield RestoringEndpoint(url, restores)


@pytest.fixture
def kms_digest() -> Iterator[None]:
    """moto's KMS signing a ``MessageType=DIGEST`` message as AWS does (a patch of moto,
    tests/infra/moto_patches.py, with its own test)."""
    from tests.infra.moto_patches import kms_digest_signing  # noqa: PLC0415 - moto internals

    with kms_digest_signing():
        yield

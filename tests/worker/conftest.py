"""Fixtures of the copy-engine tests: buckets on the shared moto server, an engine
factory, and a fault-injecting HTTP proxy on 127.0.0.1 in front of moto.

The proxy is how throttling and access denial are produced for real: the engine speaks
HTTP to it exactly as to S3, and it answers some requests with an S3 error document
(503 SlowDown, 403 AccessDenied) and forwards the rest to the moto server. Nothing in the
engine is mocked.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from steps_s3_copy.models import CopyOptions
from steps_s3_copy.worker.engine import CopyEngine
from steps_s3_copy.worker.s3http import RetryPolicy
from tests.conftest import REGION

#: Backoff fast enough for tests, with the same number of attempts as production.
FAST_RETRY = RetryPolicy(max_attempts=8, base_seconds=0.005, cap_seconds=0.05)

SOURCE = "source-bucket"
DEST = "dest-bucket"

#: A rule sees (method, path, query) and returns (status, code) to fail the request.
Rule = Callable[[str, str, str], tuple[int, str] | None]


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    injected: list[tuple[str, str, int, str]] = field(default_factory=list)
    forwarded: int = 0
    url: str = ""

    def fail_first(self, count: int, status: int, code: str, match: Rule | None = None) -> None:
        """Fail the first ``count`` requests that ``match`` (all requests by default)."""
        left = [count]
        lock = threading.Lock()

        def rule(method: str, path: str, query: str) -> tuple[int, str] | None:
            if match is not None and match(method, path, query) is None:
                return None
            with lock:
                if left[0] <= 0:
                    return None
                left[0] -= 1
            return status, code

        self.rules.append(rule)

    def deny(self, match: Rule) -> None:
        self.rules.append(match)


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _relay(self) -> None:
            sent = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(sent) if sent else b""
            path, _, query = self.path.partition("?")
            for rule in proxy.rules:
                fault = rule(self.command, path, query)
                if fault:
                    status, code = fault
                    proxy.injected.append((self.command, self.path, status, code))
                    payload = (
                        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                        f"<Message>injected by the test proxy</Message></Error>"
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(
                    upstream.hostname or "127.0.0.1", upstream.port, timeout=60
                )
                local.conn = conn
            headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                local.conn = None
                raise
            proxy.forwarded += 1
            self.send_response(response.status)
            length = str(len(data))
            for name, value in response.getheaders():
                if name.lower() == "content-length" and self.command == "HEAD":
                    length = value  # a HEAD answer's length is the object's
                elif name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay  # noqa: N815

    return Handler


@pytest.fixture
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream=moto_server)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def buckets(s3: Any) -> Any:
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=DEST)
    return s3


@pytest.fixture
def make_engine(moto_server: str) -> Callable[..., CopyEngine]:
    def make(endpoint: str | None = None, **options: Any) -> CopyEngine:
        return CopyEngine(
            CopyOptions(**options),
            session=boto3.session.Session(region_name=REGION),
            endpoint_url=endpoint or moto_server,
            retry=FAST_RETRY,
        )

    return make

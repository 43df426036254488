"""Fixtures for the core steps: buckets on the shared moto server, a job writer, a 403 proxy."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from steps_s3_copy import prepare
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.payloads import PreparePayload, PrepareResult
from steps_s3_copy.prepare import PrepareSettings
from tests.conftest import client

INBOX = "inbox"
SOURCE = "src-bucket"
DEST = "dst-bucket"
EVENTS = Path(__file__).parent.parent / "events"


@dataclass
class World:
    """The moto server with an inbox (also the work bucket), a source and a destination."""

    endpoint: str
    s3: Any
    settings: PrepareSettings

    def put(self, bucket: str, key: str, body: bytes | str = b"x") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)

    def job(self, name: str, csv_text: str | bytes | None, sidecar: Any) -> dict[str, Any]:
        """Upload jobs/<name>.csv (unless None) and jobs/<name>.json; return the sidecar event."""
        if csv_text is not None:
            self.put(INBOX, f"jobs/{name}.csv", csv_text)
        body = sidecar if isinstance(sidecar, str | bytes) else json.dumps(sidecar)
        self.put(INBOX, f"jobs/{name}.json", body)
        return sidecar_event(INBOX, f"jobs/{name}.json")

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def text(self, bucket: str, key: str) -> str:
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode()


def run_prepare(
    raw_input: dict[str, Any], *, run_id: str, s3: Any, settings: PrepareSettings
) -> PrepareResult:
    """The Prepare step as the state machine calls it, for an execution named ``run_id``."""
    execution = {"id": f"arn:aws:states:us-east-1:123456789012:execution:sm:{run_id}"}
    payload = PreparePayload.model_validate(
        {"input": raw_input, "execution": {**execution, "name": run_id}}
    )
    return prepare.run(payload, s3=s3, settings=settings, is_running=lambda _arn: False)


def sidecar_event(bucket: str, key: str) -> dict[str, Any]:
    """The real-shaped EventBridge event (tests/events/) pointed at ``bucket``/``key``."""
    event: dict[str, Any] = json.loads((EVENTS / "eventbridge_s3_object_created.json").read_text())
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    return event


@pytest.fixture
def world(moto_server: str) -> World:
    s3 = client("s3", moto_server)
    for bucket in (INBOX, SOURCE, DEST):
        s3.create_bucket(Bucket=bucket)
    return World(
        endpoint=moto_server,
        s3=s3,
        settings=PrepareSettings(layout=InboxLayout(INBOX), head_concurrency=8, chunk_rows=50),
    )


class _Forbidding(BaseHTTPRequestHandler):
    """Forwards to moto, except that writes to the locked bucket answer 403 AccessDenied."""

    upstream = ""
    locked = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _forward(self) -> None:
        path = self.path
        bucket = urlsplit(path).path.lstrip("/").split("/", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if bucket == self.locked and self.command in ("PUT", "POST", "DELETE"):
            payload = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
                b"<Message>Access Denied</Message></Error>"
            )
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        target = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = f"{target.hostname}:{target.port}"
        conn.request(self.command, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815


@pytest.fixture
def forbidding_proxy(moto_server: str) -> Iterator[tuple[str, str]]:
    """(endpoint, bucket): an S3 endpoint on 127.0.0.1 where writes to ``bucket`` get 403."""
    locked = "locked-bucket"
    handler = type("Handler", (_Forbidding,), {"upstream": moto_server, "locked": locked})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", locked
    finally:
        server.shutdown()
        server.server_close()

"""Fixtures of the copy-engine tests: buckets on the shared moto server, an engine
factory run once per S3 client implementation, and a fault-injecting HTTP proxy on
127.0.0.1 in front of moto.

``make_engine`` is parametrized over ``CLIENTS``: every engine test runs against the lean
client and against the boto3-backed one (as Powertools' tests run each persistence
backend), so the engine depends on the ``S3Client`` interface only.

The proxy is how throttling, access denial, a skewed server clock and an HTTP proxy are
produced for real: the clients speak HTTP to it exactly as to S3 (as to an endpoint, or
as to a forward proxy), and it answers some requests with an S3 error document (503
SlowDown, 403 AccessDenied, even 200 with an ``<Error>`` body) and forwards the rest to
the moto server. It also checks every request's SigV4 signature the way S3 does, from the
raw request line and headers as received (moto does not), so a request that was signed
differently from how it was sent fails the test. Nothing in the engine is mocked.

Two modes stand in for what moto does not model:

- ``enforce_conditions``: ``x-amz-copy-source-if-match`` (CopyObject, UploadPartCopy) and
  ``If-Match`` (HeadObject, GetObject) are evaluated as S3 evaluates them, against the
  current ETag of the whole object (with ``partNumber`` too), and answered 412
  PreconditionFailed when it differs; a missing object is left to moto (404). moto
  ignores the copy conditions, and compares ``If-Match`` with a part's own ETag when a
  ``partNumber`` is asked.
- ``swap_sources``: the server copies another object than the one asked (CopyObject and
  UploadPartCopy), as a misbehaving or compromised server would: only the engine's own
  verification can tell.
- ``kms_etags``: an SSE-KMS object's ETag is not the MD5 of its content, as in S3 ("Object",
  ETag, https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html); moto gives it
  the MD5. The proxy answers another, stable ETag for every object whose answer says
  ``x-amz-server-side-encryption: aws:kms`` (HeadObject, GetObject, CopyObject), and turns
  it back into moto's in the ETag conditions it forwards. Listings are left as moto
  answers them (they do not say how an object is encrypted).
- ``bare_copy_answers``: CopyObject answers without their ``Checksum*`` elements, as the
  API reference allows ("CopyObjectResult": a checksum "is only present if the object was
  uploaded with the object",
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObjectResult.html); moto always
  includes them.

``after`` hooks run once a request was answered upstream, before the answer goes back:
how a test changes the source between two requests of one copy.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import re
import threading
import time
import xml.sax.saxutils
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, unquote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from steps_s3_copy.models import CopyOptions
from steps_s3_copy.worker.engine import CopyEngine, lean_client, pool_size
from steps_s3_copy.worker.s3boto import Boto3S3Client
from steps_s3_copy.worker.s3client import RetryPolicy, S3Client, header_text
from tests.conftest import REGION, client

#: Backoff fast enough for tests, with the same number of attempts as production.
FAST_RETRY = RetryPolicy(max_attempts=8, base_seconds=0.005, cap_seconds=0.05)

SOURCE = "source-bucket"
DEST = "dest-bucket"

#: The S3 client implementations every engine test runs against.
CLIENTS = ("lean", "boto3")
#: The credentials tests/conftest.py puts in the environment (the proxy checks with them).
TEST_CREDENTIALS = Credentials("testing", "testing", "testing")
#: S3 refuses a request signed more than 15 minutes away from its own clock.
MAX_SKEW_SECONDS = 15 * 60

#: The "error code" that makes the proxy answer a cut-short XML document instead.
TRUNCATED = "(truncated)"

#: A rule sees (method, path, query) and returns (status, code) to fail the request.
Rule = Callable[[str, str, str], tuple[int, str] | None]
#: A hook sees (method, path, query) of a request answered upstream.
Hook = Callable[[str, str, str], None]


@dataclass
class Seen:
    """One request as the proxy received it."""

    method: str
    target: str
    headers: dict[str, str]
    #: sent to the proxy as to a forward proxy (absolute URL in the request line)
    proxied: bool


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    injected: list[tuple[str, str, int, str]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    bad_signatures: list[str] = field(default_factory=list)
    forwarded: int = 0
    url: str = ""
    #: the simulated server clock's distance from the real one, in seconds
    clock_offset: float = 0.0
    #: evaluate copy-source and If-Match conditions as S3 does (see the module docstring)
    enforce_conditions: bool = False
    #: (bucket, key) asked -> (bucket, key) the server copies instead
    swap_sources: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: (method, target) of every copy request whose source was swapped
    swapped: list[tuple[str, str]] = field(default_factory=list)
    after: list[Hook] = field(default_factory=list)
    #: answer SSE-KMS objects with an ETag that is not their MD5 (see the module docstring)
    kms_etags: bool = False
    #: the ETags answered for SSE-KMS objects -> moto's own
    kms_real: dict[str, str] = field(default_factory=dict)
    #: drop the checksums from CopyObject answers (see the module docstring)
    bare_copy_answers: bool = False
    _upstream_client: Any = None

    def kms_etag(self, real: str) -> str:
        """The ETag answered for an SSE-KMS object whose moto ETag is ``real`` (no quotes)."""
        fake = hashlib.md5(f"kms:{real}".encode(), usedforsecurity=False).hexdigest()
        self.kms_real[fake] = real
        return fake

    def disguise_kms(
        self, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[list[tuple[str, str]], bytes]:
        """An answer about an SSE-KMS object, with its ETag as S3 would give it."""
        named = {name.lower(): value for name, value in headers}
        if not named.get("x-amz-server-side-encryption", "").startswith("aws:kms"):
            return headers, body
        out = [
            (name, f'"{self.kms_etag(value.strip(chr(34)))}"' if name.lower() == "etag" else value)
            for name, value in headers
        ]

        def etag(match: re.Match[bytes]) -> bytes:
            return match.group(1) + self.kms_etag(match.group(2).decode()).encode()

        return out, re.sub(rb"(<ETag>(?:&quot;|&#34;|\")?)([0-9a-f]{32}(?:-\d+)?)", etag, body)

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

    def server_date(self) -> str:
        return email.utils.formatdate(time.time() + self.clock_offset, usegmt=True)

    def requests_of(self, method: str, query_part: str) -> list[Seen]:
        """The requests seen with ``method`` whose query string holds ``query_part``."""
        return [
            r for r in self.seen if r.method == method and query_part in r.target.partition("?")[2]
        ]

    def current_etag(self, bucket: str, key: str, version_id: str | None) -> str | None:
        """The object's ETag upstream (without quotes), None when it does not exist."""
        if self._upstream_client is None:
            self._upstream_client = client("s3", self.upstream)
        where = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        try:
            return str(self._upstream_client.head_object(**where)["ETag"]).strip('"')
        except self._upstream_client.exceptions.ClientError:
            return None

    def condition_fails(self, method: str, path: str, query: str, headers: dict[str, str]) -> bool:
        """Whether S3 would refuse this request's ETag condition (412)."""
        copy = headers.get("x-amz-copy-source")
        if copy is not None and "x-amz-copy-source-if-match" in headers:
            wanted = headers["x-amz-copy-source-if-match"]
            source = urlsplit(copy)
            bucket, _, key = unquote(source.path).lstrip("/").partition("/")
            version = parse_qs(source.query).get("versionId", [None])[0]
        elif method in ("HEAD", "GET") and "if-match" in headers:
            wanted = headers["if-match"]
            bucket, _, key = unquote(path).lstrip("/").partition("/")
            version = parse_qs(query).get("versionId", [None])[0]
        else:
            return False
        current = self.current_etag(bucket, key, version)
        # a missing object is moto's to answer (404 NoSuchKey), as S3 does
        return current is not None and wanted.strip('"') not in (current, "*")


def signature_problem(method: str, target: str, headers: dict[str, str]) -> str | None:
    """Why S3 would refuse this request's SigV4 signature, or None when it is valid.

    Recomputed with botocore's signer from the raw request target and the signed headers
    exactly as they arrived (header values are UTF-8 on the wire), as S3 does.
    """
    authorization = headers.get("authorization", "")
    fields = dict(part.strip().split("=", 1) for part in authorization.split(" ", 1)[-1].split(","))
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or "SignedHeaders" not in fields:
        return f"{method} {target}: no SigV4 authorization"
    signed = {name: header_text(headers[name]) for name in fields["SignedHeaders"].split(";")}
    request = AWSRequest(method=method, url=f"http://{headers['host']}{target}", headers=signed)
    request.context["timestamp"] = headers["x-amz-date"]
    auth = S3SigV4Auth(TEST_CREDENTIALS, "s3", scope[2])
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    if expected != fields.get("Signature"):
        return f"{method} {target}: signature does not match"
    return None


def encode_upload_keys(query: str, body: bytes) -> bytes:
    """A ListMultipartUploads answer as S3 gives it when asked for ``encoding-type=url``
    (the keys URL-encoded, ``EncodingType`` in the answer); moto ignores the parameter."""
    if parse_qs(query).get("encoding-type") != ["url"] or b"<EncodingType>" in body:
        return body
    text = body.decode()

    def encode(match: re.Match[str]) -> str:
        key = xml.sax.saxutils.unescape(match.group(2))
        return f"<{match.group(1)}>{quote_plus(key, safe='/')}</{match.group(1)}>"

    text = re.sub(r"<(Key|NextKeyMarker)>(.*?)</\1>", encode, text)
    text = re.sub(
        r"(<ListMultipartUploadsResult[^>]*>)", r"\1<EncodingType>url</EncodingType>", text, count=1
    )
    return text.encode()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _error(self, status: int, code: str, extra: dict[str, str] | None = None) -> None:
            payload = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                f"<Message>injected by the test proxy</Message></Error>"
            ).encode()
            if code == TRUNCATED:  # an answer cut short: not even well-formed XML
                payload = b"<?xml version='1.0' encoding='UTF-8'?><ListBucketResult><Cont"
            self.send_response_only(status)
            self.send_header("Date", proxy.server_date())
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _relay(self) -> None:
            sent = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(sent) if sent else b""
            target, proxied = self.path, False
            if "://" in target:  # absolute form: we are being used as a forward proxy
                parts = urlsplit(target)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                proxied = True
            headers = {k.lower(): v for k, v in self.headers.items()}
            proxy.seen.append(Seen(self.command, target, headers, proxied))
            problem = signature_problem(self.command, target, headers)
            if problem:
                proxy.bad_signatures.append(problem)
                self._error(403, "SignatureDoesNotMatch")
                return
            signed_at = time.mktime(time.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ"))
            skew = signed_at - time.mktime(time.gmtime(time.time() + proxy.clock_offset))
            if abs(skew) > MAX_SKEW_SECONDS:
                proxy.injected.append((self.command, target, 403, "RequestTimeTooSkewed"))
                self._error(403, "RequestTimeTooSkewed")
                return
            path, _, query = target.partition("?")
            replace: dict[str, str] = {}
            for name in ("if-match", "x-amz-copy-source-if-match"):
                wanted = headers.get(name, "").strip('"')
                if wanted in proxy.kms_real:  # the ETag we answered: moto knows its own
                    headers[name] = replace[name] = f'"{proxy.kms_real[wanted]}"'
            for rule in proxy.rules:
                fault = rule(self.command, path, query)
                if fault:
                    status, code = fault
                    proxy.injected.append((self.command, target, status, code))
                    self._error(status, code)
                    return
            drop: set[str] = set()
            if proxy.enforce_conditions:
                if proxy.condition_fails(self.command, path, query, headers):
                    proxy.injected.append((self.command, target, 412, "PreconditionFailed"))
                    self._error(412, "PreconditionFailed")
                    return
                # evaluated here as S3 does; moto would compare a part's own ETag
                drop.add("if-match")
            copy = headers.get("x-amz-copy-source")
            if copy is not None and proxy.swap_sources:
                bucket, _, key = unquote(urlsplit(copy).path).lstrip("/").partition("/")
                other = proxy.swap_sources.get((bucket, key))
                if other is not None:
                    replace["x-amz-copy-source"] = quote(f"{other[0]}/{other[1]}")
                    drop.add("x-amz-copy-source-if-match")
                    proxy.swapped.append((self.command, target))
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(
                    upstream.hostname or "127.0.0.1", upstream.port, timeout=60
                )
                local.conn = conn
            forward = {
                k: replace.get(k.lower(), v)
                for k, v in self.headers.items()
                if k.lower() not in ("expect", "proxy-connection", *drop)
            }
            try:
                conn.request(self.command, target, body=body or None, headers=forward)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                local.conn = None
                raise
            proxy.forwarded += 1
            if self.command == "GET" and "uploads" in parse_qs(query, keep_blank_values=True):
                data = encode_upload_keys(query, data)
            for hook in proxy.after:
                hook(self.command, path, query)
            answered = response.getheaders()
            if proxy.bare_copy_answers and copy is not None and "partNumber" not in query:
                data = re.sub(rb"<Checksum[A-Z0-9]+>[^<]*</Checksum[A-Z0-9]+>", b"", data)
            if proxy.kms_etags:
                answered, data = proxy.disguise_kms(answered, data)
            self.send_response_only(response.status)
            self.send_header("Date", proxy.server_date())
            length = str(len(data))
            for name, value in answered:
                if name.lower() == "content-length" and self.command == "HEAD":
                    length = value  # a HEAD answer's length is the object's
                elif name.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "date",
                ):
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
    assert not proxy.bad_signatures, proxy.bad_signatures


@pytest.fixture
def buckets(s3: Any) -> Any:
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=DEST)
    return s3


def make_client(
    kind: str, endpoint: str, options: CopyOptions | None = None, retry: RetryPolicy = FAST_RETRY
) -> S3Client:
    """An ``S3Client`` of implementation ``kind`` for ``endpoint``, as the engine sizes it."""
    options = options or CopyOptions()
    session = boto3.session.Session(region_name=REGION)
    if kind == "boto3":
        return Boto3S3Client.from_session(
            session._session,
            region=REGION,
            endpoint_url=endpoint,
            max_connections=pool_size(options),
            retry=retry,
        )
    return lean_client(options, session=session, endpoint_url=endpoint, retry=retry)


@pytest.fixture(params=CLIENTS)
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_engine(moto_server: str, client_kind: str) -> Callable[..., CopyEngine]:
    def make(endpoint: str | None = None, **options: Any) -> CopyEngine:
        copy_options = CopyOptions(**options)
        client = make_client(client_kind, endpoint or moto_server, copy_options)
        return CopyEngine(copy_options, client=client)

    return make

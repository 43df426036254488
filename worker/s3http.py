"""``LeanS3Client``: the S3 operations the engine needs, without botocore's generic machinery.

What makes it cheap, against a boto3 call (about 2.5 times its client CPU per request,
most of it serialisation from the service model, dozens of event handlers, endpoint
rules and a full response parser; see docs/engine.md):

- the request is built directly (URL, query, headers) and signed with botocore's own
  SigV4 signer (``botocore.auth.S3SigV4Auth``, handed the headers in a plain dict);
- it is sent through one urllib3 pool per host, shared by every thread; urllib3 keeps
  connections alive and replaces those a server closed;
- the answer is parsed only as far as the engine needs it, and an error body is looked
  for only where S3 can send one.

Where S3 can answer ``200 OK`` with an ``<Error>`` body: CopyObject ("A 200 OK response
can contain either a success or an error", https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html),
CompleteMultipartUpload (same words, https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html)
and UploadPartCopy, a copy that runs after the answer has begun just as CopyObject's
(the AWS SDKs check the same three operations: aws/aws-sdk-js-v3#1657; botocore treats any
such XML answer as a 500). Only those three answers are searched for an ``<Error>``
root element (after the whitespace S3 sends to keep a long request alive), and such an error
counts as a 500, retried within the bound, as botocore counts it; a GET body is the
object's bytes, whatever they say.

Clock skew: S3 refuses a request whose signing time is more than 15 minutes away from
its own with ``RequestTimeTooSkewed`` (403). Retrying with the same clock fails the same
way, and botocore does not correct it (boto/boto3#1252). Like the AWS SDKs for Java
(``ClockSkewAdjuster``) and JavaScript (``systemClockOffset``), this client estimates the
skew from the answer's ``Date`` header (the server's time) against the local time the
answer arrived (the same estimate botocore's ``Endpoint._calculate_ttl`` makes), signs
every later request with the corrected clock, and retries at once. A HEAD answer has no
body to name the error, so a bodiless 403 whose ``Date`` is more than 5 minutes off
counts as skew too (the Java SDK's ``ClockSkewAdjuster`` does the same for 403s).

Proxies: chosen as botocore chooses them (``botocore.endpoint.EndpointCreator``):
``HTTPS_PROXY``/``HTTP_PROXY`` for the endpoint's scheme unless ``NO_PROXY`` bypasses
the endpoint's host (``botocore.utils.get_environ_proxies``), once per client; an https
endpoint is tunnelled (CONNECT), an http one forwarded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar, cast
from urllib.parse import quote, unquote_plus, urlencode, urlsplit
from xml.sax.saxutils import escape

import urllib3
from botocore.auth import EMPTY_SHA256_HASH, SIGNED_HEADERS_BLACKLIST, S3SigV4Auth
from botocore.httpsession import ProxyConfiguration, get_cert_path
from botocore.utils import get_environ_proxies

from steps_s3_copy.worker.s3client import (
    CHECKSUM_ALGORITHMS,
    CODE_OF_STATUS,
    CONTENT_HEADERS,
    NO_ACCESS,
    Access,
    CopyResult,
    Directive,
    HeadResult,
    ListEntry,
    ListPage,
    ObjectParts,
    ObjectRef,
    PartResult,
    RetryCounts,
    RetryPolicy,
    S3Error,
    Upload,
    WriteSettings,
    call_with_retries,
    check_header_value,
    head_result,
)

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_DEFAULT_WRITE = WriteSettings()
#: urllib3 must not retry or follow redirects: the client's RetryPolicy decides.
_NO_RETRIES = urllib3.Retry(total=False, redirect=False)

T = TypeVar("T")


def uri_encode(value: str, *, keep_slash: bool) -> str:
    """RFC 3986 encoding as SigV4 wants it: only ``A-Za-z0-9-_.~`` (and ``/``) kept."""
    return quote(value, safe="/~" if keep_slash else "~")


def copy_source(obj: ObjectRef) -> str:
    """The ``x-amz-copy-source`` header value: URL-encoded, with ``?versionId=``."""
    value = uri_encode(f"{obj.bucket}/{obj.key}", keep_slash=True)
    if obj.version_id:
        value += "?versionId=" + uri_encode(obj.version_id, keep_slash=False)
    return value


def canonical_query(params: Mapping[str, str]) -> str:
    """The query string, encoded and sorted as SigV4's canonical request has it.

    A sub-resource without a value (``uploads``, ``tagging``) is sent bare, as botocore
    sends it; the signer canonicalises it to ``uploads=``.
    """
    return query_strings(params)[0]


def query_strings(params: Mapping[str, str]) -> tuple[str, str]:
    """(the query string as sent, the same in SigV4's canonical form), built once.

    Both are the encoded pairs sorted by encoded key and value; the canonical form writes
    ``key=`` where the sent one has a bare sub-resource (botocore's
    ``_canonical_query_string_url`` makes the same of the sent string).
    """
    encoded = sorted(
        (uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False))
        for k, v in params.items()
    )
    sent = "&".join(f"{k}={v}" if v else k for k, v in encoded)
    return sent, "&".join(f"{k}={v}" for k, v in encoded)


def parse_error(body: bytes, status: int) -> S3Error:
    """Turn an S3 error answer into an ``S3Error`` (code and message)."""
    code, message = "", ""
    if body:
        try:
            root = _xml(body)
            code = _text(root, "Code") or ""
            message = _text(root, "Message") or ""
        except ET.ParseError:
            message = body[:200].decode(errors="replace")
    return S3Error(code or CODE_OF_STATUS.get(status, str(status)), message, status)


def _xml(body: bytes) -> ET.Element:
    # S3's own answer; expat >= 2.4 refuses entity expansion attacks.
    return ET.fromstring(body.lstrip())  # noqa: S314


def _text(node: ET.Element | None, name: str) -> str | None:
    if node is None:
        return None
    child = node.find(_S3_NS + name)
    if child is None:
        child = node.find(name)
    return child.text if child is not None else None


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return node.findall(_S3_NS + name) or node.findall(name)


def _fields(node: ET.Element) -> dict[str, str]:
    """The text of ``node``'s children by local name (one pass, for small answers)."""
    return {child.tag.rpartition("}")[2]: child.text or "" for child in node}


def _field_checksums(fields: Mapping[str, str]) -> dict[str, str]:
    return {
        algorithm: fields["Checksum" + algorithm]
        for algorithm in CHECKSUM_ALGORITHMS
        if fields.get("Checksum" + algorithm)
    }


def _checksums(node: ET.Element) -> dict[str, str]:
    found = {}
    for algorithm in CHECKSUM_ALGORITHMS:
        value = _text(node, "Checksum" + algorithm)
        if value:
            found[algorithm] = value
    return found


def _embedded_error(root: ET.Element) -> None:
    """Raise the error of a ``200 OK`` whose body is an ``<Error>`` (copy operations only).

    Counted as a 500, as botocore counts it (``handlers._handle_200_error``): the copy
    began and failed on the way, and is tried again within the retry bound.
    """
    if root.tag in ("Error", _S3_NS + "Error"):
        raise S3Error(_text(root, "Code") or "InternalError", _text(root, "Message") or "", 500)


class SigningClock:
    """The time requests are signed with: the local clock plus the skew S3 reported."""

    #: S3 refuses a signature more than 15 minutes from its clock; a refusal with no
    #: error code (a HEAD answer has no body) counts as skew beyond this much.
    SILENT_SKEW_SECONDS = 5 * 60

    def __init__(self) -> None:
        self.offset = 0.0
        self._last: tuple[int, str] = (0, "")

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(time.time() + self.offset, dt.UTC)

    def timestamp(self) -> str:
        """The SigV4 timestamp (``YYYYMMDDTHHMMSSZ``) of now, formatted once a second."""
        second = int(time.time() + self.offset)
        last = self._last
        if last[0] != second:
            last = (second, time.strftime(_SIGV4_TIMESTAMP, time.gmtime(second)))
            self._last = last
        return last[1]

    def correct(self, date_header: str | None, received_at: float, *, tolerance: float) -> bool:
        """Adopt the server's clock if ``Date`` is more than ``tolerance`` seconds from
        ours at ``received_at``; True if the signing clock moved."""
        if not date_header:
            return False
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return False
        if abs(server - (received_at + self.offset)) <= tolerance:
            return False
        self.offset = server - received_at
        return True


class _HeaderMap(dict[str, str]):
    """Signed headers by lower-case name, as botocore's ``canonical_headers`` reads them
    (``get_all``); a dict instead of botocore's email-based ``HTTPHeaders``, which costs
    more than the signature itself."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


@dataclass(slots=True)
class _Request:
    """The attributes of ``botocore.awsrequest.AWSRequest`` the S3 SigV4 signer reads,
    and what the signer works out once per request (``canonical_query``, ``signed``)."""

    method: str
    #: the request target (path and query): the signer reads the path from it (a
    #: payload hash is always signed, and the host is a signed header)
    url: str
    headers: dict[str, str]
    body: bytes
    #: the query string in SigV4's canonical form (``query_strings``)
    canonical_query: str = ""
    params: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    signed: _HeaderMap | None = None


class SigningKeys:
    """SigV4 signing keys, derived once per secret, day and region instead of once per
    request (four HMACs; "Create a signature for an AWS API request", step 4:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
    The derivation is botocore's (``SigV4Auth._sign``)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def key(self, signer: S3SigV4Auth, secret: str, day: str, region: str) -> bytes:
        found = self._keys.get((secret, day, region))
        if found is None:
            k_date = signer._sign(f"AWS4{secret}".encode(), day)
            k_region = signer._sign(k_date, region)
            k_service = signer._sign(k_region, "s3")
            found = signer._sign(k_service, "aws4_request")
            if len(self._keys) > 16:  # old days, rotated secrets
                self._keys.clear()
            self._keys[(secret, day, region)] = found
        return found


class _SignerAt(S3SigV4Auth):  # type: ignore[misc]  # botocore ships no type hints
    """botocore's S3 SigV4 signer, signing at a given time instead of the local clock.

    The canonical request, string to sign and signature are botocore's own code; what is
    simpler: the header container (selected once per request, not twice), the canonical
    query (built with the request, not parsed back from its URL), the payload hash
    (always signed: these requests carry no body or a small XML one) and the signing key
    (derived once a day, ``SigningKeys``).
    """

    def __init__(self, credentials: Any, region: str, timestamp: str, keys: SigningKeys) -> None:
        super().__init__(credentials, "s3", region)
        self._timestamp = timestamp
        self._keys = keys

    def headers_to_sign(self, request: _Request) -> _HeaderMap:
        if request.signed is None:
            request.signed = _HeaderMap(
                (name.lower(), value)
                for name, value in request.headers.items()
                if name.lower() not in SIGNED_HEADERS_BLACKLIST
            )
        return request.signed

    def canonical_query_string(self, request: _Request) -> str:
        return request.canonical_query

    def payload(self, request: _Request) -> str:
        return hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256_HASH

    def signature(self, string_to_sign: str, request: _Request) -> str:
        key = self._keys.key(
            self, self.credentials.secret_key, self._timestamp[0:8], self._region_name
        )
        signature: str = self._sign(key, string_to_sign, hex=True)
        return signature

    def add_auth(self, request: _Request) -> None:
        # S3SigV4Auth.add_auth with the timestamp given: the same steps in the same order.
        request.context["timestamp"] = self._timestamp
        self._modify_request_before_signing(request)
        request.signed = None  # the headers to sign are those after the date and hash
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


class Transport:
    """urllib3 connection pools, one per host, shared by every thread; proxies as botocore
    uses them.

    The pools are this object's, not a ``PoolManager``'s: a manager keeps ten pools and
    drops the least recently used (urllib3 1.26, which botocore allows, also closes it),
    and with virtual-hosted addressing every bucket is a host of its own. Owning them also
    spares a manager's per-request pool lookup.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        ca_bundle: str | None,
        proxies: Mapping[str, str] | None,
    ) -> None:
        self._options: dict[str, Any] = {
            "maxsize": max_connections,
            "block": False,
            "timeout": urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            "retries": _NO_RETRIES,
        }
        self._tls: dict[str, Any] = {
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": get_cert_path(ca_bundle or True),
        }
        if proxies is None:
            proxies = get_environ_proxies(endpoint_url)
        proxy_config = ProxyConfiguration(proxies=dict(proxies))
        self.proxy_url: str | None = proxy_config.proxy_url_for(endpoint_url)
        self.proxy: urllib3.ProxyManager | None = None
        if self.proxy_url:
            self.proxy = urllib3.ProxyManager(
                self.proxy_url,
                proxy_headers=proxy_config.proxy_headers_for(self.proxy_url),
                **self._options,
                **self._tls,
            )
        self._pools: dict[tuple[str, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def pool(self, scheme: str, host: str) -> urllib3.HTTPConnectionPool:
        """The pool of ``host`` (``name[:port]``), made on first use."""
        pool = self._pools.get((scheme, host))
        if pool is None:
            name, _, port = host.partition(":")
            with self._lock:
                pool = self._pools.get((scheme, host))
                if pool is None:
                    if scheme == "https":
                        pool = urllib3.HTTPSConnectionPool(
                            name, int(port or 443), **self._options, **self._tls
                        )
                    else:
                        pool = urllib3.HTTPConnectionPool(name, int(port or 80), **self._options)
                    self._pools[(scheme, host)] = pool
        return pool

    def send(
        self,
        method: str,
        *,
        scheme: str,
        host: str,
        target: str,
        headers: Mapping[str, str | bytes],
        body: bytes | None,
    ) -> urllib3.BaseHTTPResponse:
        """One request, no retries, no redirects; the whole answer read."""
        if self.proxy is not None:
            return self._send_through_proxy(
                method, scheme=scheme, host=host, target=target, headers=headers, body=body
            )
        pool = self._pools.get((scheme, host)) or self.pool(scheme, host)
        response: urllib3.BaseHTTPResponse = pool.urlopen(
            method,
            target,
            body=body,
            # bytes values (UTF-8 header text) go out as they are: http.client's putheader
            # takes bytes, urllib3's annotation says str only
            headers=cast("Mapping[str, str]", headers),
            retries=_NO_RETRIES,
            redirect=False,
            assert_same_host=False,
            preload_content=True,
            decode_content=False,
        )
        return response

    def _send_through_proxy(
        self,
        method: str,
        *,
        scheme: str,
        host: str,
        target: str,
        headers: Mapping[str, str | bytes],
        body: bytes | None,
    ) -> urllib3.BaseHTTPResponse:
        assert self.proxy is not None
        kwargs: dict[str, Any] = {
            "body": body,
            "headers": headers,
            "retries": _NO_RETRIES,
            "redirect": False,
            "preload_content": True,
            "decode_content": False,
        }
        if scheme == "http":
            # Forwarded: the request line carries the absolute URL.
            return self.proxy.urlopen(method, f"{scheme}://{host}{target}", **kwargs)
        name, _, port = host.partition(":")
        tunnel = self.proxy.connection_from_host(name, int(port or 443), scheme=scheme)
        tunnelled: urllib3.BaseHTTPResponse = tunnel.urlopen(
            method, target, assert_same_host=False, **kwargs
        )
        return tunnelled

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
        if self.proxy is not None:
            self.proxy.clear()


class LeanS3Client:
    """The engine's S3 operations over one set of urllib3 pools; implements ``S3Client``.

    Thread-safe; one instance serves every thread of an engine. ``credentials`` are
    botocore credentials, frozen once per request (so refreshing role credentials keep
    working).
    """

    def __init__(
        self,
        *,
        credentials: Any,
        region: str,
        endpoint_url: str | None = None,
        max_connections: int = 32,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        addressing_style: str = "auto",
        ca_bundle: str | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self.credentials = credentials
        self.region = region
        self.retry = retry or RetryPolicy()
        self.clock = SigningClock()
        if endpoint_url:
            parts = urlsplit(endpoint_url)
            self.scheme = parts.scheme or "https"
            self.host = parts.netloc
            self.base_path = parts.path.rstrip("/")
            self.virtual = addressing_style == "virtual"
        else:
            self.scheme = "https"
            self.host = f"s3.{region}.amazonaws.com"
            self.base_path = ""
            self.virtual = addressing_style != "path"
        self.transport = Transport(
            endpoint_url=f"{self.scheme}://{self.host}",
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            ca_bundle=ca_bundle,
            proxies=proxies,
        )
        self._requests = 0
        self._retries = RetryCounts()
        self._count_lock = threading.Lock()
        self._keys = SigningKeys()

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def retries(self) -> Mapping[str, int]:
        return self._retries.snapshot()

    def close(self) -> None:
        self.transport.close()

    # -- addressing ------------------------------------------------------------------

    def _where(self, bucket: str, key: str | None) -> tuple[str, str]:
        """(host, path) for a bucket and key, path already URI-encoded."""
        encoded_key = uri_encode(key, keep_slash=True) if key is not None else ""
        if self.virtual and _DNS_BUCKET.match(bucket) and "." not in bucket:
            return f"{bucket}.{self.host}", f"{self.base_path}/{encoded_key}"
        path = f"{self.base_path}/{uri_encode(bucket, keep_slash=False)}"
        if key is not None:
            path += "/" + encoded_key
        return self.host, path

    # -- one request -----------------------------------------------------------------

    def _call(
        self,
        method: str,
        bucket: str,
        key: str | None,
        *,
        parse: Callable[[int, Mapping[str, str], bytes], T],
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        access: Access = NO_ACCESS,
        body: bytes | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> T:
        """Send a signed request and ``parse`` the answer, retrying what is retryable.

        ``parse`` runs on statuses in ``ok`` (lower-case headers); an ``S3Error`` it
        raises (an embedded error, a malformed answer) is retried like any other.
        """
        host, path = self._where(bucket, key)
        query, signed_query = query_strings(params) if params else ("", "")
        target = f"{path}?{query}" if query else path
        # "Host" as urllib3 spells it, so that a forwarding proxy manager replaces rather
        # than repeats it
        send = {"Host": host}
        if headers:
            send.update(headers)
        if access.request_payer:
            send["x-amz-request-payer"] = "requester"
        if access.expected_owner:
            send["x-amz-expected-bucket-owner"] = access.expected_owner
        for name, value in send.items():
            check_header_value(name, value)

        def attempt() -> T:
            status, answer, data = self._send_signed(
                method,
                host=host,
                target=target,
                canonical_query=signed_query,
                headers=send,
                body=body,
            )
            if status in ok:
                try:
                    return parse(status, answer, data)
                except (ET.ParseError, ValueError, KeyError) as exc:
                    # A cut-short or garbled answer: the outcome is unknown, try again
                    # (botocore does the same: a 200 it cannot parse counts as a 500).
                    raise S3Error("MalformedResponse", f"{type(exc).__name__}: {exc}", 500) from exc
            error = parse_error(data, status)
            if error.code == "RequestTimeTooSkewed" or (status == 403 and not data):
                # Resign with the server's clock, at once; with the same clock, never.
                explicit = error.code == "RequestTimeTooSkewed"
                tolerance = 1.0 if explicit else SigningClock.SILENT_SKEW_SECONDS
                if self.clock.correct(answer.get("date"), time.time(), tolerance=tolerance):
                    raise S3Error(
                        error.code, error.message, status, retry_at_once=True, retryable=True
                    )
                if explicit:
                    raise S3Error(error.code, error.message, status, retryable=False)
            raise error

        return call_with_retries(self.retry, attempt, self._retries)

    def _send_signed(
        self,
        method: str,
        *,
        host: str,
        target: str,
        canonical_query: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        creds = self.credentials.get_frozen_credentials()
        request = _Request(method, target, dict(headers), body or b"", canonical_query)
        timestamp = self.clock.timestamp()
        _SignerAt(creds, self.region, timestamp, self._keys).add_auth(request)
        wire: dict[str, str | bytes] = {
            name: value if value.isascii() else value.encode("utf-8")
            for name, value in request.headers.items()
        }
        with self._count_lock:
            self._requests += 1
        try:
            response = self.transport.send(
                method, scheme=self.scheme, host=host, target=target, headers=wire, body=body
            )
        except urllib3.exceptions.HTTPError as exc:
            raise S3Error("ConnectionError", f"{type(exc).__name__}: {exc}", 0) from exc
        answer = {name.lower(): value for name, value in response.headers.items()}
        return response.status, answer, response.data or b""

    # -- operations ------------------------------------------------------------------

    def head_object(
        self,
        obj: ObjectRef,
        *,
        part_number: int | None = None,
        if_match: str | None = None,
        access: Access = NO_ACCESS,
    ) -> HeadResult | None:
        params = {}
        if obj.version_id:
            params["versionId"] = obj.version_id
        if part_number:
            params["partNumber"] = str(part_number)
        headers = {"x-amz-checksum-mode": "ENABLED"}
        if if_match:
            headers["if-match"] = if_match

        def parse(status: int, headers: Mapping[str, str], _body: bytes) -> HeadResult | None:
            return None if status == 404 else head_result(headers)

        return self._call(
            "HEAD",
            obj.bucket,
            obj.key,
            params=params,
            headers=headers,
            access=access,
            parse=parse,
            ok=(200, 206, 404),
        )

    def get_object(self, obj: ObjectRef, *, access: Access = NO_ACCESS) -> bytes | None:
        params = {"versionId": obj.version_id} if obj.version_id else None

        def parse(status: int, _headers: Mapping[str, str], body: bytes) -> bytes | None:
            # A 404 answers NoSuchKey; a 200's body is the object, never an error.
            return None if status == 404 else body

        return self._call(
            "GET", obj.bucket, obj.key, params=params, access=access, parse=parse, ok=(200, 404)
        )

    def list_objects(
        self,
        bucket: str,
        prefix: str,
        *,
        start_after: str | None = None,
        access: Access = NO_ACCESS,
    ) -> Iterator[ListEntry]:
        """ListObjectsV2 (keys URL-encoded on the wire), page by page."""
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": prefix, "encoding-type": "url"}
            if token:
                params["continuation-token"] = token
            elif start_after:
                params["start-after"] = start_after
            entries, token = self._call(
                "GET", bucket, None, params=params, access=access, parse=_parse_list
            )
            yield from entries
            if not token:
                return

    def list_objects_page(
        self,
        bucket: str,
        prefix: str,
        *,
        start_after: str | None = None,
        max_keys: int = 1000,
        access: Access = NO_ACCESS,
    ) -> ListPage:
        params = {
            "list-type": "2",
            "prefix": prefix,
            "encoding-type": "url",
            "max-keys": str(max_keys),
        }
        if start_after:
            params["start-after"] = start_after
        entries, token = self._call(
            "GET", bucket, None, params=params, access=access, parse=_parse_list
        )
        return ListPage(entries, truncated=token is not None)

    def copy_object(
        self,
        source: ObjectRef,
        destination: ObjectRef,
        *,
        if_match: str | None = None,
        metadata_directive: Directive = "COPY",
        content: Mapping[str, str] | None = None,
        tagging_directive: Directive = "COPY",
        settings: WriteSettings = _DEFAULT_WRITE,
        access: Access = NO_ACCESS,
    ) -> CopyResult:
        # COPY is both directives' default ("CopyObject": "If this header isn't specified,
        # COPY is the default behavior"; "The default value is COPY"): sent only when it
        # is REPLACE, two headers fewer to sign, send and check on the hot path.
        headers = {"x-amz-copy-source": copy_source(source)}
        if metadata_directive != "COPY":
            headers["x-amz-metadata-directive"] = metadata_directive
        if tagging_directive != "COPY":
            headers["x-amz-tagging-directive"] = tagging_directive
        if if_match:
            headers["x-amz-copy-source-if-match"] = if_match
        if metadata_directive == "REPLACE" and content:
            headers.update({CONTENT_HEADERS[api]: value for api, value in content.items()})
        headers.update(_write_headers(settings))

        def parse(_status: int, answer: Mapping[str, str], body: bytes) -> CopyResult:
            root = _xml(body)
            _embedded_error(root)
            fields = _fields(root)
            return CopyResult(
                etag=fields.get("ETag", ""),
                checksums=_field_checksums(fields),
                checksum_type=fields.get("ChecksumType"),
                version_id=answer.get("x-amz-version-id"),
                sse=answer.get("x-amz-server-side-encryption"),
                source_version_id=answer.get("x-amz-copy-source-version-id"),
            )

        return self._call(
            "PUT", destination.bucket, destination.key, headers=headers, access=access, parse=parse
        )

    def get_object_tagging(
        self, obj: ObjectRef, *, access: Access = NO_ACCESS
    ) -> list[tuple[str, str]]:
        params = {"tagging": ""}
        if obj.version_id:
            params["versionId"] = obj.version_id

        def parse(_status: int, _headers: Mapping[str, str], body: bytes) -> list[tuple[str, str]]:
            root = _xml(body)
            tags = []
            for tag_set in _children(root, "TagSet"):
                for tag in _children(tag_set, "Tag"):
                    tags.append((_text(tag, "Key") or "", _text(tag, "Value") or ""))
            return tags

        return self._call("GET", obj.bucket, obj.key, params=params, access=access, parse=parse)

    def get_object_parts(self, obj: ObjectRef, *, access: Access = NO_ACCESS) -> ObjectParts:
        sizes: list[int] = []
        marker = 0
        while True:
            params = {"attributes": ""}
            if obj.version_id:
                params["versionId"] = obj.version_id
            headers = {
                "x-amz-object-attributes": "ETag,ObjectParts",
                "x-amz-max-parts": "1000",
                "x-amz-part-number-marker": str(marker),
            }
            etag, page, marker = self._call(
                "GET",
                obj.bucket,
                obj.key,
                params=params,
                headers=headers,
                access=access,
                parse=_parse_attribute_parts,
            )
            sizes.extend(page)
            if not marker or not page:
                return ObjectParts(etag, sizes)

    def create_multipart_upload(
        self,
        destination: ObjectRef,
        *,
        content: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Sequence[tuple[str, str]] = (),
        settings: WriteSettings = _DEFAULT_WRITE,
        checksum_type: str | None = None,
        access: Access = NO_ACCESS,
    ) -> str:
        headers = {CONTENT_HEADERS[api]: value for api, value in (content or {}).items()}
        headers.update({f"x-amz-meta-{name}": value for name, value in (metadata or {}).items()})
        if tags:
            headers["x-amz-tagging"] = urlencode(list(tags))
        headers.update(_write_headers(settings))
        if checksum_type:
            headers["x-amz-checksum-type"] = checksum_type

        def parse(_status: int, _headers: Mapping[str, str], body: bytes) -> str:
            upload_id = _text(_xml(body), "UploadId")
            if not upload_id:
                raise ValueError("CreateMultipartUpload answered no UploadId")
            return upload_id

        return self._call(
            "POST",
            destination.bucket,
            destination.key,
            params={"uploads": ""},
            headers=headers,
            access=access,
            parse=parse,
        )

    def upload_part_copy(
        self,
        source: ObjectRef,
        destination: ObjectRef,
        *,
        upload_id: str,
        part_number: int,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
        access: Access = NO_ACCESS,
    ) -> PartResult:
        headers = {"x-amz-copy-source": copy_source(source)}
        if byte_range is not None:
            headers["x-amz-copy-source-range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        if if_match:
            headers["x-amz-copy-source-if-match"] = if_match

        def parse(_status: int, _headers: Mapping[str, str], body: bytes) -> PartResult:
            root = _xml(body)
            _embedded_error(root)
            fields = _fields(root)
            etag = fields.get("ETag")
            if not etag:
                raise ValueError("UploadPartCopy answered no ETag")
            return PartResult(
                part_number=part_number, etag=etag, checksums=_field_checksums(fields)
            )

        return self._call(
            "PUT",
            destination.bucket,
            destination.key,
            params={"partNumber": str(part_number), "uploadId": upload_id},
            headers=headers,
            access=access,
            parse=parse,
        )

    def list_parts(
        self, destination: ObjectRef, *, upload_id: str, access: Access = NO_ACCESS
    ) -> list[PartResult]:
        parts: list[PartResult] = []
        marker = 0
        while True:
            params = {"uploadId": upload_id}
            if marker:
                params["part-number-marker"] = str(marker)
            page, marker = self._call(
                "GET",
                destination.bucket,
                destination.key,
                params=params,
                access=access,
                parse=_parse_list_parts,
            )
            parts.extend(page)
            if not marker or not page:
                return parts

    def complete_multipart_upload(
        self,
        destination: ObjectRef,
        *,
        upload_id: str,
        parts: Sequence[PartResult],
        access: Access = NO_ACCESS,
    ) -> str:
        body = _complete_body(parts)

        def parse(_status: int, _headers: Mapping[str, str], answer: bytes) -> str:
            root = _xml(answer)
            _embedded_error(root)
            return _text(root, "ETag") or ""

        return self._call(
            "POST",
            destination.bucket,
            destination.key,
            params={"uploadId": upload_id},
            headers={"content-type": "application/xml"},
            access=access,
            body=body,
            parse=parse,
        )

    def abort_multipart_upload(
        self, destination: ObjectRef, *, upload_id: str, access: Access = NO_ACCESS
    ) -> None:
        def parse(_status: int, _headers: Mapping[str, str], _body: bytes) -> None:
            return None

        self._call(
            "DELETE",
            destination.bucket,
            destination.key,
            params={"uploadId": upload_id},
            access=access,
            parse=parse,
            ok=(200, 204),
        )

    def list_multipart_uploads(
        self, bucket: str, prefix: str, *, access: Access = NO_ACCESS
    ) -> list[Upload]:
        uploads: list[Upload] = []
        key_marker = upload_marker = ""
        while True:
            params = {"uploads": "", "prefix": prefix, "encoding-type": "url"}
            if key_marker:
                params["key-marker"] = key_marker
                if upload_marker:
                    params["upload-id-marker"] = upload_marker
            page, key_marker, upload_marker = self._call(
                "GET", bucket, None, params=params, access=access, parse=_parse_uploads
            )
            uploads.extend(page)
            if not key_marker or not page:
                return uploads


# -- answers -------------------------------------------------------------------------


def _write_headers(settings: WriteSettings) -> dict[str, str]:
    headers = {}
    if settings.storage_class:
        headers["x-amz-storage-class"] = settings.storage_class
    if settings.sse_kms_key_id:
        headers["x-amz-server-side-encryption"] = "aws:kms"
        headers["x-amz-server-side-encryption-aws-kms-key-id"] = settings.sse_kms_key_id
    if settings.checksum_algorithm:
        headers["x-amz-checksum-algorithm"] = settings.checksum_algorithm
    return headers


def _parse_list(
    _status: int, _headers: Mapping[str, str], body: bytes
) -> tuple[list[ListEntry], str | None]:
    root = _xml(body)
    entries = []
    for node in _children(root, "Contents"):
        algorithms = tuple(a.text for a in _children(node, "ChecksumAlgorithm") if a.text)
        entries.append(
            ListEntry(
                key=unquote_plus(_text(node, "Key") or ""),
                size=int(_text(node, "Size") or 0),
                etag=_text(node, "ETag") or "",
                checksum_algorithms=algorithms,
                checksum_type=_text(node, "ChecksumType"),
            )
        )
    truncated = (_text(root, "IsTruncated") or "false").lower() == "true"
    return entries, (_text(root, "NextContinuationToken") if truncated else None)


def _parse_attribute_parts(
    _status: int, _headers: Mapping[str, str], body: bytes
) -> tuple[str, list[int], int]:
    """(the object's ETag, part sizes of this page, the next marker or 0)."""
    parts_node = ET.Element("none")
    root = _xml(body)
    found = _children(root, "ObjectParts")
    if found:
        parts_node = found[0]
    sizes = [int(_text(part, "Size") or 0) for part in _children(parts_node, "Part")]
    truncated = (_text(parts_node, "IsTruncated") or "false").lower() == "true"
    marker = int(_text(parts_node, "NextPartNumberMarker") or 0) if truncated else 0
    return _text(root, "ETag") or "", sizes, marker


def _parse_uploads(
    _status: int, _headers: Mapping[str, str], body: bytes
) -> tuple[list[Upload], str, str]:
    """(uploads of this page, the next key marker and upload id marker, or "")."""
    root = _xml(body)
    # Keys are URL-encoded only when the answer says so (S3 does as asked; an emulator
    # may not).
    encoded = (_text(root, "EncodingType") or "").lower() == "url"
    uploads = []
    for node in _children(root, "Upload"):
        key = _text(node, "Key") or ""
        uploads.append(Upload(unquote_plus(key) if encoded else key, _text(node, "UploadId") or ""))
    if (_text(root, "IsTruncated") or "false").lower() != "true":
        return uploads, "", ""
    key_marker = _text(root, "NextKeyMarker") or ""
    return (
        uploads,
        unquote_plus(key_marker) if encoded else key_marker,
        _text(root, "NextUploadIdMarker") or "",
    )


def _parse_list_parts(
    _status: int, _headers: Mapping[str, str], body: bytes
) -> tuple[list[PartResult], int]:
    root = _xml(body)
    parts = [
        PartResult(
            part_number=int(_text(node, "PartNumber") or 0),
            etag=_text(node, "ETag") or "",
            checksums=_checksums(node),
            size=int(_text(node, "Size") or 0),
        )
        for node in _children(root, "Part")
    ]
    truncated = (_text(root, "IsTruncated") or "false").lower() == "true"
    return parts, int(_text(root, "NextPartNumberMarker") or 0) if truncated else 0


def _complete_body(parts: Sequence[PartResult]) -> bytes:
    """The CompleteMultipartUpload document: each part's number, ETag and checksums."""
    out = ['<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
    for part in parts:
        out.append(f"<Part><PartNumber>{part.part_number}</PartNumber>")
        out.append(f"<ETag>{escape(part.etag)}</ETag>")
        for algorithm, value in sorted(part.checksums.items()):
            out.append(f"<Checksum{algorithm}>{escape(value)}</Checksum{algorithm}>")
        out.append("</Part>")
    out.append("</CompleteMultipartUpload>")
    return "".join(out).encode()

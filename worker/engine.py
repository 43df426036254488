"""The copy engine: server-side copies of a list of ``CopyItem``, verified, interruptible.

``CopyEngine(options).copy(items)`` returns one ``ObjectResult`` per object it started;
it never raises for one object's failure. This module only orchestrates; each step of an
object's copy has its own module:

=====================  ===============================================================
``control.py``         when to stop starting objects, when to abort what is in flight
``skip.py``            skip checks: is the destination already what the copy would make?
``single_copy.py``     one CopyObject (objects up to the multipart threshold)
``multipart_copy.py``  UploadPartCopy in parallel, mirroring the source's parts
``verify.py``          after the copy: size, checksums, ETag, the manifest's checksum
``evidence.py``        pure ETag, checksum and part arithmetic
``s3client.py``        the S3 interface; ``s3http.py`` and ``s3boto.py`` implement it
=====================  ===============================================================

Per object: source facts (from the plan, else HeadObject), the manifest's expected size,
the skip check (unless ``overwrite=always``), then a single or multipart copy, verified.
Throttling, 5xx and dropped connections are retried inside the client with full-jitter
backoff, bounded (``RetryPolicy``).

Where it beats the usual path: one client with one connection pool per host sized to
``concurrency x part_concurrency``, shared by every thread; no request that is not needed
(no HeadObject of the source when the plan carries its size and ETag, as s3transfer's
managed copy always sends one; no HeadObject of the destination when a listing answered;
no HeadObject after a CopyObject whose answered ETag already equals the source's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import botocore.session

from steps_s3_copy.models import (
    MAX_OBJECT_BYTES,
    CopyItem,
    CopyOptions,
    ObjectResult,
    OverwritePolicy,
    Status,
)
from steps_s3_copy.worker.context import (
    CopyContext,
    Evidence,
    Outcome,
    Source,
    SourceChangedError,
    failed,
)
from steps_s3_copy.worker.control import (
    DEFAULT_GRACE_SECONDS,
    Control,
    CopyInterruptedError,
    unbounded,
)
from steps_s3_copy.worker.errors import CredentialsMissingError
from steps_s3_copy.worker.evidence import norm_etag, parts_in_etag
from steps_s3_copy.worker.multipart_copy import copy_multipart
from steps_s3_copy.worker.s3client import (
    InvalidHeaderValueError,
    RetryPolicy,
    S3Client,
    S3Error,
)
from steps_s3_copy.worker.s3http import LeanS3Client
from steps_s3_copy.worker.single_copy import copy_single
from steps_s3_copy.worker.skip import UNKNOWN, Listed, list_destinations, skip_check

if TYPE_CHECKING:
    import boto3

__all__ = ["DEFAULT_GRACE_SECONDS", "CopyEngine", "lean_client"]

# The service's logger. ``steps_s3_copy.observability`` (imported by the container and the
# Lambda handlers) gives it Powertools' JSON handler, so records and their ``extra`` keys
# come out as the same JSON lines; the engine does not import it itself because that
# module loads the X-Ray SDK (~0.1 s of CPU at start-up) for its Tracer.
logger = logging.getLogger("steps-s3-copy")


def pool_size(options: CopyOptions) -> int:
    """Connections per host: every object thread may run a multipart copy's parts."""
    return min(512, options.concurrency * options.part_concurrency + 8)


def lean_client(
    options: CopyOptions,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    retry: RetryPolicy | None = None,
    addressing_style: str = "auto",
) -> LeanS3Client:
    """The product's client, configured from a boto3 session (or botocore's defaults).

    Credentials, region and CA bundle come from the session; without ``endpoint_url``
    the endpoint is the one botocore resolves for S3 (``AWS_ENDPOINT_URL_S3``, the
    config file's ``services`` section, FIPS/dual-stack settings), virtual-hosted on
    AWS. Raises ``CredentialsMissingError`` when botocore finds no credentials.
    """
    # A plain botocore session unless one is given: importing boto3 (and, through
    # s3transfer, awscrt) costs ~0.13 s of CPU at start-up that nothing here needs.
    # boto3 keeps its botocore session as ``_session`` (s3transfer reads it the same way).
    core = session._session if session is not None else botocore.session.Session()
    credentials = core.get_credentials()
    if credentials is None:
        raise CredentialsMissingError("no AWS credentials found by botocore's provider chain")
    region = (session.region_name if session is not None else None) or core.get_config_variable(
        "region"
    )
    region = region or "us-east-1"
    style = addressing_style
    if endpoint_url is None:
        # Follow botocore's own endpoint resolution. Costs a botocore client's creation
        # (~60 ms of CPU), on AWS only: with an endpoint given nothing loads the model.
        endpoint_url = core.create_client("s3", region_name=region).meta.endpoint_url
        if addressing_style == "auto" and (urlsplit(endpoint_url).hostname or "").endswith(
            ".amazonaws.com"
        ):
            style = "virtual"
    return LeanS3Client(
        credentials=credentials,
        region=region,
        endpoint_url=endpoint_url,
        max_connections=pool_size(options),
        retry=retry,
        addressing_style=style,
        ca_bundle=core.get_config_variable("ca_bundle"),
    )


class CopyEngine:
    """Copies lists of ``CopyItem`` server-side with one set of ``CopyOptions``.

    One engine holds one ``S3Client`` (by default the lean client, see ``lean_client``;
    any ``S3Client`` may be given) and can run ``copy`` many times.
    """

    def __init__(
        self,
        options: CopyOptions,
        *,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
        retry: RetryPolicy | None = None,
        addressing_style: str = "auto",
        client: S3Client | None = None,
    ) -> None:
        self.options = options
        self.s3: S3Client = client or lean_client(
            options,
            session=session,
            endpoint_url=endpoint_url,
            retry=retry,
            addressing_style=addressing_style,
        )
        self.context = CopyContext(self.s3, options)

    # -- the batch -----------------------------------------------------------------------

    def copy(
        self,
        items: Sequence[CopyItem],
        *,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        grace: float = DEFAULT_GRACE_SECONDS,
        on_result: Callable[[ObjectResult], None] | None = None,
    ) -> list[ObjectResult]:
        """Copy ``items``; return the results of the objects started, in input order.

        ``stop`` (set on SIGTERM) and ``deadline`` (a ``time.monotonic()`` value) stop new
        objects from starting; multipart copies still running ``grace`` seconds after
        ``stop`` was seen are aborted and reported FAILED with code ``Interrupted``.
        """
        control = Control(stop, deadline, grace)
        listed: Listed = {}
        if self.options.overwrite is not OverwritePolicy.ALWAYS and control.may_start():
            listed = list_destinations(self.context, items, self.options.concurrency)
        results: dict[int, ObjectResult] = {}
        pending = enumerate(items)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not control.may_start():
                        return
                    nxt = next(pending, None)
                if nxt is None:
                    return
                index, item = nxt
                key = (item.destination_bucket, item.destination_key)
                result = self.copy_one(item, listed.get(key, UNKNOWN), control)
                results[index] = result
                if on_result is not None:
                    on_result(result)

        width = min(self.options.concurrency, len(items))
        threads = [
            threading.Thread(target=work, name=f"copy-{n}", daemon=True) for n in range(width)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [results[i] for i in sorted(results)]

    # -- one object ----------------------------------------------------------------------

    def copy_one(
        self, item: CopyItem, listed: Any = UNKNOWN, control: Control | None = None
    ) -> ObjectResult:
        """Copy one object; never raises for its failure.

        ``listed`` is the destination as a listing saw it: a ``ListEntry``, None for
        "absent", or (the default) unknown, in which case it is asked with HeadObject.
        """
        started = time.perf_counter()
        source_uri = _uri(item.source_bucket, item.source_key, item.source_version_id)
        dest_uri = _uri(item.destination_bucket, item.destination_key)
        try:
            outcome = self._copy_one(item, listed, control or unbounded())
            return _result(outcome, source_uri, dest_uri, time.perf_counter() - started)
        except CopyInterruptedError:
            code, message = "Interrupted", "stopped by SIGTERM; multipart upload aborted"
        except SourceChangedError as exc:
            code, message = exc.code, str(exc)
        except S3Error as exc:
            code, message = exc.code, exc.message
        except InvalidHeaderValueError as exc:
            code, message = exc.code, str(exc)
        except Exception as exc:
            logger.exception("unexpected error copying an object", extra={"source": source_uri})
            code, message = "UnexpectedError", f"{type(exc).__name__}: {exc}"
        if code in ("404", "NotFound"):
            code = "NoSuchKey"
        logger.warning(
            "object failed",
            extra={"source": source_uri, "destination": dest_uri, "error": code, "why": message},
        )
        return ObjectResult(
            source=source_uri,
            destination=dest_uri,
            status=Status.FAILED,
            bytes=item.size or 0,
            seconds=round(time.perf_counter() - started, 6),
            error_code=code,
            error_message=message,
            finished_at=round(time.time(), 3),
        )

    def _copy_one(self, item: CopyItem, listed: object, control: Control) -> Outcome:
        ctx = self.context
        source = self._source(item)
        if item.expected_size is not None and source.size != item.expected_size:
            return failed(
                source.size,
                "ExpectedSizeMismatch",
                f"source has {source.size} bytes, the manifest expects {item.expected_size}",
            )
        if self.options.overwrite is not OverwritePolicy.ALWAYS:
            skipped = skip_check(ctx, item, source, listed)
            if skipped:
                return skipped
        if source.size > MAX_OBJECT_BYTES:
            return failed(source.size, "ObjectTooLarge", "S3 objects are at most 5 TiB")
        if self._multipart(source):
            return copy_multipart(ctx, item, source, control)
        return copy_single(ctx, item, source)

    def _source(self, item: CopyItem) -> Source:
        """The source as planned (size and ETag), else as its first HeadObject finds it:
        that ETag is then the contract for every later read (``context.py``)."""
        if item.size is not None and item.etag:
            return Source(item.size, item.etag, item.source_version_id)
        source = self.context.head_source(item)
        if (item.size is not None and source.size != item.size) or (
            item.etag and norm_etag(item.etag) != norm_etag(source.etag)
        ):
            raise SourceChangedError(
                f"the source changed since it was planned: {source.size} bytes, ETag "
                f'"{norm_etag(source.etag)}" (planned {item.size} bytes)'
            )
        return source

    def _multipart(self, source: Source) -> bool:
        """Larger than the threshold, or a multipart source (its part layout is kept)."""
        return source.size > self.options.multipart_threshold or bool(parts_in_etag(source.etag))


def _uri(bucket: str, key: str, version_id: str | None = None) -> str:
    return f"s3://{bucket}/{key}" + (f"?versionId={version_id}" if version_id else "")


def _result(outcome: Outcome, source: str, destination: str, seconds: float) -> ObjectResult:
    src = outcome.source or Evidence()
    dest = outcome.destination or Evidence()
    # Built from the engine's own typed values: pydantic's validation of ~20 fields would
    # cost more CPU than the rest of a skipped object's handling.
    return ObjectResult.model_construct(
        source=source,
        destination=destination,
        status=outcome.status,
        bytes=outcome.bytes,
        method=outcome.method,
        checksum=outcome.checksum,
        seconds=round(seconds, 6),
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        finished_at=round(time.time(), 3),
        source_version_id=src.version_id,
        source_size=src.size,
        source_etag=src.etag,
        source_checksum=src.checksum,
        destination_version_id=dest.version_id,
        destination_size=dest.size,
        destination_etag=dest.etag,
        destination_checksum=dest.checksum,
    )

"""The copy engine: server-side copies of a list of ``CopyItem``, verified, interruptible.

``CopyEngine(options).copy(items)`` returns one ``ObjectResult`` per object it started.
It never raises for one object's failure. Per object:

1. **Skip check** (unless ``overwrite=always``): the destination's size and ETag come from
   one ListObjectsV2 per 1,000 keys of a destination "folder" when a batch has several
   keys there, else from a HeadObject. Same size and (equal ETag, or an equal checksum of
   the same algorithm and type) means SKIPPED. ``overwrite=never`` skips whatever exists.
2. **Copy**: a single-part source up to ``multipart_threshold`` is one CopyObject
   (``MetadataDirective``/``TaggingDirective`` COPY, ``x-amz-copy-source-if-match`` the
   known ETag, so what is copied is exactly what was planned). Larger objects and every
   multipart source go through CreateMultipartUpload (content headers, metadata, tags,
   storage class, SSE-KMS and checksum algorithm/type carried explicitly), UploadPartCopy
   in parallel (``part_concurrency``) mirroring the source's own part boundaries so ETags
   and composite checksums stay equal, and CompleteMultipartUpload. Any failure or an
   interruption past the grace period aborts the upload: no incomplete upload is left.
3. **Verify**: equal ETag (when comparable), else size plus an equal checksum of the same
   algorithm and type; a manifest's expected checksum is checked against the destination.
4. **Retries**: throttling, 5xx and dropped connections are retried with full-jitter
   backoff, bounded (``RetryPolicy`` on the hot path, botocore's "standard" mode for the
   rest).

Where it beats the usual path:

- One ``FastS3`` (``s3http.py``) and one botocore client, each with one connection pool
  sized to ``concurrency x part_concurrency``, shared by every thread.
- No per-object request that is not needed: no HeadObject of the source when the plan
  carries its size and ETag (s3transfer's managed copy always sends one), no HeadObject of
  the destination when a listing answered, no HeadObject after a CopyObject whose
  answered ETag already equals the source's.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from steps_s3_copy.models import (
    MAX_OBJECT_BYTES,
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    CopyItem,
    CopyOptions,
    ObjectResult,
    OverwritePolicy,
    Status,
)
from steps_s3_copy.worker.errors import CredentialsMissingError
from steps_s3_copy.worker.s3http import FastS3, HeadResult, ListEntry, RetryPolicy, S3Error

if TYPE_CHECKING:
    import boto3

# The service's logger. ``steps_s3_copy.observability`` (imported by the container and the
# Lambda handlers) gives it Powertools' JSON handler, so records and their ``extra`` keys
# come out as the same JSON lines; the engine does not import it itself because that
# module loads the X-Ray SDK (~0.1 s of CPU at start-up) for its Tracer.
logger = logging.getLogger("steps-s3-copy")

#: Grace period after a stop request before in-flight multipart copies are aborted.
DEFAULT_GRACE_SECONDS = 100.0
#: A destination folder with at least this many keys in a batch is listed, not HEAD-ed.
LIST_MIN_KEYS = 2
#: In-flight multipart copies are aborted this long after a ``deadline`` (the Lambda lane
#: passes its remaining time minus a margin; a function killed at its timeout could not
#: abort anything).
DEADLINE_OVERRUN_SECONDS = 5.0

#: "not looked up": the destination's state must be asked with HeadObject
_UNKNOWN: Any = object()


class CopyInterruptedError(Exception):
    """Raised inside a multipart copy when the grace period after a stop has passed."""


@dataclass(frozen=True)
class Source:
    """What is known about a source object before copying it."""

    size: int
    etag: str
    version_id: str | None
    head: HeadResult | None = None


class Control:
    """When to stop starting objects, and when to abort what is in flight."""

    def __init__(self, stop: threading.Event | None, deadline: float | None, grace: float) -> None:
        self.stop = stop
        self.deadline = deadline
        self.grace = grace
        self._stop_seen: float | None = None
        self.stopped_early = False

    def may_start(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self._note_stop()
            self.stopped_early = True
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped_early = True
            return False
        return True

    def _note_stop(self) -> float:
        if self._stop_seen is None:
            self._stop_seen = time.monotonic()
        return self._stop_seen

    def must_abort(self) -> bool:
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline + DEADLINE_OVERRUN_SECONDS:
            return True
        if self.stop is None or not self.stop.is_set():
            return False
        return now >= self._note_stop() + self.grace


def norm_etag(etag: str | None) -> str:
    return (etag or "").strip().strip('"')


def parts_in_etag(etag: str) -> int | None:
    """The part count of a multipart ETag (``"<hex>-N"``), else None."""
    value = norm_etag(etag)
    if "-" in value:
        tail = value.rsplit("-", 1)[1]
        if tail.isdigit():
            return int(tail)
    return None


def plan_parts(size: int, part_size: int) -> list[int]:
    """Part sizes for a single-part source: ``part_size``, raised so parts fit in 10,000."""
    part = max(part_size, MIN_PART_BYTES)
    while (size + part - 1) // part > MAX_PARTS:
        part *= 2
    part = min(part, MAX_PART_BYTES)
    if size == 0:
        return [0]
    full, rest = divmod(size, part)
    return [part] * full + ([rest] if rest else [])


def checksum_evidence(
    a: dict[str, str], a_type: str | None, b: dict[str, str], b_type: str | None
) -> tuple[bool | None, str | None]:
    """Compare checksums of the same algorithm and type.

    Returns (True, evidence) when one matches, (False, detail) when one differs and
    (None, None) when nothing is comparable. A difference counts only when both types are
    declared (S3 declares them; some emulators do not, and a composite checksum never
    equals a full-object one).
    """
    if a_type and b_type and a_type != b_type:
        return None, None
    for algorithm in sorted(set(a) & set(b)):
        if a[algorithm] == b[algorithm]:
            return True, f"{algorithm}:{b[algorithm]}"
        if a_type and b_type:
            return False, f"{algorithm} {a[algorithm]} != {b[algorithm]}"
    return None, None


def _uri(bucket: str, key: str, version_id: str | None = None) -> str:
    return f"s3://{bucket}/{key}" + (f"?versionId={version_id}" if version_id else "")


class CopyEngine:
    """Copies lists of ``CopyItem`` server-side with one set of ``CopyOptions``.

    One engine holds one hot-path client and one botocore client (connection pools sized
    to the concurrency) and can run ``copy`` many times.
    """

    def __init__(
        self,
        options: CopyOptions,
        *,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
        retry: RetryPolicy | None = None,
        addressing_style: str = "auto",
    ) -> None:
        self.options = options
        # A plain botocore session unless one is given: importing boto3 (and, through
        # s3transfer, awscrt) costs ~0.13 s of CPU at start-up that nothing here needs.
        # boto3 keeps its botocore session as ``_session`` (s3transfer reads it the same way).
        core = session._session if session is not None else botocore.session.Session()
        credentials = core.get_credentials()
        if credentials is None:
            raise CredentialsMissingError("no AWS credentials found by botocore's provider chain")
        self.region = core.get_config_variable("region") or "us-east-1"
        if session is not None and session.region_name:
            self.region = session.region_name
        self.retry = retry or RetryPolicy()
        self._pool_size = min(512, options.concurrency * options.part_concurrency + 8)
        self._core = core
        self._endpoint_url = endpoint_url
        self._addressing_style = addressing_style
        self._client: Any = None
        self._client_lock = threading.Lock()
        fast_endpoint, fast_style = endpoint_url, addressing_style
        if endpoint_url is None:
            # Follow botocore's own endpoint resolution (AWS_ENDPOINT_URL_S3, the config
            # file's services section, FIPS/dual-stack settings): both clients must talk
            # to the same place. Costs the botocore client's creation (~60 ms) up front.
            fast_endpoint = self.client.meta.endpoint_url
            if addressing_style == "auto" and (urlsplit(fast_endpoint).hostname or "").endswith(
                ".amazonaws.com"
            ):
                fast_style = "virtual"
        self.fast = FastS3(
            credentials=credentials,
            region=self.region,
            endpoint_url=fast_endpoint,
            max_connections=self._pool_size,
            retry=self.retry,
            addressing_style=fast_style,
            ca_bundle=core.get_config_variable("ca_bundle"),
        )
        self._source_headers: dict[str, str] = {}
        self._dest_headers: dict[str, str] = {}
        self._source_args: dict[str, str] = {}
        self._dest_args: dict[str, str] = {}
        if options.requester_pays:
            self._source_headers["x-amz-request-payer"] = "requester"
            self._source_args["RequestPayer"] = "requester"
        if options.destination_account:
            self._dest_headers["x-amz-expected-bucket-owner"] = options.destination_account
            self._dest_args["ExpectedBucketOwner"] = options.destination_account

    @property
    def client(self) -> Any:
        """The botocore client for everything off the hot path, created on first use.

        A batch of small objects with planned sizes and ETags never needs it, and
        creating it (loading the S3 service model) costs ~60 ms of CPU.
        """
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._core.create_client(
                        "s3",
                        endpoint_url=self._endpoint_url,
                        region_name=self.region,
                        config=Config(
                            max_pool_connections=self._pool_size,
                            retries={"mode": "standard", "max_attempts": self.retry.max_attempts},
                            connect_timeout=10,
                            read_timeout=300,
                            tcp_keepalive=True,
                            s3={"addressing_style": self._addressing_style},
                        ),
                    )
        return self._client

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
        listed: dict[tuple[str, str], ListEntry | None] = {}
        if self.options.overwrite is not OverwritePolicy.ALWAYS and control.may_start():
            listed = self._list_destinations(items)
        return self._copy_all(items, listed, control, on_result)

    def copy_prefix(
        self,
        source_bucket: str,
        source_prefix: str,
        destination_bucket: str,
        destination_prefix: str,
        *,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        grace: float = DEFAULT_GRACE_SECONDS,
        on_result: Callable[[ObjectResult], None] | None = None,
    ) -> list[ObjectResult]:
        """Copy every object under a source prefix to a destination prefix (a "sync").

        The source and destination listings run at the same time, and copying starts
        with the first page of the source listing; the destination listing answers every
        skip check, so the only other requests are the copies.
        """
        destination: dict[tuple[str, str], ListEntry | None] = {}
        failures: list[S3Error] = []
        source_failures: list[S3Error] = []
        entries: queue.Queue[ListEntry | None] = queue.Queue()

        def list_destination() -> None:
            try:
                for entry in self.fast.list_objects(
                    destination_bucket, destination_prefix, headers=self._dest_headers
                ):
                    destination[(destination_bucket, entry.key)] = entry
            except S3Error as exc:
                failures.append(exc)

        def list_source() -> None:
            try:
                for entry in self.fast.list_objects(
                    source_bucket, source_prefix, headers=self._source_headers
                ):
                    entries.put(entry)
            except S3Error as exc:
                source_failures.append(exc)
            finally:
                entries.put(None)

        listers = [threading.Thread(target=list_source, daemon=True)]
        if self.options.overwrite is not OverwritePolicy.ALWAYS:
            listers.append(threading.Thread(target=list_destination, daemon=True))
        for lister in listers:
            lister.start()
        absent: object = None

        def items() -> Iterator[CopyItem]:
            """Source objects as their pages arrive: copying starts with the first page."""
            nonlocal absent
            if len(listers) > 1:
                listers[1].join()  # every skip check needs the whole destination listing
                if failures:
                    # Without a complete listing each object is checked with HeadObject.
                    logger.warning(
                        "destination listing failed; using HeadObject",
                        extra={"bucket": destination_bucket, "error": failures[0].code},
                    )
                    destination.clear()
                    absent = _UNKNOWN
            while (entry := entries.get()) is not None:
                yield CopyItem(
                    source_bucket=source_bucket,
                    source_key=entry.key,
                    destination_bucket=destination_bucket,
                    destination_key=destination_prefix + entry.key[len(source_prefix) :],
                    size=entry.size,
                    etag=entry.etag,
                )

        control = Control(stop, deadline, grace)
        results = self._copy_all(
            items(),
            destination,
            control,
            on_result,
            missing=lambda: absent,
        )
        listers[0].join()
        if source_failures:
            # What was listed is copied (and safe to copy again); the caller learns that
            # the source listing ended early.
            raise source_failures[0]
        return results

    def _copy_all(
        self,
        items: Iterable[CopyItem],
        listed: dict[tuple[str, str], ListEntry | None],
        control: Control,
        on_result: Callable[[ObjectResult], None] | None,
        missing: Callable[[], object] = lambda: _UNKNOWN,
    ) -> list[ObjectResult]:
        """Run ``items`` through ``concurrency`` threads; results in input order.

        ``listed`` holds destinations a listing saw; a key not in it is ``missing()``:
        unknown (ask with HeadObject) or, after a complete listing, absent (None).
        """
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
                result = self.copy_one(item, listed.get(key, missing()), control)
                results[index] = result
                if on_result is not None:
                    on_result(result)

        width = self.options.concurrency
        if isinstance(items, Sequence):
            width = min(width, len(items))
        threads = [
            threading.Thread(target=work, name=f"copy-{n}", daemon=True) for n in range(width)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [results[i] for i in sorted(results)]

    def _list_destinations(
        self, items: Iterable[CopyItem]
    ) -> dict[tuple[str, str], ListEntry | None]:
        """Destination state from listings: an entry, None (absent) or missing (unknown).

        Keys are grouped by bucket and folder; a folder with ``LIST_MIN_KEYS`` or more keys
        is listed from just before its smallest key to its largest, at most a few pages
        more than the keys need (a huge folder falls back to HeadObject for the rest).
        """
        groups: dict[tuple[str, str], set[str]] = defaultdict(set)
        for item in items:
            key = item.destination_key
            folder = key[: key.rfind("/") + 1]
            groups[(item.destination_bucket, folder)].add(key)
        known: dict[tuple[str, str], ListEntry | None] = {}
        todo = [(b, f, keys) for (b, f), keys in groups.items() if len(keys) >= LIST_MIN_KEYS]
        if not todo:
            return known

        def list_group(group: tuple[str, str, set[str]]) -> None:
            bucket, folder, keys = group
            lowest, highest = min(keys), max(keys)
            start_after = lowest[:-1] if len(lowest) - 1 > len(folder) else None
            max_entries = 2_000 + 4 * len(keys)
            seen = 0
            last: str | None = None
            complete = True
            try:
                for entry in self.fast.list_objects(
                    bucket, folder, start_after=start_after, headers=self._dest_headers
                ):
                    seen += 1
                    if entry.key in keys:
                        known[(bucket, entry.key)] = entry
                    last = entry.key
                    if entry.key >= highest:
                        break
                    if seen >= max_entries:
                        complete = False
                        break
            except S3Error as exc:
                logger.warning(
                    "destination listing failed; using HeadObject",
                    extra={"bucket": bucket, "prefix": folder, "error": exc.code},
                )
                return
            for key in keys:
                if (bucket, key) not in known and (complete or (last is not None and key <= last)):
                    known[(bucket, key)] = None

        with ThreadPoolExecutor(min(len(todo), self.options.concurrency)) as pool:
            list(pool.map(list_group, todo))
        return known

    # -- one object ----------------------------------------------------------------------

    def copy_one(
        self,
        item: CopyItem,
        listed: ListEntry | object | None = _UNKNOWN,
        control: Control | None = None,
    ) -> ObjectResult:
        """Copy one object.

        ``listed`` is the destination as a listing saw it: a ``ListEntry``, None for
        "absent", or (the default) unknown, in which case it is asked with HeadObject.
        """
        control = control or Control(None, None, DEFAULT_GRACE_SECONDS)
        started = time.perf_counter()
        source_uri = _uri(item.source_bucket, item.source_key, item.source_version_id)
        dest_uri = _uri(item.destination_bucket, item.destination_key)
        size = item.size or 0
        try:
            result = self._copy_one(item, listed, control)
            return replace_result(result, source_uri, dest_uri, time.perf_counter() - started)
        except CopyInterruptedError:
            code, message = "Interrupted", "stopped by SIGTERM; multipart upload aborted"
        except S3Error as exc:
            code, message = exc.code, exc.message
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "ClientError")
            message = str(error.get("Message") or exc)
        except BotoCoreError as exc:
            code, message = type(exc).__name__, str(exc)
        except Exception as exc:
            logger.exception("unexpected error copying an object", extra={"source": source_uri})
            code, message = "UnexpectedError", f"{type(exc).__name__}: {exc}"
        if code == "404":
            code = "NoSuchKey"
        logger.warning(
            "object failed",
            extra={"source": source_uri, "destination": dest_uri, "error": code, "why": message},
        )
        return ObjectResult(
            source=source_uri,
            destination=dest_uri,
            status=Status.FAILED,
            bytes=size,
            seconds=round(time.perf_counter() - started, 6),
            error_code=code,
            error_message=message,
        )

    def _head_source(self, item: CopyItem) -> Source:
        head = self.fast.head_object(
            item.source_bucket,
            item.source_key,
            version_id=item.source_version_id,
            headers=self._source_headers,
        )
        if head is None:
            raise S3Error("NoSuchKey", "The specified source key does not exist.", 404)
        return Source(head.size, head.etag, item.source_version_id, head)

    def _head_dest(self, item: CopyItem) -> HeadResult | None:
        try:
            return self.fast.head_object(
                item.destination_bucket, item.destination_key, headers=self._dest_headers
            )
        except S3Error as exc:
            if exc.status == 403:
                # Without s3:ListBucket a missing key answers 403: treat it as absent.
                return None
            raise

    def _copy_one(  # noqa: PLR0911 - one early return per outcome reads best here
        self, item: CopyItem, listed: object, control: Control
    ) -> _Result:
        if item.size is not None and item.etag:
            source = Source(item.size, item.etag, item.source_version_id)
        else:
            source = self._head_source(item)
        if item.expected_size is not None and source.size != item.expected_size:
            return _failed(
                source.size,
                "ExpectedSizeMismatch",
                f"source has {source.size} bytes, the manifest expects {item.expected_size}",
            )
        if self.options.overwrite is not OverwritePolicy.ALWAYS:
            dest = self._head_dest(item) if listed is _UNKNOWN else listed
            skipped = self._skip(item, source, dest)
            if skipped:
                return skipped
        if source.size > MAX_OBJECT_BYTES:
            return _failed(source.size, "ObjectTooLarge", "S3 objects are at most 5 TiB")
        if source.size > self.options.multipart_threshold or parts_in_etag(source.etag):
            return self._copy_multipart(item, source, control)
        try:
            return self._copy_single(item, source)
        except S3Error as exc:
            if exc.code != "PreconditionFailed" or source.head is not None:
                raise
        # The source changed since it was planned: look again and copy what is there now.
        source = self._head_source(item)
        if item.expected_size is not None and source.size != item.expected_size:
            return _failed(source.size, "ExpectedSizeMismatch", "the source changed size")
        if source.size > self.options.multipart_threshold or parts_in_etag(source.etag):
            return self._copy_multipart(item, source, control)
        return self._copy_single(item, source)

    def _skip(self, item: CopyItem, source: Source, dest: object) -> _Result | None:
        if not isinstance(dest, ListEntry | HeadResult):
            return None
        if self.options.overwrite is OverwritePolicy.NEVER:
            return _Result(Status.SKIPPED, dest.size, "skip", f"ETAG:{norm_etag(dest.etag)}")
        evidence = self._same_content(item, source, dest)
        return _Result(Status.SKIPPED, source.size, "skip", evidence) if evidence else None

    def _same_content(
        self, item: CopyItem, source: Source, dest: ListEntry | HeadResult
    ) -> str | None:
        """Evidence that the destination already holds the source's content, else None."""
        if dest.size != source.size:
            return None
        if norm_etag(dest.etag) == norm_etag(source.etag):
            return f"ETAG:{norm_etag(dest.etag)}"
        # ETags differ (SSE-KMS, another part layout): only checksums can tell.
        if isinstance(dest, ListEntry) and not dest.checksum_algorithms:
            return None
        dest_head = dest if isinstance(dest, HeadResult) else self._head_dest(item)
        source_head = source.head or self._head_source(item).head
        if dest_head is None or source_head is None:
            return None
        same, evidence = checksum_evidence(
            source_head.checksums,
            source_head.checksum_type,
            dest_head.checksums,
            dest_head.checksum_type,
        )
        return evidence if same else None

    # -- CopyObject ----------------------------------------------------------------------

    def _copy_single(self, item: CopyItem, source: Source) -> _Result:
        options = self.options
        headers: dict[str, str] = {**self._source_headers, **self._dest_headers}
        if source.etag:
            headers["x-amz-copy-source-if-match"] = f'"{norm_etag(source.etag)}"'
        if options.copy_metadata:
            headers["x-amz-metadata-directive"] = "COPY"
        else:
            # REPLACE without user metadata, but the content headers stay.
            head = source.head or self._head_source(item).head
            headers["x-amz-metadata-directive"] = "REPLACE"
            for api, value in (head.content if head else {}).items():
                headers[_HEADER_OF[api]] = value
        headers["x-amz-tagging-directive"] = "COPY" if options.copy_tags else "REPLACE"
        if options.storage_class:
            headers["x-amz-storage-class"] = options.storage_class
        if options.sse_kms_key_id:
            headers["x-amz-server-side-encryption"] = "aws:kms"
            headers["x-amz-server-side-encryption-aws-kms-key-id"] = options.sse_kms_key_id
        algorithm = options.checksum_algorithm or (
            item.expected_checksum.algorithm
            if item.expected_checksum and item.expected_checksum.algorithm != "ETAG"
            else None
        )
        if algorithm:
            headers["x-amz-checksum-algorithm"] = str(algorithm)
        answer = self.fast.copy_object(
            bucket=item.destination_bucket,
            key=item.destination_key,
            source_bucket=item.source_bucket,
            source_key=item.source_key,
            source_version_id=item.source_version_id,
            headers=headers,
        )
        if norm_etag(answer.etag) == norm_etag(source.etag):
            # Same ETag and the copy was conditional on it: verified without another request.
            evidence = _evidence(answer.checksums, answer.etag)
            dest_checksums = answer.checksums
            failure = self._check_expected(item, answer.etag, dest_checksums)
            if failure:
                return replace(failure, bytes=source.size, method="copy")
            return _Result(Status.COPIED, source.size, "copy", evidence)
        return self._verify(item, source, mirrored=True, method="copy")

    # -- multipart -----------------------------------------------------------------------

    def _copy_multipart(self, item: CopyItem, source: Source, control: Control) -> _Result:
        options = self.options
        if source.head is None:
            source = self._head_source(item)
        head = source.head
        assert head is not None
        layout, mirrored = self._layout(item, head)
        create: dict[str, Any] = {
            "Bucket": item.destination_bucket,
            "Key": item.destination_key,
            **self._dest_args,
            **head.content,
        }
        if options.copy_metadata and head.metadata:
            create["Metadata"] = head.metadata
        if options.copy_tags:
            tags = self.client.get_object_tagging(
                Bucket=item.source_bucket,
                Key=item.source_key,
                **({"VersionId": item.source_version_id} if item.source_version_id else {}),
                **self._source_args,
            ).get("TagSet", [])
            if tags:
                create["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tags])
        if options.storage_class:
            create["StorageClass"] = options.storage_class
        if options.sse_kms_key_id:
            create["ServerSideEncryption"] = "aws:kms"
            create["SSEKMSKeyId"] = options.sse_kms_key_id
        algorithm = options.checksum_algorithm or next(iter(sorted(head.checksums)), None)
        if algorithm:
            create["ChecksumAlgorithm"] = algorithm
            checksum_type = _multipart_checksum_type(algorithm, head, mirrored)
            if checksum_type:
                create["ChecksumType"] = checksum_type
        upload_id = self.client.create_multipart_upload(**create)["UploadId"]
        completed = False
        try:
            parts = self._copy_parts(
                item,
                head=head,
                layout=layout,
                upload_id=upload_id,
                algorithm=algorithm,
                control=control,
            )
            complete: dict[str, Any] = {
                "Bucket": item.destination_bucket,
                "Key": item.destination_key,
                "UploadId": upload_id,
                "MultipartUpload": {"Parts": parts},
                **self._dest_args,
            }
            self.client.complete_multipart_upload(**complete)
            completed = True
        finally:
            if not completed:
                self._abort(item, upload_id)
        return self._verify(item, source, mirrored=mirrored, method="multipart")

    def _abort(self, item: CopyItem, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=item.destination_bucket,
                Key=item.destination_key,
                UploadId=upload_id,
                **self._dest_args,
            )
        except (ClientError, BotoCoreError):
            logger.exception(
                "could not abort a multipart upload",
                extra={"bucket": item.destination_bucket, "key": item.destination_key},
            )

    def _layout(self, item: CopyItem, head: HeadResult) -> tuple[list[int], bool]:
        """Part sizes, and whether they mirror the source's own parts."""
        count = parts_in_etag(head.etag)
        if count:
            sizes = self._source_part_sizes(item, head, count)
            if sizes and len(sizes) == count and sum(sizes) == head.size:
                return sizes, True
            logger.warning(
                "source part layout unavailable; ETag will differ",
                extra={"source": _uri(item.source_bucket, item.source_key)},
            )
        return plan_parts(head.size, self.options.part_size), False

    def _source_part_sizes(self, item: CopyItem, head: HeadResult, count: int) -> list[int]:
        """Part sizes from GetObjectAttributes, or from HeadObject with partNumber."""
        version = {"VersionId": item.source_version_id} if item.source_version_id else {}
        sizes: list[int] = []
        marker = 0
        try:
            while True:
                answer = self.client.get_object_attributes(
                    Bucket=item.source_bucket,
                    Key=item.source_key,
                    ObjectAttributes=["ObjectParts"],
                    MaxParts=1000,
                    PartNumberMarker=marker,
                    **version,
                    **self._source_args,
                )
                object_parts = answer.get("ObjectParts") or {}
                parts = object_parts.get("Parts") or []
                sizes.extend(int(p["Size"]) for p in parts)
                if not object_parts.get("IsTruncated") or not parts:
                    break
                marker = int(object_parts.get("NextPartNumberMarker") or parts[-1]["PartNumber"])
        except ClientError:
            sizes = []
        if len(sizes) == count:
            return sizes

        # Only objects written with additional checksums list their parts: ask each part.
        def part_size(number: int) -> int:
            answer = self.fast.head_object(
                item.source_bucket,
                item.source_key,
                version_id=item.source_version_id,
                part_number=number,
                headers=self._source_headers,
            )
            if answer is None:
                raise S3Error("NoSuchKey", "source disappeared while reading its parts", 404)
            return answer.size

        with ThreadPoolExecutor(min(count, self.options.part_concurrency)) as pool:
            return list(pool.map(part_size, range(1, count + 1)))

    def _copy_parts(
        self,
        item: CopyItem,
        *,
        head: HeadResult,
        layout: list[int],
        upload_id: str,
        algorithm: str | None,
        control: Control,
    ) -> list[dict[str, Any]]:
        failed = threading.Event()
        copy_source: dict[str, str] = {"Bucket": item.source_bucket, "Key": item.source_key}
        if item.source_version_id:
            copy_source["VersionId"] = item.source_version_id

        def copy_part(number: int, start: int, size: int) -> dict[str, Any]:
            if failed.is_set():
                raise CopyInterruptedError
            if control.must_abort():
                failed.set()
                raise CopyInterruptedError
            args: dict[str, Any] = {
                "Bucket": item.destination_bucket,
                "Key": item.destination_key,
                "UploadId": upload_id,
                "PartNumber": number,
                "CopySource": copy_source,
                "CopySourceIfMatch": head.etag,
                **self._source_args,
                **self._dest_args,
            }
            if size > 0:
                args["CopySourceRange"] = f"bytes={start}-{start + size - 1}"
            try:
                answer = self.client.upload_part_copy(**args)["CopyPartResult"]
            except Exception:
                failed.set()
                raise
            part: dict[str, Any] = {"PartNumber": number, "ETag": answer["ETag"]}
            if algorithm and answer.get("Checksum" + algorithm):
                part["Checksum" + algorithm] = answer["Checksum" + algorithm]
            return part

        offsets = []
        start = 0
        for size in layout:
            offsets.append(start)
            start += size
        with ThreadPoolExecutor(min(len(layout), self.options.part_concurrency)) as pool:
            futures = [
                pool.submit(copy_part, n + 1, offsets[n], size) for n, size in enumerate(layout)
            ]
            try:
                return [f.result() for f in futures]
            except BaseException:
                failed.set()
                for future in futures:
                    future.cancel()
                raise

    # -- verification --------------------------------------------------------------------

    def _verify(self, item: CopyItem, source: Source, *, mirrored: bool, method: Method) -> _Result:
        """Check the destination after a copy whose answer alone did not prove it."""
        dest = self.fast.head_object(
            item.destination_bucket, item.destination_key, headers=self._dest_headers
        )
        if dest is None:
            return _failed(source.size, "VerifyFailed", "destination missing after the copy")
        if dest.size != source.size:
            return _failed(
                source.size, "SizeMismatch", f"destination {dest.size} != source {source.size}"
            )
        source_head = source.head
        if source_head is None:
            source_head = self._head_source(item).head
        assert source_head is not None
        same, detail = checksum_evidence(
            source_head.checksums, source_head.checksum_type, dest.checksums, dest.checksum_type
        )
        if same is False:
            return _failed(source.size, "ChecksumMismatch", detail or "")
        etag_equal = norm_etag(dest.etag) == norm_etag(source_head.etag)
        comparable = (
            mirrored
            and not _is_kms(source_head.sse)
            and not _is_kms(dest.sse)
            and not self.options.sse_kms_key_id
        )
        if not etag_equal and comparable and same is None:
            return _failed(
                source.size,
                "ETagMismatch",
                f"destination {norm_etag(dest.etag)} != source {norm_etag(source_head.etag)}",
            )
        failure = self._check_expected(item, dest.etag, dest.checksums)
        if failure:
            return replace(failure, bytes=source.size, method=method)
        evidence = detail if same else f"ETAG:{norm_etag(dest.etag)}"
        return _Result(Status.COPIED, source.size, method, evidence)

    def _check_expected(
        self, item: CopyItem, dest_etag: str, dest_checksums: dict[str, str]
    ) -> _Result | None:
        expected = item.expected_checksum
        if expected is None:
            return None
        if expected.algorithm == "ETAG":
            actual: str | None = norm_etag(dest_etag)
            wanted = norm_etag(expected.value)
        else:
            actual = dest_checksums.get(str(expected.algorithm))
            if actual is None:
                head = self._head_dest(item)
                actual = head.checksums.get(str(expected.algorithm)) if head else None
            wanted = expected.value
        if actual is None:
            return _failed(
                0, "ChecksumUnverifiable", f"destination has no {expected.algorithm} checksum"
            )
        if actual != wanted:
            return _failed(
                0,
                "ExpectedChecksumMismatch",
                f"{expected.algorithm}: destination {actual} != manifest {wanted}",
            )
        return None


# -- small helpers -----------------------------------------------------------------------

_HEADER_OF = {
    "ContentType": "content-type",
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentEncoding": "content-encoding",
    "ContentLanguage": "content-language",
    "Expires": "expires",
}


Method = Literal["copy", "multipart", "skip", "none"]


@dataclass(frozen=True)
class _Result:
    status: Status
    bytes: int
    method: Method
    checksum: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def _failed(size: int, code: str, message: str) -> _Result:
    return _Result(Status.FAILED, size, "none", None, code, message)


def replace_result(result: _Result, source: str, destination: str, seconds: float) -> ObjectResult:
    return ObjectResult(
        source=source,
        destination=destination,
        status=result.status,
        bytes=result.bytes,
        method=result.method,
        checksum=result.checksum,
        seconds=round(seconds, 6),
        error_code=result.error_code,
        error_message=result.error_message,
    )


def _evidence(checksums: dict[str, str], etag: str) -> str:
    for algorithm in sorted(checksums):
        return f"{algorithm}:{checksums[algorithm]}"
    return f"ETAG:{norm_etag(etag)}"


def _is_kms(sse: str | None) -> bool:
    return bool(sse and sse.startswith("aws:kms"))


def _multipart_checksum_type(algorithm: str, head: HeadResult, mirrored: bool) -> str | None:
    """The checksum type that keeps the destination's checksum equal to the source's."""
    if algorithm == "CRC64NVME":
        return "FULL_OBJECT"
    if algorithm in ("SHA1", "SHA256"):
        return "COMPOSITE"
    if parts_in_etag(head.etag) is None:
        # A single-part source's checksum is a full-object one; keep it comparable.
        return "FULL_OBJECT"
    if algorithm in head.checksums and head.checksum_type:
        if head.checksum_type == "COMPOSITE" and not mirrored:
            return "FULL_OBJECT"
        return head.checksum_type
    return None

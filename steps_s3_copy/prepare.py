"""Prepare: from "a manifest arrived" to a plan in the working area.

1. read the sidecar (or take the direct input) and validate it;
2. check the sidecar against the deployment's boundaries and that the manifest exists
   (the destination's writability is checked next, by the Destination step, as the
   writer role that the destination trusts);
3. stream the CSV: validate every row (collecting every problem with its row number),
   expand ``prefix/*`` rows, reject two rows with the same destination;
4. size the sources: sizes from the CSV are trusted (the engine verifies them), otherwise
   one listing per folder when enough keys share it, else bounded parallel HeadObject;
   missing or unreadable sources are problems with their rows;
5. plan batches by count and bytes into two lanes and write ``plan.jsonl`` (streamed to
   S3 in parts while planning: no local disk), ``run.json`` and, last, ``index.csv``.

Any problem raises a named error (see :mod:`steps_s3_copy.errors`) before anything is
written to the working area, so nothing is ever copied from a bad manifest.
"""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from steps_s3_copy import observability, retries
from steps_s3_copy.errors import (
    ManifestAccessDenied,
    ManifestInvalid,
    ManifestNotFound,
    Problems,
    RunTooLong,
)
from steps_s3_copy.events import JobSource, decoded_key_candidates, job_source
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.jobs import acquire_lock, claim_event
from steps_s3_copy.manifest import ManifestRow, is_jsonl
from steps_s3_copy.models import (
    ARCHIVE_STORAGE_CLASSES,
    CopyOptions,
    Lane,
    RestoreOptions,
    RunConfig,
)
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import ArchivedSummary, PreparePayload, PrepareResult
from steps_s3_copy.planning import (
    LAMBDA_BUDGET_SECONDS,
    LAMBDA_MAX_ITEMS,
    CopyModel,
    LaneLimits,
    Planner,
    clamp_lane_cutoff,
)
from steps_s3_copy.receipt import delivery_location
from steps_s3_copy.s3io import MultipartWriter
from steps_s3_copy.s3uri import S3Uri
from steps_s3_copy.sidecar import DEFAULT_LANE_CUTOFF_BYTES, Sidecar, parse_sidecar
from steps_s3_copy.validation import Boundaries, JobChecker, checked_rows, owned_prefix
from steps_s3_copy.workarea import WorkArea

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
DENIED_CODES = frozenset({"403", "AccessDenied", "AllAccessDisabled", "InvalidObjectState"})


@dataclass(frozen=True, slots=True)
class PrepareSettings:
    """The deployment's settings for Prepare (the handler reads them from the environment)."""

    #: the inbox: where jobs are, where runs work, where reports go by default
    layout: InboxLayout
    lane_cutoff_bytes: int = DEFAULT_LANE_CUTOFF_BYTES
    max_manifest_rows: int = 2_000_000
    #: HeadObject / ListObjectsV2 calls at once when sizing sources
    head_concurrency: int = 32
    #: unsized keys sharing one folder (within a chunk) from which one listing beats HEADs
    list_threshold: int = 32
    #: unsized rows sized together
    chunk_rows: int = 2000
    #: objects in one Lambda-lane batch at most (planning's LAMBDA_MAX_ITEMS or fewer)
    lambda_max_items: int = LAMBDA_MAX_ITEMS
    #: the CopyBatch function's reserved concurrency: the Map's concurrency at most
    copy_concurrency_limit: int | None = None
    #: the state machine's execution timeout: a plan that could outlast it is refused
    execution_timeout_seconds: int | None = None
    #: the deployment's region: buckets elsewhere are refused (None: not checked)
    region: str | None = None
    #: buckets the deployment may read / write (None: not restricted by name)
    source_buckets: frozenset[str] | None = None
    destination_buckets: frozenset[str] | None = None
    kms_keys: frozenset[str] | None = None
    #: a local run signs receipts with the caller's own credentials: any key may be named
    #: (a deployment's Summarise may sign with the ``kms_keys`` only)
    sign_with_any_key: bool = False

    @property
    def boundaries(self) -> Boundaries:
        """What a job may touch: never the inbox; only the named buckets, when named."""
        layout = self.layout
        return Boundaries(
            inbox_bucket=layout.bucket,
            inbox_prefix=owned_prefix(
                layout.jobs_prefix, layout.work_prefix, layout.reports_prefix
            ),
            jobs_prefix=self.layout.jobs_prefix,
            work_prefix=self.layout.work_prefix,
            reports_prefix=self.layout.reports_prefix,
            source_buckets=self.source_buckets,
            destination_buckets=self.destination_buckets,
            kms_keys=self.kms_keys,
            # KMS_KEYS unset (a deployment opted into any bucket, no key named): no key
            signing_keys=None if self.sign_with_any_key else (self.kms_keys or frozenset()),
        )


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in NOT_FOUND_CODES or status == 404:
        return "404"
    if code in DENIED_CODES or status == 403:
        return "403"
    return code or str(status)


# -- the sidecar and the manifest --------------------------------------------------------


def read_sidecar(s3: Any, source: JobSource, jobs_prefix: str) -> tuple[JobSource, Sidecar]:
    """The validated sidecar (or direct input) and the job, with the sidecar's real key."""
    if source.direct is not None:
        return source, source.direct
    assert source.sidecar_bucket is not None
    assert source.sidecar_key is not None
    last: ClientError | None = None
    for key in decoded_key_candidates(source.sidecar_key):
        try:
            body = s3.get_object(Bucket=source.sidecar_bucket, Key=key)["Body"].read()
        except ClientError as exc:
            last = exc
            if _code(exc) == "404":
                continue
            if _code(exc) == "403":
                raise ManifestAccessDenied(
                    f"cannot read the sidecar s3://{source.sidecar_bucket}/{key}"
                ) from exc
            raise
        resolved = source.with_sidecar_key(key, jobs_prefix)
        return resolved, parse_sidecar(body, where=resolved.sidecar_uri or key)
    raise ManifestNotFound(f"the sidecar {source.sidecar_uri} does not exist") from last


def check_manifest(s3: Any, source: JobSource) -> JobSource:
    """The job with the manifest it has: jobs/<name>.csv or jobs/<name>.jsonl (not both);
    ``ManifestNotFound`` when there is none yet (the state machine waits and retries)."""
    found: list[str] = []
    for key in (source.manifest_key, *source.other_manifest_keys):
        try:
            s3.head_object(Bucket=source.manifest_bucket, Key=key)
        except ClientError as exc:
            if _code(exc) == "404":
                continue
            if _code(exc) == "403":
                raise ManifestAccessDenied(
                    f"cannot read the manifest s3://{source.manifest_bucket}/{key}"
                ) from exc
            raise
        found.append(key)
    if not found:
        names = " or ".join(
            f"s3://{source.manifest_bucket}/{k}"
            for k in (source.manifest_key, *source.other_manifest_keys)
        )
        raise ManifestNotFound(f"the manifest {names} does not exist")
    if len(found) > 1:
        raise ManifestInvalid(
            f"the job has two manifests ({', '.join(found)}): keep one, the sidecar starts "
            "a run of exactly one"
        )
    return dataclasses.replace(source, manifest_key=found[0], other_manifest_keys=())


# -- sizing ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    row: int
    item: dict[str, Any]


#: (the item, "ok" / "404" / "403", what S3 said about it in the CopyItem's wire names)
_Found = tuple[_Pending, str, dict[str, Any]]


def _attributes(size: int, etag: str | None, storage_class: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"size": size}
    if etag:
        attributes["etag"] = str(etag)
    if storage_class and storage_class != "STANDARD":
        attributes["storageClass"] = storage_class
    return attributes


def listed_attributes(obj: dict[str, Any]) -> dict[str, Any]:
    """Size, ETag and storage class of a ListObjectsV2 entry."""
    return _attributes(int(obj["Size"]), obj.get("ETag"), obj.get("StorageClass"))


def restore_state(head: dict[str, Any]) -> str | None:
    """An archived object's restore, from HeadObject: ``x-amz-restore`` says whether one was
    asked and is done (``ongoing-request="false"``); Intelligent-Tiering objects are archived
    only when ``x-amz-archive-status`` names an archive tier
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html)."""
    storage_class = head.get("StorageClass")
    if storage_class not in ARCHIVE_STORAGE_CLASSES:
        return None
    if storage_class == "INTELLIGENT_TIERING" and not head.get("ArchiveStatus"):
        return None
    restore = str(head.get("Restore") or "")
    if 'ongoing-request="true"' in restore:
        return "ongoing"
    if 'ongoing-request="false"' in restore:
        return "done"
    return "needed"


#: every listing entry's LastModified, which Prepare never reads: botocore parses each one
#: with dateutil, most of a listing's CPU (10,000 keys: 0.9 CPU s with them, 0.3 without;
#: measured against LocalStack, docs/performance.md)
_LAST_MODIFIED = re.compile(rb"<LastModified>[^<]*</LastModified>")


def _without_last_modified(response_dict: dict[str, Any], **_: Any) -> None:
    body = response_dict.get("body")
    if response_dict.get("status_code") == 200 and isinstance(body, bytes):
        response_dict["body"] = _LAST_MODIFIED.sub(b"", body)


def lean_listings(s3: Any) -> None:
    """Let ``s3``'s ListObjectsV2 answers skip LastModified before botocore parses them
    (a ``before-parse`` handler on the client's own events; registered once)."""
    events = getattr(getattr(s3, "meta", None), "events", None)
    if events is not None:
        events.register(
            "before-parse.s3.ListObjectsV2",
            _without_last_modified,
            unique_id="steps-s3-copy-without-last-modified",
        )


_T = TypeVar("_T")


class _Prefetched(Iterator[_T]):
    """``source``'s items, the next ``depth`` fetched ahead in a thread of its own: a
    listing's next page is on its way while this one is planned. Exceptions reach the
    reader; :meth:`close` stops the fetching."""

    _END = object()

    def __init__(self, source: Iterator[_T], depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[object, Any]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._fetch, args=(source,), name="prefetch", daemon=True
        )
        self._thread.start()

    def _put(self, kind: object, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self, source: Iterator[_T]) -> None:
        try:
            for item in source:
                if not self._put("item", item):
                    return
            self._put(self._END, None)
        except BaseException as exc:  # handed to the reader, raised there
            self._put("error", exc)

    def __next__(self) -> _T:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind is self._END:
            self._done = True
            raise StopIteration
        if kind == "error":
            self._done = True
            raise value
        item: _T = value
        return item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        self._thread.join()


class _Sizer:
    """Sizes sources in chunks: one listing per well-populated folder, else HeadObject."""

    def __init__(
        self,
        s3: Any,
        pool: ThreadPoolExecutor,
        problems: Problems,
        settings: PrepareSettings,
        requester_pays: bool,
    ) -> None:
        self.s3 = s3
        lean_listings(s3)
        self.pool = pool
        self.problems = problems
        self.settings = settings
        self.payer = {"RequestPayer": "requester"} if requester_pays else {}
        self.touched: set[str] = set()
        self._bucket_exists: dict[str, bool] = {}
        self.heads = 0
        self.lists = 0

    def size(self, chunk: list[_Pending]) -> Iterator[_Pending]:
        """The chunk's items that exist, with ``size`` and ``etag`` set."""
        groups: dict[tuple[str, str], list[_Pending]] = {}
        for pending in chunk:
            key = pending.item["sourceKey"]
            folder = key[: key.rfind("/") + 1]
            groups.setdefault((pending.item["sourceBucket"], folder), []).append(pending)
        listed: list[tuple[str, list[_Pending]]] = []
        heads: list[_Pending] = []
        for (bucket, _), members in groups.items():
            if len(members) >= self.settings.list_threshold:
                listed.append((bucket, members))
            else:
                heads.extend(members)
        jobs: list[tuple[str, list[_Pending]]] = [*listed, *(("", [p]) for p in heads)]
        for found in self.pool.map(self._run, jobs):
            for pending, status, attributes in found:
                self.touched.add(pending.item["sourceBucket"])
                if status == "ok":
                    pending.item.update(attributes)
                    yield pending
                else:
                    self._missing(pending.row, pending.item, status)

    def _run(self, job: tuple[str, list[_Pending]]) -> list[_Found]:
        bucket, members = job
        return self._list(bucket, members) if bucket else [self._head(members[0])]

    def _head(self, pending: _Pending) -> _Found:
        self.heads += 1
        item = pending.item
        try:
            head = self.s3.head_object(
                Bucket=item["sourceBucket"], Key=item["sourceKey"], **self.payer
            )
        except ClientError as exc:
            code = _code(exc)
            if code in ("404", "403"):
                return pending, code, {}
            raise
        attributes = _attributes(
            int(head["ContentLength"]), head.get("ETag"), head.get("StorageClass")
        )
        restore = restore_state(head)
        if restore:
            attributes["restore"] = restore
        return pending, "ok", attributes

    def restore_states(self, chunk: list[_Pending]) -> Iterator[_Pending]:
        """The chunk's archived-class items with their restore state (a HeadObject each:
        a listing tells the class, not whether a restored copy is readable)."""
        for pending, status, attributes in self.pool.map(self._head, chunk):
            if status == "ok":
                pending.item.pop("restore", None)
                pending.item.update(attributes)
                yield pending
            else:
                self._missing(pending.row, pending.item, status)

    def _list(self, bucket: str, members: list[_Pending]) -> list[_Found]:
        self.lists += 1
        wanted = {p.item["sourceKey"]: p for p in members}
        keys = sorted(wanted)
        common = keys[0]
        for key in keys[1:]:
            while not key.startswith(common):
                common = common[:-1]
        last = keys[-1]
        out: list[_Found] = []
        try:
            for obj in self._objects(bucket, common, stop_after=last):
                pending = wanted.pop(obj["Key"], None)
                if pending is not None:
                    out.append((pending, "ok", listed_attributes(obj)))
        except ClientError as exc:
            code = _code(exc)
            if code not in ("404", "403"):
                raise
            return [(p, code, {}) for p in members]
        out.extend((p, "404", {}) for p in wanted.values())
        return out

    def _objects(
        self, bucket: str, prefix: str, stop_after: str | None = None
    ) -> Iterator[dict[str, Any]]:
        pages = _Prefetched(self._pages(bucket, prefix))
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    if stop_after is not None and obj["Key"] > stop_after:
                        return
                    yield obj
        finally:
            pages.close()

    def _pages(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, **self.payer}
        while True:
            page: dict[str, Any] = self.s3.list_objects_v2(**kwargs)
            yield page
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def expand(self, row: ManifestRow) -> Iterator[dict[str, Any]]:
        """Every object under a ``prefix/*`` row (ListObjectsV2)."""
        self.touched.add(row.bucket)
        self.lists += 1
        found = False
        try:
            for obj in self._objects(row.bucket, row.prefix):
                found = True
                yield obj
        except ClientError as exc:
            code = _code(exc)
            if code not in ("404", "403"):
                raise
            if code == "403":
                self.problems.add(
                    f"cannot list s3://{row.bucket}/{row.prefix} (access denied)",
                    row=row.row,
                    field="key",
                    code="SourceAccessDenied",
                )
            else:
                self.problems.add(
                    f"source bucket {row.bucket!r} does not exist",
                    row=row.row,
                    field="bucket",
                    code="SourceNotFound",
                )
            return
        if not found:
            self.problems.add(
                f"s3://{row.bucket}/{row.key} matches no objects",
                row=row.row,
                field="key",
                code="SourceNotFound",
            )

    def _missing(self, row: int, item: dict[str, Any], status: str) -> None:
        uri = f"s3://{item['sourceBucket']}/{item['sourceKey']}"
        if status == "403":
            self.problems.add(
                f"cannot read {uri} (access denied)",
                row=row,
                field="key",
                code="SourceAccessDenied",
            )
        elif not self.bucket_exists(item["sourceBucket"]):
            self.problems.add(
                f"source bucket {item['sourceBucket']!r} does not exist",
                row=row,
                field="bucket",
                code="SourceNotFound",
            )
        else:
            self.problems.add(f"{uri} does not exist", row=row, field="key", code="SourceNotFound")

    def bucket_exists(self, bucket: str) -> bool:
        if bucket not in self._bucket_exists:
            try:
                self.s3.head_bucket(Bucket=bucket)
                self._bucket_exists[bucket] = True
            except ClientError as exc:
                self._bucket_exists[bucket] = _code(exc) != "404"
        return self._bucket_exists[bucket]

    def check_samples(self, samples: dict[str, _Pending]) -> None:
        """One HeadObject per source bucket that nothing else has touched (sizes all given)."""
        todo = [p for bucket, p in samples.items() if bucket not in self.touched]
        for pending, status, _ in self.pool.map(self._head, todo):
            if status != "ok":
                self._missing(pending.row, pending.item, status)


# -- prepare -----------------------------------------------------------------------------


def _items(
    rows: Iterable[tuple[ManifestRow, dict[str, Any] | None]],
    sizer: _Sizer,
    checker: JobChecker,
) -> Iterator[_Pending]:
    """Checked rows (and prefix expansions) as CopyItem dicts."""
    for row, checked in rows:
        if checked is not None:
            yield _Pending(row.row, checked)
            continue
        for obj in sizer.expand(row):
            key = obj["Key"]
            relative = (
                key if row.destination_key is None else row.destination_key + key[len(row.prefix) :]
            )
            item = checker.item(row.row, row.bucket, key, relative)
            if item is None:
                continue
            item.update(listed_attributes(obj))
            yield _Pending(row.row, item)


def prepare(
    source: JobSource,
    sidecar: Sidecar,
    *,
    run_id: str,
    s3: Any,
    settings: PrepareSettings,
    started: datetime,
) -> PrepareResult:
    """Validate, size and plan one job; write the plan to its working area.

    Raises SidecarInvalid, ManifestNotFound, ManifestAccessDenied, ManifestInvalid,
    SourceNotFound or SourceAccessDenied; nothing is written to the working area unless
    the whole manifest is valid.
    """
    layout = settings.layout
    options = sidecar.copy_options()
    location = layout.work(source.job_name, run_id)
    report_uri = str(layout.report_uri(source.job_name, run_id))
    deliver_uri: str | None = None
    if sidecar.report_uri and S3Uri.parse(sidecar.report_uri).bucket == layout.bucket:
        report_uri = sidecar.report_uri  # in the inbox's reports/ (validation made sure)
    elif sidecar.report_uri:
        deliver_uri = sidecar.report_uri  # the Destination step copies the report there
    log = {"job": source.job_name, "run_id": run_id, "manifest": source.manifest_uri}
    logger.info("prepare started", extra=log)
    problems = Problems()
    checker = JobChecker(sidecar, settings.boundaries, problems)
    checker.check_sidecar()
    problems.raise_if_any(f"{problems.total} problem(s) in the sidecar of {source.job_name}")
    source = check_manifest(s3, source)

    notes: list[str] = []
    requested = (
        sidecar.lane_cutoff_bytes
        if sidecar.lane_cutoff_bytes is not None
        else settings.lane_cutoff_bytes
    )
    cutoff = clamp_lane_cutoff(requested)
    if cutoff < requested:
        notes.append(
            f"lane cut-off lowered from {requested} to {cutoff} bytes: a Lambda function copies"
            " at most one CopyObject-sized object within its 15 minutes; larger ones go to Fargate"
        )
    # the plan streams to S3 in parts as it is planned; a problem aborts the upload, so
    # nothing appears in the working area unless the whole manifest is valid
    with (
        ThreadPoolExecutor(settings.head_concurrency, thread_name_prefix="size") as pool,
        MultipartWriter(
            s3, location.bucket, location.plan_key, content_type="application/x-ndjson"
        ) as plan_out,
    ):
        planner = Planner(
            plan_out,
            max_items=sidecar.max_items_per_batch,
            max_bytes=sidecar.max_bytes_per_batch,
            lane_cutoff=cutoff,
            lambda_lane=LaneLimits(
                min(settings.lambda_max_items, LAMBDA_MAX_ITEMS),
                sidecar.max_bytes_per_batch,
                LAMBDA_BUDGET_SECONDS,
            ),
            model=copy_model(options),
        )
        sizer = _Sizer(s3, pool, problems, settings, options.requester_pays)
        restores: list[_Pending] = []
        _plan_manifest(
            s3,
            source,
            settings=settings,
            checker=checker,
            sizer=sizer,
            planner=planner,
            restores=restores,
        )
        archived = _check_archived(restores, sidecar, problems)
        _check_regions(s3, settings.region, sidecar, checker.first_rows, problems)
        batches = planner.finish()
        problems.raise_if_any(f"{problems.total} problem(s) in {source.manifest_uri}")
        max_concurrency = _concurrency(sidecar.max_concurrency, planner, settings, notes)
        _check_duration(planner, max_concurrency, settings, sidecar.restore if archived else None)
    config = RunConfig(
        job_name=source.job_name,
        run_id=run_id,
        manifest=source.manifest_uri,
        sidecar=source.sidecar_uri,
        destination_bucket=sidecar.destination_bucket,
        destination_prefix=sidecar.destination_prefix,
        options=options,
        report_uri=report_uri,
        deliver_uri=deliver_uri,
        dry_run=sidecar.dry_run,
        restore=sidecar.restore if archived else None,
        receipt_signing_key_id=sidecar.receipt_signing_key_id,
        deliver_to_destination=sidecar.deliver_to_destination,
        objects=planner.objects,
        bytes=planner.bytes,
        batches=len(batches),
        created_at=started.isoformat(),
    )
    area = WorkArea(s3, location)
    area.write_run_config(config)
    area.write_index(batches)  # last: its presence means the plan is complete
    result = PrepareResult(
        job_name=source.job_name,
        run_id=run_id,
        manifest=source.manifest_uri,
        work=location,
        index_key=location.index_key,
        objects=planner.objects,
        bytes=planner.bytes,
        batches=planner.batches_per_lane(),
        max_concurrency=max_concurrency,
        dry_run=sidecar.dry_run,
        report_uri=report_uri,
        lane_cutoff_bytes=cutoff,
        notes=notes,
        archived=archived,
        destination=str(S3Uri(config.destination_bucket, config.destination_prefix)),
        receipt_signing_key_id=config.receipt_signing_key_id,
        delivery_uri=str(delivery_location(config)) if config.deliver_to_destination else None,
    )
    logger.info(
        "prepare planned",
        extra={
            **log,
            "objects": result.objects,
            "bytes": result.bytes,
            "batches": result.batches,
            "heads": sizer.heads,
            "lists": sizer.lists,
        },
    )
    return result


#: how long a restore takes, by storage class and tier, at most (the Step Functions retry
#: of a batch waiting in Thaw is sized from it): https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html
RESTORE_HOURS: dict[tuple[str, str], float] = {
    ("GLACIER", "Expedited"): 5 / 60,
    ("GLACIER", "Standard"): 5,
    ("GLACIER", "Bulk"): 12,
    ("DEEP_ARCHIVE", "Standard"): 12,
    ("DEEP_ARCHIVE", "Bulk"): 48,
    ("INTELLIGENT_TIERING", "Standard"): 12,
    ("INTELLIGENT_TIERING", "Bulk"): 48,
}


def _check_archived(
    restores: list[_Pending], sidecar: Sidecar, problems: Problems
) -> ArchivedSummary | None:
    """Archived sources: a problem each when the sidecar asks for no restore (nothing is
    copied until it does); the summary the plan and the notice show when it does."""
    waiting = [p for p in restores if p.item.get("restore") in ("needed", "ongoing")]
    if not waiting:
        return None
    restore = sidecar.restore
    if restore is None:
        for pending in waiting:
            item = pending.item
            problems.add(
                f"s3://{item['sourceBucket']}/{item['sourceKey']} is archived "
                f"({item.get('storageClass')}) and not restored: add "
                '"restore": {"tier": "Bulk", "days": 7} to the sidecar to restore it before '
                "it is copied",
                row=pending.row,
                field="key",
                code="SourceArchived",
            )
        return None
    for pending in waiting:
        item = pending.item
        if (item.get("storageClass"), restore.tier) not in RESTORE_HOURS:
            problems.add(
                f"s3://{item['sourceBucket']}/{item['sourceKey']} is in "
                f"{item.get('storageClass')}, which has no {restore.tier} restore: use "
                "Standard or Bulk",
                row=pending.row,
                field="key",
                code="SourceArchived",
            )
    hours = max(
        RESTORE_HOURS.get((p.item.get("storageClass", ""), restore.tier), 0) for p in waiting
    )
    by_class: dict[str, int] = {}
    for pending in waiting:
        by_class[str(pending.item.get("storageClass"))] = (
            by_class.get(str(pending.item.get("storageClass")), 0) + 1
        )
    return ArchivedSummary(
        objects=len(waiting),
        bytes=sum(int(p.item.get("size", 0)) for p in waiting),
        by_storage_class=by_class,
        tier=restore.tier,
        days=restore.days,
        expected_hours=hours,
    )


def bucket_region(s3: Any, bucket: str) -> str | None:
    """A bucket's region from HeadBucket, which answers it whether or not the caller may
    read the bucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html);
    None when the bucket does not exist or the answer has none."""
    try:
        answer = s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        answer = exc.response
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    region = answer.get("BucketRegion") or headers.get("x-amz-bucket-region")
    return str(region) if region else None


def _check_regions(
    s3: Any,
    region: str | None,
    sidecar: Sidecar,
    first_rows: dict[str, int],
    problems: Problems,
) -> None:
    """Each source bucket and the destination bucket in the deployment's region (a source
    elsewhere only with ``allowCrossRegion``): one HeadBucket per bucket."""
    if region is None:
        return
    destination = sidecar.destination_bucket
    found = bucket_region(s3, destination)
    if found is not None and found != region:
        problems.add(
            f"the destination bucket {destination!r} is in {found}; this deployment copies "
            f"into buckets of {region} (deploy it in {found} to copy there)",
            field="destinationBucket",
            code="SidecarInvalid",
        )
    if sidecar.allow_cross_region:
        return
    for bucket, row in sorted(first_rows.items()):
        found = bucket_region(s3, bucket)
        if found is not None and found != region:
            problems.add(
                f"source bucket {bucket!r} is in {found}, not {region}: set "
                '"allowCrossRegion": true in the sidecar to copy from it (inter-region '
                "transfer is charged per GiB; s3copy plan prices it)",
                row=row,
                field="bucket",
            )


def copy_model(options: CopyOptions) -> CopyModel:
    """The planning estimate for the engine as ``options`` run it."""
    return CopyModel(
        concurrency=options.concurrency,
        part_concurrency=options.part_concurrency,
        multipart_threshold=options.multipart_threshold,
        part_size=options.part_size,
    )


def _concurrency(
    requested: int, planner: Planner, settings: PrepareSettings, notes: list[str]
) -> int:
    """The Map's concurrency: the sidecar's, at most the CopyBatch function's reserved
    concurrency when the run invokes that function: Lambda-lane batches, and Thaw (in
    CopyBatch) for batches with archived sources of either lane (a throttled invocation
    fails; see https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)."""
    limit = settings.copy_concurrency_limit
    invokes = any(b.lane is Lane.LAMBDA or b.archived for b in planner.batches)
    if limit is not None and requested > limit and invokes:
        notes.append(
            f"maxConcurrency lowered from {requested} to {limit}: the CopyBatch function's "
            "reserved concurrency"
        )
        return limit
    return requested


#: what a run needs besides the Map: Prepare, CheckDestination, Summarise, Finish, Notify
#: (each bounded by its function's timeout) and the Map's own start
_FIXED_SECONDS = 5 * 900 + 300


def _check_duration(
    planner: Planner,
    max_concurrency: int,
    settings: PrepareSettings,
    restore: RestoreOptions | None,
) -> None:
    """``RunTooLong`` when the run's worst case (every task state at its timeout, every
    batch with archived sources after the longest wait its tier's Thaw allows) could
    outlast the execution's timeout: the execution would then end without a notice."""
    limit = settings.execution_timeout_seconds
    if limit is None:
        return
    restore_wait = 0.0
    if restore is not None:
        restore_wait = retries.RESTORE_WAIT[restore.tier].longest_wait_seconds()
    worst = planner.worst_case_seconds(max_concurrency, restore_wait) + _FIXED_SECONDS
    if worst > limit:
        raise RunTooLong(
            f"the run could take up to {worst / 3600:.1f} h (every batch at its timeout"
            + (", archived ones after their restore's longest wait" if restore_wait else "")
            + f", {max_concurrency} at a time), more than the state machine's execution timeout of "
            f"{limit / 3600:.1f} h: raise maxConcurrency, split the manifest, or deploy "
            "with a longer state_machine_timeout"
        )


def _plan_manifest(
    s3: Any,
    source: JobSource,
    *,
    settings: PrepareSettings,
    checker: JobChecker,
    sizer: _Sizer,
    planner: Planner,
    restores: list[_Pending],
) -> None:
    """Read, check, size and plan every row; archived sources are added to ``restores``."""
    try:
        body = s3.get_object(Bucket=source.manifest_bucket, Key=source.manifest_key)["Body"]
    except ClientError as exc:
        if _code(exc) == "404":
            raise ManifestNotFound(f"the manifest {source.manifest_uri} does not exist") from exc
        raise
    problems = checker.problems
    pending: list[_Pending] = []
    archived: list[_Pending] = []
    samples: dict[str, _Pending] = {}

    def plan(entry: _Pending) -> None:
        """Plan a sized item; an archive-class item from a listing first learns its
        restore state (in chunks of HeadObject)."""
        nonlocal archived
        item = entry.item
        if item.get("storageClass") in ARCHIVE_STORAGE_CLASSES and "restore" not in item:
            archived.append(entry)
            if len(archived) >= settings.chunk_rows:
                for known in sizer.restore_states(archived):
                    plan(known)
                archived = []
            return
        planner.add(item, item["size"])
        if item.get("restore") is not None:
            restores.append(entry)

    rows = checked_rows(
        body, checker, max_rows=settings.max_manifest_rows, jsonl=is_jsonl(source.manifest_key)
    )
    for count, entry in enumerate(_items(rows, sizer, checker)):
        if count >= settings.max_manifest_rows:  # prefix rows can expand a lot
            problems.add(
                f"the manifest expands to more than {settings.max_manifest_rows} objects",
                row=entry.row,
            )
            break
        item = entry.item
        if "size" in item:
            plan(entry)
        elif "expectedSize" in item:
            samples.setdefault(item["sourceBucket"], entry)
            planner.add(item, item["expectedSize"])
        else:
            pending.append(entry)
            if len(pending) >= settings.chunk_rows:
                for sized in sizer.size(pending):
                    plan(sized)
                pending = []
    for sized in sizer.size(pending):
        plan(sized)
    for known in sizer.restore_states(archived):
        plan(known)
    sizer.check_samples(samples)


def run(
    payload: PreparePayload,
    *,
    s3: Any,
    settings: PrepareSettings,
    is_running: Callable[[str], bool],
    now: datetime | None = None,
) -> PrepareResult:
    """The Prepare step: from the execution input (the sidecar's event or the direct input)
    to the run's plan; the run id is the execution's name.

    Before planning, the run claims its sidecar event (``DuplicateEvent`` when the same
    event already started a run) and the job's lock (``JobAlreadyRunning`` when another
    execution of the job is still running: ``is_running(execution_id)`` asks)."""
    started = datetime.now(UTC) if now is None else now
    layout = settings.layout
    execution = payload.execution
    source, sidecar = read_sidecar(
        s3, job_source(payload.input, layout.jobs_prefix), layout.jobs_prefix
    )
    if source.sequencer:
        claim_event(s3, layout, source.job_name, source.sequencer, execution.id)
    acquire_lock(
        s3,
        layout,
        source.job_name,
        execution_id=execution.id,
        run_id=execution.name,
        started=started,
        is_running=is_running,
    )
    result = prepare(
        source, sidecar, run_id=execution.name, s3=s3, settings=settings, started=started
    )
    observability.run_started(result.job_name)
    return result.model_copy(update={"requester": source.requester})

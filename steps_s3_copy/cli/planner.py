"""``s3copy plan``: the batches Prepare would make, and what the run would cost and take.

Batching goes through the same :class:`steps_s3_copy.planning.Planner` Prepare uses, built
as Prepare builds it: the sidecar's Fargate-lane limits (``maxItemsPerBatch``,
``maxBytesPerBatch``), the Lambda lane sized by count, bytes and the
:class:`~steps_s3_copy.planning.CopyModel`'s time (``prepare.copy_model``), the lane cut-off
clamped as Prepare clamps it, and archived sources in batches of their own. So the batch
counts, and each batch's estimated copy time, are the ones a run would get.
:mod:`steps_s3_copy.cli.pricing` turns them into requests, compute, time and dollars.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_camel

from steps_s3_copy.cli import pricing
from steps_s3_copy.manifest import ManifestRow
from steps_s3_copy.models import ARCHIVE_STORAGE_CLASSES, Lane
from steps_s3_copy.planning import (
    LAMBDA_BUDGET_SECONDS,
    LAMBDA_MAX_ITEMS,
    LaneLimits,
    Planner,
    clamp_lane_cutoff,
)
from steps_s3_copy.prepare import bucket_region, copy_model, restore_state
from steps_s3_copy.sidecar import DEFAULT_LANE_CUTOFF_BYTES, Sidecar


class SizingError(ValueError):
    """Rows have no size and neither --size-from-s3 nor --assume-size was given."""


@dataclass
class PlanSummary:
    estimate: pricing.Estimate
    max_concurrency: int
    lane_cutoff: int
    figures: list[pricing.Figure] = field(default_factory=list)
    calibration_source: str = ""
    restore: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    assumed_rows: int = 0
    assumed_size: int | None = None

    def figures_of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {f.name: f.to_dict() for f in self.figures if f.kind == kind}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "estimate": camel_keys(self.estimate.to_dict()),
            "maxConcurrency": self.max_concurrency,
            "laneCutoffBytes": self.lane_cutoff,
            "restore": self.restore,
            "notes": [*self.notes, *self.estimate.warnings],
            "pricesAssumed": self.figures_of("price"),
            "assumptions": {
                **self.figures_of("assumption"),
                **self.figures_of("deployment"),
            },
            "calibration": self.figures_of("calibrated"),
            "calibrationSource": self.calibration_source,
            "rowsWithAssumedSize": self.assumed_rows,
            "assumedSize": self.assumed_size,
        }
        return out


def camel_keys(value: Any) -> Any:
    """snake_case keys -> camelCase, recursively (the JSON style of the whole project)."""
    if isinstance(value, dict):
        return {to_camel(str(k)): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class _Source:
    """One object to copy, as far as the plan knows it."""

    key: str
    size: int
    etag: str | None = None
    storage_class: str | None = None
    restore: str | None = None


def _parts_in_etag(etag: str | None) -> int:
    """N of a multipart ETag ``"<hex>-N"``; 0 for a single-part one or none."""
    if not etag:
        return 0
    _, dash, count = etag.strip('"').rpartition("-")
    return int(count) if dash and count.isdigit() else 0


class _Sizer:
    """Sizes rows from S3 (``--size-from-s3``) as Prepare would see them, and counts the
    requests Prepare itself will send to size them."""

    def __init__(self, s3: Any | None, payer: dict[str, str], assumptions: pricing.Assumptions):
        self.s3 = s3
        self.payer = payer
        self.assumptions = assumptions
        self.work = pricing.PrepareWork()
        #: unsized plain rows of the current chunk, by (bucket, folder): Prepare lists a
        #: folder with enough of them instead of HEAD-ing each
        self._chunk: dict[tuple[str, str], int] = {}
        self._chunk_rows = 0

    def head(self, bucket: str, key: str) -> _Source:
        assert self.s3 is not None
        head = self.s3.head_object(Bucket=bucket, Key=key, **self.payer)
        return _Source(
            key,
            int(head["ContentLength"]),
            head.get("ETag"),
            head.get("StorageClass"),
            restore_state(head),
        )

    def listing(self, bucket: str, prefix: str) -> list[_Source]:
        assert self.s3 is not None
        found: list[_Source] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, **self.payer
        ):
            for obj in page.get("Contents", []):
                source = _Source(
                    obj["Key"], int(obj["Size"]), obj.get("ETag"), obj.get("StorageClass")
                )
                if source.storage_class in ARCHIVE_STORAGE_CLASSES:
                    # a listing tells the class, not whether a restored copy is readable:
                    # Prepare HEADs each such object, and so does the plan
                    source = self.head(bucket, source.key)
                    self.work.sizing_head_object += 1
                found.append(source)
        return found

    def count_unsized(self, bucket: str, key: str) -> None:
        """Prepare sizes unsized rows in chunks: a folder with ``list_threshold`` of them is
        listed (one request here, a page per 1,000), the others HEAD-ed."""
        folder = key[: key.rfind("/") + 1]
        self._chunk[(bucket, folder)] = self._chunk.get((bucket, folder), 0) + 1
        self._chunk_rows += 1
        if self._chunk_rows >= self.assumptions.prepare_chunk_rows:
            self.flush()

    def flush(self) -> None:
        for members in self._chunk.values():
            if members >= self.assumptions.prepare_list_threshold:
                self.work.sizing_list_objects += math.ceil(members / 1000)
            else:
                self.work.sizing_head_object += members
        self._chunk = {}
        self._chunk_rows = 0


def _destination(sidecar: Sidecar, row: ManifestRow, key: str) -> str:
    """The destination key Prepare gives ``key`` of ``row`` (validation.JobChecker.item)."""
    if not row.is_prefix:
        return sidecar.destination_prefix + (row.destination_key or key)
    relative = key if row.destination_key is None else row.destination_key + key[len(row.prefix) :]
    return sidecar.destination_prefix + relative


def _cutoff(sidecar: Sidecar, lane_cutoff: int | None, notes: list[str]) -> int:
    """The lane cut-off Prepare would use (the sidecar's, or the deployment's, clamped)."""
    requested = lane_cutoff
    if requested is None:
        requested = (
            sidecar.lane_cutoff_bytes
            if sidecar.lane_cutoff_bytes is not None
            else DEFAULT_LANE_CUTOFF_BYTES
        )
    cutoff = clamp_lane_cutoff(requested)
    if cutoff < requested:
        notes.append(
            f"lane cut-off lowered from {requested} to {cutoff} bytes, as Prepare lowers it: "
            "a Lambda function copies at most one CopyObject-sized object"
        )
    return cutoff


def prepare_planner(sidecar: Sidecar, cutoff: int, lambda_max_items: int) -> Planner:
    """A Planner built as Prepare builds it (``prepare.prepare``), writing to memory."""
    options = sidecar.copy_options()
    return Planner(
        io.BytesIO(),
        max_items=sidecar.max_items_per_batch,
        max_bytes=sidecar.max_bytes_per_batch,
        lane_cutoff=cutoff,
        lambda_lane=LaneLimits(
            min(lambda_max_items, LAMBDA_MAX_ITEMS),
            sidecar.max_bytes_per_batch,
            LAMBDA_BUDGET_SECONDS,
        ),
        model=copy_model(options),
    )


class _Plan:
    """The objects of a manifest, planned as Prepare plans them, in the estimate's terms."""

    def __init__(
        self,
        sidecar: Sidecar,
        planner: Planner,
        sizer: _Sizer,
        assumptions: pricing.Assumptions,
    ) -> None:
        self.sidecar = sidecar
        self.planner = planner
        self.sizer = sizer
        self.assumptions = assumptions
        self.work = sizer.work
        self.objects: list[pricing.PlannedObject] = []
        self.archived_unrestorable = 0
        self._buckets: dict[str, int] = {}
        #: identical objects (same size, bucket, ...) share one PlannedObject
        self._shared: dict[tuple[Any, ...], pricing.PlannedObject] = {}
        self._regions: dict[str, bool] = {}
        self.buckets: set[str] = set()
        self.sized_buckets: set[str] = set()
        self.touched: set[str] = set()

    def other_region(self, bucket: str) -> bool:
        """Whether a source bucket is in another region than the run (allowCrossRegion:
        HeadBucket tells with --size-from-s3; without it every source counts, an upper
        bound)."""
        if not self.sidecar.allow_cross_region:
            return False
        if bucket not in self._regions:
            s3 = self.sizer.s3
            found = bucket_region(s3, bucket) if s3 is not None else None
            self._regions[bucket] = found is None or found != (s3.meta.region_name if s3 else None)
        return self._regions[bucket]

    def add_row(self, row: ManifestRow, sources: list[_Source]) -> None:
        """A row's objects, and what Prepare will send to size the row."""
        self.buckets.add(row.bucket)
        if row.is_prefix:
            self.work.sizing_list_objects += max(1, math.ceil(len(sources) / 1000))
            self.touched.add(row.bucket)
        elif row.size is None:
            self.sizer.count_unsized(row.bucket, row.key)
            self.touched.add(row.bucket)
        else:
            self.sized_buckets.add(row.bucket)
        for source in sources:
            self._add(row, source)

    def _add(self, row: ManifestRow, source: _Source) -> None:
        sidecar = self.sidecar
        destination = _destination(sidecar, row, source.key)
        bucket = self._buckets.setdefault(sidecar.destination_bucket, len(self._buckets))
        waiting = source.restore in ("needed", "ongoing")
        if waiting and sidecar.restore is None:
            self.archived_unrestorable += 1
        spec = (
            source.size,
            bucket,
            _parts_in_etag(source.etag),
            source.storage_class if waiting else None,
            self.other_region(row.bucket),
            source.etag is not None,
        )
        obj = self._shared.get(spec)
        if obj is None:
            obj = self._shared[spec] = pricing.PlannedObject(*spec)
        # one plan line per object, naming it; its content does not matter for the batching
        self.planner.add_line(f"{len(self.objects)}\n".encode(), source.size, archived=waiting)
        self.objects.append(obj)
        uris = len(row.bucket) + len(source.key) + len(sidecar.destination_bucket)
        uris += len(destination)
        self.work.plan_bytes += uris + self.assumptions.plan_line_extra_bytes
        self.work.report_bytes += uris + 10 + self.assumptions.report_row_bytes

    def batches(self) -> list[pricing.PlannedBatch]:
        """Every batch with its objects and the CopyModel estimate Prepare sized it with."""
        self.sizer.flush()
        self.work.head_buckets = len(self.buckets) + 1  # each source bucket, the destination
        self.work.sample_heads = len(self.sized_buckets - self.touched)
        refs = self.planner.finish()
        out = self.planner.out
        assert isinstance(out, io.BytesIO)
        data = out.getvalue()
        return [
            pricing.PlannedBatch(
                Lane(ref.lane),
                [self.objects[int(i)] for i in data[ref.start : ref.end].split()],
                self.planner.estimates[ref.batch_id],
                archived=bool(ref.archived),
            )
            for ref in refs
        ]


def _sources(
    row: ManifestRow, sizer: _Sizer, assume_size: int | None
) -> tuple[list[_Source], bool]:
    """A row's objects (sized by the manifest, by S3 or by assumption); whether assumed."""
    if row.size is not None and not row.is_prefix:
        return [_Source(row.key, row.size)], False
    if sizer.s3 is not None:
        if row.is_prefix:
            return sizer.listing(row.bucket, row.prefix), False
        return [sizer.head(row.bucket, row.key)], False
    assert assume_size is not None
    return [_Source(row.key, assume_size)], True


def plan_files(
    rows: list[ManifestRow],
    sidecar: Sidecar,
    *,
    s3: Any | None = None,
    assume_size: int | None = None,
    lane_cutoff: int | None = None,
    prices: pricing.Prices | None = None,
    assumptions: pricing.Assumptions | None = None,
    calibration: pricing.Calibration | None = None,
    calibration_file: Path | None = None,
) -> PlanSummary:
    """Plan ``rows`` as Prepare would and estimate the run (see the module docstring)."""
    prices = prices or pricing.Prices()
    assumptions = assumptions or pricing.Assumptions()
    calibration = calibration or pricing.load_calibration(calibration_file)
    unsized = [r for r in rows if r.is_prefix or r.size is None]
    if unsized and s3 is None and assume_size is None:
        listed = ", ".join(str(r.row) for r in unsized[:10])
        more = f" and {len(unsized) - 10} more" if len(unsized) > 10 else ""
        raise SizingError(
            f"{len(unsized)} row(s) have no size (rows {listed}{more}): add a size column, "
            "or pass --size-from-s3 or --assume-size BYTES"
        )
    notes: list[str] = [
        "per run only: the deployment's standing costs (its dashboard and alarms, the "
        "inbox's stored plans and reports) are not included"
    ]
    cutoff = _cutoff(sidecar, lane_cutoff, notes)
    payer = {"RequestPayer": "requester"} if sidecar.requester_pays else {}
    sizer = _Sizer(s3, payer, assumptions)
    sizer.work.rows = len(rows)
    planner = prepare_planner(sidecar, cutoff, assumptions.lambda_max_items)
    plan = _Plan(sidecar, planner, sizer, assumptions)
    assumed = 0
    for row in rows:
        sources, was_assumed = _sources(row, sizer, assume_size)
        assumed += was_assumed
        plan.add_row(row, sources)
    batches = plan.batches()
    if plan.archived_unrestorable:
        notes.append(
            f"{plan.archived_unrestorable} source(s) are archived and not restored: Prepare "
            'will refuse the job (SourceArchived) unless the sidecar asks for a "restore"'
        )
    if sidecar.dry_run:
        notes.append(
            "the sidecar asks for a dry run, which copies nothing: this is the estimate of "
            "the same job without dryRun"
        )
    if sidecar.allow_cross_region and s3 is None:
        notes.append(
            "allowCrossRegion: every source is priced as if in another region (an upper "
            "bound; --size-from-s3 asks each bucket's region)"
        )
    estimate = pricing.estimate(
        batches,
        sidecar.copy_options(),
        max_concurrency=sidecar.max_concurrency,
        prepare=sizer.work,
        restore_tier=sidecar.restore.tier if sidecar.restore else None,
        restore_days=sidecar.restore.days if sidecar.restore else 0,
        prices=prices,
        assumptions=assumptions,
        calibration=calibration,
    )
    restore = None
    if estimate.archived_objects and sidecar.restore:
        restore = {
            "objects": estimate.archived_objects,
            "bytes": estimate.archived_bytes,
            "tier": sidecar.restore.tier,
            "days": sidecar.restore.days,
            "expectedWaitHours": estimate.timing.restore_wait / 3600,
            "expectedWaitSource": pricing.RESTORE_OPTIONS,
        }
    return PlanSummary(
        estimate=estimate,
        max_concurrency=sidecar.max_concurrency,
        lane_cutoff=cutoff,
        figures=[
            *pricing.figures_of(prices, "price"),
            *pricing.figures_of(assumptions, "assumption"),
            *calibration.figures(),
        ],
        calibration_source=calibration.provenance,
        restore=restore,
        notes=notes,
        assumed_rows=assumed,
        assumed_size=assume_size if assumed else None,
    )

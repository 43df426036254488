"""What a run will cost and take: the engine's and the pipeline's own model, priced.

``s3copy plan`` hands :func:`estimate` the batches Prepare would make (the same
:class:`~steps_s3_copy.planning.Planner`, lane limits and
:class:`~steps_s3_copy.planning.CopyModel`), each object with its size and destination
bucket. The estimate counts what the steps really send and run:

- **per object** (the engine, ``worker/``): one CopyObject up to the multipart threshold,
  after a HeadObject of the source when the plan has no ETag for it (a size from the
  manifest) or ``copyMetadata`` is off; a multipart copy is HeadObject of the source,
  GetObjectAttributes and a HeadObject per part when the source is itself multipart,
  GetObjectTagging (tags copied), ListMultipartUploads (an earlier attempt's leftovers),
  CreateMultipartUpload, N UploadPartCopy, CompleteMultipartUpload and a HeadObject to
  verify; skip checks list a batch's sorted keys of one bucket, one request per 1,000 (a
  lone key: a HeadObject);
- **per batch** (``worker/copy_batch.py``): GetObject of ``run.json`` and of the batch's
  byte range of ``plan.jsonl``, PutObject of its results; one Lambda invocation or one
  Fargate task; the Map item's state transitions;
- **per run**: Prepare (reads, the lock, the plan written in 8 MiB parts, the index; a
  HeadObject per row without a size or a listing per well-populated folder; a listing
  page per 1,000 objects of a ``prefix/*`` row), CheckDestination (a probe upload started
  and aborted), Summarise (a GetObject per results file, report.csv in parts, report.html,
  summary.json twice), Finish (the plan read back, a ListMultipartUploads), Notify (the
  marker, one SNS publish, the lock deleted);
- **archived sources**: a RestoreObject each, the tier's retrieval price per GB, the
  restored copy's storage for the restore's days, and the Thaw state's polls (a
  HeadObject per object each time) until the tier's expected wait is over;
- **time**: each batch's copy time is the CopyModel's estimate (what Prepare sized it
  with) or its CPU time on the lane's share of a vCPU, whichever is longer, plus its
  fixed requests; batches run ``maxConcurrency`` at a time (list scheduling in index
  order); the Map never runs faster than S3's request rates per prefix allow; Prepare's,
  Summarise's and Finish's own time (rows at their calibrated CPU per row) is added.

Every figure the estimate uses is a :class:`Figure` with its unit and where it comes
from, and ``s3copy plan`` prints them all: list **prices** (named pricing pages),
**assumptions** (what cannot be measured offline: S3's request latency and server-side
copy rate on AWS, rate limits, start-up times), the **deployment's** defaults (what the
construct deploys) and **calibrated** figures (CPU per object and per row, measured by
``./dev bench calibrate`` into ``steps_s3_copy/cli/calibration.json``).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from steps_s3_copy import retries
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.models import (
    MAX_COPY_OBJECT_BYTES,
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    CopyOptions,
    GiB,
    Lane,
    MiB,
    TiB,
)
from steps_s3_copy.planning import LAMBDA_TIMEOUT_SECONDS, CopyModel
from steps_s3_copy.prepare import RESTORE_HOURS, PrepareSettings
from steps_s3_copy.s3io import DEFAULT_PART_BYTES

Kind = Literal["price", "assumption", "deployment", "calibrated"]

S3_PRICING = "https://aws.amazon.com/s3/pricing/"
S3_PERFORMANCE = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html"
RESTORE_OPTIONS = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html"
)
LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
LAMBDA_MEMORY = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"
FARGATE_PRICING = "https://aws.amazon.com/fargate/pricing/"
SFN_PRICING = "https://aws.amazon.com/step-functions/pricing/"
SFN_TRANSITIONS = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html"


def _figure(value: Any, unit: str, source: str, kind: Kind | None = None) -> Any:
    """A dataclass field whose metadata says its unit, where its value comes from and,
    when not its class's, its kind."""
    return field(default=value, metadata={"unit": unit, "source": source, "kind": kind})


@dataclass(frozen=True)
class Figure:
    """One number the estimate uses, as ``s3copy plan`` prints it."""

    name: str
    value: Any
    unit: str
    source: str
    kind: Kind

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source, "kind": self.kind}


def figures_of(obj: Any, kind: Kind) -> list[Figure]:
    """The fields of a figures dataclass (``Prices``, ``Assumptions``, ...) as Figures."""
    out = []
    for f in fields(obj):
        name = _camel(f.name)
        out.append(
            Figure(name, getattr(obj, f.name), f.metadata["unit"], f.metadata["source"], kind)
        )
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Prices:
    """us-east-1 list prices in USD, assumed (a quote is the AWS bill, not this)."""

    region: str = _figure("us-east-1", "", "the region every price below is for")
    s3_put_copy_post_list_per_1000: float = _figure(
        0.005,
        "USD per 1,000 requests",
        f"{S3_PRICING} (Requests & data retrievals, S3 Standard: PUT, COPY, POST, LIST): "
        "CopyObject, UploadPartCopy, Create/CompleteMultipartUpload, PutObject, UploadPart, "
        "ListObjectsV2, ListMultipartUploads",
    )
    s3_get_head_other_per_1000: float = _figure(
        0.0004,
        "USD per 1,000 requests",
        f"{S3_PRICING} (S3 Standard: GET, SELECT and all other requests): GetObject, "
        "HeadObject, HeadBucket, GetObjectTagging, GetObjectAttributes (DELETE and "
        "AbortMultipartUpload are free)",
    )
    s3_standard_storage_gb_month: float = _figure(
        0.023,
        "USD per GB-month",
        f"{S3_PRICING} (Storage, S3 Standard, first 50 TB): a restored archive copy is "
        "charged at this rate for the restore's days",
    )
    inter_region_transfer_per_gb: float = _figure(
        0.02,
        "USD per GB (GB: 2^30 bytes)",
        f"{S3_PRICING} (Data transfer OUT from S3 to another AWS Region): a copy from a "
        "source bucket in another region (allowCrossRegion)",
    )
    glacier_expedited_per_1000: float = _figure(
        10.0, "USD per 1,000 restore requests", f"{S3_PRICING} (Glacier Flexible Retrieval)"
    )
    glacier_expedited_per_gb: float = _figure(
        0.03, "USD per GB retrieved (GB: 2^30 bytes)", f"{S3_PRICING} (Glacier Flexible Retrieval)"
    )
    glacier_standard_per_1000: float = _figure(
        0.05, "USD per 1,000 restore requests", f"{S3_PRICING} (Glacier Flexible Retrieval)"
    )
    glacier_standard_per_gb: float = _figure(
        0.01, "USD per GB retrieved (GB: 2^30 bytes)", f"{S3_PRICING} (Glacier Flexible Retrieval)"
    )
    glacier_bulk_per_1000: float = _figure(
        0.0, "USD per 1,000 restore requests", f"{S3_PRICING} (Glacier Flexible Retrieval: free)"
    )
    glacier_bulk_per_gb: float = _figure(
        0.0,
        "USD per GB retrieved (GB: 2^30 bytes)",
        f"{S3_PRICING} (Glacier Flexible Retrieval: free)",
    )
    deep_archive_standard_per_1000: float = _figure(
        0.10, "USD per 1,000 restore requests", f"{S3_PRICING} (Glacier Deep Archive)"
    )
    deep_archive_standard_per_gb: float = _figure(
        0.02, "USD per GB retrieved (GB: 2^30 bytes)", f"{S3_PRICING} (Glacier Deep Archive)"
    )
    deep_archive_bulk_per_1000: float = _figure(
        0.025, "USD per 1,000 restore requests", f"{S3_PRICING} (Glacier Deep Archive)"
    )
    deep_archive_bulk_per_gb: float = _figure(
        0.0025, "USD per GB retrieved (GB: 2^30 bytes)", f"{S3_PRICING} (Glacier Deep Archive)"
    )
    intelligent_tiering_restore_per_gb: float = _figure(
        0.0,
        "USD per GB retrieved (GB: 2^30 bytes)",
        f"{RESTORE_OPTIONS} (Standard and Bulk retrievals from Intelligent-Tiering's archive "
        "tiers are free)",
    )
    lambda_arm_gb_second: float = _figure(
        0.0000133334, "USD per GB-second", f"{LAMBDA_PRICING} (Arm, first 7.5 billion GB-s)"
    )
    lambda_per_million_requests: float = _figure(
        0.20, "USD per million invocations", LAMBDA_PRICING
    )
    fargate_arm_vcpu_hour: float = _figure(
        0.03238, "USD per vCPU-hour", f"{FARGATE_PRICING} (Linux/ARM, on-demand)"
    )
    fargate_arm_gb_hour: float = _figure(
        0.00356, "USD per GB-hour", f"{FARGATE_PRICING} (Linux/ARM, on-demand)"
    )
    fargate_spot_arm_vcpu_hour: float = _figure(
        0.0097,
        "USD per vCPU-hour",
        f"{FARGATE_PRICING} (Fargate Spot, Linux/ARM: Spot prices move; about 70 % below "
        "on-demand)",
    )
    fargate_spot_arm_gb_hour: float = _figure(
        0.0011, "USD per GB-hour", f"{FARGATE_PRICING} (Fargate Spot, Linux/ARM)"
    )
    public_ipv4_hour: float = _figure(
        0.005,
        "USD per address-hour",
        "https://aws.amazon.com/vpc/pricing/ (public IPv4 address): each Fargate task gets one "
        "(assign_public_ip in infra/definition.py)",
    )
    sfn_per_1000_transitions: float = _figure(
        0.025, "USD per 1,000 state transitions", f"{SFN_PRICING} (Standard workflows)"
    )
    sns_per_million_publishes: float = _figure(
        0.50, "USD per million publishes", "https://aws.amazon.com/sns/pricing/"
    )
    kms_per_10000_requests: float = _figure(
        0.03, "USD per 10,000 requests", "https://aws.amazon.com/kms/pricing/"
    )
    logs_ingestion_per_gb: float = _figure(
        0.50,
        "USD per GB ingested",
        "https://aws.amazon.com/cloudwatch/pricing/ (Logs, standard ingestion; the state "
        "machine's vended logs are priced the same up to 10 TB)",
    )
    xray_per_million_traces: float = _figure(
        5.0, "USD per million traces recorded", "https://aws.amazon.com/xray/pricing/"
    )

    def restore(self, storage_class: str, tier: str) -> tuple[float, float]:
        """(USD per 1,000 restore requests, USD per GB retrieved) of one class and tier."""
        if storage_class == "INTELLIGENT_TIERING":
            return 0.0, self.intelligent_tiering_restore_per_gb
        prefix = "deep_archive" if storage_class == "DEEP_ARCHIVE" else "glacier"
        per_1000 = float(getattr(self, f"{prefix}_{tier.lower()}_per_1000", 0.0))
        per_gb = float(getattr(self, f"{prefix}_{tier.lower()}_per_gb", 0.0))
        return per_1000, per_gb


_MODEL = CopyModel()
#: Prepare as deployed by default (its layout does not matter here)
_PREPARE = PrepareSettings(layout=InboxLayout(bucket="plan"))
_PLANNING = "steps_s3_copy/planning.py CopyModel: the figure Prepare sizes Lambda-lane batches with"


@dataclass(frozen=True)
class Assumptions:
    """Figures that cannot be measured offline, and how the construct deploys by default."""

    request_seconds: float = _figure(
        _MODEL.request_seconds,
        "s",
        f"{_PLANNING}; one S3 request's round trip from Lambda or Fargate in the same region "
        "(assumed: no AWS here to measure it)",
    )
    copy_bytes_per_second: float = _figure(
        _MODEL.copy_bytes_per_second,
        "bytes/s",
        f"{_PLANNING}; S3's server-side copy rate for one CopyObject or UploadPartCopy "
        "(assumed: S3 publishes none, and a local server is not S3)",
    )
    s3_put_requests_per_second_per_prefix: int = _figure(
        3500, "requests/s", f"{S3_PERFORMANCE} (PUT/COPY/POST/DELETE per partitioned prefix)"
    )
    s3_get_requests_per_second_per_prefix: int = _figure(
        5500, "requests/s", f"{S3_PERFORMANCE} (GET/HEAD per partitioned prefix)"
    )
    s3_prefixes: int = _figure(
        1,
        "partitioned prefixes",
        "assumed: all of a run's keys share one partition on each side (S3 partitions busy "
        "prefixes over 30-60 minutes; a fresh destination starts with one); the rates above "
        "bound the Map from below",
    )
    lambda_cold_start_seconds: float = _figure(
        2.0,
        "s",
        "assumed: start of the CopyBatch function's container image, paid once per concurrent slot",
    )
    lambda_invoke_seconds: float = _figure(
        0.1, "s", "assumed: the Map starting a child execution and invoking a warm function"
    )
    state_seconds: float = _figure(
        0.2, "s", "assumed: Step Functions' own time per state of the run path"
    )
    fargate_start_seconds: float = _figure(
        60.0,
        "s",
        "assumed: a Fargate task's RunTask, capacity and image pull before it copies "
        "(billed from the pull's start)",
    )
    fargate_minimum_billed_seconds: float = _figure(
        60.0, "s", f"{FARGATE_PRICING} (per second, one-minute minimum)"
    )
    cpu_speed_ratio: float = _figure(
        1.0,
        "x",
        "assumed: one vCPU of Lambda or Fargate (Graviton) does as much per second as one "
        "core of the machine the CPU figures were calibrated on",
    )
    source_multipart: bool = _figure(
        False,
        "",
        "assumed when sizes come from the manifest: sources are single-part (a multipart "
        "source is copied in its own parts whatever its size; --size-from-s3 knows from the "
        "ETag)",
    )
    source_part_sizes_listed: bool = _figure(
        False,
        "",
        "assumed: a multipart source without additional checksums does not list its parts "
        "(GetObjectAttributes), so the engine asks each part's size with a HeadObject",
    )
    plan_line_extra_bytes: int = _figure(
        120,
        "bytes",
        "assumed: a plan line's fields besides the keys and buckets (size, etag, storage "
        "class, JSON punctuation)",
    )
    report_row_bytes: int = _figure(
        60,
        "bytes",
        "assumed: a report.csv row's bytes besides its two URIs (status, bytes, evidence, seconds)",
    )
    log_bytes_per_transition: int = _figure(
        3000,
        "bytes",
        "assumed: the state machine logs every event with its data (LogLevel.ALL): a few "
        "events of about 1 KB per state",
    )
    log_bytes_per_invocation: int = _figure(
        2000,
        "bytes",
        "assumed: START/END/REPORT, the step's JSON log lines and its metrics (EMF) per "
        "Lambda invocation or Fargate task",
    )
    traces_per_invocation: float = _figure(
        1.0,
        "traces",
        "assumed upper bound: every function is traced (X-Ray samples the first request each "
        "second and 5 % of the rest)",
    )
    copy_lambda_memory_mib: int = _figure(
        1024,
        "MiB",
        "deployment default: infra/props.py lambda_memory_mib (CopyBatch, Prepare)",
        kind="deployment",
    )
    summarise_memory_mib: int = _figure(
        1769,
        "MiB",
        "deployment default: infra/compute.py SUMMARISE_MIN_MEMORY_MIB",
        kind="deployment",
    )
    destination_memory_mib: int = _figure(
        512,
        "MiB",
        "deployment default: infra/compute.py DESTINATION_MEMORY_MIB (Finish)",
        kind="deployment",
    )
    notify_memory_mib: int = _figure(
        256, "MiB", "deployment default: infra/compute.py NOTIFY_MEMORY_MIB", kind="deployment"
    )
    lambda_mib_per_vcpu: int = _figure(
        1769, "MiB", f"{LAMBDA_MEMORY} (a function has one vCPU at 1,769 MB)"
    )
    fargate_vcpu: float = _figure(
        1.0, "vCPU", "deployment default: infra/props.py task_cpu 1024 (ARM64)", kind="deployment"
    )
    fargate_memory_gb: float = _figure(
        2.0, "GB", "deployment default: infra/props.py task_memory_mib 2048", kind="deployment"
    )
    use_spot: bool = _figure(
        True,
        "",
        "deployment default: infra/props.py use_spot (Fargate batches run on Spot)",
        kind="deployment",
    )
    copy_reserved_concurrency: int = _figure(
        25,
        "executions",
        "deployment default: infra/props.py DEFAULT_COPY_RESERVED_CONCURRENCY (Prepare lowers "
        "maxConcurrency to it when the run has Lambda-lane batches)",
        kind="deployment",
    )
    engine_concurrency: int = _figure(
        CopyOptions().concurrency,
        "objects",
        "steps_s3_copy/models.py CopyOptions.concurrency: objects copied at once in a batch",
        kind="deployment",
    )
    part_concurrency: int = _figure(
        CopyOptions().part_concurrency,
        "parts",
        "steps_s3_copy/models.py CopyOptions.part_concurrency: parts copied at once",
        kind="deployment",
    )
    lambda_max_items: int = _figure(
        _PREPARE.lambda_max_items,
        "objects",
        "steps_s3_copy/prepare.py PrepareSettings.lambda_max_items: a Lambda-lane batch's "
        "objects at most (also bounded by bytes and the CopyModel's time)",
        kind="deployment",
    )
    prepare_head_concurrency: int = _figure(
        _PREPARE.head_concurrency,
        "requests",
        "steps_s3_copy/prepare.py PrepareSettings.head_concurrency",
        kind="deployment",
    )
    prepare_list_threshold: int = _figure(
        _PREPARE.list_threshold,
        "keys",
        "steps_s3_copy/prepare.py PrepareSettings.list_threshold: unsized keys of one folder "
        "in a chunk from which Prepare lists the folder instead of HEAD-ing each",
        kind="deployment",
    )
    prepare_chunk_rows: int = _figure(
        _PREPARE.chunk_rows,
        "rows",
        "steps_s3_copy/prepare.py PrepareSettings.chunk_rows: unsized rows sized together",
        kind="deployment",
    )
    summarise_concurrency: int = _figure(
        32, "requests", "steps_s3_copy/summarise.py summarise(concurrency=32)", kind="deployment"
    )
    transitions_per_run: int = _figure(
        8,
        "transitions",
        "infra/definition.py, the run path: Prepare, CheckDestination, DryRun, Copy, "
        "Summarise, Finish, Notify, Done",
        kind="deployment",
    )
    transitions_per_lambda_batch: int = _figure(
        4,
        "transitions",
        f"{SFN_TRANSITIONS} (one per child execution the Distributed Map starts) + "
        "infra/definition.py's Map item: Archived, Lane, CopyBatchLambda",
        kind="deployment",
    )
    transitions_per_fargate_batch: int = _figure(
        5,
        "transitions",
        f"{SFN_TRANSITIONS} (one per child execution) + infra/definition.py's Map item: "
        "Archived, Lane, FargateSpot (a Parallel state), CopyBatchSpot",
        kind="deployment",
    )
    transitions_per_thaw_poll: int = _figure(
        1,
        "transitions",
        "infra/definition.py's Thaw state of a batch with archived sources, entered once per "
        "poll (its Retry for the tier, steps_s3_copy/retries.py RESTORE_WAIT)",
        kind="deployment",
    )
    retries_assumed: int = _figure(
        0,
        "retries",
        "assumed: no step is retried (each retry is one more transition and invocation)",
    )


@dataclass(frozen=True)
class Calibration:
    """CPU figures measured on this project's code (``./dev bench calibrate``)."""

    engine_cpu_seconds_per_copied_object: float = _figure(
        0.0008, "CPU s", "built-in default (no calibration file)"
    )
    engine_cpu_seconds_per_source_head: float = _figure(
        0.0005, "CPU s", "built-in default (no calibration file)"
    )
    batch_cpu_seconds: float = _figure(0.1, "CPU s", "built-in default (no calibration file)")
    prepare_cpu_seconds_per_row: float = _figure(
        0.00003, "CPU s", "built-in default (no calibration file)"
    )
    summarise_cpu_seconds_per_row: float = _figure(
        0.00001, "CPU s", "built-in default (no calibration file)"
    )
    finish_cpu_seconds_per_row: float = _figure(
        0.00001, "CPU s", "built-in default (no calibration file)"
    )
    #: where the figures come from (one line), and how each was measured (by field name)
    provenance: str = field(default="built-in defaults", metadata={"skip": True})
    how: dict[str, str] = field(default_factory=dict, metadata={"skip": True})

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Calibration:
        """The calibration file's figures: ``{"measured": {...}, "figures": {name: {"value",
        "how"}}}``; a missing figure keeps its default, an unknown one is an error."""
        known = {_camel(f.name): f.name for f in fields(cls) if not f.metadata.get("skip")}
        values: dict[str, float] = {}
        how: dict[str, str] = {}
        for name, entry in dict(data.get("figures", {})).items():
            if name not in known:
                raise ValueError(f"{where}: unknown calibration figure {name!r}")
            value = float(entry["value"])
            if not value >= 0:
                raise ValueError(f"{where}: {name} must be a number >= 0")
            values[known[name]] = value
            how[known[name]] = str(entry.get("how", ""))
        measured = data.get("measured", {})
        provenance = (
            f"{where}: measured {measured.get('at', '?')} by {measured.get('command', '?')} "
            f"against {measured.get('server', '?')} on {measured.get('machine', '?')}"
        )
        return cls(**values, provenance=provenance, how=how)

    def figures(self) -> list[Figure]:
        out = []
        for f in fields(self):
            if f.metadata.get("skip"):
                continue
            how = self.how.get(f.name)
            source = f"measured: {how} ({self.provenance})" if how else f.metadata["source"]
            out.append(
                Figure(
                    _camel(f.name), getattr(self, f.name), f.metadata["unit"], source, "calibrated"
                )
            )
        return out


#: the calibration ``s3copy plan`` reads unless told otherwise
CALIBRATION_FILE = "calibration.json"


def load_calibration(path: Path | None = None) -> Calibration:
    """The calibration at ``path``, or the one shipped in the package (``./dev bench
    calibrate`` writes it); the built-in defaults when the package has none."""
    if path is not None:
        return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
    shipped = resources.files("steps_s3_copy.cli").joinpath(CALIBRATION_FILE)
    if not shipped.is_file():
        return Calibration()
    data = json.loads(shipped.read_text(encoding="utf-8"))
    return Calibration.from_dict(data, f"steps_s3_copy/cli/{CALIBRATION_FILE}")


# -- what is estimated ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedObject:
    """One object of the plan as the estimate needs it."""

    size: int
    #: index of its destination bucket: the engine lists a batch's keys of one bucket in
    #: sorted runs of 1,000 (worker/skip.py)
    bucket: int
    #: parts of the source when it is itself multipart (its ETag's -N), else 0
    source_parts: int = 0
    #: its archive class when it waits for a restore (GLACIER, DEEP_ARCHIVE, ...)
    archive_class: str | None = None
    #: its source bucket is in another region
    cross_region: bool = False
    #: the plan carries the source's ETag (sized by a listing or HeadObject); without it
    #: (a size from the manifest) the engine HEADs the source before copying
    etag_known: bool = False


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    lane: Lane
    objects: Sequence[PlannedObject]
    #: the CopyModel's estimate Prepare sized the batch with (Planner.estimates)
    model_seconds: float
    archived: bool = False


@dataclass
class PrepareWork:
    """What Prepare does besides planning: rows read, sizing requests, bytes written."""

    rows: int = 0
    sizing_head_object: int = 0
    sizing_list_objects: int = 0
    #: one HeadBucket per bucket (regions), one sample HeadObject per fully sized bucket
    head_buckets: int = 0
    sample_heads: int = 0
    plan_bytes: int = 0
    #: report.csv's bytes (Summarise), from the objects' URIs
    report_bytes: int = 0


@dataclass
class Requests:
    """S3 requests by API and step."""

    copy_object: int = 0
    create_multipart_upload: int = 0
    upload_part_copy: int = 0
    complete_multipart_upload: int = 0
    head_object_source: int = 0
    head_object_source_parts: int = 0
    get_object_attributes: int = 0
    get_object_tagging: int = 0
    list_multipart_uploads: int = 0
    head_object_verify: int = 0
    list_objects_skip_check: int = 0
    head_object_skip_check: int = 0
    batch_get_object: int = 0
    batch_put_object: int = 0
    prepare_get_head: int = 0
    prepare_put_list: int = 0
    sizing_head_object: int = 0
    sizing_list_objects: int = 0
    thaw_head_object: int = 0
    restore_object: int = 0
    check_destination_put: int = 0
    summarise_get_object: int = 0
    summarise_put: int = 0
    finish_get_object: int = 0
    finish_list: int = 0
    notify_get: int = 0
    notify_put: int = 0

    @property
    def put_class(self) -> int:
        """Priced at S3's PUT, COPY, POST, LIST rate."""
        return (
            self.copy_object
            + self.create_multipart_upload
            + self.upload_part_copy
            + self.complete_multipart_upload
            + self.list_multipart_uploads
            + self.list_objects_skip_check
            + self.batch_put_object
            + self.prepare_put_list
            + self.sizing_list_objects
            + self.check_destination_put
            + self.summarise_put
            + self.finish_list
            + self.notify_put
        )

    @property
    def get_class(self) -> int:
        """Priced at S3's GET and all-other rate."""
        return (
            self.head_object_source
            + self.head_object_source_parts
            + self.get_object_attributes
            + self.get_object_tagging
            + self.head_object_verify
            + self.head_object_skip_check
            + self.batch_get_object
            + self.prepare_get_head
            + self.sizing_head_object
            + self.thaw_head_object
            + self.summarise_get_object
            + self.finish_get_object
            + self.notify_get
        )


@dataclass
class Timing:
    """Where the run's time goes (seconds)."""

    prepare: float = 0.0
    check_destination: float = 0.0
    #: the Map: batches maxConcurrency at a time, or S3's request rates, whichever is slower
    copy: float = 0.0
    #: the Map as the batches alone would take it
    copy_batches: float = 0.0
    #: the Map as S3's request rates per prefix allow it at best
    copy_s3_rate: float = 0.0
    #: "batches" or "s3RequestRate"
    copy_bound_by: str = "batches"
    #: the longest restore wait of the run's archived sources (they are copied after it)
    restore_wait: float = 0.0
    summarise: float = 0.0
    finish: float = 0.0
    notify: float = 0.0
    states: float = 0.0
    total: float = 0.0


@dataclass
class Estimate:
    objects: int = 0
    bytes: int = 0
    batches: dict[str, int] = field(default_factory=lambda: {"lambda": 0, "fargate": 0})
    objects_by_lane: dict[str, int] = field(default_factory=lambda: {"lambda": 0, "fargate": 0})
    bytes_by_lane: dict[str, int] = field(default_factory=lambda: {"lambda": 0, "fargate": 0})
    multipart_objects: int = 0
    archived_objects: int = 0
    archived_bytes: int = 0
    cross_region_bytes: int = 0
    requests: Requests = field(default_factory=Requests)
    kms_requests: int = 0
    lambda_invocations: int = 0
    lambda_gb_seconds: float = 0.0
    fargate_tasks: int = 0
    fargate_task_hours: float = 0.0
    state_transitions: int = 0
    log_bytes: int = 0
    #: the longest Lambda-lane batch (seconds): it must stay well inside the 900 s timeout
    longest_lambda_batch_seconds: float = 0.0
    timing: Timing = field(default_factory=Timing)
    cost: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        return sum(self.cost.values())

    @property
    def wall_clock_seconds(self) -> float:
        return self.timing.total

    @property
    def cost_per_tib(self) -> float:
        return self.total_cost / (self.bytes / TiB) if self.bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["requests"]["putCopyPostListClass"] = self.requests.put_class
        out["requests"]["getHeadOtherClass"] = self.requests.get_class
        out["totalCost"] = self.total_cost
        out["costPerTiB"] = self.cost_per_tib
        out["wallClockSeconds"] = round(self.timing.total, 1)
        out["timing"] = {
            k: (round(v, 1) if isinstance(v, float) else v) for k, v in out["timing"].items()
        }
        return out


# -- the arithmetic ------------------------------------------------------------------------


def part_count(size: int, options: CopyOptions) -> int:
    """Parts of a multipart copy of a single-part source of ``size`` bytes: the engine's
    own part plan (``partSize``, doubled until 10,000 parts fit)."""
    if size <= 0:
        return 1
    part = max(options.part_size, MIN_PART_BYTES)
    while (size + part - 1) // part > MAX_PARTS:
        part *= 2
    return math.ceil(size / min(part, MAX_PART_BYTES))


def is_multipart(obj: PlannedObject, options: CopyOptions) -> bool:
    """Whether the engine copies ``obj`` in parts: above the threshold, or a multipart source."""
    return obj.source_parts > 0 or obj.size > min(
        options.multipart_threshold, MAX_COPY_OBJECT_BYTES
    )


def vcpus(memory_mib: float, assumptions: Assumptions) -> float:
    """A Lambda function's share of a vCPU at ``memory_mib`` (proportional to memory)."""
    return memory_mib / assumptions.lambda_mib_per_vcpu * assumptions.cpu_speed_ratio


def _gb(memory_mib: float) -> float:
    """Lambda bills memory in GB of 1,024 MB."""
    return memory_mib / 1024


def makespan(durations: Sequence[float], slots: int) -> float:
    """Time to run ``durations`` in index order on ``slots`` parallel slots, each taking the
    next one when free (the Distributed Map at MaxConcurrency)."""
    if not durations:
        return 0.0
    width = max(1, min(slots, len(durations)))
    heap = [0.0] * width
    for seconds in durations:
        heapq.heapreplace(heap, heap[0] + seconds)
    return max(heap)


def _object_requests(
    obj: PlannedObject, options: CopyOptions, assumptions: Assumptions, est: Estimate
) -> None:
    req = est.requests
    multipart = is_multipart(obj, options)
    if not obj.etag_known or multipart or not options.copy_metadata:
        # the source's size and ETag when the plan has none; its headers for a multipart
        # copy or to restate them without the user metadata (copyMetadata off)
        req.head_object_source += 1
    if not multipart:
        # CopyObject copies metadata and tags itself and answers with the new ETag,
        # which verifies it: no further request
        req.copy_object += 1
        if options.sse_kms_key_id:
            est.kms_requests += 1
        return
    est.multipart_objects += 1
    parts = obj.source_parts or part_count(obj.size, options)
    if obj.source_parts:
        # the source's own part layout: listed by GetObjectAttributes, or a HEAD per part
        req.get_object_attributes += 1
        if not assumptions.source_part_sizes_listed:
            req.head_object_source_parts += parts
    if options.copy_tags:
        req.get_object_tagging += 1
    # the destination key's incomplete uploads left by an earlier attempt, aborted first
    req.list_multipart_uploads += 1
    req.create_multipart_upload += 1
    req.upload_part_copy += parts
    req.complete_multipart_upload += 1
    req.head_object_verify += 1
    if options.sse_kms_key_id:
        est.kms_requests += 1 + parts


def _skip_check_requests(batch: PlannedBatch, options: CopyOptions, est: Estimate) -> int:
    """The batch's destination listings (its keys of one bucket sorted and listed in runs
    of 1,000, a request each; a lone key is HEAD-ed); the listing pages, for the batch's
    time."""
    if options.overwrite.value == "always":
        return 0
    buckets: dict[int, int] = {}
    for obj in batch.objects:
        buckets[obj.bucket] = buckets.get(obj.bucket, 0) + 1
    pages = 0
    for keys in buckets.values():
        if keys >= 2:
            pages += math.ceil(keys / 1000)
        else:
            est.requests.head_object_skip_check += 1
    est.requests.list_objects_skip_check += pages
    return pages


@dataclass
class _Copy:
    """The copy phase as :func:`estimate` works it out: each batch's time on its lane."""

    durations: list[float] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)
    #: the batches waiting for a restore: their durations and objects
    archived: list[tuple[float, int]] = field(default_factory=list)
    #: archived objects and bytes by storage class
    restore_classes: dict[str, tuple[int, int]] = field(default_factory=dict)


def _count_batch(
    batch: PlannedBatch,
    est: Estimate,
    run: _Copy,
    *,
    options: CopyOptions,
    a: Assumptions,
    cal: Calibration,
) -> None:
    """One batch: its objects' requests, its own reads and write, its time."""
    lane = batch.lane.value
    est.batches[lane] += 1
    est.objects_by_lane[lane] += len(batch.objects)
    heads_before = est.requests.head_object_source
    for obj in batch.objects:
        est.objects += 1
        est.bytes += obj.size
        est.bytes_by_lane[lane] += obj.size
        if obj.cross_region:
            est.cross_region_bytes += obj.size
        if obj.archive_class:
            est.archived_objects += 1
            est.archived_bytes += obj.size
            count, size = run.restore_classes.get(obj.archive_class, (0, 0))
            run.restore_classes[obj.archive_class] = (count + 1, size + obj.size)
        _object_requests(obj, options, a, est)
    # the batch's own reads and write: run.json, its plan range, its results
    est.requests.batch_get_object += 2
    est.requests.batch_put_object += 1
    # sources without a planned ETag are HEAD-ed first: a round trip the CopyModel (one
    # request per object) does not count, spread over the engine's concurrency
    heads = est.requests.head_object_source - heads_before
    pages = _skip_check_requests(batch, options, est)
    cpu = (
        cal.batch_cpu_seconds
        + len(batch.objects) * cal.engine_cpu_seconds_per_copied_object
        + heads * cal.engine_cpu_seconds_per_source_head
    )
    if batch.lane is Lane.FARGATE:
        vcpu = a.fargate_vcpu * a.cpu_speed_ratio
    else:
        vcpu = vcpus(a.copy_lambda_memory_mib, a)
    # the CopyModel's estimate (S3's latency and copy rate) or the CPU, whichever is longer
    model = batch.model_seconds + heads * a.request_seconds / a.engine_concurrency
    work = max(model, cpu / vcpu)
    seconds = work + (3 + pages) * a.request_seconds + a.lambda_invoke_seconds
    if batch.lane is Lane.FARGATE:
        seconds += a.fargate_start_seconds
    else:
        est.longest_lambda_batch_seconds = max(est.longest_lambda_batch_seconds, seconds)
    run.durations.append(seconds)
    run.lanes.append(batch.lane)
    if batch.archived:
        run.archived.append((seconds, len(batch.objects)))


def _map_concurrency(est: Estimate, max_concurrency: int, a: Assumptions) -> int:
    """The Map's concurrency as Prepare sets it (the reserved concurrency at most)."""
    uses_function = est.batches["lambda"] or est.archived_objects  # Thaw is CopyBatch
    if uses_function and max_concurrency > a.copy_reserved_concurrency:
        est.warnings.append(
            f"maxConcurrency {max_concurrency} lowered to {a.copy_reserved_concurrency}: the "
            "CopyBatch function's reserved concurrency (Prepare does the same)"
        )
        return a.copy_reserved_concurrency
    return max_concurrency


def _map_time(est: Estimate, run: _Copy, concurrency: int, a: Assumptions) -> float:
    """The Map's time (into ``est.timing``); how much S3's rates stretch each batch."""
    timing = est.timing
    req = est.requests
    durations = list(run.durations)
    # the first batch in each concurrent slot starts a cold function
    for index in range(min(len(durations), concurrency)):
        if run.lanes[index] is Lane.LAMBDA:
            durations[index] += a.lambda_cold_start_seconds
    run.durations = durations
    timing.copy_batches = makespan(durations, concurrency)
    # S3's request rates per prefix bound the Map from below: writes at the destination,
    # reads at the source (each copy reads its source) and the destination's listings
    # (counted with the reads)
    writes = (
        req.copy_object
        + req.create_multipart_upload
        + req.upload_part_copy
        + req.complete_multipart_upload
    )
    reads = (
        req.copy_object
        + req.upload_part_copy
        + req.head_object_source
        + req.head_object_source_parts
        + req.get_object_attributes
        + req.get_object_tagging
        + req.list_multipart_uploads
        + req.head_object_verify
        + req.head_object_skip_check
        + req.list_objects_skip_check
    )
    timing.copy_s3_rate = max(
        writes / (a.s3_put_requests_per_second_per_prefix * a.s3_prefixes),
        reads / (a.s3_get_requests_per_second_per_prefix * a.s3_prefixes),
    )
    timing.copy = max(timing.copy_batches, timing.copy_s3_rate)
    if timing.copy_s3_rate > timing.copy_batches:
        timing.copy_bound_by = "s3RequestRate"
    # batches held back by S3's rates take longer, and are billed for it
    return timing.copy / timing.copy_batches if timing.copy_batches else 1.0


def _bill_batches(est: Estimate, run: _Copy, stretch: float, a: Assumptions) -> None:
    """Lambda GB-seconds and invocations, Fargate tasks and task-hours of the batches."""
    for seconds, lane in zip(run.durations, run.lanes, strict=True):
        if lane is Lane.FARGATE:
            billed = max(a.fargate_minimum_billed_seconds, seconds * stretch)
            est.fargate_task_hours += billed / 3600
            est.fargate_tasks += 1
        else:
            est.lambda_gb_seconds += seconds * stretch * _gb(a.copy_lambda_memory_mib)
            est.lambda_invocations += 1


def _thaw(est: Estimate, run: _Copy, tier: str, a: Assumptions) -> None:
    """Archived sources: a RestoreObject each, then Thaw polls each waiting batch (a
    HeadObject per object) until the tier's expected wait is over."""
    hours = max(RESTORE_HOURS.get((c, tier), 0.0) for c in run.restore_classes)
    est.timing.restore_wait = hours * 3600
    polls = 1 + math.ceil(est.timing.restore_wait / retries.RESTORE_WAIT[tier].interval_seconds)
    est.requests.restore_object += est.archived_objects
    est.requests.thaw_head_object += est.archived_objects * polls
    for _, objects in run.archived:
        # an invocation that HEADs the batch's archived objects, 16 at a time
        seconds = a.lambda_invoke_seconds + math.ceil(objects / 16) * a.request_seconds
        est.lambda_invocations += polls
        est.lambda_gb_seconds += polls * seconds * _gb(a.copy_lambda_memory_mib)
        est.state_transitions += polls * a.transitions_per_thaw_poll


def estimate(
    batches: Iterable[PlannedBatch],
    options: CopyOptions,
    *,
    max_concurrency: int,
    prepare: PrepareWork,
    restore_tier: str | None = None,
    restore_days: int = 0,
    prices: Prices | None = None,
    assumptions: Assumptions | None = None,
    calibration: Calibration | None = None,
) -> Estimate:
    """Requests, compute, time and cost of a run of ``batches`` (see the module docstring)."""
    prices = prices or Prices()
    a = assumptions or Assumptions()
    cal = calibration or Calibration()
    est = Estimate()
    run = _Copy()
    for batch in batches:
        _count_batch(batch, est, run, options=options, a=a, cal=cal)
    concurrency = _map_concurrency(est, max_concurrency, a)
    stretch = _map_time(est, run, concurrency, a)
    _bill_batches(est, run, stretch, a)
    if run.restore_classes and restore_tier:
        _thaw(est, run, restore_tier, a)
    _prepare_and_summarise(est, prepare, a, cal)
    est.state_transitions += (
        a.transitions_per_run
        + a.transitions_per_lambda_batch * est.batches["lambda"]
        + a.transitions_per_fargate_batch * est.batches["fargate"]
    )
    timing = est.timing
    timing.states = a.transitions_per_run * a.state_seconds
    copy_phase = timing.copy
    if timing.restore_wait:
        # objects ready now are copied while the archived ones are restored
        waiting = makespan([seconds for seconds, _ in run.archived], concurrency)
        copy_phase = max(copy_phase, timing.restore_wait + waiting)
    timing.total = (
        timing.prepare
        + timing.check_destination
        + copy_phase
        + timing.summarise
        + timing.finish
        + timing.notify
        + timing.states
    )
    est.log_bytes = (
        est.state_transitions * a.log_bytes_per_transition
        + (est.lambda_invocations + est.fargate_tasks) * a.log_bytes_per_invocation
    )
    _warn(est)
    restore = _Restore(run.restore_classes, restore_tier, restore_days)
    est.cost = _costs(est, prices, a, restore)
    return est


def _warn(est: Estimate) -> None:
    if est.longest_lambda_batch_seconds > LAMBDA_TIMEOUT_SECONDS / 2:
        est.warnings.append(
            f"a Lambda-lane batch is estimated at {est.longest_lambda_batch_seconds:.0f} s, "
            f"more than half the function's {LAMBDA_TIMEOUT_SECONDS} s timeout"
        )
    if est.timing.prepare > LAMBDA_TIMEOUT_SECONDS:
        est.warnings.append(
            f"Prepare is estimated at {est.timing.prepare:.0f} s, more than its function's "
            f"{LAMBDA_TIMEOUT_SECONDS} s timeout: split the manifest"
        )


def _prepare_and_summarise(
    est: Estimate, work: PrepareWork, a: Assumptions, cal: Calibration
) -> None:
    """The requests and time of Prepare, CheckDestination, Summarise, Finish and Notify."""
    req = est.requests
    timing = est.timing
    rows = max(work.rows, est.objects)
    plan_parts = max(1, math.ceil(work.plan_bytes / DEFAULT_PART_BYTES))
    # Prepare: the sidecar read, the manifest HEAD-ed and read, one HeadBucket per bucket
    # (regions) and one sample HeadObject per fully sized source bucket; the event marker,
    # the lock, the plan (in 8 MiB parts), run.json and index.csv written
    req.prepare_get_head += 3 + work.sample_heads + work.head_buckets
    req.prepare_put_list += 2 + (plan_parts + 2 if plan_parts > 1 else 1) + 2
    req.sizing_head_object += work.sizing_head_object
    req.sizing_list_objects += work.sizing_list_objects
    prepare_vcpu = vcpus(a.copy_lambda_memory_mib, a)
    sizing = (work.sizing_head_object + work.sizing_list_objects) * a.request_seconds
    timing.prepare = (
        rows * cal.prepare_cpu_seconds_per_row / prepare_vcpu
        + sizing / a.prepare_head_concurrency
        + (8 + plan_parts / 4) * a.request_seconds
    )
    # CheckDestination: run.json read, a probe upload started and aborted
    req.check_destination_put += 1
    req.prepare_get_head += 1
    timing.check_destination = 3 * a.request_seconds
    # Summarise: the index, every results file, report.csv in parts, report.html,
    # summary.json twice (working area and report)
    n_batches = est.batches["lambda"] + est.batches["fargate"]
    report_parts = max(1, math.ceil(work.report_bytes / DEFAULT_PART_BYTES))
    req.summarise_get_object += 1 + n_batches
    req.summarise_put += (report_parts + 2 if report_parts > 1 else 1) + 1 + 2
    timing.summarise = (
        max(
            rows * cal.summarise_cpu_seconds_per_row / vcpus(a.summarise_memory_mib, a),
            n_batches * a.request_seconds / a.summarise_concurrency,
        )
        + (report_parts / 4 + 4) * a.request_seconds
    )
    # Finish: run.json and the plan read back (multipart candidates), the destination's
    # incomplete uploads listed
    req.finish_get_object += 2
    req.finish_list += 1
    timing.finish = (
        rows * cal.finish_cpu_seconds_per_row / vcpus(a.destination_memory_mib, a)
        + (3 + work.plan_bytes / (100 * MiB)) * a.request_seconds
    )
    # Notify: the marker read and written twice, one publish, the lock read and deleted
    req.notify_get += 2
    req.notify_put += 2
    timing.notify = 6 * a.request_seconds
    est.lambda_invocations += 5
    est.lambda_gb_seconds += (
        timing.prepare * _gb(a.copy_lambda_memory_mib)
        + timing.check_destination * _gb(a.destination_memory_mib)
        + timing.summarise * _gb(a.summarise_memory_mib)
        + timing.finish * _gb(a.destination_memory_mib)
        + timing.notify * _gb(a.notify_memory_mib)
    )


@dataclass(frozen=True)
class _Restore:
    #: archived objects and bytes by storage class
    classes: dict[str, tuple[int, int]]
    tier: str | None
    days: int


def _costs(est: Estimate, prices: Prices, a: Assumptions, restore: _Restore) -> dict[str, float]:
    req = est.requests
    fargate_hour = (
        a.fargate_vcpu * prices.fargate_spot_arm_vcpu_hour
        + a.fargate_memory_gb * prices.fargate_spot_arm_gb_hour
        if a.use_spot
        else a.fargate_vcpu * prices.fargate_arm_vcpu_hour
        + a.fargate_memory_gb * prices.fargate_arm_gb_hour
    )
    restore_requests = restore_retrieval = restored_storage = 0.0
    if restore.tier:
        for storage_class, (count, size) in restore.classes.items():
            per_1000, per_gb = prices.restore(storage_class, restore.tier)
            restore_requests += count / 1000 * per_1000
            restore_retrieval += size / GiB * per_gb
            if storage_class != "INTELLIGENT_TIERING":  # it moves back, no second copy
                restored_storage += (
                    size / GiB * prices.s3_standard_storage_gb_month * restore.days / 30
                )
    return {
        "s3PutCopyPostListRequests": req.put_class / 1000 * prices.s3_put_copy_post_list_per_1000,
        "s3GetHeadOtherRequests": req.get_class / 1000 * prices.s3_get_head_other_per_1000,
        "s3RestoreRequests": restore_requests,
        "s3RestoreRetrieval": restore_retrieval,
        "s3RestoredCopyStorage": restored_storage,
        "interRegionTransfer": est.cross_region_bytes / GiB * prices.inter_region_transfer_per_gb,
        "lambdaCompute": est.lambda_gb_seconds * prices.lambda_arm_gb_second,
        "lambdaRequests": est.lambda_invocations / 1e6 * prices.lambda_per_million_requests,
        "fargate": est.fargate_task_hours * fargate_hour,
        "fargatePublicIpv4": est.fargate_task_hours * prices.public_ipv4_hour,
        "stepFunctions": est.state_transitions / 1000 * prices.sfn_per_1000_transitions,
        "sns": 1 / 1e6 * prices.sns_per_million_publishes,
        "kms": est.kms_requests / 10_000 * prices.kms_per_10000_requests,
        "cloudWatchLogs": est.log_bytes / GiB * prices.logs_ingestion_per_gb,
        "xRay": (est.lambda_invocations * a.traces_per_invocation)
        / 1e6
        * prices.xray_per_million_traces,
    }

"""What a run will cost and take: requests by method, compute time, and the prices assumed.

The estimate is arithmetic over the plan Prepare would make (objects with their sizes,
grouped into batches per lane) and a table of list prices. Every price and every
throughput figure it uses is printed with the estimate, so nobody mistakes it for a quote.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from steps_s3_copy.models import MAX_COPY_OBJECT_BYTES, MAX_PARTS, CopyOptions, Lane, MiB


@dataclass(frozen=True)
class Prices:
    """us-east-1 list prices (USD), as assumed by ``s3copy plan``."""

    region: str = "us-east-1"
    #: S3 Standard PUT, COPY, POST, LIST: per 1,000 requests (UploadPartCopy, Create and
    #: CompleteMultipartUpload, CopyObject, PutObjectTagging and ListObjectsV2 are in this class)
    s3_put_copy_list_per_1000: float = 0.005
    #: S3 Standard GET, HEAD and all other requests: per 1,000 requests
    s3_get_head_per_1000: float = 0.0004
    #: Lambda on arm64, per GB-second and per million requests
    lambda_arm_gb_second: float = 0.0000133334
    lambda_per_million_requests: float = 0.20
    #: Fargate Spot on Linux/ARM: per vCPU-hour and per GB-hour (Spot prices move; about 70 %
    #: below the on-demand 0.03238 / 0.00356)
    fargate_spot_arm_vcpu_hour: float = 0.0097
    fargate_spot_arm_gb_hour: float = 0.0011
    #: Step Functions Standard: per 1,000 state transitions
    sfn_per_1000_transitions: float = 0.025
    #: SNS: per million publishes (the first million each month are free)
    sns_per_million_publishes: float = 0.50
    #: KMS: per 10,000 requests (GenerateDataKey / Decrypt when the destination uses SSE-KMS)
    kms_per_10000_requests: float = 0.03


@dataclass(frozen=True)
class Assumptions:
    """Throughput and sizing figures the time and compute estimates rest on."""

    #: server-side CopyObject throughput for one object (S3, same region)
    copy_object_mib_per_second: float = 60.0
    #: fixed cost of each object: skip check, request latency, verification
    per_object_overhead_seconds: float = 0.08
    #: throughput of one UploadPartCopy (multipart copies run several at once)
    upload_part_copy_mib_per_second: float = 80.0
    #: start-up of one Lambda batch and one Fargate task (image pull included)
    lambda_start_seconds: float = 1.0
    fargate_start_seconds: float = 60.0
    #: compute sizes of the two lanes
    lambda_memory_gb: float = 1.0
    fargate_vcpu: float = 1.0
    fargate_memory_gb: float = 2.0
    #: Step Functions transitions: fixed per run, and per Map item (Choice, Task, item end)
    transitions_per_run: int = 12
    transitions_per_batch: int = 4


@dataclass(frozen=True)
class PlannedBatch:
    lane: Lane
    sizes: Sequence[int]


@dataclass
class Requests:
    """S3 request counts by API (what the copy engine sends, by method)."""

    copy_object: int = 0
    create_multipart_upload: int = 0
    upload_part_copy: int = 0
    complete_multipart_upload: int = 0
    list_objects: int = 0
    head_or_attributes: int = 0
    get_object_tagging: int = 0
    kms: int = 0
    #: Prepare sizing rows without a size (HeadObject) and expanding prefix/* rows (LIST)
    sizing_head_object: int = 0
    sizing_list_objects: int = 0

    @property
    def put_class(self) -> int:
        return (
            self.copy_object
            + self.create_multipart_upload
            + self.upload_part_copy
            + self.complete_multipart_upload
            + self.list_objects
            + self.sizing_list_objects
        )

    @property
    def get_class(self) -> int:
        return self.head_or_attributes + self.get_object_tagging + self.sizing_head_object


@dataclass
class Estimate:
    objects: int = 0
    bytes: int = 0
    batches: dict[str, int] = field(default_factory=lambda: {"lambda": 0, "fargate": 0})
    objects_by_lane: dict[str, int] = field(default_factory=lambda: {"lambda": 0, "fargate": 0})
    bytes_by_lane: dict[str, int] = field(default_factory=lambda: {"lambda": 0, "fargate": 0})
    multipart_objects: int = 0
    requests: Requests = field(default_factory=Requests)
    lambda_gb_seconds: float = 0.0
    fargate_task_hours: float = 0.0
    state_transitions: int = 0
    wall_clock_seconds: float = 0.0
    cost: dict[str, float] = field(default_factory=dict)

    @property
    def total_cost(self) -> float:
        return sum(self.cost.values())

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["requests"]["putCopyListClass"] = self.requests.put_class
        out["requests"]["getHeadClass"] = self.requests.get_class
        out["totalCost"] = round(self.total_cost, 6)
        return out


def part_count(size: int, options: CopyOptions) -> int:
    """Parts of a multipart copy of a single-part source of ``size`` bytes."""
    part_size = options.part_size
    if size > part_size * MAX_PARTS:
        part_size = math.ceil(size / MAX_PARTS)
    return max(1, math.ceil(size / part_size))


def is_multipart(size: int, options: CopyOptions) -> bool:
    return size > min(options.multipart_threshold, MAX_COPY_OBJECT_BYTES)


def object_seconds(size: int, options: CopyOptions, assumptions: Assumptions) -> float:
    if not is_multipart(size, options):
        return assumptions.per_object_overhead_seconds + size / MiB / (
            assumptions.copy_object_mib_per_second
        )
    parts = part_count(size, options)
    waves = math.ceil(parts / options.part_concurrency)
    part_bytes = size / parts
    return assumptions.per_object_overhead_seconds + waves * part_bytes / MiB / (
        assumptions.upload_part_copy_mib_per_second
    )


def estimate(
    batches: Iterable[PlannedBatch],
    options: CopyOptions,
    *,
    max_concurrency: int,
    sizing_heads: int = 0,
    sizing_lists: int = 0,
    prices: Prices | None = None,
    assumptions: Assumptions | None = None,
) -> Estimate:
    """Requests, compute, time and cost of copying ``batches``.

    ``sizing_heads`` and ``sizing_lists`` are Prepare's requests to size the sources
    (rows without a size, and ``prefix/*`` rows).
    """
    prices = prices or Prices()
    assumptions = assumptions or Assumptions()
    result = Estimate()
    req = result.requests
    req.sizing_head_object = sizing_heads
    req.sizing_list_objects = sizing_lists
    batch_seconds: list[float] = []
    for batch in batches:
        lane = batch.lane.value
        result.batches[lane] += 1
        result.objects_by_lane[lane] += len(batch.sizes)
        result.bytes_by_lane[lane] += sum(batch.sizes)
        # Skip checks list the destination: one ListObjectsV2 page per batch (<= 1,000 keys).
        req.list_objects += max(1, math.ceil(len(batch.sizes) / 1000))
        seconds_in_objects = 0.0
        for size in batch.sizes:
            result.objects += 1
            result.bytes += size
            if is_multipart(size, options):
                result.multipart_objects += 1
                parts = part_count(size, options)
                req.create_multipart_upload += 1
                req.upload_part_copy += parts
                req.complete_multipart_upload += 1
                # the source's part layout (GetObjectAttributes) to mirror it, and one
                # HeadObject of the destination to verify the checksum
                req.head_or_attributes += 2
                if options.copy_tags:
                    # multipart copies carry tags explicitly: read them from the source
                    req.get_object_tagging += 1
                if options.sse_kms_key_id:
                    req.kms += 1 + parts
            else:
                # CopyObject copies metadata and tags itself, and answers with the new
                # ETag, which verifies it: no further request
                req.copy_object += 1
                if options.sse_kms_key_id:
                    req.kms += 1
            seconds_in_objects += object_seconds(size, options, assumptions)
        start = (
            assumptions.fargate_start_seconds
            if batch.lane is Lane.FARGATE
            else assumptions.lambda_start_seconds
        )
        seconds = start + seconds_in_objects / options.concurrency
        batch_seconds.append(seconds)
        if batch.lane is Lane.FARGATE:
            result.fargate_task_hours += seconds / 3600
        else:
            result.lambda_gb_seconds += seconds * assumptions.lambda_memory_gb

    n_batches = len(batch_seconds)
    result.state_transitions = (
        assumptions.transitions_per_run + assumptions.transitions_per_batch * n_batches
    )
    if batch_seconds:
        # Batches run maxConcurrency at a time: total work spread over the lanes, and never
        # less than the longest batch.
        result.wall_clock_seconds = max(
            *batch_seconds, sum(batch_seconds) / max(1, max_concurrency)
        )
    result.cost = {
        "s3PutCopyListRequests": req.put_class / 1000 * prices.s3_put_copy_list_per_1000,
        "s3GetHeadRequests": req.get_class / 1000 * prices.s3_get_head_per_1000,
        "lambdaCompute": result.lambda_gb_seconds * prices.lambda_arm_gb_second,
        "lambdaRequests": result.batches["lambda"] / 1e6 * prices.lambda_per_million_requests,
        "fargateSpot": result.fargate_task_hours
        * (
            assumptions.fargate_vcpu * prices.fargate_spot_arm_vcpu_hour
            + assumptions.fargate_memory_gb * prices.fargate_spot_arm_gb_hour
        ),
        "stepFunctions": result.state_transitions / 1000 * prices.sfn_per_1000_transitions,
        "sns": 1 / 1e6 * prices.sns_per_million_publishes,
        "kms": req.kms / 10_000 * prices.kms_per_10000_requests,
    }
    return result

"""A realistic run's working area for the report's tests: a plan in both lanes and the
results a copy of it would leave, with the engine's kinds of failure.

The plan is made by the real Planner (sizes from KiB indexes to tens-of-GiB BAMs, the
large ones in the Fargate lane); the results are what the engine writes, with
``finishedAt`` spread over a quarter of an hour as concurrent batches would finish. One
Fargate batch left no results file (Summarise reports ``BatchFailed``), one Lambda batch
stopped half-way (``NotAttempted``), and one key is HTML (``<script>``) to check escaping.
The source and destination objects themselves are not created: Summarise never reads them.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Any

from steps_s3_copy.models import GiB, KiB, Lane, MiB, ObjectResult, RunLocation, Status
from steps_s3_copy.payloads import ExecutionContext, PrepareResult
from steps_s3_copy.planning import LaneLimits, Planner
from steps_s3_copy.workarea import WorkArea, index_csv

#: when the run's execution started (2026-11-25T18:00:00Z)
STARTED = 1_795_629_600.0
HTML_KEY = "project-x/<script>alert('key')</script>&amp;.txt"
EXECUTION = ExecutionContext(
    id="arn:aws:states:eu-west-2:123456789012:execution:StepsS3Copy:run-0042",
    name="run-0042",
    start_time="2026-11-25T18:00:00Z",
)

_FAILURES = (
    ("AccessDenied", "Access Denied"),
    ("NoSuchKey", "The specified key does not exist."),
    ("ExpectedSizeMismatch", "the manifest says {size} bytes, the source has {other}"),
    ("VerifyFailed", "the destination's CRC64NVME differs from the source's"),
)


@dataclass(frozen=True)
class RealisticRun:
    prepared: PrepareResult
    #: how many results carry a finish time
    timed: int


def _objects(rng: random.Random, n: int) -> list[tuple[str, int]]:
    objects = [(HTML_KEY, 4 * KiB)]
    sample = 0
    while len(objects) < n:
        sample += 1
        project = f"project-{'abcdefg'[sample % 7]}"
        base = f"{project}/sample-{sample:04d}"
        bam = int(rng.uniform(2, 40) * GiB)
        objects += [
            (f"{base}/aligned.bam", bam),
            (f"{base}/aligned.bam.bai", int(rng.uniform(2, 9) * MiB)),
            (f"{base}/reads_R1.fastq.gz", int(rng.uniform(120, 900) * MiB)),
            (f"{base}/reads_R2.fastq.gz", int(rng.uniform(120, 900) * MiB)),
            (f"{base}/variants.vcf.gz", int(rng.uniform(20, 400) * KiB)),
            (f"{base}/qc/metrics.json", int(rng.uniform(1, 30) * KiB)),
        ]
    return objects[:n]


def realistic_run(
    s3: Any,
    bucket: str,
    *,
    objects: int = 300,
    seed: int = 7,
    with_times: bool = True,
    job: str = "lab-a-to-partner",
) -> RealisticRun:
    """Plan ``objects`` objects into ``s3://bucket/work/<job>/run-0042/`` and write the
    results of their copy; return what Prepare would have returned."""
    rng = random.Random(seed)
    run_id = EXECUTION.name
    location = RunLocation(bucket=bucket, prefix=f"work/{job}/{run_id}/")
    plan = io.BytesIO()
    planner = Planner(
        plan,
        max_items=4,
        max_bytes=100 * GiB,
        lane_cutoff=1 * GiB,
        lambda_lane=LaneLimits(20, 100 * GiB),
    )
    for key, size in _objects(rng, objects):
        planner.add(
            {
                "sourceBucket": "lab-a-raw",
                "sourceKey": key,
                "destinationBucket": "partner-inbound",
                "destinationKey": f"from-lab-a/{key}",
                "size": size,
            },
            size,
        )
    batches = planner.finish()
    s3.put_object(Bucket=bucket, Key=location.plan_key, Body=plan.getvalue())
    s3.put_object(Bucket=bucket, Key=location.index_key, Body=index_csv(batches))
    area = WorkArea(s3, location)
    fargate = [b for b in batches if b.lane == Lane.FARGATE]
    lambdas = [b for b in batches if b.lane == Lane.LAMBDA]
    lost = fargate[len(fargate) // 2].batch_id if fargate else -1
    stopped = lambdas[-1].batch_id if lambdas else -1
    timed = 0
    for ref in batches:
        if ref.batch_id == lost:
            continue  # the batch failed after its retries: no results file
        items = area.read_batch(ref)
        if ref.batch_id == stopped:
            items = items[: len(items) // 2]
        if ref.lane == Lane.FARGATE:
            clock = STARTED + 40 + rng.uniform(0, 420)  # the task starts, then copies
            speed = rng.uniform(250, 420) * MiB
        else:
            clock = STARTED + 6 + rng.uniform(0, 500)
            speed = rng.uniform(60, 140) * MiB
        results = []
        for item in items:
            size = item.size or 0
            seconds = 0.08 + size / speed * rng.uniform(0.8, 1.3)
            roll = rng.random()
            status = Status.COPIED
            code = message = None
            if roll < 0.08:
                status, seconds = Status.SKIPPED, rng.uniform(0.01, 0.05)
            elif roll < 0.115 or item.source_key == HTML_KEY:
                status = Status.FAILED
                code, text = _FAILURES[rng.randrange(len(_FAILURES))]
                message = text.format(size=size, other=size - 1)
                seconds = rng.uniform(0.05, 0.6)
            clock += seconds
            finished = round(clock, 3) if with_times else None
            timed += finished is not None
            results.append(
                ObjectResult(
                    source=f"s3://{item.source_bucket}/{item.source_key}",
                    destination=f"s3://{item.destination_bucket}/{item.destination_key}",
                    status=status,
                    bytes=size,
                    method="copy" if status == Status.COPIED else "none",
                    checksum="CRC64NVME:AAAAAAAAAAA=" if status != Status.FAILED else None,
                    seconds=round(seconds, 3),
                    error_code=code,
                    error_message=message,
                    finished_at=finished,
                )
            )
        area.write_results(ref.batch_id, results)
    prepared = PrepareResult(
        job_name=job,
        run_id=run_id,
        manifest=f"s3://{bucket}/jobs/{job}.csv",
        work=location,
        index_key=location.index_key,
        objects=planner.objects,
        bytes=planner.bytes,
        batches=planner.batches_per_lane(),
        max_concurrency=25,
        dry_run=False,
        report_uri=f"s3://{bucket}/reports/{job}/{run_id}/",
        requester="arn:aws:sts::123456789012:assumed-role/lab-a-submitter/alice",
    )
    return RealisticRun(prepared=prepared, timed=timed)

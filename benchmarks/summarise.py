"""Summarise on 1,000,000 result rows against a moto server on 127.0.0.1.

    python -m benchmarks summarise [--rows N] [--batch N]

Plans N objects into batches of ``--batch`` (default 10, the sidecar's default: 100,000
results files for a million rows), writes the plan, the index and every batch's results
file to a ``moto_server`` (a mix of COPIED, SKIPPED and FAILED, some batches without a
results file and some partial), then runs the real ``steps_s3_copy.summarise.summarise``
in a child process and reports its wall time and peak RSS. Targets: under 60 s and under
512 MiB.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from benchmarks.prepare import (
    TARGET_MIB,
    TARGET_SECONDS,
    measure_child,
    measured,
    moto_server,
    s3_client,
)

WORK = {"bucket": "inbox", "prefix": "work/bench/bench-1/"}


def prepared(rows: int, batches: dict[str, int], total: int) -> dict[str, Any]:
    return {
        "jobName": "bench",
        "runId": "bench-1",
        "manifest": "s3://inbox/jobs/bench.csv",
        "work": WORK,
        "indexKey": WORK["prefix"] + "index.csv",
        "objects": rows,
        "bytes": total,
        "batches": batches,
        "maxConcurrency": 25,
        "dryRun": False,
        "reportUri": "s3://inbox/reports/bench/bench-1/",
    }


def setup(s3: Any, rows: int, batch: int) -> dict[str, Any]:
    from steps_s3_copy.models import RunLocation  # noqa: PLC0415
    from steps_s3_copy.planning import Planner  # noqa: PLC0415
    from steps_s3_copy.workarea import index_csv  # noqa: PLC0415

    location = RunLocation.model_validate(WORK)
    plan = io.BytesIO()
    planner = Planner(plan, max_items=batch, max_bytes=100 * 1024**3, lane_cutoff=1024**3)
    for i in range(rows):
        size = 1000 + i % 5000
        key = f"project-{i % 97}/sample {i:07d}/reads.fastq.gz"
        item = {
            "sourceBucket": "src-bucket",
            "sourceKey": key,
            "destinationBucket": "dst-bucket",
            "destinationKey": key,
            "size": size,
        }
        planner.add(item, size)
    batches = planner.finish()
    s3.put_object(Bucket="inbox", Key=location.plan_key, Body=plan.getvalue())
    s3.put_object(Bucket="inbox", Key=location.index_key, Body=index_csv(batches))
    data = plan.getvalue()

    def results_of(n: int) -> tuple[str, bytes] | None:
        ref = batches[n]
        if n % 200 == 7:
            return None  # the batch failed after its retries: no results file
        lines = data[ref.start : ref.end].splitlines()
        if n % 200 == 11:
            lines = lines[: len(lines) // 2]  # interrupted: a partial results file
        out = []
        for j, line in enumerate(lines):
            item = json.loads(line)
            status = "FAILED" if j == 3 and n % 10 == 0 else "SKIPPED" if j == 1 else "COPIED"
            result = {
                "source": f"s3://src-bucket/{item['sourceKey']}",
                "destination": f"s3://dst-bucket/{item['destinationKey']}",
                "status": status,
                "bytes": item["size"],
                "method": "copy" if status == "COPIED" else "skip",
                "checksum": "CRC64NVME:AAAAAAAAAAA=",
                "seconds": 0.123,
                # as the engine writes it: when the object's copy ended (report.html's
                # throughput over time); batches end 3.6 s apart
                "finishedAt": 1_795_629_600 + n * 3.6 + j * 0.01,
            }
            if status == "FAILED":
                result |= {"errorCode": "AccessDenied", "errorMessage": "Access Denied"}
            out.append(json.dumps(result))
        return location.results_key(ref.batch_id), ("\n".join(out) + "\n").encode()

    def upload(n: int) -> None:
        found = results_of(n)
        if found is not None:
            s3.put_object(Bucket="inbox", Key=found[0], Body=found[1])

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(upload, range(len(batches))))
    return prepared(rows, planner.batches_per_lane(), planner.bytes)


def child(endpoint: str, payload: str) -> None:
    from steps_s3_copy.payloads import ExecutionContext, PrepareResult  # noqa: PLC0415
    from steps_s3_copy.summarise import fast_reader, summarise  # noqa: PLC0415

    s3 = s3_client(endpoint)
    reader = fast_reader(boto3.session.Session(), endpoint_url=endpoint)  # as the handler does
    result = PrepareResult.model_validate_json(payload)
    execution = ExecutionContext(id="arn:bench", name="bench-1")
    report = measured(lambda: summarise(result, execution, s3=s3, reader=reader))
    report["notice"] = report.pop("value").to_payload()
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10, help="objects per batch")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--payload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.endpoint, args.payload)
        return
    with moto_server() as endpoint:
        s3 = s3_client(endpoint)
        s3.create_bucket(Bucket="inbox")
        started = time.perf_counter()
        payload = setup(s3, args.rows, args.batch)
        files = sum(payload["batches"].values())
        print(
            f"setup: {args.rows:,} planned objects in {files:,} batches of {args.batch},"
            f" results written in {time.perf_counter() - started:.1f} s"
        )
        report = measure_child(
            "benchmarks.summarise", ["--endpoint", endpoint, "--payload", json.dumps(payload)]
        )
    notice = report["notice"]
    print(
        f"summarise: status {notice['status']}, counts {notice['counts']},"
        f" report {notice['reportUri']}"
    )
    ok_time = report["seconds"] < TARGET_SECONDS
    ok_mem = report["peak_rss_mib"] < TARGET_MIB
    print(
        f"wall time {report['seconds']:.1f} s (target < {TARGET_SECONDS:.0f} s:"
        f" {'ok' if ok_time else 'MISSED'}); this process's CPU {report['cpu_seconds']:.1f} s"
        " (the rest is waiting: for the moto server, and for a CPU on a busy machine)"
    )
    print(
        f"peak RSS {report['peak_rss_mib']:.0f} MiB, of which {report['rss_before_mib']:.0f} MiB"
        f" before the call (target < {TARGET_MIB:.0f} MiB: {'ok' if ok_mem else 'MISSED'})"
    )


if __name__ == "__main__":
    main()

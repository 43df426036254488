"""Prepare on a 1,000,000-row manifest (sizes given) against a moto server on 127.0.0.1.

    python -m benchmarks prepare [--rows N] [--batch N]

Starts ``moto_server``, uploads the manifest and its sidecar, then runs the real
``steps_s3_copy.prepare.prepare_input`` in a child process and reports the child's wall
time and peak RSS (``ru_maxrss``; the interpreter with boto3, pydantic and Powertools
loaded is included). Targets: under 60 s and under 512 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

TARGET_SECONDS = 60.0
TARGET_MIB = 512.0
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    """A ``moto_server`` subprocess on a free port of 127.0.0.1; yields its endpoint."""
    port = _free_port()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a server holding millions of objects is slow to go
            proc.kill()
            proc.wait(timeout=10)


def s3_client(endpoint: str) -> Any:
    os.environ.update(CREDENTIALS)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(max_pool_connections=64, retries={"max_attempts": 3}),
    )


def measure_child(module: str, args: list[str]) -> dict[str, Any]:
    """Run ``python -m module --child ARGS``; its last stdout line is a JSON report."""
    env = {**os.environ, **CREDENTIALS}
    out = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB.

    VmHWM from /proc (Linux) belongs to this process's own address space; ru_maxrss is
    kept across exec and so would include the parent's peak at the time it forked.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(call: Callable[[], Any]) -> dict[str, Any]:
    """Run ``call`` once: wall and CPU seconds, peak RSS before and after, and its value."""
    base = peak_rss_mib()
    start = time.perf_counter()
    cpu = time.process_time()
    value = call()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "rss_before_mib": round(base, 1),
        "value": value,
    }


def manifest_lines(rows: int, bucket: str, seed: int = 7) -> Iterator[str]:
    """Genomics-shaped keys with sizes: mostly small files, 2% above the 1 GiB cut-off."""
    rnd = random.Random(seed)
    yield "bucket,key,size\n"
    for i in range(rows):
        big = i % 50 == 0
        size = rnd.randint(2 * 1024**3, 60 * 1024**3) if big else rnd.randint(1, 50 * 1024**2)
        yield f"{bucket},project-{i % 97}/sample {i:07d}/reads_R{i % 2 + 1}+lane.fastq.gz,{size}\n"


def child(endpoint: str) -> None:
    from steps_s3_copy import prepare  # noqa: PLC0415
    from steps_s3_copy.inbox import InboxLayout  # noqa: PLC0415
    from steps_s3_copy.payloads import PreparePayload  # noqa: PLC0415
    from steps_s3_copy.prepare import PrepareSettings  # noqa: PLC0415

    s3 = s3_client(endpoint)
    settings = PrepareSettings(layout=InboxLayout("inbox"))
    event = {
        "sourceFilesCsvBucket": "inbox",
        "sourceFilesCsvKey": "jobs/bench.csv",
        "destinationBucket": "dst-bucket",
    }
    payload = PreparePayload.model_validate(
        {"input": event, "execution": {"id": "arn:bench", "name": "bench-1"}}
    )
    report = measured(
        lambda: prepare.run(payload, s3=s3, settings=settings, is_running=lambda _arn: False)
    )
    report["result"] = report.pop("value").to_payload()
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.endpoint)
        return
    with moto_server() as endpoint:
        s3 = s3_client(endpoint)
        for bucket in ("inbox", "src-bucket", "dst-bucket"):
            s3.create_bucket(Bucket=bucket)
        started = time.perf_counter()
        body = "".join(manifest_lines(args.rows, "src-bucket")).encode()
        first_key = body.split(b"\n")[1].decode().split(",")[1]
        s3.put_object(Bucket="src-bucket", Key=first_key, Body=b"x")  # the bucket check's sample
        s3.put_object(Bucket="inbox", Key="jobs/bench.csv", Body=body)
        print(
            f"manifest: {args.rows:,} rows, {len(body) / 1024**2:.1f} MiB"
            f" (generated and uploaded in {time.perf_counter() - started:.1f} s)"
        )
        report = measure_child("benchmarks.prepare", ["--endpoint", endpoint])
    result = report["result"]
    ok_time = report["seconds"] < TARGET_SECONDS
    ok_mem = report["peak_rss_mib"] < TARGET_MIB
    print(
        f"prepare: {result['objects']:,} objects, {result['bytes'] / 1024**4:.1f} TiB,"
        f" batches {result['batches']}"
    )
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

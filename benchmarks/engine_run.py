"""One copy-engine run in a process of its own, for ``benchmarks/engine.py``.

The benchmark measures this process from outside (wall time, CPU of the whole process
including interpreter start and imports, requests seen by the server), exactly as it
measures s5cmd, rclone and the aws CLI. Like them, it finds the source objects itself:
one ListObjectsV2 per 1,000 keys gives each object's size and ETag, which is what
Prepare puts in the plan. It then runs the product's path: ``CopyEngine.copy`` over those
planned ``CopyItem``\\ s (skip checks by destination listing, one CopyObject per small
object, no HeadObject), as a copy batch does.

    python -m benchmarks.engine_run --endpoint-url URL --source s3://b/p/ --dest s3://d/p/
        [--concurrency 16] [--batch-size 0] [--client lean|boto3]

``--batch-size N`` splits the plan in consecutive batches of N objects (0: one batch);
``--client boto3`` runs the same engine over the boto3-backed client.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# The runtime image (worker/requirements.txt) has no awscrt, but this venv has it for
# benchmarks/engine_clients.py, and botocore imports it whenever it is installed (even
# with BOTO_DISABLE_CRT set), which costs 30-50 ms of CPU per process. Measure the engine
# as it ships: without it.
sys.modules["awscrt"] = None  # type: ignore[assignment]

import botocore.session  # noqa: E402

from steps_s3_copy.models import CopyItem, CopyOptions, ObjectResult, Status  # noqa: E402
from steps_s3_copy.worker.engine import CopyEngine, lean_client, pool_size  # noqa: E402
from steps_s3_copy.worker.s3boto import Boto3S3Client  # noqa: E402
from steps_s3_copy.worker.s3client import S3Client  # noqa: E402


def split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


def plan(client: S3Client, source: str, dest: str) -> list[CopyItem]:
    """The plan Prepare would write for "copy everything under source to dest"."""
    source_bucket, source_prefix = split(source)
    dest_bucket, dest_prefix = split(dest)
    return [
        CopyItem(
            source_bucket=source_bucket,
            source_key=entry.key,
            destination_bucket=dest_bucket,
            destination_key=dest_prefix + entry.key[len(source_prefix) :],
            size=entry.size,
            etag=entry.etag,
        )
        for entry in client.list_objects(source_bucket, source_prefix)
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint-url")
    parser.add_argument("--source", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--client", choices=("lean", "boto3"), default="lean")
    args = parser.parse_args()

    options = CopyOptions(concurrency=args.concurrency)
    client: S3Client
    if args.client == "boto3":
        core = botocore.session.Session()
        client = Boto3S3Client.from_session(
            core,
            region=core.get_config_variable("region") or "us-east-1",
            endpoint_url=args.endpoint_url,
            max_connections=pool_size(options),
        )
    else:
        client = lean_client(options, endpoint_url=args.endpoint_url)
    engine = CopyEngine(options, client=client)
    cpu = time.process_time()
    items = plan(client, args.source, args.dest)
    plan_cpu = time.process_time() - cpu
    size = args.batch_size or max(1, len(items))
    results: list[ObjectResult] = []
    cpu = time.process_time()
    for start in range(0, len(items), size):
        results.extend(engine.copy(items[start : start + size]))
    copy_cpu = time.process_time() - cpu
    counts = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    summary = {
        "objects": len(results),
        **counts,
        "requests": client.requests,
        "planCpuSeconds": round(plan_cpu, 4),
        "copyCpuSeconds": round(copy_cpu, 4),
        "copyCpuMsPerObject": round(1000 * copy_cpu / len(results), 4) if results else None,
    }
    print(json.dumps(summary))
    failed = [r for r in results if r.status is Status.FAILED]
    for result in failed[:5]:
        print(result.to_json(), file=sys.stderr)
    return 1 if failed or len(results) != len(items) else 0


if __name__ == "__main__":
    raise SystemExit(main())

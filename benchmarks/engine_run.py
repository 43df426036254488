"""One copy-engine run in a process of its own, for ``benchmarks/engine.py``.

The benchmark measures this process from outside (wall time, CPU of the whole process
including interpreter start and imports, requests seen by the server), exactly as it
measures s5cmd, rclone and the aws CLI. Like them, it lists the source prefix itself
(Prepare does that in the product): ``CopyEngine.copy_prefix`` lists source and
destination at the same time, then copies what is missing or different.

    python -m benchmarks.engine_run --endpoint-url URL --source s3://b/p/ --dest s3://d/p/
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

from steps_s3_copy.models import CopyOptions, Status  # noqa: E402
from steps_s3_copy.worker.engine import CopyEngine  # noqa: E402


def split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint-url")
    parser.add_argument("--source", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    engine = CopyEngine(CopyOptions(concurrency=args.concurrency), endpoint_url=args.endpoint_url)
    cpu = time.process_time()
    source_bucket, source_prefix = split(args.source)
    dest_bucket, dest_prefix = split(args.dest)
    results = engine.copy_prefix(source_bucket, source_prefix, dest_bucket, dest_prefix)
    counts = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    summary = {
        "objects": len(results),
        **counts,
        "hotPathRequests": engine.fast.requests,
        "copyCpuSeconds": round(time.process_time() - cpu, 4),
    }
    print(json.dumps(summary))
    failed = [r for r in results if r.status is Status.FAILED]
    for result in failed[:5]:
        print(result.to_json(), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

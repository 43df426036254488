"""Calibrate ``s3copy plan``: the CPU the pipeline's steps spend, measured on a real run.

    python -m benchmarks calibrate [--objects 10000] [--prepare-rows 200000] [--repeats 3]
                                   [--server auto|localstack|moto] [--out PATH]

Against one local S3 server (LocalStack, else moto; see ``benchmarks/_servers.py``) this
runs the steps of one run in this process, one after another, with the same code and the
same kind of clients as the Lambda functions (``aws.StepClients``), and measures each
step's CPU (``time.process_time``: every thread of this process; the server is another
process):

- **Prepare**: a dry run of ``--prepare-rows`` rows with sizes given (what ``s3copy plan``
  prices), CPU per row;
- **a batch's fixed CPU**: ``copy_batch.run`` of a one-object batch (its clients, run.json,
  its plan range, its results), the median of five;
- **the engine**: every batch of a run of ``--objects`` objects of 4 KiB (a ``prefix/*``
  row: the plan has each source's size and ETag) through ``copy_batch.run``, CPU per
  copied object less the batch's fixed CPU (the median of ``--repeats`` copies); then
  again (all present) and again from a manifest with sizes (no ETag in the plan: a
  HeadObject of each source first), whose difference is the CPU of that HeadObject;
- **Summarise** and **Finish** of that run, CPU per row.

The figures go to ``steps_s3_copy/cli/calibration.json`` (what ``s3copy plan`` reads by
default) with the machine, its load and the server. They are CPU seconds of this
machine's cores: the plan assumes a Lambda or Fargate vCPU does as much (an assumption it
prints). S3's own latency and copy rate cannot be measured here and are not calibrated.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import boto3

from benchmarks._servers import machine, s3_server
from steps_s3_copy import destination, prepare, summarise
from steps_s3_copy.aws import StepClients
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.models import BatchRef, Lane, RunLocation
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import CopyPayload, FinishPayload, PreparePayload, SummarisePayload
from steps_s3_copy.prepare import PrepareSettings
from steps_s3_copy.workarea import WorkArea
from steps_s3_copy.worker import copy_batch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "steps_s3_copy" / "cli" / "calibration.json"
REGION = "us-east-1"
SOURCE, DEST, INBOX = "cal-source", "cal-dest", "cal-inbox"
_T = TypeVar("_T")


def measured(call: Callable[[], _T]) -> tuple[_T, float, float]:
    """(result, CPU seconds of this process, wall seconds) of ``call``."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def execution() -> dict[str, str]:
    name = str(uuid.uuid4())
    return {
        "id": f"arn:aws:states:{REGION}:123456789012:execution:s3copy-calibrate:{name}",
        "name": name,
        "startTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def run_prepare(
    clients: StepClients,
    settings: PrepareSettings,
    manifest_key: str,
    *,
    dry_run: bool,
    prefix: str = "",
) -> dict[str, Any]:
    payload = PreparePayload.model_validate(
        {
            "input": {
                "sourceFilesCsvBucket": INBOX,
                "sourceFilesCsvKey": manifest_key,
                "destinationBucket": DEST,
                "destinationPrefix": prefix,
                "dryRun": dry_run,
            },
            "execution": execution(),
        }
    )
    result = prepare.run(payload, s3=clients.s3, settings=settings, is_running=lambda _: False)
    return result.to_payload()


def manifest(rows: int) -> bytes:
    """``rows`` rows with sizes (Prepare HEADs only the first: one sample per bucket)."""
    lines = ["bucket,key,size"]
    lines.extend(f"{SOURCE},data/obj-{n:07d},4096" for n in range(rows))
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks calibrate")
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--prepare-rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3, help="copies measured (median)")
    parser.add_argument("--server", choices=("auto", "localstack", "moto"), default="auto")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="calibrate",
        AWS_SECRET_ACCESS_KEY="calibrate",
        AWS_DEFAULT_REGION=REGION,
        NO_PROXY="127.0.0.1,localhost",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_TRACE_DISABLED="1",
    )
    logger.setLevel(logging.WARNING)
    with s3_server(args.server) as started:
        endpoint = started.server.url
        print(f"server: {started.label} at {endpoint}", flush=True)
        figures, notes = calibrate(endpoint, args.objects, args.prepare_rows, args.repeats)
        label = started.label
    document = {
        "measured": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "./dev bench calibrate",
            "server": label,
            "machine": machine(),
            "commit": _commit(),
            "objects": args.objects,
            "prepareRows": args.prepare_rows,
            "notes": notes,
        },
        "figures": figures,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(document, indent=2))
    print(f"\nwritten to {args.out}")
    return 0


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def calibrate(
    endpoint: str, objects: int, prepare_rows: int, repeats: int
) -> tuple[dict[str, Any], list[str]]:
    session = boto3.session.Session(region_name=REGION)
    clients = StepClients(session, endpoint)
    s3 = clients.s3
    for bucket in (SOURCE, DEST, INBOX):
        s3.create_bucket(Bucket=bucket)
    body = os.urandom(4096)
    print(f"creating {objects} x 4 KiB", flush=True)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda n: s3.put_object(Bucket=SOURCE, Key=f"data/obj-{n:07d}", Body=body),
                range(objects),
            )
        )
    settings = PrepareSettings(layout=InboxLayout(INBOX), region=None)
    notes: list[str] = []

    # Prepare: a dry run of many sized rows (planning, the plan's upload, the index)
    s3.put_object(Bucket=INBOX, Key="jobs/big.csv", Body=manifest(prepare_rows))
    _, cpu, wall = measured(lambda: run_prepare(clients, settings, "jobs/big.csv", dry_run=True))
    prepare_per_row = cpu / prepare_rows
    notes.append(f"Prepare: {prepare_rows} rows in {cpu:.2f} CPU s ({wall:.2f} s wall)")
    print(notes[-1], flush=True)

    # the run the other figures come from: a prefix row, so that Prepare lists the
    # sources and the plan carries each one's size and ETag (no HeadObject before a copy)
    s3.put_object(Bucket=INBOX, Key="jobs/run.csv", Body=f"bucket,key\n{SOURCE},data/*\n".encode())

    def copy_all(location: RunLocation, refs: list[BatchRef]) -> None:
        for ref in refs:
            outcome = copy_batch.run(
                CopyPayload(batch=ref, work=location), session=session, endpoint_url=endpoint
            )
            assert outcome.failed == 0, outcome

    # the copy, ``repeats`` times into fresh destination prefixes: the median, since a
    # loaded machine moves CPU figures too
    copies: list[tuple[float, float]] = []
    for rep in range(repeats):
        prepared = run_prepare(
            clients, settings, "jobs/run.csv", dry_run=False, prefix=f"rep{rep}/"
        )
        location = RunLocation.model_validate(prepared["work"])
        refs = WorkArea(s3, location).read_index()
        assert {ref.lane for ref in refs} == {Lane.LAMBDA}, refs
        _, cpu, wall = measured(lambda: copy_all(location, refs))  # noqa: B023 - called now
        copies.append((cpu, wall))
        print(f"copy {rep + 1}/{repeats}: {cpu:.2f} CPU s, {wall:.2f} s wall", flush=True)
    copy_cpu = statistics.median(cpu for cpu, _ in copies)
    copy_wall = statistics.median(wall for _, wall in copies)
    # the last run again, every object present
    area = WorkArea(s3, location)
    _, skip_cpu, skip_wall = measured(lambda: copy_all(location, refs))
    # the same objects from a manifest with sizes (no ETag in the plan): every source is
    # HEAD-ed before its skip check, which finds it present
    s3.put_object(Bucket=INBOX, Key="jobs/sized.csv", Body=manifest(objects))
    sized = run_prepare(
        clients, settings, "jobs/sized.csv", dry_run=False, prefix=f"rep{repeats - 1}/"
    )
    sized_location = RunLocation.model_validate(sized["work"])
    sized_refs = WorkArea(s3, sized_location).read_index()
    _, head_cpu, head_wall = measured(lambda: copy_all(sized_location, sized_refs))
    # a batch's fixed CPU: a one-object batch (the plan's first line), already copied
    first = next(area.plan_lines())
    one = BatchRef(
        batch_id=len(refs),
        lane=Lane.LAMBDA,
        start=0,
        end=len(first),
        objects=1,
        bytes=4096,
        timeout_seconds=900,
    )
    singles = [
        measured(
            lambda: copy_batch.run(
                CopyPayload(batch=one, work=location), session=session, endpoint_url=endpoint
            )
        )[1]
        for _ in range(5)
    ]
    batch_cpu = statistics.median(singles)
    copied_per_object = max(0.0, (copy_cpu - len(refs) * batch_cpu) / objects)
    skipped_per_object = max(0.0, (skip_cpu - len(refs) * batch_cpu) / objects)
    head_per_object = max(0.0, (head_cpu - len(sized_refs) * batch_cpu) / objects)
    head_per_object = max(0.0, head_per_object - skipped_per_object)
    notes.append(
        f"copy: {objects} objects in {len(refs)} batches, {copy_cpu:.2f} CPU s "
        f"({copy_wall:.2f} s wall; median of {repeats}: "
        f"{', '.join(f'{cpu:.2f}' for cpu, _ in copies)} CPU s); "
        f"re-run (all present) {skip_cpu:.2f} CPU s "
        f"({skip_wall:.2f} s wall, {1000 * skipped_per_object:.3f} CPU ms per object); "
        f"re-run from a sized manifest (a HeadObject per source) {head_cpu:.2f} CPU s "
        f"({head_wall:.2f} s wall); a one-object batch {batch_cpu * 1000:.0f} CPU ms"
    )
    print(notes[-1], flush=True)

    summary = {"prepared": prepared, "execution": execution()}
    notice, summarise_cpu, summarise_wall = measured(
        lambda: summarise.run(
            SummarisePayload.model_validate(summary),
            s3=s3,
            layout=settings.layout,
            reader=clients.results_reader,
        )
    )
    assert notice.counts.copied + notice.counts.skipped == objects, notice.counts
    _, finish_cpu, finish_wall = measured(
        lambda: destination.finish(FinishPayload(notice=notice), s3=s3)
    )
    notes.append(
        f"Summarise: {objects} rows in {summarise_cpu:.2f} CPU s ({summarise_wall:.2f} s wall); "
        f"Finish {finish_cpu:.2f} CPU s ({finish_wall:.2f} s wall)"
    )
    print(notes[-1], flush=True)

    def figure(value: float, how: str) -> dict[str, Any]:
        return {"value": round(value, 7), "how": how}

    figures = {
        "engineCpuSecondsPerCopiedObject": figure(
            copied_per_object,
            f"copy_batch.run over the {len(refs)} batches of {objects} objects of 4 KiB "
            "(planned from a listing: size and ETag known; destination empty; median of "
            f"{repeats}), less each batch's fixed CPU, per object",
        ),
        "engineCpuSecondsPerSourceHead": figure(
            head_per_object,
            "the same objects planned from a manifest with sizes (no ETag: a HeadObject of "
            "each source first), all present, less the all-present re-run, per object",
        ),
        "batchCpuSeconds": figure(
            batch_cpu,
            "copy_batch.run of a one-object batch (clients, run.json, plan range, results), "
            "median of 5",
        ),
        "prepareCpuSecondsPerRow": figure(
            prepare_per_row, f"prepare.run, a dry run of {prepare_rows} sized rows, per row"
        ),
        "summariseCpuSecondsPerRow": figure(
            summarise_cpu / objects,
            f"summarise.run of the {objects}-object run (report.csv, report.html, summary), "
            "per row",
        ),
        "finishCpuSecondsPerRow": figure(
            finish_cpu / objects,
            f"destination.finish of the {objects}-object run (the plan read back), per row",
        ),
    }
    return figures, notes


if __name__ == "__main__":
    raise SystemExit(main())

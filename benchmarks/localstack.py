"""LocalStack S3 for the benchmarks: its venv under ``.tools/`` (built once) and a server.

    python -m benchmarks localstack [--python PATH] [--check]

builds ``.tools/venv-localstack``: a Python 3.12 or 3.13 venv (LocalStack does not run
on the project's 3.11) with ``localstack-core[runtime]`` and the two pins the recipe in
docs/testing.md needs ("LocalStack (benchmarks only)"). It is built once and reused;
``--check`` starts a server from it, waits for S3 and stops it. Never run by the tests.

:class:`LocalStack` starts one LocalStack S3 server on 127.0.0.1 in host mode (no
Docker) from that venv, in a session of its own, and stops it by its process id.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".tools" / "venv-localstack"
#: the recipe of docs/testing.md: plain localstack-core lacks the runtime extras; cbor2 6
#: fails with "No component plugins found"; pyOpenSSL 25 dropped ``X509.add_extensions``,
#: which LocalStack calls to make its self-signed certificate at start
REQUIREMENTS = (
    "localstack-core[runtime]==2026.3.0",
    "cbor2<6",
    "service_identity",
    "pyOpenSSL<25",
)
PYTHONS = ("3.13", "3.12")


def find_python() -> str | None:
    """A Python 3.13 or 3.12 interpreter: on PATH, or one pyenv has installed."""
    for version in PYTHONS:
        found = shutil.which(f"python{version}")
        if found and _runs(found):
            return found
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        versions = Path(root.stdout.strip()) / "versions"
        for version in PYTHONS:
            for candidate in sorted(versions.glob(f"{version}.*"), reverse=True):
                binary = candidate / "bin" / f"python{version}"
                if binary.exists() and _runs(str(binary)):
                    return str(binary)
    return None


def _runs(python: str) -> bool:
    done = subprocess.run([python, "-c", "pass"], capture_output=True, check=False, timeout=60)
    return done.returncode == 0


def venv_python() -> Path:
    return VENV / "bin" / "python"


def _stamp() -> Path:
    digest = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:16]
    return VENV / f".installed-{digest}"


def installed() -> bool:
    if not venv_python().exists() or not _stamp().exists():
        return False
    probe = subprocess.run(
        [str(venv_python()), "-c", "import localstack.runtime.main"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    return probe.returncode == 0


def ensure_venv(python: str | None = None) -> Path:
    """``.tools/venv-localstack``'s interpreter, building the venv first when needed."""
    if installed():
        return venv_python()
    python = python or (str(venv_python()) if venv_python().exists() else find_python())
    if python is None:
        raise RuntimeError(
            "LocalStack needs Python 3.12 or 3.13 (not found on PATH or in pyenv); "
            "pass --python PATH"
        )
    print(f"building {VENV.relative_to(REPO)} with {python} (once; about 500 MB)...", flush=True)
    if not venv_python().exists():
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    pip = [str(venv_python()), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, timeout=600)
    subprocess.run([*pip, *REQUIREMENTS], check=True, timeout=1800)
    _stamp().touch()
    if not installed():
        raise RuntimeError(f"{VENV} was built but cannot import localstack")
    return venv_python()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalStack:
    """One LocalStack S3 server on 127.0.0.1 (host mode), started from the tools venv."""

    def __init__(self, *, python: Path | None = None, timeout: float = 90.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="localstack-", suffix=".log")[1])
        self.data = Path(tempfile.mkdtemp(prefix="localstack-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK"))}
        env.update(
            GATEWAY_LISTEN=f"127.0.0.1:{self.port}",
            SERVICES="s3",
            EAGER_SERVICE_LOADING="1",
            SKIP_SSL_CERT_DOWNLOAD="1",
            DNS_ADDRESS="0",
            DISABLE_EVENTS="1",
            PERSISTENCE="0",
            S3_SKIP_SIGNATURE_VALIDATION="1",
            # its own state and caches in a temporary folder, nothing in the home directory
            LOCALSTACK_VOLUME_DIR=str(self.data),
            FILESYSTEM_ROOT=str(self.data),
        )
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(python or venv_python()), "-m", "localstack.runtime.main"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"LocalStack exited: {self.log_tail()}")
            if self._s3_running():
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"LocalStack S3 not ready after {timeout:.0f} s")

    def _s3_running(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as answer:
                health = json.loads(answer.read())
        except (OSError, ValueError):
            return False
        return bool(health.get("services", {}).get("s3") == "running")

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def cpu_seconds(self) -> float:
        """CPU (user+system) of the server process."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until the server stops using CPU (what earlier runs left it doing)."""
        deadline = time.monotonic() + timeout
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < 0.02:
                return
            last = now

    def stop(self) -> None:
        """SIGTERM to the server's own process group (it was started in a session of its
        own), then SIGKILL if it does not end."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log_path.unlink(missing_ok=True)
        shutil.rmtree(self.data, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks localstack")
    parser.add_argument("--python", help="a Python 3.12 or 3.13 interpreter to build from")
    parser.add_argument("--check", action="store_true", help="start a server, then stop it")
    args = parser.parse_args()
    python = ensure_venv(args.python)
    print(f"LocalStack venv: {python}")
    if args.check:
        started = time.monotonic()
        server = LocalStack(python=python)
        print(f"S3 running at {server.url} after {time.monotonic() - started:.1f} s")
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

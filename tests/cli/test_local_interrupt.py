"""`s3copy local` stopped mid-copy: SIGTERM is Ctrl-C (a report, nothing left behind), and
after `kill -9` a re-run leaves no incomplete upload and every object identical."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.models import MiB
from tests.conftest import client

pytestmark = pytest.mark.slow

SOURCE = "interrupt-source"
DEST = "interrupt-destination"
OBJECTS = 6
PART = 5 * MiB


def _multipart_source(s3: Any, key: str, parts: int) -> bytes:
    """An object uploaded in parts: the engine mirrors its parts with UploadPartCopy."""
    body = os.urandom(PART * parts)
    upload = s3.create_multipart_upload(Bucket=SOURCE, Key=key)["UploadId"]
    etags = []
    for n in range(parts):
        part = s3.upload_part(
            Bucket=SOURCE,
            Key=key,
            UploadId=upload,
            PartNumber=n + 1,
            Body=body[n * PART : (n + 1) * PART],
        )
        etags.append({"PartNumber": n + 1, "ETag": part["ETag"]})
    s3.complete_multipart_upload(
        Bucket=SOURCE, Key=key, UploadId=upload, MultipartUpload={"Parts": etags}
    )
    return body


@pytest.fixture
def job(moto_server: str, tmp_path: Path) -> tuple[Any, dict[str, bytes], Path, Path]:
    s3 = client("s3", moto_server)
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=DEST)
    bodies = {f"big/{n}.bam": _multipart_source(s3, f"big/{n}.bam", 4) for n in range(OBJECTS)}
    manifest = tmp_path / "interrupt.csv"
    manifest.write_text("".join(f"{SOURCE},{key}\n" for key in bodies))
    sidecar = tmp_path / "interrupt.json"
    # one object per batch, one batch at a time: a stop leaves batches not started
    sidecar.write_text(
        json.dumps({"destinationBucket": DEST, "maxItemsPerBatch": 1, "maxConcurrency": 1})
    )
    return s3, bodies, manifest, sidecar


def _local(moto_server: str, manifest: Path, sidecar: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    command = [sys.executable, "-m", "steps_s3_copy.cli", "local", str(manifest), str(sidecar)]
    command += ["--endpoint-url", moto_server, "--json"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _uploads(s3: Any) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=DEST).get("Uploads", [])]


def _wait_for_an_upload(s3: Any, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not _uploads(s3):
        assert process.poll() is None, "the run ended before any multipart copy started"
        assert time.monotonic() < deadline, "no multipart copy started within a minute"
        time.sleep(0.01)


def _identical(s3: Any, bodies: dict[str, bytes]) -> None:
    for key, body in bodies.items():
        copied = s3.get_object(Bucket=DEST, Key=key)["Body"].read()
        assert hashlib.sha256(copied).digest() == hashlib.sha256(body).digest(), key


def test_sigterm_stops_like_ctrl_c_with_a_report_and_nothing_left(
    moto_server: str, job: tuple[Any, dict[str, bytes], Path, Path]
) -> None:
    s3, _, manifest, sidecar = job
    process = _local(moto_server, manifest, sidecar)
    try:
        _wait_for_an_upload(s3, process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitCode.INTERRUPTED, err.decode()[-2000:]
    notice = json.loads(out)  # the notice of what was and was not copied
    counts = notice["counts"]
    assert counts["failed"] >= 1
    assert counts["copied"] + counts["skipped"] + counts["failed"] == OBJECTS
    assert notice["reportUri"].endswith("report.csv")
    assert _uploads(s3) == []  # in-flight copies aborted, Finish swept the rest
    lock = f".steps-s3-copy/work/{manifest.stem}/lock.json"
    assert lock not in [o["Key"] for o in s3.list_objects_v2(Bucket=DEST).get("Contents", [])]


def test_after_kill_9_a_rerun_leaves_no_upload_and_identical_objects(
    moto_server: str, job: tuple[Any, dict[str, bytes], Path, Path]
) -> None:
    s3, bodies, manifest, sidecar = job
    process = _local(moto_server, manifest, sidecar)
    try:
        _wait_for_an_upload(s3, process)
        process.kill()  # SIGKILL: nothing runs, nothing is aborted
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert _uploads(s3), "the hard stop left an incomplete upload (what this test is about)"

    rerun = _local(moto_server, manifest, sidecar)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()[-2000:]
    notice = json.loads(out)
    assert notice["status"] == "SUCCEEDED"
    assert notice["uploadsAborted"] >= 1
    assert _uploads(s3) == []
    _identical(s3, bodies)

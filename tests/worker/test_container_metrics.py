"""The container's metrics: the same EMF lines as the Lambda lane, on stdout, with no Lambda
context; SpotFallbacks from the capacity provider its RunTask state names in the
environment (``S3COPY_CAPACITY_PROVIDER``; the definition's tests check both states set it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from steps_s3_copy.models import CopyItem, CopyOptions
from steps_s3_copy.observability import CAPACITY_PROVIDER_VARIABLE, capacity_provider
from steps_s3_copy.worker.__main__ import EXIT_OK, main
from tests import emf
from tests.worker.conftest import DEST, SOURCE
from tests.worker.test_batch import LOCATION, WORK, write_area

REPO = Path(__file__).resolve().parents[2]


def environment(moto: str, provider: str | None, ref_json: str) -> dict[str, str]:
    env = {
        "S3COPY_WORK_BUCKET": WORK,
        "S3COPY_RUN_PREFIX": LOCATION.prefix,
        "S3COPY_BATCH": ref_json,
        "AWS_ENDPOINT_URL_S3": moto,
        "S3COPY_GRACE_SECONDS": "5",
    }
    if provider is not None:
        env[CAPACITY_PROVIDER_VARIABLE] = provider
    return env


def one_batch(s3: Any) -> str:
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"a" * 7)
    item = CopyItem(
        source_bucket=SOURCE, source_key="a", destination_bucket=DEST, destination_key="a"
    )
    [ref] = write_area(s3, [item], [1], CopyOptions())
    return ref.model_dump_json(by_alias=True)


def test_the_container_prints_the_batch_metrics_and_a_spot_fallback_on_stdout(
    buckets: Any, moto_server: str
) -> None:
    """The real ``python -m steps_s3_copy.worker``: on on-demand FARGATE it counts one."""
    env = {**os.environ, **environment(moto_server, "FARGATE", one_batch(buckets))}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "steps_s3_copy.worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    out = done.stdout.decode()
    assert done.returncode == EXIT_OK, out + done.stderr.decode()
    found = emf.points(out)
    assert emf.both(found, "SpotFallbacks", "job") == 1
    assert emf.both(found, "BatchesRun", "job", lane="fargate") == 1
    assert emf.both(found, "ObjectsCopied", "job") == 1
    assert emf.both(found, "BytesCopied", "job") == 7


def test_a_batch_on_spot_counts_no_fallback(
    buckets: Any, moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environment(moto_server, "FARGATE_SPOT", one_batch(buckets))
    capsys.readouterr()
    assert main([], env) == EXIT_OK
    found = emf.points(capsys.readouterr().out)
    assert emf.both(found, "SpotFallbacks", "job") == 0
    assert emf.both(found, "ObjectsCopied", "job") == 1


@pytest.mark.parametrize("provider", [None, "", "EC2", "fargate"])
def test_without_a_known_provider_there_is_no_spot_metric_and_the_batch_still_runs(
    buckets: Any, moto_server: str, capsys: pytest.CaptureFixture[str], provider: str | None
) -> None:
    env = environment(moto_server, provider, one_batch(buckets))
    assert capacity_provider(env) is None
    capsys.readouterr()
    assert main([], env) == EXIT_OK
    found = emf.points(capsys.readouterr().out)
    assert "SpotFallbacks" not in emf.names(found)
    assert emf.both(found, "BatchesRun", "job", lane="fargate") == 1

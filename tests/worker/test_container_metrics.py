"""The container's metrics: the same EMF lines as the Lambda lane, on stdout, with no Lambda
context; SpotFallbacks from the capacity provider the task learns through the task
metadata endpoint v4 (a stand-in on 127.0.0.1) and ECS DescribeTasks (moto)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from steps_s3_copy.models import CopyItem, CopyOptions
from steps_s3_copy.worker.__main__ import EXIT_OK, capacity_provider, main
from tests import emf
from tests.conftest import client
from tests.worker.conftest import DEST, SOURCE
from tests.worker.test_batch import LOCATION, WORK, write_area

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Metadata:
    """The task metadata endpoint stand-in: ``uri`` is ECS_CONTAINER_METADATA_URI_V4."""

    uri: str
    task: dict[str, Any]
    requests: list[str]


@pytest.fixture
def metadata() -> Iterator[Metadata]:
    state = Metadata(uri="", task={}, requests=[])

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = json.dumps(state.task).encode()
            status = 200 if self.path == "/v4/task-1/task" else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.uri = f"http://127.0.0.1:{server.server_address[1]}/v4/task-1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def ecs_task(moto: str, provider: str) -> dict[str, str]:
    """A task started on ``provider`` in moto's ECS: what the metadata endpoint names."""
    ecs = client("ecs", moto)
    cluster = ecs.create_cluster(clusterName="copy", capacityProviders=["FARGATE", "FARGATE_SPOT"])[
        "cluster"
    ]["clusterArn"]
    ecs.register_task_definition(
        family="worker",
        # moto's RunTask cannot place an awsvpc task (the network mode Fargate requires):
        # the task's capacity provider, all this test asks ECS about, does not depend on it
        networkMode="bridge",
        containerDefinitions=[{"name": "worker", "image": "worker:latest", "memory": 2048}],
    )
    task = ecs.run_task(
        cluster="copy",
        taskDefinition="worker",
        capacityProviderStrategy=[{"capacityProvider": provider, "weight": 1}],
    )["tasks"][0]
    return {"Cluster": cluster, "TaskARN": task["taskArn"], "LaunchType": "FARGATE"}


def environment(moto: str, metadata_uri: str | None, ref_json: str) -> dict[str, str]:
    env = {
        "S3COPY_WORK_BUCKET": WORK,
        "S3COPY_RUN_PREFIX": LOCATION.prefix,
        "S3COPY_BATCH": ref_json,
        "AWS_ENDPOINT_URL_S3": moto,
        "AWS_ENDPOINT_URL_ECS": moto,
        "S3COPY_GRACE_SECONDS": "5",
    }
    if metadata_uri:
        env["ECS_CONTAINER_METADATA_URI_V4"] = metadata_uri
    return env


def one_batch(s3: Any) -> str:
    s3.put_object(Bucket=SOURCE, Key="a", Body=b"a" * 7)
    item = CopyItem(
        source_bucket=SOURCE, source_key="a", destination_bucket=DEST, destination_key="a"
    )
    [ref] = write_area(s3, [item], [1], CopyOptions())
    return ref.model_dump_json(by_alias=True)


def test_the_container_prints_the_batch_metrics_and_a_spot_fallback_on_stdout(
    buckets: Any, moto_server: str, metadata: Metadata
) -> None:
    """The real ``python -m steps_s3_copy.worker``: on on-demand FARGATE it counts one."""
    metadata.task = ecs_task(moto_server, "FARGATE")
    env = {**os.environ, **environment(moto_server, metadata.uri, one_batch(buckets))}
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
    assert metadata.requests == ["/v4/task-1/task"]


def test_a_batch_on_spot_counts_no_fallback(
    buckets: Any, moto_server: str, metadata: Metadata, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata.task = ecs_task(moto_server, "FARGATE_SPOT")
    env = environment(moto_server, metadata.uri, one_batch(buckets))
    capsys.readouterr()
    assert main([], env) == EXIT_OK
    found = emf.points(capsys.readouterr().out)
    assert emf.both(found, "SpotFallbacks", "job") == 0
    assert emf.both(found, "ObjectsCopied", "job") == 1


def test_the_capacity_provider_named_by_the_metadata_needs_no_ecs_call(
    metadata: Metadata,
) -> None:
    metadata.task = {"Cluster": "c", "TaskARN": "t", "CapacityProviderName": "FARGATE_SPOT"}
    # no ECS endpoint at all: DescribeTasks would fail
    env = {"AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:9", "ECS_CONTAINER_METADATA_URI_V4": ""}
    env["ECS_CONTAINER_METADATA_URI_V4"] = metadata.uri
    assert capacity_provider(env) == "FARGATE_SPOT"


def test_without_the_metadata_there_is_no_spot_metric_and_the_batch_still_runs(
    buckets: Any, moto_server: str, metadata: Metadata, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = one_batch(buckets)
    capsys.readouterr()
    assert main([], environment(moto_server, None, ref)) == EXIT_OK  # not on ECS
    found = emf.points(capsys.readouterr().out)
    assert "SpotFallbacks" not in emf.names(found)
    assert emf.both(found, "BatchesRun", "job", lane="fargate") == 1

    # on ECS, but the task is unknown to ECS (or the role may not describe it): logged
    metadata.task = {"Cluster": "copy", "TaskARN": "arn:aws:ecs:us-east-1:1:task/copy/nope"}
    assert capacity_provider(environment(moto_server, metadata.uri, ref)) is None
    # a wrong endpoint path answers 404: logged, None
    assert capacity_provider(environment(moto_server, metadata.uri + "x", ref)) is None

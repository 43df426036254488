"""Client CPU per S3 request: boto3, boto3 without validation, awscrt, the engine's clients.

    python -m benchmarks engine_clients [--requests 300] [--endpoint-url URL]

Starts a moto server subprocess on 127.0.0.1 (so the server's CPU is not counted), or
uses the S3 server at ``--endpoint-url`` (LocalStack, say: docs/testing.md), then sends
the same HeadObject and CopyObject requests one after another through each client
(boto3, the engine's lean client and its boto3-backed client, and, for HeadObject,
awscrt's HTTP client and signer) and prints the client's CPU (``time.process_time``:
every thread of this process, which counts awscrt's event-loop thread too) and wall time
per request, the best of ``--rounds``. The moto server closes every connection, so each
request includes a TCP connect; LocalStack, like S3, keeps connections alive.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from steps_s3_copy.models import CopyOptions
from steps_s3_copy.worker.engine import lean_client
from steps_s3_copy.worker.s3boto import Boto3S3Client
from steps_s3_copy.worker.s3client import ObjectRef

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


ROUNDS = 3


def per_request(label: str, count: int, call: Callable[[int], object]) -> None:
    call(0)  # warm up (connections, lazy imports)
    best_cpu = best_wall = float("inf")
    for round_ in range(ROUNDS):
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(count):
            call(round_ * count + n)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / count * 1000)
        best_wall = min(best_wall, (time.perf_counter() - wall) / count * 1000)
    print(f"  {label:44} CPU {best_cpu:6.3f} ms   wall {best_wall:6.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks engine_clients")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint-url", help="an S3 server to use instead of moto")
    args = parser.parse_args()
    global ROUNDS  # noqa: PLW0603 - a script's setting
    ROUNDS = args.rounds
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="benchsecret",
        AWS_DEFAULT_REGION="us-east-1",
    )
    if args.endpoint_url:
        port = urlsplit(args.endpoint_url).port or 80
        run(args.endpoint_url, port, args.requests)
        return 0
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        run(endpoint, port, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


def run(endpoint: str, port: int, count: int) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    for bucket in ("src", "dst"):
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="src", Key="k", Body=b"x" * 4096)
    lean = lean_client(CopyOptions(), endpoint_url=endpoint)
    backed = Boto3S3Client.from_session(
        boto3.session.Session()._session, region="us-east-1", endpoint_url=endpoint
    )
    source = ObjectRef("src", "k")
    plain = boto3.client("s3", endpoint_url=endpoint)
    novalidate = boto3.client(
        "s3", endpoint_url=endpoint, config=Config(parameter_validation=False)
    )
    print(f"{count} requests each (best of {ROUNDS} rounds) against {endpoint}")
    per_request("HeadObject   boto3", count, lambda n: plain.head_object(Bucket="src", Key="k"))
    per_request(
        "HeadObject   boto3 parameter_validation=False",
        count,
        lambda n: novalidate.head_object(Bucket="src", Key="k"),
    )
    per_request("HeadObject   LeanS3Client", count, lambda n: lean.head_object(source))
    per_request("HeadObject   Boto3S3Client", count, lambda n: backed.head_object(source))
    try:
        crt_head = awscrt_head(port)
    except ImportError:
        print("  (awscrt not installed: pip install -e '.[bench]')")
    else:
        per_request("HeadObject   awscrt (HTTP client + signer)", count, crt_head)
    per_request(
        "CopyObject   boto3",
        count,
        lambda n: plain.copy_object(
            Bucket="dst", Key=f"b/{n}", CopySource={"Bucket": "src", "Key": "k"}
        ),
    )
    per_request(
        "CopyObject   LeanS3Client",
        count,
        lambda n: lean.copy_object(source, ObjectRef("dst", f"f/{n}")),
    )
    per_request(
        "CopyObject   Boto3S3Client",
        count,
        lambda n: backed.copy_object(source, ObjectRef("dst", f"i/{n}")),
    )


def awscrt_head(port: int) -> Callable[[int], object]:
    from awscrt import auth, http, io  # noqa: PLC0415 - optional (the bench extra)

    loop = io.EventLoopGroup(1)
    bootstrap = io.ClientBootstrap(loop, io.DefaultHostResolver(loop))
    signing = auth.AwsSigningConfig(
        algorithm=auth.AwsSigningAlgorithm.V4,
        signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=auth.AwsCredentialsProvider.new_static("bench", "benchsecret"),
        region="us-east-1",
        service="s3",
        signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
        signed_body_value=auth.AwsSignedBodyValue.EMPTY_SHA256,
    )

    def head(_n: int) -> object:
        # A new connection per request, like the other clients get from moto.
        conn = http.HttpClientConnection.new(
            host_name="127.0.0.1", port=port, bootstrap=bootstrap
        ).result()
        request = http.HttpRequest(
            "HEAD", "/src/k", http.HttpHeaders([("host", f"127.0.0.1:{port}")])
        )
        auth.aws_sign_request(request, signing).result()
        stream = conn.request(request)
        stream.activate()
        stream.completion_future.result()
        conn.close()
        return None

    return head


if __name__ == "__main__":
    raise SystemExit(main())

"""One factory for the botocore clients every part of the service uses.

One retry policy everywhere (botocore's ``standard`` mode: exponential backoff with jitter
for throttling, 5xx and connection errors); callers choose only what differs by use: the
connection pool (parallel HEADs in Prepare, parallel fetches in Summarise, the engine's
threads) and the read timeout (a CopyObject of 5 GiB takes minutes).
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

#: tries per request, the first included (botocore's ``total_max_attempts``; its
#: ``max_attempts`` counts retries only: https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html)
MAX_ATTEMPTS = 8


def config(
    *,
    max_pool_connections: int = 64,
    read_timeout: float = 60,
    connect_timeout: float = 10,
    max_attempts: int = MAX_ATTEMPTS,
    addressing_style: str | None = None,
) -> Config:
    """The botocore ``Config`` of every client the service makes."""
    return Config(
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        tcp_keepalive=True,
        s3={"addressing_style": addressing_style} if addressing_style else None,
    )


def client(
    service: str,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    **options: Any,
) -> Any:
    """A boto3 client for ``service``; the endpoint defaults to botocore's own resolution
    (``AWS_ENDPOINT_URL_S3`` and the like), ``options`` go to :func:`config`."""
    session = session or boto3.session.Session()
    return session.client(
        service, endpoint_url=endpoint_url, region_name=region, config=config(**options)
    )


class StepClients:
    """The clients the steps use, made on first use from one session and endpoint: the
    Lambda handlers make one per execution environment, the local runner one per run, so
    both hand the steps the same kinds of client (and the same results reader)."""

    def __init__(
        self, session: boto3.session.Session | None = None, endpoint_url: str | None = None
    ) -> None:
        self.session = session or boto3.session.Session()
        self.endpoint_url = endpoint_url

    @functools.cached_property
    def s3(self) -> Any:
        return client("s3", session=self.session, endpoint_url=self.endpoint_url)

    @functools.cached_property
    def sns(self) -> Any:
        return client("sns", session=self.session, endpoint_url=self.endpoint_url)

    @functools.cached_property
    def kms(self) -> Any:
        """Summarise signs receipts with it (a KMS endpoint: the same ``endpoint_url``)."""
        return client("kms", session=self.session, endpoint_url=self.endpoint_url)

    @functools.cached_property
    def sfn(self) -> Any:
        return client("stepfunctions", session=self.session, endpoint_url=self.endpoint_url)

    @functools.cached_property
    def results_reader(self) -> Any:
        """Summarise's reader of the batches' results files (the engine's lean client)."""
        from steps_s3_copy.summarise import fast_reader  # noqa: PLC0415 - loads the engine

        return fast_reader(self.session, endpoint_url=self.endpoint_url)

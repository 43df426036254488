"""What every handler shares: boto3 clients made once per execution environment."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

#: enough pooled connections for Prepare's parallel HeadObject and Summarise's fetches
_CONFIG = Config(
    max_pool_connections=64,
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=60,
)


def client(service: str) -> Any:
    """A boto3 client; the endpoint comes from the standard AWS_ENDPOINT_URL* settings."""
    return boto3.session.Session().client(service, config=_CONFIG)

"""Fixtures for the CLI and the local pipeline: the emulator on the session's moto server."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steps_s3_copy.local import demo
from steps_s3_copy.local.emulator import Emulator
from steps_s3_copy.local.pipeline import EmbeddedPipeline
from steps_s3_copy.receipt import DELIVERY_DIR, reserved_prefix

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests-example"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def emulator(moto_server: str) -> Iterator[Emulator]:
    """The emulator's API over the (freshly reset) session moto server."""
    with Emulator(moto_server) as em:
        yield em


@pytest.fixture
def pipeline(emulator: Emulator) -> EmbeddedPipeline:
    """The embedded event path, provisioned, with the demo's source objects."""
    pipe = EmbeddedPipeline(emulator)
    demo.seed(pipe.s3)
    return pipe


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def _keys(s3: Any, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=demo.DESTINATION_BUCKET, Prefix=prefix
    ):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def destination_keys(s3: Any, prefix: str = "incoming/") -> list[str]:
    """The copied objects under ``prefix`` (not the runs' delivered reports and receipts
    under ``<prefix>.steps-s3-copy/``)."""
    return [k for k in _keys(s3, prefix) if not k.startswith(reserved_prefix(prefix))]


def delivered_keys(s3: Any, prefix: str = "incoming/") -> list[str]:
    """The runs' report files and receipts delivered under ``<prefix>.steps-s3-copy/runs/``."""
    return _keys(s3, f"{prefix}{DELIVERY_DIR}")


def set_moto_config(endpoint: str, config: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps(config).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)

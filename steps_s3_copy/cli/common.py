"""What every command shares: AWS sessions and clients, output helpers, error mapping."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from steps_s3_copy import aws as aws_clients
from steps_s3_copy.cli.exit_codes import ExitCode

#: human output goes to stdout; diagnostics to stderr (so `--json` stdout stays parseable)
console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Aws:
    """A boto3 session plus the endpoint every client of one command uses."""

    session: boto3.session.Session
    endpoint_url: str | None = None

    def client(self, service: str) -> Any:
        """A client from the service's one factory (its retry policy and timeouts)."""
        return aws_clients.client(service, session=self.session, endpoint_url=self.endpoint_url)


def aws(profile: str | None, region: str | None, endpoint_url: str | None) -> Aws:
    session = boto3.session.Session(profile_name=profile, region_name=region)
    if session.region_name is None:
        session = boto3.session.Session(profile_name=profile, region_name="us-east-1")
    return Aws(session=session, endpoint_url=endpoint_url)


def fail(message: str, code: ExitCode) -> NoReturn:
    err_console.print(f"[red]error:[/] {message}")
    raise typer.Exit(int(code))


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn boto errors into a one-line message and exit code 5 instead of a traceback."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        fail(
            f"{what}: {error.get('Code', 'Error')}: {error.get('Message', exc)}", ExitCode.AWS_ERROR
        )
    except BotoCoreError as exc:
        fail(f"{what}: {exc}", ExitCode.AWS_ERROR)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def human_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"

"""The seam between the local runner and the pipeline's own code.

Each function here parses its payload with the Lambda handler's own payload model and
calls the same core function the handler (or the container) calls, with clients for the
local or user-named endpoint instead of clients built from the Lambda environment.
Nothing here re-implements a step.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import boto3
from botocore.config import Config

from steps_s3_copy.events import PreparePayload
from steps_s3_copy.handlers.notify import NotifyPayload
from steps_s3_copy.handlers.summarise import SummarisePayload
from steps_s3_copy.models import BatchOutcome, BatchRef, Lane, RunLocation
from steps_s3_copy.notify import publish_notice
from steps_s3_copy.prepare import PrepareSettings, prepare_input
from steps_s3_copy.summarise import summarise as summarise_run
from steps_s3_copy.summarise import summarise_failure
from steps_s3_copy.worker.batch import run_batch

#: the Lambda lane's function timeout and the margin its handler keeps back
LAMBDA_TIMEOUT_SECONDS = 900.0
LAMBDA_MARGIN_SECONDS = 60.0


class CaughtError(Exception):
    """A step failed; ``error`` and ``cause`` are what a Catch puts in ``$.error``."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause

    @classmethod
    def from_lambda(cls, exc: Exception) -> CaughtError:
        """As Step Functions reports a Lambda function's error: Cause is Lambda's JSON."""
        name = type(exc).__name__
        cause = json.dumps(
            {
                "errorMessage": str(exc),
                "errorType": name,
                "requestId": str(uuid.uuid4()),
                "stackTrace": [],
            },
            ensure_ascii=False,
        )
        return cls(name, cause)


class BatchInterruptedError(Exception):
    """A batch stopped before its end (BatchIncomplete in the Lambda lane); retried."""


def client(session: boto3.session.Session, service: str, endpoint_url: str | None) -> Any:
    return session.client(
        service,
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=64,
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )


def prepare(payload: dict[str, Any], *, s3: Any, settings: PrepareSettings) -> dict[str, Any]:
    """Prepare as its handler runs it (the run id is the execution's name).

    Any exception is what the state machine's Catch on Prepare sees.
    """

    try:
        parsed = PreparePayload.model_validate(payload)
        result = prepare_input(parsed.input, run_id=parsed.execution.name, s3=s3, settings=settings)
    except Exception as exc:
        raise CaughtError.from_lambda(exc) from exc
    return result.to_payload()


def copy_batch(
    ref: BatchRef,
    location: RunLocation,
    *,
    session: boto3.session.Session,
    endpoint_url: str | None,
    stop: threading.Event,
) -> BatchOutcome:
    """One Map item: ``run_batch``, which both the Lambda handler and the container call.

    The Lambda lane gets the deadline its handler computes from the function's timeout.
    """

    deadline = None
    if ref.lane is Lane.LAMBDA:
        deadline = time.monotonic() + LAMBDA_TIMEOUT_SECONDS - LAMBDA_MARGIN_SECONDS
    return run_batch(
        ref, location, session=session, endpoint_url=endpoint_url, stop=stop, deadline=deadline
    )


def summarise(payload: dict[str, Any], *, s3: Any, settings: PrepareSettings) -> dict[str, Any]:
    """Summarise, normal or failure mode, as its handler dispatches; returns the notice."""

    parsed = SummarisePayload.model_validate(payload)
    if parsed.prepared is not None and parsed.error is None:
        notice = summarise_run(parsed.prepared, parsed.execution, s3=s3)
    elif parsed.error is not None:
        notice = summarise_failure(
            parsed.error, parsed.input, parsed.execution, s3=s3, settings=settings
        )
    else:
        raise ValueError("a Summarise payload needs 'prepared' or 'error'")
    return notice.to_payload()


def notify(payload: dict[str, Any], *, sns: Any, s3: Any, topic_arn: str) -> dict[str, Any]:
    """Notify: publish once per run (notice.json in the working area is the marker)."""

    parsed = NotifyPayload.model_validate(payload)
    return publish_notice(parsed.notice, sns=sns, s3=s3, topic_arn=topic_arn).to_payload()

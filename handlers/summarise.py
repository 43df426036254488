"""Summarise (Lambda): merge the results, write the report, decide the status.

Payload ``{"prepared": PrepareResult, "execution": {...}}`` (normal path) or
``{"error": {"Error", "Cause"}, "input": ..., "execution": {...}}`` (a caught failure);
returns ``{"notice": Notice}``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError

from steps_s3_copy.errors import InputInvalid
from steps_s3_copy.events import ExecutionContext
from steps_s3_copy.handlers._runtime import LayoutEnv, client
from steps_s3_copy.observability import logger, metrics, tracer
from steps_s3_copy.prepare import PrepareResult, PrepareSettings
from steps_s3_copy.summarise import (
    ObjectReader,
    StepError,
    fast_reader,
    summarise,
    summarise_failure,
)


class SummarisePayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    execution: ExecutionContext
    prepared: PrepareResult | None = None
    error: StepError | None = None
    input: Any = None


@functools.cache
def runtime() -> tuple[PrepareSettings, Any, ObjectReader]:
    """Settings, the S3 client and the lean results reader, made at the cold start."""
    settings = LayoutEnv.model_validate(dict(os.environ)).settings()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    reader = fast_reader(boto3.session.Session(), endpoint_url=endpoint)
    return settings, client("s3"), reader


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        payload = SummarisePayload.model_validate(event)
    except ValidationError as exc:
        raise InputInvalid(f"not a Summarise payload: {exc}") from exc
    settings, s3, reader = runtime()
    if payload.prepared is not None and payload.error is None:
        notice = summarise(payload.prepared, payload.execution, s3=s3, reader=reader)
    elif payload.error is not None:
        notice = summarise_failure(
            payload.error, payload.input, payload.execution, s3=s3, settings=settings
        )
    else:
        raise InputInvalid("a Summarise payload needs 'prepared' or 'error'")
    metrics.add_dimension(name="status", value=notice.status)
    for status, count in notice.counts.model_dump().items():
        metrics.add_metric(name=f"Objects{status.title()}", unit=MetricUnit.Count, value=count)
    return {"notice": notice.to_payload()}

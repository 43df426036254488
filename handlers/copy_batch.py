"""Copy one batch in the Lambda lane with the copy engine.

Payload ``{"batch": <index.csv row, values as strings>, "work": {"bucket", "prefix"}}``;
returns the BatchOutcome. When the function's time runs out before the batch's end the
engine stops taking new objects and this raises ``BatchIncomplete``, so Step Functions
retries the batch and the retry skips what is already copied.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from steps_s3_copy.errors import BatchIncomplete, InputInvalid
from steps_s3_copy.models import BatchRef, RunLocation
from steps_s3_copy.observability import logger, tracer
from steps_s3_copy.worker.batch import run_batch


class CopyEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    #: seconds kept back from the function's timeout to finish in-flight copies and report
    margin_seconds: float = Field(60.0, alias="COPY_MARGIN_SECONDS", ge=0)
    #: an S3 endpoint for local runs (the standard AWS_ENDPOINT_URL[_S3] settings)
    endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    )


class CopyPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    batch: BatchRef
    work: RunLocation


@functools.cache
def runtime() -> CopyEnv:
    return CopyEnv.model_validate(dict(os.environ))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        payload = CopyPayload.model_validate(event)
    except ValidationError as exc:
        raise InputInvalid(f"not a copy batch payload: {exc}") from exc
    env = runtime()
    remaining = context.get_remaining_time_in_millis() / 1000
    deadline = time.monotonic() + max(remaining - env.margin_seconds, remaining / 2)
    outcome = run_batch(
        payload.batch, payload.work, endpoint_url=env.endpoint_url, deadline=deadline
    )
    if outcome.interrupted:
        raise BatchIncomplete(
            f"batch {outcome.batch_id} stopped with {outcome.not_attempted} object(s) left"
        )
    return outcome.model_dump(mode="json", by_alias=True)

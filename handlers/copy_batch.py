"""CopyBatch (Lambda): a thin adapter over :func:`steps_s3_copy.worker.copy_batch.run`.

Payload ``{"batch": <index.csv row, values as strings>, "work": {"bucket", "prefix"}}``;
returns the BatchOutcome. When the function's time runs out before the batch's end the
engine stops taking new objects and the step raises ``BatchIncomplete``, so Step Functions
retries the batch and the retry skips what is already copied. With ``"action": "thaw"`` it
is the Thaw state of a batch with archived sources instead (:func:`steps_s3_copy.thaw.run`).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from steps_s3_copy import thaw
from steps_s3_copy.aws import StepClients
from steps_s3_copy.handlers._runtime import StepEnv, parse
from steps_s3_copy.observability import logger, tracer
from steps_s3_copy.payloads import CopyPayload
from steps_s3_copy.worker import copy_batch


class CopyEnv(StepEnv):
    #: seconds kept back from the function's timeout to finish in-flight copies and report
    margin_seconds: float = Field(
        copy_batch.LAMBDA_MARGIN_SECONDS, alias="COPY_MARGIN_SECONDS", ge=0
    )


@functools.cache
def runtime() -> CopyEnv:
    return CopyEnv.model_validate(dict(os.environ))


@functools.cache
def clients() -> StepClients:
    return runtime().clients()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(CopyPayload, event, "copy batch")
    env = runtime()
    if event.get("action") == "thaw":  # the Thaw state of a batch with archived sources
        return thaw.run(payload, s3=clients().s3).to_payload()
    deadline = copy_batch.lambda_deadline(
        context.get_remaining_time_in_millis() / 1000, env.margin_seconds
    )
    return copy_batch.run(payload, endpoint_url=env.endpoint_url, deadline=deadline).to_payload()

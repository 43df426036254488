"""Summarise (Lambda): a thin adapter over :func:`steps_s3_copy.summarise.run`.

Payload ``{"prepared": PrepareResult, "execution": {...}}`` (normal path) or
``{"error": {"Error", "Cause"}, "input": ..., "execution": {...}}`` (a caught failure);
returns ``{"notice": Notice}``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from steps_s3_copy import summarise
from steps_s3_copy.aws import StepClients
from steps_s3_copy.handlers._runtime import LayoutEnv, parse
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.observability import logger, tracer
from steps_s3_copy.payloads import NoticeResult, SummarisePayload


@functools.cache
def runtime() -> tuple[InboxLayout, StepClients]:
    """The layout and the clients (with the lean results reader), made at the cold start."""
    env = LayoutEnv.model_validate(dict(os.environ))
    return env.layout(), env.clients()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(SummarisePayload, event, "Summarise")
    layout, clients = runtime()
    notice = summarise.run(
        payload, s3=clients.s3, kms=clients.kms, reader=clients.results_reader, layout=layout
    )
    return NoticeResult(notice=notice).to_payload()

"""Destination (Lambda, the writer role): a thin adapter over
:func:`steps_s3_copy.destination.check` (the CheckDestination state, payload
``{"action": "check", "prepared": PrepareResult}``, returns ``{}``) and
:func:`steps_s3_copy.destination.finish` (the Finish states, payload
``{"action": "finish", "notice": Notice}``, returns ``{"notice": Notice}``).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from steps_s3_copy import destination
from steps_s3_copy.aws import StepClients
from steps_s3_copy.errors import InputInvalid
from steps_s3_copy.handlers._runtime import StepEnv, parse
from steps_s3_copy.observability import logger, tracer
from steps_s3_copy.payloads import CheckPayload, FinishPayload, NoticeResult


@functools.cache
def runtime() -> StepClients:
    return StepEnv.model_validate(dict(os.environ)).clients()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    clients = runtime()
    action = event.get("action") if isinstance(event, dict) else None
    if action == "check":
        destination.check(parse(CheckPayload, event, "CheckDestination"), s3=clients.s3)
        return {}
    if action == "finish":
        notice = destination.finish(parse(FinishPayload, event, "Finish"), s3=clients.s3)
        return NoticeResult(notice=notice).to_payload()
    raise InputInvalid(f"a Destination payload needs action 'check' or 'finish', not {action!r}")

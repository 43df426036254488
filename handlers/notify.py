"""Notify (Lambda): publish the completion notice once per run.

Payload ``{"notice": Notice}``; returns ``{"published": bool, "messageId": str | None}``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steps_s3_copy.errors import InputInvalid
from steps_s3_copy.handlers._runtime import client
from steps_s3_copy.notify import publish_notice
from steps_s3_copy.observability import logger, tracer
from steps_s3_copy.summarise import Notice


class NotifyEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    topic_arn: str = Field(alias="TOPIC_ARN", pattern=r"^arn:[\w-]+:sns:")


class NotifyPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    notice: Notice


@functools.cache
def runtime() -> tuple[str, Any, Any]:
    env = NotifyEnv.model_validate(dict(os.environ))
    return env.topic_arn, client("sns"), client("s3")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        payload = NotifyPayload.model_validate(event)
    except ValidationError as exc:
        raise InputInvalid(f"not a Notify payload: {exc}") from exc
    topic_arn, sns, s3 = runtime()
    return publish_notice(payload.notice, sns=sns, s3=s3, topic_arn=topic_arn).to_payload()

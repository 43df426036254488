"""Notify (Lambda): a thin adapter over :func:`steps_s3_copy.notify.run`.

Payload ``{"notice": Notice}``; returns ``{"published": bool, "messageId": str | None}``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from steps_s3_copy import notify
from steps_s3_copy.aws import StepClients
from steps_s3_copy.handlers._runtime import StepEnv, parse
from steps_s3_copy.inbox import DEFAULT_WORK_PREFIX
from steps_s3_copy.observability import logger, tracer
from steps_s3_copy.payloads import NotifyPayload


class NotifyEnv(StepEnv):
    topic_arn: str = Field(alias="TOPIC_ARN", pattern=r"^arn:[\w-]+:sns:")
    #: where the job's lock is (work/<job>/lock.json)
    work_prefix: str = Field(DEFAULT_WORK_PREFIX, alias="WORK_PREFIX")


@functools.cache
def runtime() -> tuple[NotifyEnv, StepClients]:
    env = NotifyEnv.model_validate(dict(os.environ))
    return env, env.clients()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(NotifyPayload, event, "Notify")
    env, clients = runtime()
    published = notify.run(
        payload,
        sns=clients.sns,
        s3=clients.s3,
        topic_arn=env.topic_arn,
        work_prefix=env.work_prefix,
    )
    return published.to_payload()

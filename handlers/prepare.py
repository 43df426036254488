"""Prepare (Lambda): a thin adapter over :func:`steps_s3_copy.prepare.run`.

Payload ``{"input": <execution input>, "execution": {"id", "name", "startTime"}}``;
returns the PrepareResult (docs/architecture.md); raises the named errors of
``steps_s3_copy.errors`` (ManifestInvalid, DestinationNotWritable, ...).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from steps_s3_copy import prepare
from steps_s3_copy.aws import StepClients
from steps_s3_copy.handlers._runtime import LayoutEnv, parse
from steps_s3_copy.jobs import step_functions_is_running
from steps_s3_copy.observability import logger, tracer
from steps_s3_copy.payloads import PreparePayload
from steps_s3_copy.prepare import PrepareSettings
from steps_s3_copy.sidecar import DEFAULT_LANE_CUTOFF_BYTES


class PrepareEnv(LayoutEnv):
    """Prepare's environment: the layout, plus the lane cut-off and the manifest's size cap."""

    lane_cutoff_bytes: int = Field(DEFAULT_LANE_CUTOFF_BYTES, alias="LANE_CUTOFF_BYTES", ge=0)
    max_manifest_rows: int = Field(2_000_000, alias="MAX_MANIFEST_ROWS", ge=1)
    #: comma-separated bucket names the deployment may read / write; unset: not named
    #: (the deployer opted into any bucket; IAM still decides)
    source_buckets: str | None = Field(None, alias="SOURCE_BUCKETS")
    destination_buckets: str | None = Field(None, alias="DESTINATION_BUCKETS")
    kms_keys: str | None = Field(None, alias="KMS_KEYS")
    #: the CopyBatch function's reserved concurrency, the state machine's timeout
    copy_concurrency_limit: int | None = Field(None, alias="COPY_CONCURRENCY_LIMIT", ge=1)
    execution_timeout_seconds: int | None = Field(
        None, alias="STATE_MACHINE_TIMEOUT_SECONDS", ge=60
    )
    #: the function's region (Lambda sets AWS_REGION): buckets elsewhere are refused
    region: str | None = Field(None, alias="AWS_REGION")

    def settings(self) -> PrepareSettings:
        return PrepareSettings(
            layout=self.layout(),
            lane_cutoff_bytes=self.lane_cutoff_bytes,
            max_manifest_rows=self.max_manifest_rows,
            source_buckets=_names(self.source_buckets),
            destination_buckets=_names(self.destination_buckets),
            kms_keys=_names(self.kms_keys),
            copy_concurrency_limit=self.copy_concurrency_limit,
            execution_timeout_seconds=self.execution_timeout_seconds,
            region=self.region,
        )


def _names(value: str | None) -> frozenset[str] | None:
    return None if value is None else frozenset(n.strip() for n in value.split(",") if n.strip())


@functools.cache
def runtime() -> tuple[PrepareSettings, StepClients]:
    """Settings and clients, made on the first (cold-start) invocation."""
    env = PrepareEnv.model_validate(dict(os.environ))
    return env.settings(), env.clients()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(PreparePayload, event, "Prepare")
    settings, clients = runtime()
    result = prepare.run(
        payload,
        s3=clients.s3,
        settings=settings,
        is_running=step_functions_is_running(clients.sfn),
    )
    return result.to_payload()

"""What every handler shares: the environment models (read and validated once per
execution environment) and the parsing of an event into its payload model."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from steps_s3_copy.aws import StepClients
from steps_s3_copy.errors import InputInvalid
from steps_s3_copy.inbox import (
    DEFAULT_JOBS_PREFIX,
    DEFAULT_REPORTS_PREFIX,
    DEFAULT_WORK_PREFIX,
    InboxLayout,
)

P = TypeVar("P", bound=BaseModel)


def parse(model: type[P], event: dict[str, Any], step: str) -> P:
    """The event as ``model``; ``InputInvalid`` (a named error Step Functions can match)."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise InputInvalid(f"not a {step} payload: {exc}") from exc


class StepEnv(BaseModel):
    """What every function's environment may set: another S3/SNS endpoint (local runs)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    )

    def clients(self) -> StepClients:
        return StepClients(endpoint_url=self.endpoint_url)


class LayoutEnv(StepEnv):
    """Where the inbox keeps jobs, working areas and reports (Prepare and Summarise)."""

    work_bucket: str = Field(alias="WORK_BUCKET", min_length=3)
    work_prefix: str = Field(DEFAULT_WORK_PREFIX, alias="WORK_PREFIX")
    jobs_prefix: str = Field(DEFAULT_JOBS_PREFIX, alias="JOBS_PREFIX")
    reports_prefix: str = Field(DEFAULT_REPORTS_PREFIX, alias="REPORTS_PREFIX")

    def layout(self) -> InboxLayout:
        return InboxLayout(
            bucket=self.work_bucket,
            jobs_prefix=self.jobs_prefix,
            work_prefix=self.work_prefix,
            reports_prefix=self.reports_prefix,
        )

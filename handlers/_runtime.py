"""What every handler shares: boto3 clients made once per execution environment."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field

from steps_s3_copy.prepare import PrepareSettings

#: enough pooled connections for Prepare's parallel HeadObject and Summarise's fetches
_CONFIG = Config(
    max_pool_connections=64,
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=60,
)


def client(service: str) -> Any:
    """A boto3 client; the endpoint comes from the standard AWS_ENDPOINT_URL* settings."""
    return boto3.session.Session().client(service, config=_CONFIG)


class LayoutEnv(BaseModel):
    """Where the inbox keeps jobs, working areas and reports: Prepare's and Summarise's
    environment, validated once per execution environment."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    work_bucket: str = Field(alias="WORK_BUCKET", min_length=3)
    work_prefix: str = Field("work/", alias="WORK_PREFIX")
    jobs_prefix: str = Field("jobs/", alias="JOBS_PREFIX")
    reports_prefix: str = Field("reports/", alias="REPORTS_PREFIX")

    def settings(self) -> PrepareSettings:
        return PrepareSettings(**self._settings_fields())

    def _settings_fields(self) -> dict[str, Any]:
        return {
            "work_bucket": self.work_bucket,
            "work_prefix": self.work_prefix,
            "jobs_prefix": self.jobs_prefix,
            "reports_prefix": self.reports_prefix,
        }

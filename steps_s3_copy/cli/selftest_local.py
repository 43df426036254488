"""``s3copy selftest --local``: the self test against the embedded emulator.

The same checks as against a deployed stack (:mod:`steps_s3_copy.cli.selftest`); the
deployment is the emulator's event path that ``s3copy local`` runs (inbox, EventBridge
rule, queue, runner, SNS topic: :class:`steps_s3_copy.local.pipeline.EmbeddedPipeline`),
with the scratch bucket named as the deployment's only source and destination bucket, as
a stack deployed with ``sourceBuckets`` / ``destinationBuckets`` would. Imported only when
``--local`` is asked for: the emulator's moto is slow to import.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

from steps_s3_copy.cli.local_run import service_logs
from steps_s3_copy.cli.selftest import CheckFailedError, RunOutcome
from steps_s3_copy.local.emulator import Emulator, EmulatorError
from steps_s3_copy.local.pipeline import EmbeddedPipeline, EventNotReceivedError

#: the scratch bucket the emulator gets when none is named
DEFAULT_SCRATCH_BUCKET = "s3copy-selftest-scratch"


class LocalTarget:
    """The embedded emulator, provisioned like a deployed stack, with its local runner."""

    mode = "local"

    def __init__(
        self,
        *,
        scratch_bucket: str,
        endpoint_url: str | None = None,
        run_timeout_seconds: float = 120.0,
        verbose: bool = False,
    ) -> None:
        self.scratch_bucket = scratch_bucket
        self.endpoint_url = endpoint_url
        self.run_timeout_seconds = run_timeout_seconds
        self.verbose = verbose
        self._resources = contextlib.ExitStack()
        self.pipeline: EmbeddedPipeline | None = None
        self.region = "us-east-1"
        self.inbox = ""
        self.jobs_prefix = ""
        self.topic_arn = ""

    def open(self) -> str:
        # the pipeline's logs to stderr and its metrics off stdout, as `s3copy local` does
        self._resources.enter_context(service_logs(self.verbose))
        try:
            emulator = self._resources.enter_context(Emulator(self.endpoint_url))
            pipeline = EmbeddedPipeline(
                emulator,
                source_buckets=frozenset({self.scratch_bucket}),
                destination_buckets=frozenset({self.scratch_bucket}),
            )
        except (EmulatorError, OSError) as exc:
            raise CheckFailedError(
                f"the emulator did not start: {exc}",
                cause="network",
                hint="the emulator listens on 127.0.0.1: a firewall or a full port range?",
            ) from exc
        self.pipeline = pipeline
        self.region = pipeline.stack.region
        self.inbox = pipeline.stack.inbox_bucket
        self.jobs_prefix = pipeline.stack.jobs_prefix
        self.topic_arn = pipeline.stack.topic_arn
        return f"emulator at {emulator.endpoint_url}, inbox s3://{self.inbox}"

    def client(self, service: str) -> Any:
        if self.pipeline is None:
            raise CheckFailedError("the emulator is not running", cause="unknown")
        return self.pipeline.stack.client(service)

    def scratch(self, bucket: str) -> str:
        s3 = self.client("s3")
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
            return f"s3://{bucket} created ({self.region})"
        return f"s3://{bucket} ({self.region})"

    def wait_for_run(
        self, sidecar_key: str, *, after: datetime, exclude: frozenset[str]
    ) -> RunOutcome:
        assert self.pipeline is not None
        started = time.monotonic()
        try:
            run = self.pipeline.run_next(timeout=self.run_timeout_seconds)
        except EventNotReceivedError as exc:
            raise CheckFailedError(
                str(exc),
                cause="configuration",
                hint="the inbox's EventBridge notifications and the rule start runs",
            ) from exc
        execution = run.result.execution.get("id")
        if execution in exclude:
            raise CheckFailedError(f"{execution} ran twice", cause="unknown")
        return RunOutcome(
            notice=run.notice or None,
            execution=execution,
            execution_status=run.result.status,
            seconds=time.monotonic() - started,
        )

    def close(self) -> None:
        self._resources.close()

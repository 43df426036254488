"""The Fargate container's entry point: ``python -m steps_s3_copy.worker``.

Configuration comes from flags or, for each flag left out, the environment (the ECS
task's container overrides set the environment)::

    --work-bucket   S3COPY_WORK_BUCKET     the working area's bucket
    --run-prefix    S3COPY_RUN_PREFIX      the run's prefix in it
    --batch         S3COPY_BATCH           the BatchRef as JSON (one index.csv row)
    --endpoint-url  AWS_ENDPOINT_URL_S3    another S3 endpoint (tests, local runs)
    --grace-seconds S3COPY_GRACE_SECONDS   after SIGTERM, how long in-flight multipart
                                           copies may run before they are aborted (100)

and ``S3COPY_CAPACITY_PROVIDER`` (FARGATE_SPOT or FARGATE, set by the RunTask state) for
the SpotFallbacks metric.

It is parsed and validated once, here; nothing below reads the environment. SIGTERM
(Fargate Spot gives two minutes) and SIGINT set the stop event: no new object starts,
in-flight ones finish or are aborted after the grace period, partial results are written.

Exit codes (docs/architecture.md): 0 the batch ran to its end (objects that FAILED are in
its results, as in the Lambda lane), 2 bad arguments, configuration or working area (a
retry cannot help), 4 interrupted (retry), 1 unexpected error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from pydantic import ValidationError

from steps_s3_copy import observability
from steps_s3_copy.errors import (
    BatchIncomplete,
    PlanUnreadable,
    RunConfigUnreadable,
    StepsS3CopyError,
)
from steps_s3_copy.models import BatchRef, RunLocation
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import BatchOutcome, CopyPayload
from steps_s3_copy.planning import FARGATE_START_SECONDS
from steps_s3_copy.worker.engine import DEFAULT_GRACE_SECONDS
from steps_s3_copy.worker.errors import ConfigurationError, WorkerError

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 4


@dataclass(frozen=True)
class WorkerSettings:
    location: RunLocation
    batch: BatchRef
    endpoint_url: str | None
    grace_seconds: float


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigurationError(message)


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> WorkerSettings:
    """Flags first, the environment for what they leave out; ConfigurationError if invalid."""
    parser = _Parser(prog="python -m steps_s3_copy.worker", description=__doc__)
    parser.add_argument("--work-bucket", default=environ.get("S3COPY_WORK_BUCKET"))
    parser.add_argument("--run-prefix", default=environ.get("S3COPY_RUN_PREFIX"))
    parser.add_argument("--batch", default=environ.get("S3COPY_BATCH"))
    parser.add_argument(
        "--endpoint-url",
        default=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"),
    )
    parser.add_argument(
        "--grace-seconds", default=environ.get("S3COPY_GRACE_SECONDS", DEFAULT_GRACE_SECONDS)
    )
    args = parser.parse_args(list(argv))
    missing = [
        name
        for name, value in (
            ("--work-bucket/S3COPY_WORK_BUCKET", args.work_bucket),
            ("--run-prefix/S3COPY_RUN_PREFIX", args.run_prefix),
            ("--batch/S3COPY_BATCH", args.batch),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError("missing " + ", ".join(missing))
    try:
        batch = BatchRef.model_validate_json(args.batch)
        location = RunLocation(bucket=args.work_bucket, prefix=args.run_prefix)
        grace = float(args.grace_seconds)
    except (ValidationError, ValueError) as exc:
        raise ConfigurationError(f"invalid configuration: {exc}") from exc
    if not 0 <= grace <= 3600:
        raise ConfigurationError("--grace-seconds must be between 0 and 3600")
    return WorkerSettings(
        location=location,
        batch=batch,
        endpoint_url=args.endpoint_url or None,
        grace_seconds=grace,
    )


def task_deadline(batch: BatchRef, grace: float) -> float:
    """When the task stops taking objects: before its state's TimeoutSeconds (which counts
    the task's start too), so it ends with its results written and exit 4 (retried, the
    retry skips what is done) rather than being stopped by Step Functions mid-copy."""
    budget = batch.timeout_seconds - FARGATE_START_SECONDS - grace
    return time.monotonic() + max(budget, batch.timeout_seconds / 2)


def exit_code(outcome: BatchOutcome) -> int:
    """0 when the batch ran to its end, FAILED objects included (they are in its results:
    retrying the task would not change them), 4 when it was interrupted."""
    return EXIT_INTERRUPTED if outcome.interrupted else EXIT_OK


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, environ)
    except ConfigurationError as exc:
        logger.error("bad configuration", extra={"error": str(exc)})
        return EXIT_CONFIG

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.warning(
            "stop requested: no new objects; in-flight ones get the grace period",
            extra={"signal": signal.Signals(signum).name, "graceSeconds": settings.grace_seconds},
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Imported here so that a bad configuration is reported without loading boto3.
    from steps_s3_copy.worker import copy_batch  # noqa: PLC0415

    logger.info(
        "batch starting",
        extra={
            "batchId": settings.batch.batch_id,
            "objects": settings.batch.objects,
            "bucket": settings.location.bucket,
            "prefix": settings.location.prefix,
        },
    )
    try:
        outcome = copy_batch.run(
            CopyPayload(batch=settings.batch, work=settings.location),
            endpoint_url=settings.endpoint_url,
            stop=stop,
            deadline=task_deadline(settings.batch, settings.grace_seconds),
            grace=settings.grace_seconds,
            capacity_provider=observability.capacity_provider(environ),
        )
    except BatchIncomplete as exc:
        outcome = exc.outcome
    except (ConfigurationError, RunConfigUnreadable, PlanUnreadable) as exc:
        logger.error("bad configuration", extra={"error": type(exc).__name__, "why": str(exc)})
        return EXIT_CONFIG
    except (WorkerError, StepsS3CopyError) as exc:
        logger.error("batch impossible", extra={"error": type(exc).__name__, "why": str(exc)})
        return EXIT_UNEXPECTED
    except Exception:
        logger.exception("unexpected error")
        return EXIT_UNEXPECTED
    code = exit_code(outcome)
    logger.info(
        "batch outcome", extra={"outcome": outcome.model_dump(by_alias=True), "exitCode": code}
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())

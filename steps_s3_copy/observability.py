"""The one place that sets up structured logging, tracing and metrics.

Lambda handlers and the Fargate container log the same JSON shape through Powertools'
Logger; core code takes keys (``logger.info("copied", extra={...})``), never f-strings.

Metrics (docs/architecture.md, "Metrics": the names, units and dimensions are a contract
the construct's dashboard and alarms read) are CloudWatch embedded metric format (EMF)
lines, serialised by Powertools' EMF provider and written to stdout, one JSON object per
line, by the steps themselves: :func:`run_started` (Prepare), :func:`batch_done` (each
batch, both lanes), :func:`objects_restored` (Thaw), :func:`run_ended` (Summarise). Each
line holds its metrics twice, through two dimension sets: the deployment's total (no
dimension, or only the metric's own: ``status``, ``lane``, ``error``) and the same plus
``job``, per run.

- In Lambda, stdout goes to the function's log group and CloudWatch extracts the metrics
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Libraries.html:
  "When using Lambda, no agent is required").
- The Fargate container has no Lambda context and needs none: its stdout goes to its log
  group through the awslogs driver, which sends PutLogEvents, and CloudWatch Logs
  extracts EMF from PutLogEvents whether or not the ``x-amzn-logs-format: json/emf``
  header is sent (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation_PutLogEvents.html).
- The lines follow "Specification: Embedded metric format"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
  a log event must be the JSON object alone, so each line is written in one call.

Powertools' own ``flush_metrics()`` works outside Lambda too (it ``print``\\ s the same
serialisation); the lines are written here instead so that they go out in one write
(the engine's threads log at the same time) and so that ``s3copy local`` can send them
elsewhere than its own stdout (:func:`metrics_output`). ``POWERTOOLS_METRICS_DISABLED``
is honoured as Powertools honours it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

SERVICE = "steps-s3-copy"
METRICS_NAMESPACE = "StepsS3Copy"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, disabled=None)

#: CloudWatch dimension values: 1 to 1,024 ASCII characters, no control characters
#: (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html)
MAX_DIMENSION_VALUE = 1024

#: the capacity providers of the Fargate lane: Spot first, on-demand FARGATE as fallback
FARGATE_ON_DEMAND = "FARGATE"
FARGATE_SPOT = "FARGATE_SPOT"
#: the container's environment variable naming the capacity provider its RunTask state
#: asked for (the definition sets it in the container overrides). The task metadata
#: endpoint v4 does not name it: its ``LaunchType`` says ``FARGATE`` for Spot and
#: on-demand alike
#: (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate-response.html)
CAPACITY_PROVIDER_VARIABLE = "S3COPY_CAPACITY_PROVIDER"


def capacity_provider(environ: Mapping[str, str]) -> str | None:
    """The Fargate task's capacity provider from its environment; None when the container
    does not run under the definition (or the value is not one of the lane's)."""
    value = environ.get(CAPACITY_PROVIDER_VARIABLE)
    return value if value in (FARGATE_ON_DEMAND, FARGATE_SPOT) else None


class TextSink(Protocol):
    """Where EMF lines are written: a text stream."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


_lock = threading.Lock()
_output: TextSink | None = None  # None: sys.stdout as it is when a line is written


def dimension_value(text: str) -> str:
    """``text`` as a CloudWatch dimension value: ASCII kept as it is, any other
    character (and control characters) percent-encoded as UTF-8, at most 1,024 characters.

    A job name may hold any unicode (``jobs/ünï/2026.json``); dimension values may not.
    """
    value = "".join(
        c if c.isascii() and c.isprintable() else urllib.parse.quote(c, safe="") for c in text
    )
    return value[:MAX_DIMENSION_VALUE] if value.strip() else "unknown"


@contextlib.contextmanager
def metrics_output(stream: TextSink | None) -> Iterator[None]:
    """While the block runs, EMF lines go to ``stream`` (``None``: nowhere) instead of
    stdout: ``s3copy local`` and ``s3copy selftest --local`` keep stdout for themselves."""
    global _output  # noqa: PLW0603 - one output per process, like the logger's stream
    previous = _output
    _output = stream if stream is not None else _Discard()
    try:
        yield
    finally:
        _output = previous


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def emit(
    job: str,
    values: Mapping[str, tuple[MetricUnit, float]],
    *,
    dimensions: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """Write one EMF line: every metric of ``values`` with ``dimensions`` (the total) and
    with ``dimensions`` plus ``job`` (per run). Returns the line's document (None when
    metrics are disabled)."""
    if not values or is_metrics_disabled():
        return None
    # service="": no "service" dimension, whatever POWERTOOLS_SERVICE_NAME says (the
    # contract's totals have no dimension); the namespace is the contract's, not the env's
    provider = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE, service="")
    own = {name: dimension_value(value) for name, value in (dimensions or {}).items()}
    for dimension, text in own.items():
        provider.add_dimension(name=dimension, value=text)
    provider.add_dimensions(**own, job=dimension_value(job))
    for metric, (unit, value) in values.items():
        provider.add_metric(name=metric, unit=unit, value=value)
    document: dict[str, Any] = dict(provider.serialize_metric_set())
    line = json.dumps(document, separators=(",", ":")) + "\n"
    with _lock:
        out = _output if _output is not None else sys.stdout
        out.write(line)
        out.flush()
    return document


# -- what each step emits (docs/architecture.md, "Metrics") ------------------------------


def run_started(job: str) -> None:
    """Prepare, once per run that planned."""
    emit(job, {"RunsStarted": (MetricUnit.Count, 1)})


def run_ended(job: str, status: str, *, batches_failed: int | None = None) -> None:
    """Summarise (both paths), once per run: ``Runs`` by status, and the batches without
    results after their retries (known on the normal path only)."""
    emit(job, {"Runs": (MetricUnit.Count, 1)}, dimensions={"status": status})
    if batches_failed is not None:
        emit(job, {"BatchesFailed": (MetricUnit.Count, batches_failed)})


class BatchCounts(Protocol):
    """What :func:`batch_done` reads of a batch's outcome (``payloads.BatchOutcome``)."""

    @property
    def copied(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def bytes_copied(self) -> int: ...
    @property
    def bytes_skipped(self) -> int: ...
    @property
    def bytes_failed(self) -> int: ...


@runtime_checkable
class CountsRetries(Protocol):
    """An S3 client that counts its retries by S3 error code (``SlowDown``, ``InternalError``,
    ...): the engine's clients, when they expose it."""

    @property
    def retries(self) -> Mapping[str, int]: ...


def retry_counts(client: object) -> Mapping[str, int]:
    """The retries ``client`` counted by error code; empty when it counts none."""
    if isinstance(client, CountsRetries):
        counts = client.retries
        if isinstance(counts, Mapping):
            return {str(code): int(n) for code, n in counts.items() if int(n) > 0}
    return {}


def batch_done(
    job: str,
    lane: str,
    outcome: BatchCounts,
    *,
    retries: Mapping[str, int] | None = None,
    capacity_provider: str | None = None,
) -> None:
    """Each batch, both lanes (also one that stopped early: what it did is done).

    ``capacity_provider`` is the Fargate task's (None: unknown, or the Lambda lane): a
    batch on on-demand FARGATE ran there because Spot failed first (the definition tries
    FARGATE_SPOT, then falls back), so it counts one ``SpotFallbacks``.
    """
    emit(
        job,
        {
            "ObjectsCopied": (MetricUnit.Count, outcome.copied),
            "ObjectsSkipped": (MetricUnit.Count, outcome.skipped),
            "ObjectsFailed": (MetricUnit.Count, outcome.failed),
            "BytesCopied": (MetricUnit.Bytes, outcome.bytes_copied),
            "BytesSkipped": (MetricUnit.Bytes, outcome.bytes_skipped),
            "BytesFailed": (MetricUnit.Bytes, outcome.bytes_failed),
        },
    )
    emit(job, {"BatchesRun": (MetricUnit.Count, 1)}, dimensions={"lane": lane})
    if capacity_provider is not None:
        fallback = 1 if capacity_provider == FARGATE_ON_DEMAND else 0
        emit(job, {"SpotFallbacks": (MetricUnit.Count, fallback)})
    for error, count in sorted((retries or {}).items()):
        emit(job, {"S3Retries": (MetricUnit.Count, count)}, dimensions={"error": error})


def objects_restored(job: str, count: int) -> None:
    """Thaw: the objects whose restore it saw finish on this pass."""
    emit(job, {"ObjectsRestored": (MetricUnit.Count, count)})

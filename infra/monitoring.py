"""See it while it runs, hear when it breaks: the metrics, the dashboard and the alarms.

The steps emit their figures as CloudWatch embedded-metric-format log lines (Powertools
Metrics) in the namespace ``steps_s3_copy.observability.METRICS_NAMESPACE``; docs/architecture.md
("Metrics") is the contract: each metric's name, unit and dimensions. Each is emitted twice,
without the ``job`` dimension (the deployment's total) and with it (one run), so a metric is
found by exactly that set of dimensions: "dimensions are part of the unique identifier for a
metric", each name/value pair a new variation of it ("Dimension", CloudWatch API Reference,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html).
``MetricFactory`` builds them, checking the name and the dimensions against ``METRICS``, so
that a dashboard or an alarm cannot silently read a metric nobody writes. AWS's own metrics
complete the picture: ``AWS/States`` of the state machine, ``AWS/Lambda`` Throttles of the
CopyBatch function, ``AWS/SQS`` ApproximateNumberOfMessagesVisible of the rule's dead-letter
queue.

The alarms (``ALARMS``; what each means and what to do: docs/deploy.md, "Runbook") count
events, so an empty period is no event: missing data is "not breaching"
("Configuring how CloudWatch alarms treat missing data",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html:
for a metric that only reports when something happens, treat missing data as
``notBreaching``).
The dead-letter queue's alarm is the exception: SQS publishes a queue's metrics only while
it is active, up to six hours after its last API call ("Available CloudWatch metrics for
Amazon SQS",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html),
so events nobody handled fall silent after six hours; that alarm ignores missing data and
stays in ALARM until the queue is dealt with (received from, purged or redriven).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from steps_s3_copy.observability import METRICS_NAMESPACE, dimension_value

#: the period of every metric, widget and alarm unless told otherwise
PERIOD: Final = Duration.minutes(5)
#: the dimension every metric is also emitted with, per run
JOB_DIMENSION: Final = "job"


#: the units the steps emit in, as CloudWatch (and Powertools' ``MetricUnit``) spell them
UNITS: Final[Mapping[str, cloudwatch.Unit]] = {
    "Count": cloudwatch.Unit.COUNT,
    "Bytes": cloudwatch.Unit.BYTES,
}


@dataclass(frozen=True)
class MetricSpec:
    """One metric of docs/architecture.md's table: its unit (a key of ``UNITS``) and its
    dimensions besides ``job``."""

    unit: str
    dimensions: tuple[str, ...] = ()


_COUNT = "Count"
_BYTES = "Bytes"

#: docs/architecture.md, "Metrics": name -> unit and dimensions (besides ``job``)
METRICS: Final[Mapping[str, MetricSpec]] = {
    "RunsStarted": MetricSpec(_COUNT),
    "Runs": MetricSpec(_COUNT, ("status",)),
    "ObjectsCopied": MetricSpec(_COUNT),
    "ObjectsSkipped": MetricSpec(_COUNT),
    "ObjectsFailed": MetricSpec(_COUNT),
    "BytesCopied": MetricSpec(_BYTES),
    "BytesSkipped": MetricSpec(_BYTES),
    "BytesFailed": MetricSpec(_BYTES),
    "BatchesRun": MetricSpec(_COUNT, ("lane",)),
    "SpotFallbacks": MetricSpec(_COUNT),
    "BatchesFailed": MetricSpec(_COUNT),
    "S3Retries": MetricSpec(_COUNT, ("error",)),
    "ObjectsRestored": MetricSpec(_COUNT),
}
#: the values of the dimensions the dashboard shows one line for
RUN_STATUSES: Final = ("SUCCEEDED", "PARTIAL", "FAILED")
LANES: Final = ("lambda", "fargate")


class MetricFactory:
    """The metrics of one deployment: the steps' own (``custom``) and AWS's for its state
    machine, CopyBatch function and dead-letter queue. Every method returns a new
    ``cloudwatch.Metric`` (Sum over five minutes unless told otherwise)."""

    def __init__(
        self,
        *,
        state_machine: sfn.IStateMachine,
        copy_function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        self._state_machine = state_machine
        self._copy_function = copy_function
        self._dead_letter_queue = dead_letter_queue

    def custom(
        self,
        name: str,
        *,
        dimensions: Mapping[str, str] | None = None,
        job: str | None = None,
        period: Duration | None = None,
        statistic: str | None = None,
        label: str | None = None,
    ) -> cloudwatch.Metric:
        """The steps' metric ``name`` with exactly its ``dimensions`` (those of its row in
        docs/architecture.md), for one ``job`` or, without, the deployment's total."""
        spec = METRICS.get(name)
        if spec is None:
            raise ValueError(f"no such metric: {name!r} (one of {', '.join(METRICS)})")
        given = dict(dimensions or {})
        if set(given) != set(spec.dimensions):
            expected = ", ".join(spec.dimensions) or "none"
            raise ValueError(
                f"{name} is emitted with the dimensions {expected} (besides job), "
                f"not {', '.join(given) or 'none'}"
            )
        if job is not None:
            # the value the steps emit: a job name's non-ASCII characters percent-encoded
            given[JOB_DIMENSION] = dimension_value(job)
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map=given,
            unit=UNITS[spec.unit],
            period=period or PERIOD,
            statistic=statistic or "Sum",
            label=label,
        )

    def executions(self, what: str, *, period: Duration | None = None) -> cloudwatch.Metric:
        """``AWS/States`` Executions<what> of the state machine (Started, Succeeded,
        Failed, TimedOut, Aborted), summed."""
        return self._state_machine.metric(
            f"Executions{what}", period=period or PERIOD, statistic="Sum", label=what
        )

    def copy_throttles(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """``AWS/Lambda`` Throttles of the CopyBatch function, summed."""
        return self._copy_function.metric_throttles(
            period=period or PERIOD, label="CopyBatch throttles"
        )

    def dead_letters(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """``AWS/SQS`` ApproximateNumberOfMessagesVisible of the dead-letter queue, its
        maximum: the sidecar events the rule could not deliver."""
        return self._dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=period or PERIOD, statistic="Maximum", label="events not delivered"
        )


# --- the alarms ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: ``threshold`` or more in ``datapoints`` of the last ``periods`` periods."""

    construct_id: str
    description: str
    threshold: float = 1
    periods: int = 1
    datapoints: int = 1
    missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING


RUNBOOK: Final = "docs/deploy.md, Runbook"

#: the alarms, by what they watch (the keys ``Alarms`` takes the metrics by)
ALARMS: Final[Mapping[str, AlarmSpec]] = {
    "dead_letters": AlarmSpec(
        "DeadLetterAlarm",
        "Sidecar events the rule could not deliver are in the dead-letter queue: those jobs "
        f"did not start ({RUNBOOK}: DeadLetterAlarm).",
        missing=cloudwatch.TreatMissingData.IGNORE,
    ),
    "executions_failed": AlarmSpec(
        "ExecutionsFailedAlarm",
        "A run's execution failed: its FAILED notice says why, unless it did not go out "
        f"({RUNBOOK}: ExecutionsFailedAlarm).",
    ),
    "executions_timed_out": AlarmSpec(
        "ExecutionsTimedOutAlarm",
        "A run's execution timed out: no notice went out for it "
        f"({RUNBOOK}: ExecutionsTimedOutAlarm).",
    ),
    "batches_failed": AlarmSpec(
        "BatchesFailedAlarm",
        "A run has batches that failed after their retries: their objects are FAILED in its "
        f"report ({RUNBOOK}: BatchesFailedAlarm).",
    ),
    # a throttled batch is retried; throttling in two of three periods is not a blip
    "copy_throttles": AlarmSpec(
        "CopyThrottledAlarm",
        "The CopyBatch function is being throttled: Lambda-lane batches wait and may fail "
        f"({RUNBOOK}: CopyThrottledAlarm).",
        periods=3,
        datapoints=2,
    ),
}


def create_alarms(
    scope: Construct,
    metrics: MetricFactory,
    actions: Sequence[cloudwatch.IAlarmAction],
) -> dict[str, cloudwatch.Alarm]:
    """The ``ALARMS``, each notifying ``actions`` when it goes into ALARM."""
    watched = {
        "dead_letters": metrics.dead_letters(),
        "executions_failed": metrics.executions("Failed"),
        "executions_timed_out": metrics.executions("TimedOut"),
        "batches_failed": metrics.custom("BatchesFailed"),
        "copy_throttles": metrics.copy_throttles(),
    }
    alarms: dict[str, cloudwatch.Alarm] = {}
    for key, spec in ALARMS.items():
        alarm = cloudwatch.Alarm(
            scope,
            spec.construct_id,
            metric=watched[key],
            alarm_description=spec.description,
            threshold=spec.threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=spec.periods,
            datapoints_to_alarm=spec.datapoints,
            treat_missing_data=spec.missing,
        )
        if actions:
            alarm.add_alarm_action(*actions)
        alarms[key] = alarm
    return alarms


# --- the dashboard -------------------------------------------------------------------------

#: a widget's size on the dashboard's 24-column grid
WIDTH: Final = 8
HEIGHT: Final = 6


def create_dashboard(
    scope: Construct,
    metrics: MetricFactory,
    alarms: Mapping[str, cloudwatch.Alarm],
) -> cloudwatch.Dashboard:
    """Runs started and how they ended, copy throughput, batches (run, failed, Spot
    fallbacks), CopyBatch throttles, the dead-letter queue, and the alarms' states."""
    bytes_copied = metrics.custom("BytesCopied", label="bytes")
    throughput = cloudwatch.MathExpression(
        expression="bytes / PERIOD(bytes)",
        using_metrics={"bytes": bytes_copied},
        label="bytes copied per second",
        period=PERIOD,
    )
    objects_copied = metrics.custom("ObjectsCopied", label="objects")
    object_rate = cloudwatch.MathExpression(
        expression="objects / PERIOD(objects)",
        using_metrics={"objects": objects_copied},
        label="objects copied per second",
        period=PERIOD,
    )

    def graph(
        title: str, left: Sequence[cloudwatch.IMetric], right: Sequence[cloudwatch.IMetric] = ()
    ) -> cloudwatch.IWidget:
        return cloudwatch.GraphWidget(
            title=title, left=list(left), right=list(right), width=WIDTH, height=HEIGHT
        )

    rows: list[list[cloudwatch.IWidget]] = [
        [
            graph(
                "Runs",
                [
                    metrics.custom("RunsStarted", label="started"),
                    *(
                        metrics.custom("Runs", dimensions={"status": s}, label=s.lower())
                        for s in RUN_STATUSES
                    ),
                ],
            ),
            graph(
                "Executions (Step Functions)",
                [metrics.executions(w) for w in ("Started", "Succeeded", "Failed", "TimedOut")],
            ),
            graph("Copy throughput", [throughput], right=[object_rate]),
        ],
        [
            graph(
                "Batches",
                [
                    *(
                        metrics.custom("BatchesRun", dimensions={"lane": lane}, label=lane)
                        for lane in LANES
                    ),
                    metrics.custom("BatchesFailed", label="failed"),
                ],
            ),
            graph("Spot fallbacks", [metrics.custom("SpotFallbacks", label="on-demand")]),
            graph("CopyBatch throttles", [metrics.copy_throttles()]),
        ],
        [graph("Dead-letter queue", [metrics.dead_letters()])],
    ]
    if alarms:
        rows[-1].append(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(alarms.values()), width=2 * WIDTH, height=HEIGHT
            )
        )
    return cloudwatch.Dashboard(scope, "Dashboard", widgets=rows)

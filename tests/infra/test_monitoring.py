"""See it while it runs, hear when it breaks: the dashboard, the alarms, the metric methods.

Every metric the construct reads must be one the steps write, with the same name, unit and
dimensions (docs/architecture.md, "Metrics"): otherwise a graph stays empty and an alarm
never fires, silently. The contract table itself is read here, so that it and
``monitoring.METRICS`` cannot drift apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns

from steps_s3_copy import observability
from steps_s3_copy.infra.construct import StepsS3Copy
from steps_s3_copy.infra.monitoring import ALARMS, METRICS, UNITS
from steps_s3_copy.observability import METRICS_NAMESPACE
from tests.infra.conftest import NAMED
from tests.infra.helpers import ACCOUNT, REGION, Synth, named_buckets, placeholder_for, resolve

ARCHITECTURE = Path(__file__).parents[2] / "docs" / "architecture.md"


def _contract() -> dict[str, tuple[str, tuple[str, ...]]]:
    """docs/architecture.md's Metrics table: name -> (unit, dimensions besides job)."""
    text = ARCHITECTURE.read_text()
    section = text[text.index("## Metrics") :]
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        names, unit, _, dimensions = cells
        for name in re.findall(r"`(\w+)`", names):
            found[name] = (unit, tuple(re.findall(r"`(\w+)`", dimensions)))
    return found


def test_the_metrics_are_the_contract_of_docs_architecture() -> None:
    contract = _contract()
    assert len(contract) >= 13  # the table was read
    assert {name: (spec.unit, spec.dimensions) for name, spec in METRICS.items()} == contract
    assert METRICS_NAMESPACE == "StepsS3Copy"
    assert "namespace `StepsS3Copy`" in ARCHITECTURE.read_text()


# --- the dashboard ---------------------------------------------------------------------


def _dashboard(synth: Synth) -> dict[str, Any]:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = resolve(dashboard["Properties"]["DashboardBody"], placeholder_for(synth.template))
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def _widget_metrics(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of each metric a widget graphs (expressions left out)."""
    found = []
    for entry in widget["properties"].get("metrics", []):
        plain = [e for e in entry if not isinstance(e, dict)]
        if not plain:
            continue  # a math expression: its inputs are entries of their own
        namespace, name, *pairs = plain
        found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def test_the_dashboard_shows_runs_throughput_batches_throttles_and_dead_letters(
    synth: Synth,
) -> None:
    widgets = {w["properties"]["title"]: w for w in _dashboard(synth)["widgets"]}
    assert set(widgets) == {
        "Runs",
        "Executions (Step Functions)",
        "Copy throughput",
        "Batches",
        "Spot fallbacks",
        "CopyBatch throttles",
        "Dead-letter queue",
        "Alarms",
    }
    ours = (METRICS_NAMESPACE,)
    assert [(n, d) for ns, n, d in _widget_metrics(widgets["Runs"]) if ns in ours] == [
        ("RunsStarted", {}),
        ("Runs", {"status": "SUCCEEDED"}),
        ("Runs", {"status": "PARTIAL"}),
        ("Runs", {"status": "FAILED"}),
    ]
    machine_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    machine = {"StateMachineArn": f"ref-{machine_id.lower()}"}
    assert _widget_metrics(widgets["Executions (Step Functions)"]) == [
        ("AWS/States", f"Executions{what}", machine)
        for what in ("Started", "Succeeded", "Failed", "TimedOut")
    ]
    # throughput: bytes (and objects) copied per second, a rate over each period
    throughput = widgets["Copy throughput"]["properties"]["metrics"]
    expressions = [e[0]["expression"] for e in throughput if isinstance(e[0], dict)]
    assert expressions == ["bytes / PERIOD(bytes)", "objects / PERIOD(objects)"]
    assert [m[:2] for m in _widget_metrics(widgets["Copy throughput"])] == [
        (METRICS_NAMESPACE, "BytesCopied"),
        (METRICS_NAMESPACE, "ObjectsCopied"),
    ]
    assert [(n, d) for _, n, d in _widget_metrics(widgets["Batches"])] == [
        ("BatchesRun", {"lane": "lambda"}),
        ("BatchesRun", {"lane": "fargate"}),
        ("BatchesFailed", {}),
    ]
    assert _widget_metrics(widgets["Spot fallbacks"]) == [(METRICS_NAMESPACE, "SpotFallbacks", {})]
    copy_id, _ = synth.one("AWS::Lambda::Function", "StepsS3CopyCopyBatchFunction")
    assert _widget_metrics(widgets["CopyBatch throttles"]) == [
        ("AWS/Lambda", "Throttles", {"FunctionName": f"ref-{copy_id.lower()}"})
    ]
    queue_id, _ = synth.one("AWS::SQS::Queue", "StepsS3CopyTriggerDeadLetters")
    assert _widget_metrics(widgets["Dead-letter queue"]) == [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": f"queuename-{queue_id}"})
    ]
    alarm_ids = sorted(synth.resources("AWS::CloudWatch::Alarm"))
    shown = widgets["Alarms"]["properties"]["alarms"]
    assert sorted(shown) == sorted(f"arn:aws:placeholder:{REGION}:{ACCOUNT}:{a}" for a in alarm_ids)


def test_every_metric_of_ours_on_the_dashboard_is_one_the_steps_emit(synth: Synth) -> None:
    for widget in _dashboard(synth)["widgets"]:
        for namespace, name, dimensions in _widget_metrics(widget):
            if namespace != METRICS_NAMESPACE:
                assert namespace.startswith("AWS/"), namespace
                continue
            assert name in METRICS, name
            assert tuple(dimensions) == METRICS[name].dimensions, (name, dimensions)


# --- the alarms ------------------------------------------------------------------------


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    """Each alarm's properties, by its construct id (``StepsS3Copy<id><hash>``)."""
    found = {}
    for logical_id, alarm in synth.resources("AWS::CloudWatch::Alarm").items():
        (spec,) = [
            s for s in ALARMS.values() if logical_id.startswith(f"StepsS3Copy{s.construct_id}")
        ]
        found[spec.construct_id] = alarm["Properties"]
    return found


def _watched(alarm: dict[str, Any]) -> tuple[str, str, dict[str, Any], str]:
    """(namespace, metric, dimensions, statistic) an alarm watches, in either template form."""
    if "Metrics" in alarm:
        ((query,),) = [alarm["Metrics"]]
        stat = query["MetricStat"]
        metric = stat["Metric"]
        dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        assert stat["Period"] == 300
        return metric["Namespace"], metric["MetricName"], dims, stat["Stat"]
    assert alarm["Period"] == 300
    dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
    return alarm["Namespace"], alarm["MetricName"], dims, alarm["Statistic"]


def test_the_alarms_watch_what_breaks_with_thresholds_for_events(synth: Synth) -> None:
    alarms = _alarms(synth)
    assert set(alarms) == {
        "DeadLetterAlarm",
        "ExecutionsFailedAlarm",
        "ExecutionsTimedOutAlarm",
        "BatchesFailedAlarm",
        "CopyThrottledAlarm",
    }
    machine_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    copy_id, _ = synth.one("AWS::Lambda::Function", "StepsS3CopyCopyBatchFunction")
    queue_id, _ = synth.one("AWS::SQS::Queue", "StepsS3CopyTriggerDeadLetters")
    assert {name: _watched(alarm) for name, alarm in alarms.items()} == {
        "DeadLetterAlarm": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [queue_id, "QueueName"]}},
            "Maximum",
        ),
        "ExecutionsFailedAlarm": (
            "AWS/States",
            "ExecutionsFailed",
            {"StateMachineArn": {"Ref": machine_id}},
            "Sum",
        ),
        "ExecutionsTimedOutAlarm": (
            "AWS/States",
            "ExecutionsTimedOut",
            {"StateMachineArn": {"Ref": machine_id}},
            "Sum",
        ),
        "BatchesFailedAlarm": (METRICS_NAMESPACE, "BatchesFailed", {}, "Sum"),
        "CopyThrottledAlarm": (
            "AWS/Lambda",
            "Throttles",
            {"FunctionName": {"Ref": copy_id}},
            "Sum",
        ),
    }
    assert alarms["BatchesFailedAlarm"]["Unit"] == "Count"  # the unit the steps emit it in
    for name, alarm in alarms.items():
        # one event is enough: a dead letter, a failed or timed-out execution, a failed batch
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert alarm["Threshold"] == 1, name
        assert "docs/deploy.md, Runbook" in alarm["AlarmDescription"], name
        assert "AlarmActions" not in alarm, name  # nobody to notify was given
    periods = {n: (a["EvaluationPeriods"], a["DatapointsToAlarm"]) for n, a in alarms.items()}
    assert periods == {
        "DeadLetterAlarm": (1, 1),
        "ExecutionsFailedAlarm": (1, 1),
        "ExecutionsTimedOutAlarm": (1, 1),
        "BatchesFailedAlarm": (1, 1),
        # a throttled batch is retried: throttling in 2 of 3 five-minute periods
        "CopyThrottledAlarm": (3, 2),
    }
    # events: no data is no event; the queue falls silent six hours after its last call,
    # so its alarm keeps its state until the queue is dealt with
    missing = {n: a["TreatMissingData"] for n, a in alarms.items()}
    assert missing == {
        "DeadLetterAlarm": "ignore",
        "ExecutionsFailedAlarm": "notBreaching",
        "ExecutionsTimedOutAlarm": "notBreaching",
        "BatchesFailedAlarm": "notBreaching",
        "CopyThrottledAlarm": "notBreaching",
    }


def _stack(tmp_path: Path, **args: Any) -> tuple[cdk.Stack, StepsS3Copy]:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account=ACCOUNT, region=REGION))
    resolved = {k: v(stack) if callable(v) else v for k, v in args.items()}
    copy = StepsS3Copy(
        stack, "Copy", image_directory=tmp_path, **named_buckets(stack, {**NAMED, **resolved})
    )
    return stack, copy


def test_the_alarms_notify_the_topic_and_the_actions_given(tmp_path: Path) -> None:
    stack, copy = _stack(
        tmp_path,
        alarm_topic=lambda s: sns.Topic(s, "Ops"),
        alarm_actions=lambda s: [cloudwatch_actions.SnsAction(sns.Topic(s, "Pager"))],
    )
    template = cdk.assertions.Template.from_stack(stack).to_json()
    topics = {
        logical_id
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::SNS::Topic" and logical_id.startswith(("Ops", "Pager"))
    }
    ops, pager = sorted(topics)
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == len(ALARMS) == len(copy.alarms)
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": ops}, {"Ref": pager}]


def test_dashboard_and_alarms_can_be_left_out(tmp_path: Path) -> None:
    stack, copy = _stack(tmp_path, dashboard=False, alarms=False)
    template = cdk.assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    template.resource_count_is("AWS::CloudWatch::Alarm", 0)
    assert copy.dashboard is None
    assert copy.alarms == {}
    # the metrics are still there for a deployer's own dashboards
    assert copy.metric_runs_failed().metric_name == "Runs"


def test_without_alarms_the_dashboard_has_no_alarm_widget(tmp_path: Path) -> None:
    stack, _ = _stack(tmp_path, alarms=False)
    template = cdk.assertions.Template.from_stack(stack).to_json()
    (dashboard,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    assert '"alarms"' not in json.dumps(dashboard)
    assert "Dead-letter queue" in json.dumps(dashboard)


# --- the metric methods ----------------------------------------------------------------


def _described(metric: cloudwatch.Metric) -> tuple[str, str, dict[str, str], str, str]:
    (unit,) = [name for name, value in UNITS.items() if value == metric.unit]
    return (
        metric.namespace,
        metric.metric_name,
        dict(metric.dimensions or {}),
        unit,
        metric.statistic,
    )


@pytest.mark.parametrize(
    ("method", "name", "dimensions", "unit"),
    [
        ("metric_runs_started", "RunsStarted", {}, "Count"),
        ("metric_runs_succeeded", "Runs", {"status": "SUCCEEDED"}, "Count"),
        ("metric_runs_partial", "Runs", {"status": "PARTIAL"}, "Count"),
        ("metric_runs_failed", "Runs", {"status": "FAILED"}, "Count"),
        ("metric_objects_copied", "ObjectsCopied", {}, "Count"),
        ("metric_objects_skipped", "ObjectsSkipped", {}, "Count"),
        ("metric_objects_failed", "ObjectsFailed", {}, "Count"),
        ("metric_bytes_copied", "BytesCopied", {}, "Bytes"),
        ("metric_batches_failed", "BatchesFailed", {}, "Count"),
        ("metric_spot_fallbacks", "SpotFallbacks", {}, "Count"),
        ("metric_objects_restored", "ObjectsRestored", {}, "Count"),
    ],
)
def test_the_metric_methods_read_what_the_steps_emit(
    synth: Synth, method: str, name: str, dimensions: dict[str, str], unit: str
) -> None:
    copy = synth.stack.copy
    metric = getattr(copy, method)()
    assert _described(metric) == (METRICS_NAMESPACE, name, dimensions, unit, "Sum")
    assert metric.period.to_seconds() == 300
    # one run's: the job dimension added; a period and statistic of one's own
    per_job = getattr(copy, method)(
        job="handover-42", period=cdk.Duration.hours(1), statistic="Maximum"
    )
    assert _described(per_job) == (
        METRICS_NAMESPACE,
        name,
        {**dimensions, "job": "handover-42"},
        unit,
        "Maximum",
    )
    assert per_job.period.to_seconds() == 3600


def test_the_aws_metric_methods_and_the_checks_of_the_generic_one(synth: Synth) -> None:
    copy = synth.stack.copy
    stack = synth.stack
    assert copy.metric_batches_run("fargate").dimensions == {"lane": "fargate"}
    assert copy.metric("S3Retries", dimensions={"error": "SlowDown"}).dimensions == {
        "error": "SlowDown"
    }
    failed = copy.metric_executions_failed()
    assert (failed.namespace, failed.metric_name) == ("AWS/States", "ExecutionsFailed")
    assert stack.resolve(failed.dimensions) == {
        "StateMachineArn": stack.resolve(copy.state_machine.state_machine_arn)
    }
    assert copy.metric_executions_timed_out().metric_name == "ExecutionsTimedOut"
    # a job name the steps emit percent-encoded is looked up the same way
    emitted = observability.dimension_value("team/ünï")
    assert emitted == "team/%C3%BCn%C3%AF"
    assert copy.metric_objects_copied(job="team/ünï").dimensions == {"job": emitted}
    throttles = copy.metric_copy_throttles()
    assert (throttles.namespace, throttles.metric_name) == ("AWS/Lambda", "Throttles")
    assert stack.resolve(throttles.dimensions) == {
        "FunctionName": stack.resolve(copy.copy_function.function_name)
    }
    dead = copy.metric_dead_letters()
    assert (dead.namespace, dead.metric_name, dead.statistic) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    # a metric nobody emits, or with dimensions it is not emitted with, is an error
    with pytest.raises(ValueError, match="no such metric"):
        copy.metric("RunsFinished")
    with pytest.raises(ValueError, match="Runs is emitted with the dimensions status"):
        copy.metric("Runs")
    with pytest.raises(ValueError, match="ObjectsCopied is emitted with the dimensions none"):
        copy.metric("ObjectsCopied", dimensions={"lane": "lambda"})

"""The construct's parts on their own: the props object and the definition builder."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from steps_s3_copy.infra.compute import StepFunctions, WorkerTask
from steps_s3_copy.infra.construct import StepsS3Copy
from steps_s3_copy.infra.definition import DefinitionBuilder
from steps_s3_copy.infra.network import Network
from steps_s3_copy.infra.props import ANY_BUCKET_FLAG, StepsS3CopyProps, buckets_from_names
from tests.infra.conftest import NAMED
from tests.infra.helpers import named_buckets

# --- props ---------------------------------------------------------------------------


def test_the_construct_arguments_are_the_props_fields_with_the_same_defaults() -> None:
    """The keyword arguments and the props object are two lists of one thing: no drift."""
    arguments = [
        p
        for p in inspect.signature(StepsS3Copy.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    fields = dataclasses.fields(StepsS3CopyProps)
    assert [a.name for a in arguments] == [f.name for f in fields]
    assert [a.default for a in arguments] == [f.default for f in fields]


def test_props_need_the_buckets_or_the_opt_in() -> None:
    with pytest.raises(ValueError, match="name the buckets the copy may use"):
        StepsS3CopyProps()
    opted_in = StepsS3CopyProps(allow_any_bucket_outside_this_account=True)
    assert opted_in.any_bucket


def test_props_derive_the_bucket_lists_the_timeout_and_the_alarm_actions() -> None:
    defaults = StepsS3CopyProps(allow_any_bucket_outside_this_account=True)
    assert defaults.sources is None
    assert defaults.destinations is None
    assert defaults.timeout.to_seconds() == 7 * 24 * 3600
    assert (defaults.dashboard, defaults.alarms, defaults.alarm_notifications) == (True, True, [])
    stack = cdk.Stack(cdk.App(), "Test")
    a, b, x = buckets_from_names(stack, ["bkt-a", "bkt-b", "bkt-x"])
    topic = sns.Topic(stack, "Ops")
    pager = cloudwatch_actions.SnsAction(sns.Topic(stack, "Pager"))
    props = StepsS3CopyProps(
        source_buckets=[a, b],
        destination_buckets=(x,),
        state_machine_timeout=cdk.Duration.hours(2),
        alarm_topic=topic,
        alarm_actions=[pager],
    )
    assert [stack.resolve(bucket.bucket_name) for bucket in props.sources or []] == [
        "bkt-a",
        "bkt-b",
    ]
    assert [stack.resolve(bucket.bucket_name) for bucket in props.destinations or []] == ["bkt-x"]
    assert props.timeout.to_seconds() == 2 * 3600
    first, second = props.alarm_notifications
    assert isinstance(first, cloudwatch_actions.SnsAction)
    assert second is pager


def test_props_are_frozen_and_make_the_construct_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = cdk.Stack(cdk.App(), "Test")
    props = StepsS3CopyProps(
        **named_buckets(stack, NAMED),
        image_directory=tmp_path,
        task_cpu=2048,
        task_memory_mib=4096,
        dashboard=False,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        props.task_cpu = 4096  # type: ignore[misc]
    assert set(props.arguments()) == {f.name for f in dataclasses.fields(StepsS3CopyProps)}
    copy = StepsS3Copy.from_props(stack, "Copy", props)
    assert copy.props == props
    assert copy.dashboard is None
    assert copy.task_definition.node.default_child is not None
    task = stack.resolve(copy.task_definition.node.default_child.cpu)  # type: ignore[attr-defined]
    assert task == "2048"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # the first bad argument, in the order of the arguments, is the one reported
        ({"task_cpu": 300, "lambda_memory_mib": 64}, "task_cpu must be one of"),
        ({"jobs_prefix": "reports/", "state_machine_timeout": cdk.Duration.seconds(1)}, "jobs_"),
        ({"destination_buckets": [], "lambda_memory_mib": 64}, "lambda_memory_mib"),
        ({"destination_buckets": []}, "destination_buckets"),
        ({"source_buckets": "our-runs"}, "source_buckets must name at least one bucket"),
        ({"source_buckets": ["our-runs"]}, "source_buckets: give s3.IBucket objects"),
        (
            {"alarms": False, "alarm_actions": [object()], ANY_BUCKET_FLAG: True},
            "alarm_topic and alarm_actions",
        ),
    ],
)
def test_a_bad_props_object_cannot_be_made(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StepsS3CopyProps(**args)


# --- the definition builder -----------------------------------------------------------


def _graph(start: sfn.IChainable, stack: cdk.Stack) -> Any:
    graph = sfn.StateGraph(start.start_state, "test")
    return stack.resolve(graph.to_graph_json())


def _builder(copy: StepsS3Copy, scope: Construct, *, use_spot: bool) -> DefinitionBuilder:
    return DefinitionBuilder(
        scope=scope,
        functions=StepFunctions(
            copy.prepare_function,
            copy.copy_function,
            copy.summarise_function,
            copy.notify_function,
            copy.destination_function,
        ),
        inbox=copy.inbox_bucket,
        network=Network(copy.vpc, copy.security_group, copy.cluster),
        task=WorkerTask(copy.task_definition, copy.container, copy.task_log_group),
        use_spot=use_spot,
    )


def test_the_definition_builder_makes_states_only_and_the_same_each_time(
    tmp_path: Path,
) -> None:
    """Built again from the construct's parts in other scopes: no new resource, and the same
    definition each time (nothing but its inputs decides it)."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = cdk.Stack(cdk.App(), "Test")
    copy = StepsS3Copy(stack, "Copy", image_directory=tmp_path, **named_buckets(stack, NAMED))

    def resources() -> int:
        return sum(isinstance(c, cdk.CfnResource) for c in stack.node.find_all())

    before = resources()
    first = _graph(_builder(copy, Construct(stack, "First"), use_spot=True).build(), stack)
    second = _graph(_builder(copy, Construct(stack, "Second"), use_spot=True).build(), stack)
    without_spot = _graph(_builder(copy, Construct(stack, "Third"), use_spot=False).build(), stack)
    assert resources() == before
    assert first == second
    assert first["StartAt"] == "Prepare"
    lane = first["States"]["Copy"]["ItemProcessor"]["States"]["Lane"]
    assert lane["Choices"][0]["Next"] == "FargateSpot"
    no_spot_lane = without_spot["States"]["Copy"]["ItemProcessor"]["States"]["Lane"]
    assert no_spot_lane["Choices"][0]["Next"] == "FargateOnDemand"

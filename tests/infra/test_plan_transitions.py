"""``s3copy plan``'s figures that come from the construct: the transitions it counts are
the synthesized definition's states, its memory and task sizes the construct's defaults."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from steps_s3_copy.cli.pricing import Assumptions
from steps_s3_copy.infra import compute, props
from steps_s3_copy.models import Lane
from tests.infra.helpers import Synth, definition_of


def _path(states: dict[str, Any], start: str, choose: dict[str, str]) -> list[str]:
    """The states entered from ``start`` to the end, a Choice taking ``choose[name]`` (or
    its Default); a Parallel state's branch states are entered too."""
    entered: list[str] = []
    name: str | None = start
    while name is not None:
        state = states[name]
        entered.append(name)
        if state["Type"] == "Parallel":
            for branch in state["Branches"]:
                branch_start = branch["StartAt"]
                entered.extend(_path(branch["States"], branch_start, choose))
        if state["Type"] == "Choice":
            name = choose.get(name, state.get("Default"))
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            name = None
        else:
            name = state.get("Next")
    return entered


def test_the_plans_transition_counts_are_the_definitions(synth: Synth) -> None:
    definition = definition_of(synth.template)
    assumptions = Assumptions()
    run_path = _path(definition["States"], definition["StartAt"], {"DryRun": "Copy"})
    assert run_path == [
        "Prepare",
        "CheckDestination",
        "DryRun",
        "Copy",
        "Summarise",
        "Finish",
        "Notify",
        "Done",
    ]
    assert assumptions.transitions_per_run == len(run_path)
    processor = definition["States"]["Copy"]["ItemProcessor"]
    item_states = processor["States"]
    choices = item_states["Lane"]["Choices"]
    fargate_first = next(c["Next"] for c in choices if c.get("StringEquals") == Lane.FARGATE.value)
    start = processor["StartAt"]
    lambda_item = _path(item_states, start, {})
    fargate_item = _path(item_states, start, {"Lane": fargate_first})
    archived_choice = item_states[start]["Choices"][0]["Next"]
    archived_item = _path(item_states, start, {start: archived_choice})
    assert lambda_item == ["Archived", "Lane", "CopyBatchLambda"]
    assert fargate_item == ["Archived", "Lane", "FargateSpot", "CopyBatchSpot"]
    # a batch with archived sources goes through Thaw once more per poll (its Retry)
    assert archived_item == ["Archived", "Thaw", "Lane", "CopyBatchLambda"]
    assert assumptions.transitions_per_thaw_poll == 1
    # each child execution the Distributed Map starts is one more transition
    assert assumptions.transitions_per_lambda_batch == 1 + len(lambda_item)
    assert assumptions.transitions_per_fargate_batch == 1 + len(fargate_item)


def test_the_plans_deployment_figures_are_the_constructs_defaults() -> None:
    defaults: dict[str, Any] = {f.name: f.default for f in fields(props.StepsS3CopyProps)}
    a = Assumptions()
    assert a.copy_lambda_memory_mib == defaults["lambda_memory_mib"]
    assert a.fargate_vcpu == defaults["task_cpu"] / 1024
    assert a.fargate_memory_gb == defaults["task_memory_mib"] / 1024
    assert a.use_spot == defaults["use_spot"]
    assert a.copy_reserved_concurrency == props.DEFAULT_COPY_RESERVED_CONCURRENCY
    assert a.summarise_memory_mib == compute.SUMMARISE_MIN_MEMORY_MIB
    assert a.destination_memory_mib == compute.DESTINATION_MEMORY_MIB
    assert a.notify_memory_mib == compute.NOTIFY_MEMORY_MIB
    assert a.lambda_mib_per_vcpu == compute.SUMMARISE_MIN_MEMORY_MIB  # one vCPU

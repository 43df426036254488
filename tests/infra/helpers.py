"""Helpers shared by the infra tests: synthesize once, resolve the state machine definition."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from steps_s3_copy.infra.app import RESULT_WRITER_V2_FLAG
from steps_s3_copy.infra.props import StepsS3CopyProps, buckets_from_names
from steps_s3_copy.infra.stack import StepsS3CopyStack

ACCOUNT = "111111111111"
REGION = "us-east-1"
STACK_NAME = "StepsS3Copy"
CONTEXT: dict[str, Any] = {
    RESULT_WRITER_V2_FLAG: True,
    "aws:cdk:bundling-stacks": [],
    # what `cdk synth` would look up and cache in cdk.context.json for this env
    f"availability-zones:account={ACCOUNT}:region={REGION}": [f"{REGION}a", f"{REGION}b"],
}


@dataclass
class Synth:
    """One synthesized app: the template, the validation (cdk-nag) outcome, the timing."""

    outdir: Path
    stack: StepsS3CopyStack
    template: dict[str, Any]
    seconds: float
    validation_error: str | None
    validation_report: dict[str, Any] = field(default_factory=dict)

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == type_name
        }

    def one(self, type_name: str, id_prefix: str = "") -> tuple[str, dict[str, Any]]:
        found = {k: v for k, v in self.resources(type_name).items() if k.startswith(id_prefix)}
        assert len(found) == 1, f"expected one {type_name} {id_prefix}*, found {sorted(found)}"
        return next(iter(found.items()))


def named_buckets(scope: Construct, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` with bucket names in ``source_buckets`` / ``destination_buckets`` imported
    into ``scope`` (what a deployer does with ``buckets_from_names``)."""
    converted = dict(args)
    for arg in ("source_buckets", "destination_buckets"):
        names = converted.get(arg)
        if names and all(isinstance(n, str) for n in names):
            converted[arg] = buckets_from_names(scope, names)
    return converted


def synthesize(
    outdir: Path,
    copy_args: dict[str, Any] | None = None,
    nag: bool = True,
    context: dict[str, Any] | None = None,
) -> Synth:
    """Build the app as ``cdk synth`` would (context flags, fixed env) and synthesize it."""
    started = time.perf_counter()
    app = cdk.App(outdir=str(outdir), context=CONTEXT if context is None else context)
    stack = StepsS3CopyStack(
        app,
        STACK_NAME,
        env=cdk.Environment(account=ACCOUNT, region=REGION),
        props=lambda scope: StepsS3CopyProps(**named_buckets(scope, copy_args or {})),
    )
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    error: str | None = None
    try:
        app.synth()
    except Exception as exc:  # the validation failure is asserted by the cdk-nag test
        error = str(exc)
    seconds = time.perf_counter() - started
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Synth(outdir, stack, template, seconds, error, report)


# --- the state machine definition -------------------------------------------------------

Resolver = Callable[[str, str | None], str]


_ARN_FORMATS = {
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{id}",
    "AWS::ECS::Cluster": "arn:aws:ecs:{region}:{account}:cluster/{id}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{id}",
    "AWS::S3::Bucket": "arn:aws:s3:::{id}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{id}",
}


def placeholder_for(template: dict[str, Any]) -> Resolver:
    """Stand-ins for ``Ref``/``Fn::GetAtt`` shaped like the real values of each type."""
    types = {k: v["Type"] for k, v in template["Resources"].items()}

    def resolver(logical_id: str, attribute: str | None) -> str:
        type_name = types.get(logical_id, "")
        if attribute == "Arn" or (attribute is None and type_name == "AWS::SNS::Topic"):
            fmt = _ARN_FORMATS.get(type_name, "arn:aws:placeholder:{region}:{account}:{id}")
            return fmt.format(region=REGION, account=ACCOUNT, id=logical_id)
        if attribute is None:
            return f"ref-{logical_id.lower()}"
        return f"{attribute.lower()}-{logical_id}"

    return resolver


def resolve(value: Any, resolver: Resolver) -> Any:
    """Resolve the intrinsics CDK uses in a definition string into plain values."""
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    if isinstance(value, list):
        return [resolve(item, resolver) for item in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        name = value["Ref"]
        return pseudo[name] if name in pseudo else resolver(name, None)
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return resolver(logical_id, attribute)
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(str(resolve(part, resolver)) for part in parts)
    if "Fn::Split" in value:
        delimiter, source = value["Fn::Split"]
        return str(resolve(source, resolver)).split(delimiter)
    if "Fn::Select" in value:
        index, items = value["Fn::Select"]
        return resolve(items, resolver)[int(index)]
    return {key: resolve(item, resolver) for key, item in value.items()}


def definition_of(template: dict[str, Any], resolver: Resolver | None = None) -> dict[str, Any]:
    """The state machine's definition as JSON, with ``resolver`` filling in references."""
    resolver = resolver or placeholder_for(template)
    machines = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    assert len(machines) == 1
    resolved = resolve(machines[0]["Properties"]["DefinitionString"], resolver)
    definition: dict[str, Any] = json.loads(resolved)
    return definition


def all_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, including those inside Map item processors and Parallel branches, by
    name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        for nested in [processor] if processor else state.get("Branches", []):
            found.update(all_states(nested))
    return found


ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalised(template: dict[str, Any]) -> dict[str, Any]:
    """The template with asset hashes replaced, so the snapshot does not churn on code edits."""
    text = ASSET_HASH.sub("ASSET-HASH", json.dumps(template, indent=1, sort_keys=True))
    result: dict[str, Any] = json.loads(text)
    return result

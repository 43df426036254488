"""parliament (an IAM policy linter) over every policy of the synthesized templates.

Every policy document in the template is linted: the roles' and the standalone policies,
the bucket, topic and queue policies, and the roles' trust policies (with the role itself as
their ``Resource``, which parliament needs and a trust policy leaves implicit). CloudFormation
intrinsics are resolved to values shaped like the real ones (``policy_resolver``), so
parliament can check each action against the resource types it takes. A finding fails the
test unless ``ACKNOWLEDGED`` explains it; an acknowledgement no template needs fails too.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.infra.helpers import ACCOUNT, REGION, Resolver, Synth, resolve

with warnings.catch_warnings():
    # parliament 1.6 imports pkg_resources, which warns that it is deprecated
    warnings.simplefilter("ignore")
    import parliament  # type: ignore[import-untyped]

SYNTHS = ("synth", "synth_scoped", "synth_open")


@dataclass(frozen=True)
class Acknowledged:
    """A parliament finding the design accepts: its issue, the actions it names (all of
    them must be among ``actions``), the policies it may be in (logical id prefixes)."""

    issue: str
    actions: frozenset[str]
    policies: tuple[str, ...]
    reason: str


ACKNOWLEDGED = (
    Acknowledged(
        "RESOURCE_MISMATCH",
        frozenset({"s3:GetObjectAttributes"}),
        ("StepsS3CopyWriterRoleDefaultPolicy",),
        "The Service Authorization Reference lists both access points and objects as "
        "required resource types of s3:GetObjectAttributes and parliament wants both in one "
        "statement; the copy reads attributes of objects in buckets, never through an access "
        "point, and an object ARN is what authorises that (GetObjectAttributes: "
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html).",
    ),
    Acknowledged(
        "RESOURCE_MISMATCH",
        frozenset({"states:DescribeExecution"}),
        ("StepsS3CopyPrepareJobLockPolicy", "StepsS3CopyStateMachineDistributedMapPolicy"),
        "DescribeExecution takes a Standard execution or an Express one, and parliament wants "
        "both resource types; the state machine is STANDARD, so only its execution ARNs "
        "(arn:...:execution:<name>:<id>) exist ('Actions, resources, and condition keys for "
        "AWS Step Functions').",
    ),
    Acknowledged(
        "RESOURCE_STAR",
        frozenset({"kms:Decrypt", "kms:GenerateDataKey"}),
        ("StepsS3CopyWriterRoleDefaultPolicy",),
        "The keys of the buckets belong to their owners and are not known at deploy time: the "
        "statement is bound by kms:ViaService to S3 and by S3's encryption context "
        "(aws:s3:arn) to the buckets the copy may use (asserted in test_template.py).",
    ),
    Acknowledged(
        "RESOURCE_STAR",
        frozenset({"ecs:DescribeTasks", "ecs:StopTask"}),
        ("StepsS3CopyStateMachineRoleDefaultPolicy",),
        "CDK's ECS RunTask .sync integration: the state machine describes and stops the tasks "
        "it starts, whose ARNs exist only once they run.",
    ),
)


# --- the template's policies, resolved ----------------------------------------------------


_ARNS = {
    "AWS::S3::Bucket": "arn:aws:s3:::{lower}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{id}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{id}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{id}:*",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{id}",
    "AWS::ECS::Cluster": "arn:aws:ecs:{region}:{account}:cluster/{id}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{id}",
}
_REFS = {
    "AWS::S3::Bucket": "{lower}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{id}",
    "AWS::ECS::TaskDefinition": "arn:aws:ecs:{region}:{account}:task-definition/{id}:1",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{id}",
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{id}",
    "AWS::ECS::Cluster": "{id}",  # a cluster's Ref is its name
}


def policy_resolver(template: dict[str, Any]) -> Resolver:
    """``Ref``/``Fn::GetAtt`` as values of the real shape (an ARN where AWS gives one)."""
    types = {k: v["Type"] for k, v in template["Resources"].items()}

    def resolver(logical_id: str, attribute: str | None) -> str:
        formats = _ARNS if attribute == "Arn" else _REFS if attribute is None else {}
        if attribute == "Name":
            return logical_id
        fmt = formats.get(types.get(logical_id, ""))
        if fmt is None:
            raise KeyError(f"no stand-in for {logical_id}.{attribute} ({types.get(logical_id)})")
        return fmt.format(region=REGION, account=ACCOUNT, id=logical_id, lower=logical_id.lower())

    return resolver


def policies(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, resolved document) for every policy document of every resource."""
    resolver = policy_resolver(template)
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if "PolicyDocument" in props:
            yield logical_id, resolve(props["PolicyDocument"], resolver)
        for inline in props.get("Policies", []) if isinstance(props.get("Policies"), list) else []:
            yield (
                f"{logical_id}/{inline['PolicyName']}",
                resolve(inline["PolicyDocument"], resolver),
            )
        if "AssumeRolePolicyDocument" in props:
            trust = copy.deepcopy(resolve(props["AssumeRolePolicyDocument"], resolver))
            for statement in trust["Statement"]:
                statement["Resource"] = resolver(logical_id, "Arn")
            yield f"{logical_id}/trust", trust


@dataclass(frozen=True)
class Finding:
    where: str
    issue: str
    actions: frozenset[str]
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.issue} {self.detail}"


def _actions(detail: Any) -> frozenset[str]:
    if isinstance(detail, str):
        return frozenset({detail}) if ":" in detail else frozenset()
    if isinstance(detail, list):
        return frozenset(a for item in detail for a in _actions(item))
    if isinstance(detail, dict) and "action" in detail:
        return frozenset({str(detail["action"])})
    return frozenset()


def lint(template: dict[str, Any]) -> tuple[int, list[Finding]]:
    """(how many policies were linted, every finding)."""
    found: list[Finding] = []
    count = 0
    for where, document in policies(template):
        count += 1
        analysed = parliament.analyze_policy_string(json.dumps(document))
        found += [
            Finding(where, f.issue, _actions(f.detail), json.dumps(f.detail)[:300])
            for f in analysed.findings
        ]
    return count, found


def acknowledgement_of(finding: Finding) -> Acknowledged | None:
    for ack in ACKNOWLEDGED:
        if (
            finding.issue == ack.issue
            and finding.actions
            and finding.actions <= ack.actions
            and finding.where.startswith(ack.policies)
        ):
            return ack
    return None


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SYNTHS)
def test_every_policy_passes_parliament(name: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(name)
    count, found = lint(synth.template)
    linted = {where for where, _ in policies(synth.template)}
    # the roles' policies, the job lock, the inbox's policy and the trust policies are in it
    for prefix in (
        "StepsS3CopyPrepareRoleDefaultPolicy",
        "StepsS3CopyWriterRoleDefaultPolicy",
        "StepsS3CopySummariseRoleDefaultPolicy",
        "StepsS3CopyNotifyRoleDefaultPolicy",
        "StepsS3CopyPrepareJobLockPolicy",
        "StepsS3CopyInboxPolicy",
        "StepsS3CopyWriterRole",
    ):
        assert any(w.startswith(prefix) for w in linted), prefix
    assert count >= 20
    unexplained = [str(f) for f in found if acknowledgement_of(f) is None]
    assert unexplained == []


def test_every_acknowledgement_is_needed_and_explained(
    synth: Synth, synth_scoped: Synth, synth_open: Synth
) -> None:
    used = {
        acknowledgement_of(f)
        for s in (synth, synth_scoped, synth_open)
        for f in lint(s.template)[1]
    }
    assert set(ACKNOWLEDGED) <= used
    for ack in ACKNOWLEDGED:
        assert len(ack.reason) >= 80, ack
        assert ack.reason.endswith("."), ack


def test_parliament_catches_a_misspelled_action_and_a_wrong_resource_type(synth: Synth) -> None:
    """The lint is real: a typo in an action and an action on the wrong kind of resource
    in the writer's policy are findings that nothing acknowledges."""
    template = copy.deepcopy(synth.template)
    (policy_id,) = [
        k for k in template["Resources"] if k.startswith("StepsS3CopyWriterRoleDefaultPolicy")
    ]
    statements = template["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
    statements += [
        {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b/*"},
    ]
    _, found = lint(template)
    unexplained = {f.issue for f in found if acknowledgement_of(f) is None}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= unexplained

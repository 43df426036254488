"""cdk-nag (AwsSolutions, v3) and cfn-lint on the synthesized template and definition."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from aws_cdk import aws_iam as iam
from cfnlint.api import ManualArgs, lint

from steps_s3_copy.infra.acknowledgements import flatten_reference, wildcard_findings
from steps_s3_copy.infra.construct import StepsS3Copy
from tests.infra.conftest import NAMED
from tests.infra.helpers import REGION, Synth, definition_of, synthesize


def _violations(synth: Synth) -> list[str]:
    found = []
    for plugin in synth.validation_report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                found.append(f"{violation['ruleName']} at {construct['constructPath']}")
    return found


def _acknowledgements(synth: Synth) -> dict[str, str]:
    """Every acknowledged rule id and its reason, read from the cloud assembly metadata."""
    metadata = json.loads((synth.outdir / "StepsS3Copy.metadata.json").read_text())
    found: dict[str, str] = {}
    for entries in metadata.values():
        for entry in entries:
            if "acknowledged" in entry.get("type", "") and isinstance(entry.get("data"), dict):
                for rule_id, reason in entry["data"].items():
                    found[re.sub(r"^annotation::", "", rule_id, flags=re.I)] = reason
    return found


@pytest.mark.parametrize("name", ["synth", "synth_open"])
def test_cdk_nag_reports_nothing_unacknowledged(name: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(name)
    assert _violations(synth) == []
    assert synth.validation_error is None, synth.validation_error


def test_every_acknowledgement_has_a_real_reason(synth: Synth) -> None:
    acknowledged = {
        k: v for k, v in _acknowledgements(synth).items() if k.startswith("AwsSolutions-")
    }
    assert any(a.startswith("AwsSolutions-IAM5[") for a in acknowledged)
    assert {"AwsSolutions-S1", "AwsSolutions-ECS4", "AwsSolutions-SQS3"} <= set(acknowledged)
    for rule_id, reason in acknowledged.items():
        assert len(reason) >= 60, (rule_id, reason)
        assert reason.endswith("."), (rule_id, reason)
    # never a blanket acknowledgement of a rule that has per-finding ids
    assert "AwsSolutions-IAM5" not in acknowledged
    assert "AwsSolutions-IAM4" not in acknowledged


def test_cdk_nag_still_catches_a_new_wildcard_grant(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgements are narrow: an extra broad grant on the writer role fails."""
    original = StepsS3Copy._acknowledge_findings

    def with_extra_grant(self: StepsS3Copy, *args: Any) -> None:
        self.writer_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:*"], resources=["*"])
        )
        original(self, *args)

    monkeypatch.setattr(StepsS3Copy, "_acknowledge_findings", with_extra_grant)
    broken = synthesize(tmp_path, copy_args=NAMED)
    assert broken.validation_error is not None
    assert [v for v in _violations(broken) if "Action::dynamodb:*" in v]


@pytest.mark.parametrize(
    ("value", "flat"),
    [
        ({"Fn::GetAtt": ["Inbox1", "Arn"]}, "<Inbox1.Arn>"),
        ({"Fn::Join": ["", [{"Fn::GetAtt": ["Inbox1", "Arn"]}, "/work/*"]]}, "<Inbox1.Arn>/work/*"),
        (
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::*"]]},
            "arn:<AWS::Partition>:s3:::*",
        ),
        ({"Fn::Sub": "arn:${AWS::Partition}:x"}, "arn:<AWS::Partition>:x"),
        ({"Fn::Select": [1, ["a", "b"]]}, '{"Fn::Select":[1,["a","b"]]}'),
        ("*", "*"),
    ],
)
def test_flatten_reference_matches_cdk_nag(value: Any, flat: str) -> None:
    assert flatten_reference(value) == flat


def test_wildcard_findings_ignore_denies_and_plain_actions() -> None:
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject*", "s3:PutObject"], "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
        ]
    }
    assert wildcard_findings(document) == ["Action::s3:GetObject*", "Resource::*"]


def _lint(template: dict[str, Any]) -> list[str]:
    matches = lint(
        json.dumps(template),
        # W3010: CDK writes the AZs it looked up for the env (and acknowledges it itself);
        # W3005: CDK adds DependsOn on a role's policy next to a GetAtt of the role.
        config=ManualArgs(regions=[REGION], ignore_checks=["W3010", "W3005"]),
    )
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches]


@pytest.mark.parametrize("name", ["synth", "synth_scoped", "synth_open"])
def test_cfn_lint_on_the_template(name: str, request: pytest.FixtureRequest) -> None:
    """All of cfn-lint's rules, among them E3004 (dependency cycles)."""
    synth: Synth = request.getfixturevalue(name)
    assert _lint(synth.template) == []


def test_cfn_lint_finds_the_cycle_the_job_lock_policy_avoids(synth: Synth) -> None:
    """Prepare's DescribeExecution statement names the state machine, which depends on the
    Prepare function, which depends on its role's default policy: moved into that policy,
    the statement makes a cycle, and the lint above (E3004) would fail."""
    template = copy.deepcopy(synth.template)
    resources = template["Resources"]
    (default,) = [k for k in resources if k.startswith("StepsS3CopyPrepareRoleDefaultPolicy")]
    (lock,) = [k for k in resources if k.startswith("StepsS3CopyPrepareJobLockPolicy")]
    moved = resources.pop(lock)["Properties"]["PolicyDocument"]["Statement"]
    resources[default]["Properties"]["PolicyDocument"]["Statement"] += moved
    assert [line for line in _lint(template) if line.startswith("E3004")]


def test_cfn_lint_on_the_resolved_definition(synth: Synth) -> None:
    """cfn-lint does not look inside the Fn::Join string; lint the resolved JSON (E3601)."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::111111111111:role/placeholder",
                    "Definition": definition_of(synth.template),
                },
            }
        },
    }
    assert _lint(template) == []


def test_cfn_lint_catches_a_broken_definition(synth: Synth) -> None:
    """The definition check is real: a misspelled key is reported."""
    definition = definition_of(synth.template)
    definition["States"]["Copy"]["MaxConcurrencyPathh"] = definition["States"]["Copy"].pop(
        "MaxConcurrencyPath"
    )
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": "arn:aws:iam::1:role/x", "Definition": definition},
            }
        }
    }
    assert any(line.startswith("E3601") for line in _lint(template))

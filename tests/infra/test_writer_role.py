"""``writer_role``: a role the deployer manages instead of the WriterRole the construct makes.

Decided: the construct adds the writer's statements to the given role wherever it can (a
role of the app, or one imported mutable: a policy of this stack attached to it) and uses it
for CopyBatch, Destination and the Fargate task. A role it may not change (imported with
``mutable=False``) is left alone and synth warns; ``writer_policy_document`` holds the
statements the role must allow (the same the WriterRole gets). ``copy_role`` (the old
alias) is gone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Validations
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from steps_s3_copy.infra.construct import StepsS3Copy
from steps_s3_copy.infra.props import StepsS3CopyProps
from steps_s3_copy.infra.stack import StepsS3CopyStack
from tests.infra.conftest import NAMED
from tests.infra.helpers import ACCOUNT, CONTEXT, REGION, named_buckets

ORG_ROLE = f"arn:aws:iam::{ACCOUNT}:role/org/steps-s3-copy-writer"
#: the writer's grants, by statement id (permissions.grant_writer)
WRITER_SIDS = {
    "ReadWorkAndReports",
    "WriteBatchResults",
    "ListInbox",
    "ReadSources",
    "ListSources",
    "RestoreArchivedSources",
    "WriteDestinations",
    "ListDestinations",
    "DenyWritesIntoInstalledAccount",
    "KmsThroughS3ForTheBuckets",
}


def _copy(tmp_path: Path, *, mutable: bool) -> tuple[cdk.Stack, StepsS3Copy]:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account=ACCOUNT, region=REGION))
    role = iam.Role.from_role_arn(stack, "OrgWriter", ORG_ROLE, mutable=mutable)
    copy = StepsS3Copy(
        stack,
        "Copy",
        image_directory=tmp_path,
        writer_role=role,
        **named_buckets(stack, NAMED),
    )
    return stack, copy


def _sids(statements: list[dict[str, Any]]) -> set[str]:
    return {s["Sid"] for s in statements if "Sid" in s}


def _uses_the_role(template: Mapping[str, Any]) -> None:
    """No WriterRole of ours; CopyBatch, Destination and the task run as the given role."""
    resources = template["Resources"]
    assert not [k for k, r in resources.items() if "WriterRole" in k]
    writers = {
        logical_id: resource["Properties"]["Role"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
        and logical_id.startswith(("CopyCopyBatchFunction", "CopyDestinationFunction"))
    }
    assert len(writers) == 2
    assert set(writers.values()) == {ORG_ROLE}
    (task,) = [r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert task["Properties"]["TaskRoleArn"] == ORG_ROLE


def test_a_role_the_construct_may_change_gets_the_writers_statements(tmp_path: Path) -> None:
    stack, copy = _copy(tmp_path, mutable=True)
    template = Template.from_stack(stack).to_json()
    _uses_the_role(template)
    # a policy of this stack, attached to the role by name
    attached = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        and r["Properties"].get("Roles") == ["steps-s3-copy-writer"]
    ]
    statements = [s for p in attached for s in p["PolicyDocument"]["Statement"]]
    assert _sids(statements) >= WRITER_SIDS
    # the document of what the role was given says the same
    document = stack.resolve(copy.writer_policy_document.to_json())
    assert _sids(document["Statement"]) == WRITER_SIDS
    assert [s for s in statements if s.get("Sid") in WRITER_SIDS] == document["Statement"]
    assert not Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("cannot be changed")
    )
    assert not hasattr(copy, "copy_role")


def test_a_role_it_may_not_change_is_left_alone_and_what_it_needs_is_said(
    tmp_path: Path,
) -> None:
    stack, copy = _copy(tmp_path, mutable=False)
    template = Template.from_stack(stack).to_json()
    _uses_the_role(template)
    text = json.dumps(template)
    for sid in ("WriteDestinations", "RestoreArchivedSources", "ReadWorkAndReports"):
        assert f'"Sid": "{sid}"' not in text, sid  # nothing was attached anywhere
    document = stack.resolve(copy.writer_policy_document.to_json())
    assert _sids(document["Statement"]) == WRITER_SIDS
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("writer_role given cannot be changed")
    )
    assert len(warnings) == 1


def test_writer_role_and_writer_role_name_do_not_go_together() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    role = iam.Role.from_role_arn(stack, "OrgWriter", ORG_ROLE)
    with pytest.raises(ValueError, match="writer_role_name names the writer role"):
        StepsS3CopyProps(
            **named_buckets(stack, NAMED), writer_role=role, writer_role_name="steps-s3-copy"
        )


def test_a_brought_role_passes_cdk_nag_with_the_same_acknowledgements(tmp_path: Path) -> None:
    """The role's policy lives outside the construct; its wildcard findings are explained by
    the same rules as the WriterRole's (and a new broad grant would still fail)."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"), context=CONTEXT)
    image = tmp_path / "image"
    image.mkdir()
    (image / "Dockerfile").write_text("FROM scratch\n")

    def props(stack: cdk.Stack) -> StepsS3CopyProps:
        return StepsS3CopyProps(
            **named_buckets(stack, NAMED),
            writer_role=iam.Role.from_role_arn(stack, "OrgWriter", ORG_ROLE),
            image_directory=image,
        )

    StepsS3CopyStack(
        app, "Brought", env=cdk.Environment(account=ACCOUNT, region=REGION), props=props
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises on an unacknowledged finding
    template = json.loads((tmp_path / "cdk.out" / "Brought.template.json").read_text())
    assert template["Outputs"]["WriterRoleArn"]["Value"] == ORG_ROLE

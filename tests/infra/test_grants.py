"""``grant_submit`` and ``grant_read_reports``: who may start a run, who may read reports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from steps_s3_copy.infra.construct import StepsS3Copy
from tests.infra.conftest import NAMED
from tests.infra.helpers import ACCOUNT, REGION, named_buckets

OTHER_ACCOUNT_ROLE = "arn:aws:iam::222222222222:role/partner-submitter"


def _copy(tmp_path: Path, **args: Any) -> tuple[cdk.Stack, StepsS3Copy]:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account=ACCOUNT, region=REGION))
    return stack, StepsS3Copy(
        stack, "Copy", image_directory=tmp_path, **named_buckets(stack, {**NAMED, **args})
    )


def _bucket_policy(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _deny_arns(template: Mapping[str, Any]) -> list[Any]:
    (deny,) = [s for s in _bucket_policy(template) if s.get("Sid") == "DenyJobsFromOthers"]
    arns: list[Any] = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    return arns


def _policy_of(template: Mapping[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_grant_submit_after_the_construct_is_made_narrows_the_inbox_to_the_grantees(
    tmp_path: Path,
) -> None:
    stack, copy = _copy(tmp_path)
    lab = iam.Role(stack, "Lab", assumed_by=iam.AccountRootPrincipal())
    grant = copy.grant_submit(lab)
    copy.grant_submit(OTHER_ACCOUNT_ROLE)
    template = Template.from_stack(stack).to_json()
    lab_id = stack.get_logical_id(lab.node.default_child)  # type: ignore[arg-type]
    # only the two named submitters escape the Deny (the account-wide default is gone)
    assert _deny_arns(template) == [{"Fn::GetAtt": [lab_id, "Arn"]}, OTHER_ACCOUNT_ROLE]
    # the role of this account: its own policy allows the jobs prefix, nothing else
    (statement,) = _policy_of(template, lab_id)
    assert sorted(statement["Action"]) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert statement["Resource"]["Fn::Join"][1][-1] == "/jobs/*"
    assert grant.success
    # the other account's role: an Allow in the inbox's policy (its account must allow too)
    allows = [s for s in _bucket_policy(template) if s["Effect"] == "Allow"]
    assert [a["Principal"] for a in allows] == [{"AWS": OTHER_ACCOUNT_ROLE}]


def test_submitters_given_to_the_construct_are_granted_the_same_way(tmp_path: Path) -> None:
    stack, _ = _copy(tmp_path, submitters=[OTHER_ACCOUNT_ROLE])
    template = Template.from_stack(stack).to_json()
    assert _deny_arns(template) == [OTHER_ACCOUNT_ROLE]


@pytest.mark.parametrize(
    "grantee",
    [
        iam.ServicePrincipal("lambda.amazonaws.com"),
        iam.AccountPrincipal("222222222222"),
        iam.AnyPrincipal(),
    ],
)
def test_only_a_role_or_a_user_may_be_a_submitter(tmp_path: Path, grantee: Any) -> None:
    _, copy = _copy(tmp_path)
    with pytest.raises(ValueError, match="IAM role or user"):
        copy.grant_submit(grantee)


def test_an_imported_inbox_cannot_be_restricted_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account=ACCOUNT, region=REGION))
    inbox = s3.Bucket.from_bucket_name(stack, "Theirs", "their-inbox")
    copy = StepsS3Copy(
        stack, "Copy", image_directory=tmp_path, inbox_bucket=inbox, **named_buckets(stack, NAMED)
    )
    assert not copy.submitters.enforced
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("who may put jobs is not restricted")
    )
    assert len(warnings) == 1


def test_grant_read_reports(tmp_path: Path) -> None:
    stack, copy = _copy(tmp_path)
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    copy.grant_read_reports(reader)
    template = Template.from_stack(stack).to_json()
    reader_id = stack.get_logical_id(reader.node.default_child)  # type: ignore[arg-type]
    get, listing = _policy_of(template, reader_id)
    assert get["Action"] == "s3:GetObject"
    assert get["Resource"]["Fn::Join"][1][-1] == "/reports/*"
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["reports/*"]}}

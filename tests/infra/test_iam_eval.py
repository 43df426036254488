"""The evaluator the security claims are checked with (``iam_eval``), on the cases AWS's
"Policy evaluation logic" and "Condition operators" pages describe: it must be able to say
no, and to say yes, for the right reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.iam_eval import (
    Request,
    UnsupportedPolicyError,
    arn_matches,
    condition_holds,
    evaluate,
    matches,
)

ME = "arn:aws:iam::111111111111:role/me"
THEM = "arn:aws:iam::222222222222:role/them"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _get(resource: str, account: str = "111111111111", principal: str = ME) -> Request:
    return Request(principal, "s3:GetObject", resource, account)


ALLOW_B = _policy({"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"})


def test_wildcards_in_actions_and_resources() -> None:
    assert matches("s3:Get*", "S3:getobject", ignore_case=True)
    assert not matches("s3:Get*", "s3:PutObject", ignore_case=True)
    assert matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b:c")
    assert not matches("arn:aws:s3:::b/*", "arn:aws:s3:::b")
    assert matches("arn:aws:s3:::b?", "arn:aws:s3:::bx")
    assert not matches("arn:aws:s3:::B/*", "arn:aws:s3:::b/k")  # resources are case-sensitive
    assert evaluate(_get("arn:aws:s3:::b/k"), [ALLOW_B]).allowed
    assert not evaluate(_get("arn:aws:s3:::c/k"), [ALLOW_B]).allowed
    put = Request(ME, "s3:PutObject", "arn:aws:s3:::b/k", "111111111111")
    assert not evaluate(put, [ALLOW_B]).allowed


def test_an_explicit_deny_wins_and_not_resource_exempts() -> None:
    deny = _policy(
        {
            "Sid": "DenyAllButKeep",
            "Effect": "Deny",
            "Action": "s3:*",
            "NotResource": "arn:aws:s3:::b/keep/*",
            "Condition": {"StringEquals": {"s3:ResourceAccount": "111111111111"}},
        }
    )
    decision = evaluate(_get("arn:aws:s3:::b/k"), [ALLOW_B, deny])
    assert (decision.allowed, decision.denied_by) == (False, ("DenyAllButKeep",))
    assert evaluate(_get("arn:aws:s3:::b/keep/k"), [ALLOW_B, deny]).allowed
    # the Deny's condition: a bucket of another account is not denied, but needs its own
    # bucket policy to let the caller in
    assert evaluate(_get("arn:aws:s3:::b/k", "333333333333"), [ALLOW_B, deny]).allowed is False
    only_deny = evaluate(
        _get("arn:aws:s3:::b/k", "333333333333"),
        [ALLOW_B, deny],
        _policy({"Effect": "Allow", "Principal": {"AWS": ME}, "Action": "s3:*", "Resource": "*"}),
    )
    assert only_deny.allowed
    assert not only_deny.denied_by


def test_a_missing_key_fails_a_condition_but_satisfies_a_negated_one() -> None:
    keys = {"aws:PrincipalArn": ME}
    assert not condition_holds({"StringEquals": {"kms:ViaService": "s3.x"}}, keys)
    assert condition_holds({"StringNotLike": {"kms:ViaService": "s3.x"}}, keys)
    assert condition_holds(
        {"ArnNotLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b"}}, keys
    )
    assert condition_holds({"StringEqualsIfExists": {"kms:ViaService": "s3.x"}}, keys)
    # several values of one key: any; several keys or operators: all
    assert condition_holds(
        {"ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::111111111111:role/x", ME]}}, keys
    )
    assert not condition_holds(
        {"ArnLike": {"aws:PrincipalArn": ME}, "StringEquals": {"kms:ViaService": "s3.x"}}, keys
    )
    assert not condition_holds(
        {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::111111111111:role/x", ME]}}, keys
    )


def test_within_an_account_either_policy_allows_across_accounts_both_must() -> None:
    bucket_policy = _policy(
        {"Effect": "Allow", "Principal": {"AWS": THEM}, "Action": "s3:GetObject", "Resource": "*"}
    )
    theirs = _get("arn:aws:s3:::b/k", "111111111111", principal=THEM)
    assert not evaluate(theirs, [], None).allowed
    assert not evaluate(theirs, [ALLOW_B], None).allowed  # their identity policy alone
    assert not evaluate(theirs, [], bucket_policy).allowed  # the bucket policy alone
    assert evaluate(theirs, [ALLOW_B], bucket_policy).allowed
    # in one account, the bucket policy naming the role is enough
    own = _policy(
        {"Effect": "Allow", "Principal": {"AWS": ME}, "Action": "s3:GetObject", "Resource": "*"}
    )
    assert evaluate(_get("arn:aws:s3:::b/k"), [], own).allowed
    assert not evaluate(_get("arn:aws:s3:::b/k"), [], bucket_policy).allowed  # not me


def test_what_it_does_not_model_is_an_error_not_an_answer() -> None:
    for policy in (
        _policy(
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:max-keys": "10"}},
            }
        ),
        _policy({"Effect": "Allow", "Action": "s3:*", "Resource": {"Fn::GetAtt": ["X", "Arn"]}}),
        _policy({"Effect": "Allow", "Action": "s3:*"}),
    ):
        with pytest.raises(UnsupportedPolicyError):
            evaluate(_get("arn:aws:s3:::b/k"), [policy])
    account = _policy(
        {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "*", "Resource": "*"}
    )
    with pytest.raises(UnsupportedPolicyError):
        evaluate(_get("arn:aws:s3:::b/k"), [], account)


def test_arn_wildcards_stay_within_their_part() -> None:
    """ARN operators and Resource compare the six parts of an ARN apart: a ``*`` in one part
    never matches a colon of the next (a plain glob would)."""
    crossing = "arn:aws:x:iam::111111111111:role/me"  # a partition "aws:x" would need this
    assert matches("arn:*:iam::111111111111:role/me", crossing)
    assert not arn_matches("arn:*:iam::111111111111:role/me", crossing)
    assert arn_matches("arn:*:iam::111111111111:role/me", ME)
    assert arn_matches("arn:aws:iam::111111111111:*", ME)
    assert not arn_matches("arn:aws:iam::111111111111:*", "arn:aws:sts::111111111111:x/y")
    # the resource part may hold colons; "*" alone is anything; a non-ARN value matches none
    assert arn_matches(
        "arn:aws:logs:us-east-1:1:log-group:g:*", "arn:aws:logs:us-east-1:1:log-group:g:s"
    )
    assert arn_matches("*", "arn:aws:s3:::b/k")
    assert not arn_matches("arn:aws:s3:::*", "not-an-arn")
    assert arn_matches("arn:aws:s3:::*", "arn:aws:s3:::b/k")  # objects too: "/" is no part
    with pytest.raises(UnsupportedPolicyError):
        arn_matches("arn:aws:s3:*", "arn:aws:s3:::b")
    keys = {"aws:PrincipalArn": crossing}
    assert not condition_holds({"ArnLike": {"aws:PrincipalArn": "arn:*:iam::*:*"}}, keys)


def test_condition_keys_are_case_insensitive_and_an_unknown_one_is_refused() -> None:
    keys = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert condition_holds({"StringEquals": {"KMS:viaservice": "s3.us-east-1.amazonaws.com"}}, keys)
    # an unknown key is not "missing" (which would make a negated Deny's condition true)
    for operator in ("StringEquals", "StringNotEquals", "StringEqualsIfExists"):
        with pytest.raises(UnsupportedPolicyError, match="aws:SourceVpce"):
            condition_holds({operator: {"aws:SourceVpce": "vpce-1"}}, keys)

"""A small IAM policy evaluator for the tests: does a request get through these policies?

It decides requests the way AWS documents it, for the parts of the policy language the
synthesized template uses, and refuses (``UnsupportedPolicyError``) anything else, so that a
policy it does not understand is never silently read as "allowed" or "denied":

- A statement applies when its ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?``
  wildcards), its ``Resource``/``NotResource`` (case-sensitive wildcards), its
  ``Principal`` (resource policies) and every condition of its ``Condition`` block match
  ("IAM JSON policy element reference",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html).
- Conditions: several operators, or several keys of one operator, must all hold; several
  values of one key are alternatives, and none may match for a negated operator ("Conditions
  with multiple context keys or values",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html).
  A key missing from the request makes a condition false, except for a negated operator
  (``StringNotLike``, ``ArnNotLike``, ...), which is then true, and ``...IfExists``; the
  ARN operators compare each of the six colon-separated parts of an ARN apart, wildcards
  included ("IAM JSON policy elements: Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
  Condition key names are case-insensitive; a key not in ``KNOWN_KEYS`` (the keys the
  template uses, each with the request field it stands for) is refused, never read as
  "missing".
- ``Resource`` ARNs take wildcards within each of their colon-separated parts ("IAM JSON
  policy elements: Resource",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
- An explicit Deny in any policy wins; otherwise, within one account an Allow in the
  identity policy *or* the resource policy is enough; across accounts both the identity
  policy and the resource's policy must allow ("Policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html;
  "Cross-account policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).

Not modelled (the template uses none of it): permissions boundaries, SCPs, session
policies, policy variables, ``ForAnyValue``/``ForAllValues``, numeric, date and IP
operators, and KMS key policies (a key's own policy is its owner's business: the tests ask
what the roles' policies allow).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

Statement = Mapping[str, Any]
Policy = Mapping[str, Any]


class UnsupportedPolicyError(ValueError):
    """A policy element or condition operator this evaluator does not decide."""


@dataclass(frozen=True)
class Request:
    """One request: who, what, on which resource, owned by which account, in what context.

    ``principal`` is the caller's role (or user) ARN; ``resource_account`` the account that
    owns the resource (for S3 it is also ``s3:ResourceAccount``). ``context`` adds the
    request's condition keys; ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
    ``aws:SecureTransport`` (true) and, for S3 actions, ``s3:ResourceAccount`` are filled
    in from the fields unless ``context`` sets them.
    """

    principal: str
    action: str
    resource: str
    resource_account: str
    context: Mapping[str, str] = field(default_factory=dict)

    @property
    def principal_account(self) -> str:
        return self.principal.split(":")[4]

    def keys(self) -> dict[str, str]:
        keys = {
            "aws:PrincipalArn": self.principal,
            "aws:PrincipalAccount": self.principal_account,
            "aws:SecureTransport": "true",
        }
        if self.action.lower().startswith("s3:"):
            keys["s3:ResourceAccount"] = self.resource_account
        keys.update(self.context)
        return keys


#: the condition keys this evaluator decides (lower case: key names are case-insensitive);
#: what each means: "AWS global condition context keys"
#: (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html),
#: "Actions, resources, and condition keys for Amazon S3" (s3:ResourceAccount, s3:prefix),
#: "AWS KMS condition keys" (kms:ViaService, kms:MessageType, kms:EncryptionContext:),
#: "Actions, resources, and condition keys for Amazon ECS" (ecs:CreateAction)
KNOWN_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principalaccount",
        "aws:securetransport",
        "s3:resourceaccount",
        "s3:prefix",
        "kms:viaservice",
        "kms:messagetype",
        "kms:encryptioncontext:aws:s3:arn",
        "ecs:createaction",
    }
)


@cache
def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    """An IAM wildcard (``*`` any run of characters, ``?`` one character) as a regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    flags = (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL
    return re.compile(f"^{body}$", flags)


def matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_pattern(glob, ignore_case=ignore_case).match(value))


def arn_matches(glob: str, arn: str) -> bool:
    """An ARN pattern against an ARN, part by part (``arn:partition:service:region:account:
    resource``; the resource part may hold colons): a wildcard never reaches into the next
    part. ``*`` alone is every ARN; a value that is not an ARN matches no ARN pattern; a
    pattern that is neither is refused."""
    if glob == "*":
        return True
    patterns, parts = glob.split(":", 5), arn.split(":", 5)
    if len(patterns) != 6:
        raise UnsupportedPolicyError(f"not an ARN pattern: {glob!r}")
    if len(parts) != 6:
        return False
    return all(matches(p, v) for p, v in zip(patterns, parts, strict=True))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _strings(value: Any) -> list[str]:
    found = _as_list(value)
    for item in found:
        if not isinstance(item, str):
            raise UnsupportedPolicyError(f"an unresolved value: {item!r}")
    return found


# --- conditions --------------------------------------------------------------------------


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_like(expected: str, actual: str) -> bool:
    return matches(expected, actual)


def _bool(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


#: operator -> (test of one policy value against the request's value, negated?)
_OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (arn_matches, False),
    "ArnLike": (arn_matches, False),
    "ArnNotEquals": (arn_matches, True),
    "ArnNotLike": (arn_matches, True),
    "Bool": (_bool, False),
}


def condition_holds(condition: Mapping[str, Any], keys: Mapping[str, str]) -> bool:
    """Whether every operator's every key holds for the request's ``keys``."""
    present = {key.lower(): value for key, value in keys.items()}
    for operator, tests in condition.items():
        name, if_exists = operator, operator.endswith("IfExists")
        if if_exists:
            name = operator.removesuffix("IfExists")
        if name not in _OPERATORS or ":" in name:
            raise UnsupportedPolicyError(f"condition operator {operator!r}")
        test, negated = _OPERATORS[name]
        for key, values in tests.items():
            if key.lower() not in KNOWN_KEYS:
                raise UnsupportedPolicyError(f"condition key {key!r}")
            expected = _strings(values)
            actual = present.get(key.lower())
            if actual is None:
                if if_exists or negated:
                    continue
                return False
            matched = any(test(value, actual) for value in expected)
            if matched == negated:
                return False
    return True


# --- statements and policies -------------------------------------------------------------


def _action_applies(statement: Statement, action: str) -> bool:
    if "NotAction" in statement:
        return not any(
            matches(a, action, ignore_case=True) for a in _strings(statement["NotAction"])
        )
    return any(matches(a, action, ignore_case=True) for a in _strings(statement["Action"]))


def _resource_applies(statement: Statement, resource: str) -> bool:
    if "NotResource" in statement:
        return not any(arn_matches(r, resource) for r in _strings(statement["NotResource"]))
    if "Resource" not in statement:
        raise UnsupportedPolicyError(f"a statement without Resource or NotResource: {statement}")
    return any(arn_matches(r, resource) for r in _strings(statement["Resource"]))


def _principal_applies(statement: Statement, request: Request) -> bool:
    """A resource policy's ``Principal``: ``*`` or the caller's own ARN."""
    if "NotPrincipal" in statement:
        raise UnsupportedPolicyError("NotPrincipal")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping) or set(principal) - {"AWS", "Service"}:
        raise UnsupportedPolicyError(f"principal {principal!r}")
    for value in _strings(principal.get("AWS", [])):
        if re.fullmatch(r"\d{12}|arn:[^:]+:iam::\d{12}:root", value):
            # an account as the principal delegates to its IAM policies: not modelled
            raise UnsupportedPolicyError(f"an account as the principal: {value}")
        if value in ("*", request.principal):
            return True
    return False


def applies(statement: Statement, request: Request, *, resource_policy: bool) -> bool:
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise UnsupportedPolicyError(f"effect {statement.get('Effect')!r}")
    if resource_policy and not _principal_applies(statement, request):
        return False
    return (
        _action_applies(statement, request.action)
        and _resource_applies(statement, request.resource)
        and condition_holds(statement.get("Condition", {}), request.keys())
    )


def statements(policies: Iterable[Policy]) -> list[Statement]:
    return [s for policy in policies for s in _as_list(policy["Statement"])]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: the Sid (or the index) of the statements that decided it
    denied_by: tuple[str, ...] = ()
    allowed_by: tuple[str, ...] = ()


def _names(found: Sequence[tuple[int, Statement]]) -> tuple[str, ...]:
    return tuple(str(s.get("Sid", f"#{i}")) for i, s in found)


def evaluate(
    request: Request,
    identity: Iterable[Policy],
    resource_policy: Policy | None = None,
) -> Decision:
    """Whether ``request`` is allowed by the caller's ``identity`` policies and the
    resource's own policy (a bucket policy), as AWS decides it (see the module doc)."""
    own = list(enumerate(statements(identity)))
    theirs = list(enumerate(statements([resource_policy]))) if resource_policy else []
    applying_own = [(i, s) for i, s in own if applies(s, request, resource_policy=False)]
    applying_theirs = [(i, s) for i, s in theirs if applies(s, request, resource_policy=True)]
    denies = [(i, s) for i, s in [*applying_own, *applying_theirs] if s["Effect"] == "Deny"]
    own_allows = [(i, s) for i, s in applying_own if s["Effect"] == "Allow"]
    their_allows = [(i, s) for i, s in applying_theirs if s["Effect"] == "Allow"]
    if denies:
        return Decision(False, denied_by=_names(denies))
    if request.principal_account == request.resource_account:
        allowed = bool(own_allows or their_allows)
    else:
        allowed = bool(own_allows and their_allows)
    return Decision(allowed, allowed_by=_names([*own_allows, *their_allows]))

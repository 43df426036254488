"""cdk-nag (AwsSolutions) findings the design accepts, each with the reason why.

cdk-nag 3 matches acknowledgements by exact finding id, and IAM5 ids contain the
flattened resource (``AwsSolutions-IAM5[Resource::<Inbox.Arn>/work/*]``). Rather than
hard-code logical ids, an aspect flattens each IAM policy of the construct the way cdk-nag
does and acknowledges a finding only when one of the rules below names its policy and
matches it. Anything new (a broader grant added later) matches no rule and still fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import Acknowledgment, IAspect, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct


@dataclass(frozen=True)
class Rule:
    """Acknowledge IAM5 findings matching ``pattern`` in policies under ``owner``."""

    owner: IConstruct
    pattern: str
    reason: str


def flatten_reference(node: Any) -> str:  # noqa: PLR0911 - one return per intrinsic
    """cdk-nag's ``flattenCfnReference``: a resolved CloudFormation value as one string."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_findings(document: dict[str, Any]) -> list[str]:
    """The IAM5 finding ids (without the rule prefix) of a resolved policy document."""
    findings: dict[str, None] = {}
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action", [])):
            if "*" in action:
                findings[f"Action::{action}"] = None
        for resource in _as_list(statement.get("Resource", [])):
            flat = flatten_reference(resource)
            if "*" in flat:
                findings[f"Resource::{flat}"] = None
    return list(findings)


@jsii.implements(IAspect)
class AcknowledgeWildcards:
    """Acknowledge the IAM5 findings that ``rules`` explain, on the policy that has them."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = list(rules)

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        path = node.node.path
        rules = [r for r in self._rules if path.startswith(r.owner.node.path + "/")]
        if not rules:
            return
        document = Stack.of(node).resolve(node.policy_document)
        for finding in wildcard_findings(document):
            for rule in rules:
                if re.fullmatch(rule.pattern, finding):
                    acknowledge(node, f"AwsSolutions-IAM5[{finding}]", rule.reason)
                    break


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one exact cdk-nag finding on ``scope`` (and everything under it)."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))

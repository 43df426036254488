"""cdk-nag (AwsSolutions) findings the design accepts, each with the reason why.

cdk-nag 3 matches acknowledgements by exact finding id, and IAM5 ids contain the
flattened resource (``AwsSolutions-IAM5[Resource::<Inbox.Arn>/work/*]``). Rather than
hard-code logical ids, an aspect flattens each IAM policy of the construct the way cdk-nag
does and acknowledges a finding only when one of the rules (``construct_rules``) names its
policy and matches it. Anything new (a broader grant added later) matches no rule and still
fails. ``acknowledge_construct_findings`` applies them, and the few whole-rule
acknowledgements, to a ``StepsS3Copy``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import Acknowledgment, Aspects, IAspect, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from steps_s3_copy.inbox import DEFAULT_REPORTS_PREFIX, DEFAULT_WORK_PREFIX

if TYPE_CHECKING:
    from steps_s3_copy.infra.construct import StepsS3Copy


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


# --- the StepsS3Copy construct's findings -----------------------------------------------


def acknowledge_construct_findings(
    copy: StepsS3Copy,
    sources: Sequence[s3.IBucket],
    destinations: Sequence[s3.IBucket],
) -> None:
    """cdk-nag (AwsSolutions) findings the ``StepsS3Copy`` design accepts, each with its
    reason: the IAM5 wildcards it needs (``construct_rules``) and a few whole rules."""
    rules = construct_rules(copy, sources, destinations)
    Aspects.of(copy).add(AcknowledgeWildcards(rules))
    # a writer role brought by the deployer lives outside the construct: its policy too
    writer = copy.writer_role.node
    if not writer.path.startswith(copy.node.path + "/"):
        Aspects.of(writer.scope or copy.writer_role).add(
            AcknowledgeWildcards([r for r in rules if r.owner is copy.writer_role])
        )

    acknowledge(
        copy.dead_letter_queue,
        "AwsSolutions-SQS3",
        "This queue is itself the dead-letter queue of the EventBridge target; a "
        "dead-letter queue for it would add nothing.",
    )
    if isinstance(copy.inbox_bucket, s3.Bucket) and copy.inbox_bucket.node.scope is copy:
        acknowledge(
            copy.inbox_bucket,
            "AwsSolutions-S1",
            "The inbox holds only job files (manifests, sidecars, working files, "
            "reports) written by the submitter and this service, and every run is "
            "recorded in the state machine's execution history and logs. Server access "
            "logs would need another bucket; enable CloudTrail S3 data events where an "
            "object-level audit trail is required.",
        )
        handler = Stack.of(copy).node.try_find_child(
            "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
        )
        if handler is not None:
            acknowledge(
                handler,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]",
                "CDK's own singleton handler that switches on EventBridge notifications "
                "for the inbox at deploy time; the managed policy only lets it write its "
                "own logs.",
            )
    acknowledge(
        copy.cluster,
        "AwsSolutions-ECS4",
        "Tasks are short-lived batch copies: each logs JSON to CloudWatch Logs and "
        "reports its outcome to Step Functions, where the Map Run shows progress. "
        "Container Insights would bill per-task metrics nobody acts on; turn it on in "
        "the cluster if wanted.",
    )


def construct_rules(
    copy: StepsS3Copy,
    sources: Sequence[s3.IBucket],
    destinations: Sequence[s3.IBucket],
) -> list[Rule]:
    """The wildcard grants of ``copy``'s policies, each with why it is needed."""
    inbox = r"(<[A-Za-z0-9]+\.Arn>|arn:<AWS::Partition>:s3:::<[A-Za-z0-9]+>)"
    work, reports = re.escape(DEFAULT_WORK_PREFIX), re.escape(DEFAULT_REPORTS_PREFIX)
    jobs = re.escape(copy.jobs_prefix)
    run = "<job>/<run-id>/, names known only at run time"
    xray = (
        "X-Ray's PutTraceSegments/PutTelemetryRecords (tracing is on) have no "
        "resource-level permissions, so they can only be granted on '*'."
    )
    rules = [
        Rule(
            copy.prepare_role,
            rf"Resource::{inbox}/{jobs}\*",
            "Prepare reads the job it was started for (its sidecar and manifest) from the "
            "inbox's jobs prefix; job names are chosen by the submitter.",
        ),
        Rule(
            copy.prepare_role,
            rf"Resource::{inbox}/{work}\*(/lock\.json)?",
            f"Prepare writes the run's working area (events and lock markers, run.json, plan, "
            f"batch index) under work/{run}, and deletes only a job's stale lock.json.",
        ),
        Rule(copy.prepare_role, r"Resource::\*", xray),
        Rule(
            copy.job_lock_policy,
            r"Resource::arn:<AWS::Partition>:states:[^:*]+:[^:*]+:"
            r"execution:<[A-Za-z0-9]+\.Name>:\*",
            "Prepare describes the execution that holds a job's lock (is it still running?): "
            "any execution of this state machine, whose names are generated at run time.",
        ),
        Rule(
            copy.writer_role,
            rf"Resource::{inbox}/({work}|{reports})\*",
            f"The copy reads its run's plan and batch index (work/{run}) and the reports it "
            "delivers (reports/<job>/<run-id>/); read only.",
        ),
        Rule(
            copy.writer_role,
            rf"Resource::{inbox}/{work}\*/results/\*",
            f"Each batch writes its results file under work/{run}; the only place in the "
            "inbox the copy may write.",
        ),
        Rule(
            copy.writer_role,
            r"Resource::\*",
            f"{xray} The KMS statement on '*' is limited by kms:ViaService to S3 in this "
            "region and by S3's encryption context (aws:s3:arn) to the buckets the copy may "
            "use: their keys belong to their owners and are not known at deploy time.",
        ),
        Rule(copy.summarise_role, r"Resource::\*", xray),
        Rule(
            copy.summarise_role,
            rf"Resource::{inbox}/({work}(\*/summary\.json)?|{reports})\*?",
            f"Summarise reads its run's working area (work/{run}) and writes only the "
            "run's summary.json there and its report under reports/<job>/<run-id>/.",
        ),
        Rule(copy.notify_role, r"Resource::\*", xray),
        Rule(
            copy.notify_role,
            rf"Resource::{inbox}/{work}\*/(notice|lock)\.json",
            "Notify keeps the run's notice marker (notice.json) and releases the job's lock "
            f"(lock.json) in the working area, under work/{run}.",
        ),
        Rule(
            copy.task_definition,
            r"Resource::\*",
            "ecr:GetAuthorizationToken has no resource-level permissions; the image "
            "pull itself is scoped to the asset repository.",
        ),
        Rule(
            copy.state_machine,
            r"Resource::\*",
            f"{xray} The ECS .sync integration needs ecs:DescribeTasks/StopTask on the "
            "task ARNs it starts (unknown before they run), and log delivery "
            "(logs:*LogDelivery) has no resource-level permissions either.",
        ),
        Rule(
            copy.state_machine,
            r"Resource::<[A-Za-z0-9]+Function[A-Za-z0-9]+\.Arn>:\*",
            "Invoking this construct's own functions, including qualified versions and "
            "aliases (CDK's LambdaInvoke grant: one statement per function).",
        ),
        Rule(
            copy.state_machine,
            rf"Resource::{inbox}/\*",
            "The Distributed Map reads the batch index (index.csv) of each run and "
            "writes the Map Run results under work/ in the inbox; keys are per run.",
        ),
        Rule(
            copy.state_machine,
            r"Resource::arn:.*TaskDefinition.*:\*",
            "ecs:RunTask on any revision of this construct's own task definition family "
            "(CDK's EcsRunTask grant), so a deploy that adds a revision keeps working.",
        ),
        Rule(
            copy.state_machine,
            r"Resource::arn:<AWS::Partition>:ecs:[^:*]+:[^:*]+:task/<[A-Za-z0-9]+>/\*",
            "ecs:TagResource on the tasks of this construct's own cluster, only while "
            "RunTask creates them (ecs:CreateAction), so the task definition's tags reach "
            "each task; task ids are known only once they run.",
        ),
        Rule(
            copy.state_machine,
            r"Resource::arn:<AWS::Partition>:states:.*:execution:.*(:|/)\*(:\*)?",
            "The Distributed Map describes, stops and redrives the child executions of "
            "this same state machine; their names are generated at run time.",
        ),
    ]
    bucket_roles = (copy.prepare_role, copy.writer_role)
    if copy.data_scope.any_bucket:
        rules += [
            Rule(
                role,
                r"Resource::arn:<AWS::Partition>:s3:::\*(/\*)?",
                "The deployer opted into any bucket outside this account "
                "(allow_any_bucket_outside_this_account): every bucket of this account that "
                "was not named is denied by the same policy (a Deny on s3:ResourceAccount), "
                "and a bucket of another account still needs its own bucket policy to let "
                "this role in.",
            )
            for role in bucket_roles
        ]
    if [*sources, *destinations]:
        rules += [
            Rule(
                role,
                r"Resource::(arn:<AWS::Partition>:s3:::[a-z0-9.-]+|<[A-Za-z0-9]+\.Arn>)/\*",
                "Any object of the named source and destination buckets may be in a "
                "manifest, so object-level actions are granted on <bucket>/*, for the "
                "buckets the deployer named only.",
            )
            for role in bucket_roles
        ]
    return rules

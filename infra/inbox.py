"""The service's ends that users touch: the inbox bucket jobs are dropped into, who may drop
them (``JobSubmitters``), the rule that starts a run when a sidecar lands (with its
dead-letter queue), and the topic the completion notices go to.

Each function creates its resources directly in ``scope`` (the ``StepsS3Copy`` construct),
so their construct paths, and with them the template's logical IDs, are those of the
construct's own children.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jsii
from aws_cdk import Annotations, Duration, IListProducer, Lazy, RemovalPolicy, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_WORK_PREFIX, sidecar_event_pattern
from steps_s3_copy.infra.props import PRINCIPAL_ARN, StepsS3CopyProps


def create_inbox(scope: Construct, props: StepsS3CopyProps) -> s3.Bucket:
    """The inbox: private, TLS only, EventBridge notifications on, working files expiring."""
    removal_policy = props.removal_policy
    return s3.Bucket(
        scope,
        "Inbox",
        event_bridge_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        encryption=s3.BucketEncryption.S3_MANAGED,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=removal_policy,
        auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireWorkingFiles",
                prefix=DEFAULT_WORK_PREFIX,
                expiration=Duration.days(props.work_expiry_days),
            ),
            s3.LifecycleRule(
                id="AbortIncompleteUploads",
                abort_incomplete_multipart_upload_after=Duration.days(
                    props.incomplete_upload_expiry_days
                ),
            ),
        ],
    )


def create_topic(scope: Construct) -> sns.Topic:
    """The completion topic, encrypted with the account's AWS-managed SNS key."""
    return sns.Topic(
        scope,
        "Topic",
        display_name="steps-s3-copy completion notices",
        master_key=kms.Alias.from_alias_name(scope, "SnsKey", "alias/aws/sns"),
        enforce_ssl=True,
    )


class Trigger(NamedTuple):
    """The rule that starts a run and the queue that keeps the events it could not deliver."""

    rule: events.Rule
    dead_letter_queue: sqs.Queue

    @classmethod
    def create(
        cls,
        scope: Construct,
        props: StepsS3CopyProps,
        *,
        inbox: s3.IBucket,
        state_machine: sfn.IStateMachine,
    ) -> Trigger:
        """Start ``state_machine`` for each sidecar (``<jobs_prefix>*.json``) in ``inbox``."""
        jobs_prefix = props.jobs_prefix
        dead_letter_queue = sqs.Queue(
            scope,
            "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        pattern = sidecar_event_pattern(inbox.bucket_name, jobs_prefix)
        rule = events.Rule(
            scope,
            "SidecarRule",
            description=f"Start a copy when a sidecar ({jobs_prefix}*.json) lands in the inbox",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
            targets=[
                targets.SfnStateMachine(
                    state_machine,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
        return cls(rule, dead_letter_queue)


@jsii.implements(IListProducer)
class _Produce:
    """A list read when the template is written (``Lazy``), so later grants count."""

    def __init__(self, values: list[str], fallback: list[str]) -> None:
        self._values = values
        self._fallback = fallback

    def produce(self, context: Any) -> list[str]:
        return list(self._values) or list(self._fallback)


class JobSubmitters:
    """Who may start a run: put objects under the jobs prefix of the inbox.

    The inbox's bucket policy denies ``s3:PutObject`` on ``<jobs_prefix>*`` to every
    principal whose ``aws:PrincipalArn`` is not listed (``ArnNotLike``; a request without
    that key, an anonymous or a service one, is denied too: a negated operator is true when
    the key is missing, "IAM JSON policy elements: Condition operators",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
    For a role session ``aws:PrincipalArn`` is the role's ARN ("AWS global condition context
    keys", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).

    - Submitters named (``submitters=`` or ``grant_submit``): only they; an administrator of
      this account who is not named is denied too.
    - None named: the list is every principal of the installing account
      (``arn:<partition>:iam::<account>:*`` and ``arn:<partition>:sts::<account>:*``):
      principals outside the account are denied, and inside it their IAM policies decide.

    The list is read when the template is written, so ``grant_submit`` after the
    construct was made still counts. An inbox brought without a bucket policy of its own
    (an imported bucket) cannot get the Deny: a warning says so.
    """

    def __init__(self, scope: Construct, *, inbox: s3.IBucket, jobs_prefix: str) -> None:
        stack = Stack.of(scope)
        self.inbox = inbox
        self.jobs = inbox.arn_for_objects(f"{jobs_prefix}*")
        self.arns: list[str] = []
        account = [
            f"arn:{stack.partition}:iam::{stack.account}:*",
            f"arn:{stack.partition}:sts::{stack.account}:*",
        ]
        result = inbox.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyJobsFromOthers",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.jobs],
                conditions={
                    "ArnNotLike": {
                        "aws:PrincipalArn": Lazy.uncached_list(_Produce(self.arns, account))
                    }
                },
            )
        )
        self.enforced = result.statement_added
        if not self.enforced:
            Annotations.of(scope).add_warning_v2(
                "steps-s3-copy:inbox-policy",
                "The inbox has no bucket policy this construct can add to (an imported "
                "bucket): who may put jobs is not restricted by the inbox. Add the "
                "DenyJobsFromOthers statement to its policy yourself (docs/deploy.md).",
            )

    def grant(self, grantee: iam.IGrantable | str) -> iam.Grant:
        """Let ``grantee`` put jobs (single or multipart uploads) and exempt it from the Deny."""
        if isinstance(grantee, str):
            _check_principal_arn(grantee)
            self.arns.append(grantee)
            # an ARN is no construct of ours: the inbox's policy grants it
            return iam.Grant.add_to_principal_and_resource(
                grantee=iam.ArnPrincipal(grantee),
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resource_arns=[self.jobs],
                resource=self.inbox,
            )
        arns = principal_arns(grantee)
        self.arns.extend(arns)
        return iam.Grant.add_to_principal_or_resource(
            grantee=grantee,
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resource_arns=[self.jobs],
            resource=self.inbox,
        )


def principal_arns(grantee: iam.IGrantable) -> list[str]:
    """The role or user ARNs ``aws:PrincipalArn`` takes for ``grantee``; a ValueError for
    anything else (a service, an account, anyone)."""
    principal = grantee.grant_principal
    fragment = principal.policy_fragment.principal_json
    arns = [str(arn) for arn in fragment.get("AWS", [])]
    # an account (its root ARN) would match only the root user in aws:PrincipalArn
    if not arns or set(fragment) != {"AWS"} or isinstance(principal, iam.AccountPrincipal):
        raise ValueError(
            f"a submitter must be an IAM role or user (or have one): {grantee.grant_principal}"
        )
    for arn in arns:
        _check_principal_arn(arn)
    return arns


def _check_principal_arn(arn: str) -> None:
    if not (Token.is_unresolved(arn) or PRINCIPAL_ARN.fullmatch(arn)):
        raise ValueError(f"a submitter must be the ARN of an IAM role or user, not {arn!r}")

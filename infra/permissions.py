"""Who may do what: the writer role (the one role that touches user data: Prepare,
CopyBatch, Summarise and the Fargate task run as it) with its grants on the inbox, the
source and the destination buckets, and the notify role (publishes the notice).

Statement ids (``Sid``) name each grant (the template assertions find them by it); the
wildcards they need are explained in ``acknowledgements.py``. Roles are created directly in
``scope`` (the ``StepsS3Copy`` construct), so the logical IDs are those of its children.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_REPORTS_PREFIX, DEFAULT_WORK_PREFIX

#: read a source object, any version, with its tags and attributes
SOURCE_OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
)
SOURCE_BUCKET_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation")
#: write a destination object (single or multipart) and read it back to verify or skip it
DESTINATION_OBJECT_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:GetObjectAttributes",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
DESTINATION_BUCKET_ACTIONS = (
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketLocation",
)
#: every write the writer role is denied in the installing account outside the inbox
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:PutObjectAcl",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
)


@dataclass(frozen=True)
class BucketGrant:
    """One kind of access to a set of buckets: a statement on their objects, one on them."""

    object_sid: str
    object_actions: Sequence[str]
    bucket_sid: str
    bucket_actions: Sequence[str]


READ_SOURCES = BucketGrant(
    "ReadSources", SOURCE_OBJECT_ACTIONS, "ListSources", SOURCE_BUCKET_ACTIONS
)
WRITE_DESTINATIONS = BucketGrant(
    "WriteDestinations", DESTINATION_OBJECT_ACTIONS, "ListDestinations", DESTINATION_BUCKET_ACTIONS
)


def import_buckets(
    scope: Construct, kind: str, buckets: Sequence[s3.IBucket | str] | None
) -> list[s3.IBucket] | None:
    """Buckets given by name become ``IBucket`` references (``<kind><index>``)."""
    if buckets is None:
        return None
    return [
        s3.Bucket.from_bucket_name(scope, f"{kind}{index}", bucket)
        if isinstance(bucket, str)
        else bucket
        for index, bucket in enumerate(buckets)
    ]


def create_writer_role(scope: Construct, *, role_name: str | None) -> iam.Role:
    """The role the Lambda steps and the Fargate task run as; destinations trust it."""
    return iam.Role(
        scope,
        "WriterRole",
        role_name=role_name,
        description="steps-s3-copy: reads sources, writes destinations (trust this role)",
        assumed_by=iam.CompositePrincipal(
            iam.ServicePrincipal("lambda.amazonaws.com"),
            iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        ),
    )


def grant_data_access(
    role: iam.IRole,
    *,
    inbox: s3.IBucket,
    sources: Sequence[s3.IBucket] | None,
    destinations: Sequence[s3.IBucket] | None,
    allow_write_to_installed_account: bool,
) -> None:
    """The writer role's data grants: the inbox, the sources, the destinations, KMS.

    ``None`` for ``sources`` (``destinations``) means any bucket; unless
    ``allow_write_to_installed_account``, writes into the installing account's buckets
    other than the inbox are denied.
    """
    stack = Stack.of(role)
    _grant_inbox(role, inbox)
    _grant_buckets(role, sources, READ_SOURCES)
    _grant_buckets(role, destinations, WRITE_DESTINATIONS)
    if not allow_write_to_installed_account:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DenyWritesIntoInstalledAccount",
                effect=iam.Effect.DENY,
                actions=list(WRITE_ACTIONS),
                not_resources=[inbox.arn_for_objects("*")],
                conditions={"StringEquals": {"s3:ResourceAccount": stack.account}},
            )
        )
    # SSE-KMS sources and destinations: only ever through S3 in this region
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="KmsThroughS3",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
        )
    )


def _grant_inbox(role: iam.IRole, inbox: s3.IBucket) -> None:
    """Manifests, sidecars, plans and results are read; the working area and reports written."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadInbox",
            actions=["s3:GetObject", "s3:GetObjectTagging"],
            resources=[inbox.arn_for_objects("*")],
        )
    )
    _grant_list_inbox(role, inbox)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="WriteWorkAndReports",
            actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[
                inbox.arn_for_objects(f"{DEFAULT_WORK_PREFIX}*"),
                inbox.arn_for_objects(f"{DEFAULT_REPORTS_PREFIX}*"),
            ],
        )
    )
    if inbox.encryption_key is not None:
        inbox.encryption_key.grant_encrypt_decrypt(role)


def _grant_list_inbox(role: iam.IRole, inbox: s3.IBucket) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ListInbox", actions=["s3:ListBucket"], resources=[inbox.bucket_arn]
        )
    )


def _grant_buckets(
    role: iam.IRole, buckets: Sequence[s3.IBucket] | None, grant: BucketGrant
) -> None:
    """``grant`` on the objects and on the buckets themselves; ``None`` is any bucket."""
    if buckets is None:
        partition = Stack.of(role).partition
        bucket_arns, object_arns = [f"arn:{partition}:s3:::*"], [f"arn:{partition}:s3:::*/*"]
    else:
        bucket_arns = [b.bucket_arn for b in buckets]
        object_arns = [b.arn_for_objects("*") for b in buckets]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=grant.object_sid, actions=list(grant.object_actions), resources=object_arns
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=grant.bucket_sid, actions=list(grant.bucket_actions), resources=bucket_arns
        )
    )


def create_notify_role(scope: Construct) -> iam.Role:
    """The role of the Notify function: it only publishes the notice."""
    return iam.Role(
        scope,
        "NotifyRole",
        description="steps-s3-copy: publishes the completion notice",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
    )


def grant_notify(role: iam.IRole, *, topic: sns.ITopic, inbox: s3.IBucket) -> None:
    """Publish to ``topic``; keep the run's notice marker so a notice goes out once."""
    topic.grant_publish(role)
    # the notice marker (notice.json) in the run's working area makes publishing idempotent
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="NoticeMarker",
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            resources=[inbox.arn_for_objects(f"{DEFAULT_WORK_PREFIX}*")],
        )
    )
    _grant_list_inbox(role, inbox)

"""Who may do what: one role per kind of step, each with only what its steps need
(docs/architecture.md, "Who may do what (IAM)"), scoped to what the deployer named.

- PrepareRole (Prepare): reads ``jobs/*``, reads and writes ``work/*`` (and deletes a
  stale ``work/*/lock.json``); HEADs and lists the named sources; nothing of the
  destinations; ``states:DescribeExecution`` on this state machine's executions.
- WriterRole (CopyBatch and its Thaw, Destination, the Fargate task): reads ``work/*`` and
  ``reports/*``, writes only ``work/*/results/*``; reads and restores (``s3:RestoreObject``)
  the named sources; writes, tags, reads back and aborts/lists uploads in the named
  destinations (the delivered reports under ``.steps-s3-copy/runs/`` included). A deployer
  may bring this role (``writer_role``); ``grant_writer`` then reports the statements the
  role would not take.
- SummariseRole (Summarise): reads ``work/*``; writes ``work/*/summary.json`` and
  ``reports/*``; signs receipt digests (``kms:Sign`` of a DIGEST, ``kms:DescribeKey``) with
  the keys named at deploy and no other; no source, no destination.
- NotifyRole (Notify): ``work/*/notice.json``; reads and deletes ``work/*/lock.json``.

What the copy may touch is a ``DataScope``: the named source and destination buckets, or,
when the deployer opted in (``allow_any_bucket_outside_this_account``), any bucket (``*``)
with an explicit Deny of every bucket *of the installing account* that was not named
(``s3:ResourceAccount``). Inside one account an identity policy alone grants access to a
bucket (no bucket policy is needed), so the Allow must never cover this account's buckets
by accident; the Deny is what keeps the inbox's ``jobs/`` and another team's data out.

AWS behaviour relied on (each looked up):

- ``s3:ResourceAccount`` is the account that owns the bucket of the request, available for
  every S3 action ("Actions, resources, and condition keys for Amazon S3",
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
- A Deny with ``NotResource`` applies to every resource but the listed ones; an explicit
  Deny overrides any Allow ("Policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
- HeadObject needs ``s3:GetObject``; without ``s3:ListBucket`` a missing key is 403, not 404
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html), so every role that
  must tell "missing" from "denied" may list the inbox. HeadBucket needs ``s3:ListBucket``
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html).
- Multipart uploads are authorised by ``s3:PutObject`` (and ``s3:AbortMultipartUpload``,
  ``s3:ListMultipartUploadParts``) ("Multipart upload API and permissions",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
- SSE-KMS: S3 calls KMS on the caller's behalf (``kms:ViaService`` is
  ``s3.<region>.amazonaws.com``) with the encryption context ``aws:s3:arn`` = the object's
  ARN, or the bucket's ARN when an S3 Bucket Key is used ("Using server-side encryption
  with AWS KMS keys (SSE-KMS)", encryption context,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html); uploading
  and downloading need ``kms:GenerateDataKey`` and ``kms:Decrypt``. The condition keys:
  "AWS KMS condition keys" (kms:ViaService, kms:EncryptionContext:context-key),
  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html. KMS encrypts
  only the object data, not its metadata, so a HEAD (Prepare) needs no key.
- RunTask with ``propagateTags`` tags the task it creates, which needs ``ecs:TagResource``
  as well as ``ecs:RunTask`` once the task definition carries any tag (a ``cdk deploy
  --tags``, ``Tags.of(app)``, an organisation's tag policy); ``ecs:CreateAction`` limits it
  to tagging on creation ("Grant permission to tag resources on creation",
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html).
  A task's ARN is ``arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>``
  ("Actions, resources, and condition keys for Amazon Elastic Container Service",
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html).
- A Step Functions execution's ARN is
  ``arn:<partition>:states:<region>:<account>:execution:<stateMachineName>:<executionId>``
  ("Actions, resources, and condition keys for AWS Step Functions",
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).

Statement ids (``Sid``) name each grant (the template assertions find them by it); the
wildcards they need are explained in ``acknowledgements.py``. Roles are created directly in
``scope`` (the ``StepsS3Copy`` construct), so the logical IDs are those of its children.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
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
#: what Prepare needs of a source: HEAD (any version), a listing, the bucket's region
PREPARE_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
PREPARE_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")
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
#: every write the writer role is denied in the installing account outside what it must write
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:PutObjectAcl",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
)
#: what S3 asks of KMS for SSE-KMS objects on the caller's behalf (no kms:* anywhere)
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
#: what Summarise asks of KMS to sign a receipt's digest, on the named keys only: Sign
#: (of a digest only, ``kms:MessageType``) and DescribeKey (the key's signing algorithms)
SIGN_ACTIONS = ("kms:Sign",)
DESCRIBE_KEY_ACTIONS = ("kms:DescribeKey",)
#: the KMS condition key of Sign's MessageType parameter ("AWS KMS condition keys",
#: kms:MessageType: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html)
KMS_MESSAGE_TYPE = "kms:MessageType"
#: restore an archived source object (the Thaw state)
RESTORE_ACTIONS = ("s3:RestoreObject",)
#: the KMS condition key S3 fills with the object's (or, with a Bucket Key, the bucket's) ARN
S3_ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:s3:arn"

#: the run's files each role touches, under the inbox's working area (work/<job>/<run>/)
WORK_OBJECTS = f"{DEFAULT_WORK_PREFIX}*"
RESULTS_OBJECTS = f"{DEFAULT_WORK_PREFIX}*/results/*"
SUMMARY_OBJECTS = f"{DEFAULT_WORK_PREFIX}*/summary.json"
NOTICE_OBJECTS = f"{DEFAULT_WORK_PREFIX}*/notice.json"
LOCK_OBJECTS = f"{DEFAULT_WORK_PREFIX}*/lock.json"
REPORT_OBJECTS = f"{DEFAULT_REPORTS_PREFIX}*"


@dataclass(frozen=True)
class BucketGrant:
    """One kind of access to a set of buckets: a statement on their objects, one on them."""

    object_sid: str
    object_actions: Sequence[str]
    bucket_sid: str
    bucket_actions: Sequence[str]

    @property
    def actions(self) -> list[str]:
        return [*self.object_actions, *self.bucket_actions]


READ_SOURCES = BucketGrant(
    "ReadSources", SOURCE_OBJECT_ACTIONS, "ListSources", SOURCE_BUCKET_ACTIONS
)
SIZE_SOURCES = BucketGrant(
    "SizeSources", PREPARE_OBJECT_ACTIONS, "ListSources", PREPARE_BUCKET_ACTIONS
)
WRITE_DESTINATIONS = BucketGrant(
    "WriteDestinations", DESTINATION_OBJECT_ACTIONS, "ListDestinations", DESTINATION_BUCKET_ACTIONS
)


@dataclass(frozen=True)
class DataScope:
    """What the copy may touch, as the deployer said it.

    ``sources``/``destinations`` are the named buckets. With ``any_bucket`` the grants are on
    every bucket (``*``), and every bucket of the installing account that was not named is
    denied. ``allow_write_to_installed_account`` lets the named destinations of the
    installing account be written (without it, no bucket of this account but the inbox's
    batch results is ever written, whatever else says so).
    """

    sources: tuple[s3.IBucket, ...]
    destinations: tuple[s3.IBucket, ...]
    any_bucket: bool
    allow_write_to_installed_account: bool
    kms_keys: tuple[str, ...] = ()

    @property
    def named(self) -> tuple[s3.IBucket, ...]:
        return (*self.sources, *self.destinations)


class Roles(NamedTuple):
    """The four roles, one per kind of step (the writer may be the deployer's own)."""

    prepare: iam.Role
    writer: iam.IRole
    summarise: iam.Role
    notify: iam.Role


def create_roles(
    scope: Construct, *, writer_role_name: str | None, writer_role: iam.IRole | None = None
) -> Roles:
    """The roles the functions and the task run as; destinations trust the writer role, which
    is ``writer_role`` when the deployer brings one (it must trust ``lambda.amazonaws.com``
    and ``ecs-tasks.amazonaws.com``)."""
    lambda_principal = iam.ServicePrincipal("lambda.amazonaws.com")
    return Roles(
        prepare=iam.Role(
            scope,
            "PrepareRole",
            description="steps-s3-copy Prepare: reads jobs, plans runs, sizes sources",
            assumed_by=lambda_principal,
        ),
        writer=writer_role
        or iam.Role(
            scope,
            "WriterRole",
            role_name=writer_role_name,
            description="steps-s3-copy: reads sources, writes destinations (trust this role)",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("lambda.amazonaws.com"),
                iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            ),
        ),
        summarise=iam.Role(
            scope,
            "SummariseRole",
            description="steps-s3-copy Summarise: reads a run, writes its summary and report",
            assumed_by=lambda_principal,
        ),
        notify=iam.Role(
            scope,
            "NotifyRole",
            description="steps-s3-copy: publishes the completion notice",
            assumed_by=lambda_principal,
        ),
    )


# --- the roles' grants ---------------------------------------------------------------------


def grant_prepare(role: iam.IRole, *, inbox: s3.IBucket, jobs_prefix: str, data: DataScope) -> None:
    """Read the job, write the run's working area, size the sources (HEAD and list)."""
    jobs = inbox.arn_for_objects(f"{jobs_prefix}*")
    work = inbox.arn_for_objects(WORK_OBJECTS)
    _allow(role, "ReadJobs", ["s3:GetObject"], [jobs])
    # the events and lock markers, run.json, plan.jsonl (multipart), index.csv
    _allow(
        role, "ReadWriteWork", ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], [work]
    )
    # the lock of an execution that has ended is taken over: deleted, then created again
    _allow(role, "TakeOverJobLock", ["s3:DeleteObject"], [inbox.arn_for_objects(LOCK_OBJECTS)])
    _list_inbox(role, inbox)
    _inbox_key(role, inbox, write=True)
    _grant_buckets(role, data.sources, SIZE_SOURCES, any_bucket=data.any_bucket)
    if data.any_bucket:
        _deny_unnamed_in_installed_account(
            role,
            sid="DenyUnnamedSourcesInInstalledAccount",
            actions=SIZE_SOURCES.actions,
            exempt=[*_arns(data.sources), inbox.bucket_arn, jobs, work],
        )


def grant_writer(role: iam.IRole, *, inbox: s3.IBucket, data: DataScope) -> Statements:
    """Read the run's plan and reports, write only the batch results; read and restore the
    sources, write the destinations; use KMS keys only through S3 for them.

    The run's report files are copied (CopyObject) from the inbox's ``reports/`` to the
    destination's ``<destinationPrefix>.steps-s3-copy/runs/...`` at the end of a run (issue
    12): ``s3:GetObject`` on the source and ``s3:PutObject`` on the target is what CopyObject
    needs ("CopyObject", Permissions:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html), and both are here:
    ``ReadWorkAndReports`` and ``WriteDestinations`` (every key of a named destination).

    Returns the statements given (a writer role brought by the deployer that this construct
    may not change must be given them by the deployer: ``takes_statements``)."""
    results = inbox.arn_for_objects(RESULTS_OBJECTS)
    readable = [inbox.arn_for_objects(WORK_OBJECTS), inbox.arn_for_objects(REPORT_OBJECTS)]
    given = [
        *_allow(role, "ReadWorkAndReports", ["s3:GetObject"], readable),
        *_allow(role, "WriteBatchResults", ["s3:PutObject", "s3:AbortMultipartUpload"], [results]),
        *_list_inbox(role, inbox),
        *_grant_buckets(role, data.sources, READ_SOURCES, any_bucket=data.any_bucket),
        *_grant_restore(role, data),
        *_grant_buckets(role, data.destinations, WRITE_DESTINATIONS, any_bucket=data.any_bucket),
    ]
    _inbox_key(role, inbox, write=True)
    if data.any_bucket:
        reads = [*READ_SOURCES.actions, *RESTORE_ACTIONS, *WRITE_DESTINATIONS.actions]
        given += _deny_unnamed_in_installed_account(
            role,
            sid="DenyUnnamedBucketsInInstalledAccount",
            actions=sorted({a for a in reads if a not in WRITE_ACTIONS}),
            exempt=[*_arns(data.named), inbox.bucket_arn, *readable],
        )
    if data.any_bucket or not data.allow_write_to_installed_account:
        writable = [results]
        if data.allow_write_to_installed_account:
            writable += [b.arn_for_objects("*") for b in data.destinations]
        given += _deny_unnamed_in_installed_account(
            role, sid="DenyWritesIntoInstalledAccount", actions=list(WRITE_ACTIONS), exempt=writable
        )
    return [*given, *_grant_kms_through_s3(role, data)]


def _grant_restore(role: iam.IRole, data: DataScope) -> Statements:
    """Restore archived objects of the named sources (of any source, opted in): the Thaw
    state asks S3 once per archived object (RestoreObject needs ``s3:RestoreObject`` on the
    object: "RestoreObject", Permissions,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html; its resource type
    is ``object``: "Actions, resources, and condition keys for Amazon S3")."""
    _, object_arns = _bucket_arns(role, data.sources, any_bucket=data.any_bucket)
    if not object_arns:
        return []
    return _allow(role, "RestoreArchivedSources", RESTORE_ACTIONS, object_arns)


def grant_summarise(
    role: iam.IRole, *, inbox: s3.IBucket, signing_keys: Sequence[str] = ()
) -> None:
    """Read the run; write its summary and its report (multipart for the large CSVs); sign
    receipts with the KMS keys named at deploy (``signing_keys``), and with no other key.

    A receipt's digest is signed when the sidecar names ``receiptSigningKeyId`` (issue 12),
    which Prepare accepts only among the deployment's ``KMS_KEYS``. Sign needs ``kms:Sign`` on
    the key ("Sign", https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html), and
    DescribeKey (to learn the key's signing algorithms) ``kms:DescribeKey``; both take a KMS
    key ARN as their resource ("AWS KMS permissions",
    https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html).
    Sign is allowed only for a digest (``kms:MessageType`` = ``DIGEST``: the role can sign
    nothing but a precomputed hash, never a message of its choosing up to 4 KiB), in a
    statement of its own: DescribeKey has no MessageType, and a condition on a key absent
    from the request does not match ("AWS KMS condition keys",
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html). A key of
    another account must also let this role in through its key policy."""
    _allow(role, "ReadWork", ["s3:GetObject"], [inbox.arn_for_objects(WORK_OBJECTS)])
    _allow(
        role,
        "WriteSummaryAndReports",
        ["s3:PutObject", "s3:AbortMultipartUpload"],
        [inbox.arn_for_objects(SUMMARY_OBJECTS), inbox.arn_for_objects(REPORT_OBJECTS)],
    )
    _list_inbox(role, inbox)
    _inbox_key(role, inbox, write=True)
    if signing_keys:
        _add(
            role,
            iam.PolicyStatement(
                sid="SignReceiptDigestsWithNamedKeys",
                actions=list(SIGN_ACTIONS),
                resources=list(signing_keys),
                conditions={"StringEquals": {KMS_MESSAGE_TYPE: "DIGEST"}},
            ),
        )
        _allow(role, "DescribeNamedSigningKeys", DESCRIBE_KEY_ACTIONS, signing_keys)


def grant_notify(role: iam.IRole, *, topic: sns.ITopic, inbox: s3.IBucket) -> None:
    """Publish to ``topic``; keep the run's notice marker (so a notice goes out once) and
    release the job's lock."""
    topic.grant_publish(role)
    _allow(
        role,
        "NoticeMarker",
        ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        [inbox.arn_for_objects(NOTICE_OBJECTS)],
    )
    _allow(
        role,
        "ReleaseJobLock",
        ["s3:GetObject", "s3:DeleteObject"],
        [inbox.arn_for_objects(LOCK_OBJECTS)],
    )
    _list_inbox(role, inbox)
    _inbox_key(role, inbox, write=True)


def grant_job_lock(scope: Construct, role: iam.IRole, machine: sfn.StateMachine) -> iam.Policy:
    """``states:DescribeExecution`` on this state machine's own executions (is the job's lock
    holder still running?), in a policy of its own (``PrepareJobLockPolicy``).

    Not in the role's default policy: the Prepare function depends on that policy and the
    state machine on the function, so a default-policy statement naming the state machine
    would be a dependency cycle (cfn-lint E3004). Nothing depends on this policy.
    """
    executions = Stack.of(scope).format_arn(
        service="states",
        resource="execution",
        resource_name=f"{machine.state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    return iam.Policy(
        scope,
        "PrepareJobLockPolicy",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                sid="DescribeOwnExecutions",
                actions=["states:DescribeExecution"],
                resources=[executions],
            )
        ],
    )


def grant_tag_on_run_task(role: iam.IRole, cluster: ecs.ICluster) -> None:
    """Let the state machine's ``role`` tag the tasks it starts in ``cluster``, and only while
    starting them (``ecs:CreateAction`` = RunTask): the RunTask states propagate the task
    definition's tags to each task, so that a deployment's cost-allocation tags reach the
    Fargate tasks it pays for."""
    tasks = Stack.of(cluster).format_arn(
        service="ecs",
        resource="task",
        resource_name=f"{cluster.cluster_name}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="TagTasksOnRunTask",
            actions=["ecs:TagResource"],
            resources=[tasks],
            conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
        )
    )


#: what the Distributed Map does in the inbox: read a run's batch index (its ItemReader) and
#: write the Map Run's results (its ResultWriter, multipart)
MAP_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
)


def confine_map_to_work_area(role: iam.IRole, inbox: s3.IBucket) -> Statements:
    """Keep the state machine's ``role`` to the inbox's working area (``work/*``).

    CDK grants the Distributed Map's ItemReader and ResultWriter their S3 actions on every
    object of the inbox (``<inbox>/*``: the batch index's key is known only at run time),
    which would let the state machine read and write ``jobs/`` and ``reports/`` too. The
    index (``work/<job>/<run>/index.csv``) and the results (``work/map-results/``) are both
    under ``work/``, so a Deny of the same actions everywhere else confines it there ("IAM
    policies for using Distributed Map states": scope the policies to the bucket and folder,
    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html).
    """
    return _add(
        role,
        iam.PolicyStatement(
            sid="ConfineMapToWorkArea",
            effect=iam.Effect.DENY,
            actions=list(MAP_ACTIONS),
            not_resources=[inbox.arn_for_objects(WORK_OBJECTS)],
        ),
    )


# --- building blocks -----------------------------------------------------------------------


#: the statements a grant gave a role (``_add``), for the policy document that shows them
Statements = list[iam.PolicyStatement]


def _add(role: iam.IRole, statement: iam.PolicyStatement) -> Statements:
    """Add ``statement`` to ``role``'s policy; ``[statement]``."""
    role.add_to_principal_policy(statement)
    return [statement]


def takes_statements(role: iam.IRole) -> bool:
    """Whether the statements added to ``role`` land in a policy attached to it. A role CDK
    may not change (imported with ``mutable=False``, or ``without_policy_updates()``)
    accepts every statement and drops it ("pretend that it was added", CDK's
    ``ImmutableRole``), so the answer is read from the construct tree: a mutable role, of
    this app or imported, holds the policy it was given (its default policy, or the
    ``Policy`` CDK attaches to an imported role)."""
    return any(isinstance(child, iam.CfnPolicy) for child in role.node.find_all())


def _allow(
    role: iam.IRole, sid: str, actions: Sequence[str], resources: Sequence[str]
) -> Statements:
    return _add(
        role, iam.PolicyStatement(sid=sid, actions=list(actions), resources=list(resources))
    )


def _list_inbox(role: iam.IRole, inbox: s3.IBucket) -> Statements:
    """List the inbox: a missing working file is then 404, not 403 (see the module doc)."""
    return _allow(role, "ListInbox", ["s3:ListBucket"], [inbox.bucket_arn])


def _inbox_key(role: iam.IRole, inbox: s3.IBucket, *, write: bool) -> None:
    """An inbox brought encrypted with a KMS key: its key, for exactly these uses."""
    if inbox.encryption_key is not None:
        actions = ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"]
        inbox.encryption_key.grant(role, *actions)


def _arns(buckets: Sequence[s3.IBucket]) -> list[str]:
    """Each bucket and its objects."""
    return [arn for b in buckets for arn in (b.bucket_arn, b.arn_for_objects("*"))]


def _any_bucket_arns(role: iam.IRole) -> tuple[list[str], list[str]]:
    partition = Stack.of(role).partition
    return [f"arn:{partition}:s3:::*"], [f"arn:{partition}:s3:::*/*"]


def _bucket_arns(
    role: iam.IRole, buckets: Sequence[s3.IBucket], *, any_bucket: bool
) -> tuple[list[str], list[str]]:
    """(bucket ARNs, object ARNs) of the named buckets, or of every bucket (``*``)."""
    if any_bucket:
        return _any_bucket_arns(role)
    return [b.bucket_arn for b in buckets], [b.arn_for_objects("*") for b in buckets]


def _grant_buckets(
    role: iam.IRole, buckets: Sequence[s3.IBucket], grant: BucketGrant, *, any_bucket: bool
) -> Statements:
    """``grant`` on the named buckets and their objects, or on every bucket (``*``)."""
    bucket_arns, object_arns = _bucket_arns(role, buckets, any_bucket=any_bucket)
    if not bucket_arns:
        return []
    return [
        *_allow(role, grant.object_sid, grant.object_actions, object_arns),
        *_allow(role, grant.bucket_sid, grant.bucket_actions, bucket_arns),
    ]


def _deny_unnamed_in_installed_account(
    role: iam.IRole, *, sid: str, actions: Sequence[str], exempt: Sequence[str]
) -> Statements:
    """Deny ``actions`` on every bucket and object of the installing account but ``exempt``."""
    return _add(
        role,
        iam.PolicyStatement(
            sid=sid,
            effect=iam.Effect.DENY,
            actions=list(actions),
            not_resources=list(exempt),
            conditions={"StringEquals": {"s3:ResourceAccount": Stack.of(role).account}},
        ),
    )


def _grant_kms_through_s3(role: iam.IRole, data: DataScope) -> Statements:
    """SSE-KMS objects of the buckets the role may touch: only through S3 in this region,
    only with S3's encryption context of those buckets (or, opted into any bucket, of any
    S3 bucket: S3 still decides which buckets); the keys named at deploy through S3 too."""
    via_s3 = {"kms:ViaService": f"s3.{Stack.of(role).region}.amazonaws.com"}
    contexts = [arn for b in data.named for arn in (b.bucket_arn, b.arn_for_objects("*"))]
    if data.any_bucket:
        contexts.append(_any_bucket_arns(role)[0][0])
    given: Statements = []
    if contexts:
        given += _add(
            role,
            iam.PolicyStatement(
                sid="KmsThroughS3ForTheBuckets",
                actions=list(KMS_ACTIONS),
                resources=["*"],  # the buckets' keys are theirs, not known at deploy time
                conditions={
                    "StringEquals": via_s3,
                    "StringLike": {S3_ENCRYPTION_CONTEXT: contexts},
                },
            ),
        )
    if data.kms_keys:
        given += _add(
            role,
            iam.PolicyStatement(
                sid="KmsNamedKeysThroughS3",
                actions=list(KMS_ACTIONS),
                resources=list(data.kms_keys),
                conditions={"StringEquals": via_s3},
            ),
        )
    return given

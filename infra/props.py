"""``StepsS3CopyProps``: the construct's arguments as one typed, validated value.

A props object is checked when it is made (``__post_init__``), so one that exists is valid:
the construct builds it from its keyword-only arguments before it creates anything, and a
bad argument is a ``ValueError`` naming it, with no half-built construct left behind.

What the copy may touch must be said: the source and the destination buckets are required,
unless the deployer opts into any bucket outside the installing account
(``allow_any_bucket_outside_this_account``); ``permissions.py`` turns the answer into IAM.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, cast

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, DEFAULT_REPORTS_PREFIX, DEFAULT_WORK_PREFIX
from steps_s3_copy.models import GiB

#: Fargate's valid (cpu -> memory MiB range, step) combinations, from "Troubleshoot Amazon
#: ECS task definition invalid CPU or memory errors"
#: (https://docs.aws.amazon.com/AmazonECS/latest/userguide/task-cpu-memory-error.html)
FARGATE_MEMORY: Final[dict[int, tuple[int, int, int]]] = {
    256: (512, 2048, 512),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
#: Lambda's memory range, MiB ("Configure Lambda function memory",
#: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)
LAMBDA_MEMORY_MIB: Final = (128, 10_240)
#: characters of an IAM role name besides letters and digits; at most 64 of them in all
#: (CreateRole's RoleName:
#: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html)
ROLE_NAME_PUNCTUATION: Final = "+=,.@_-"
ROLE_NAME_MAX_LENGTH: Final = 64
#: the execution timeout we accept: one minute to one year, the longest a Standard workflow
#: runs ("Step Functions service quotas",
#: https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)
STATE_MACHINE_TIMEOUT_SECONDS: Final = (60, 365 * 24 * 3600)
DEFAULT_STATE_MACHINE_TIMEOUT: Final = Duration.days(7)
#: the CopyBatch function's reserved concurrency by default: the Lambda lane's batches at
#: once (Prepare lowers a run's maxConcurrency to it). An account has 1,000 concurrent
#: executions per region by default, fewer in a new account, and reserving leaves at least
#: 100 unreserved ("Configuring reserved concurrency for a function",
#: https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). The
#: original system saw throttling and capacity errors at 80 batches at once and none at 25.
DEFAULT_COPY_RESERVED_CONCURRENCY: Final = 25

#: a general purpose bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting
#: and ending with a letter or digit ("General purpose bucket naming rules",
#: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). Checked
#: so that no name can widen a grant (``*``) or split the comma-separated lists Prepare gets.
BUCKET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: a KMS key ARN, the form S3 requires for another account's key (SSEKMSEncryption's
#: KMSKeyArn pattern:
#: https://docs.aws.amazon.com/AmazonS3/latest/API/API_SSEKMSEncryption.html); an alias or a
#: bare key id cannot name a key in an IAM policy
KMS_KEY_ARN: Final = re.compile(r"arn:aws[a-zA-Z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+")
#: an IAM role or user ARN, the values ``aws:PrincipalArn`` takes for them (for a role
#: session it is the role's ARN, never the session's: "AWS global condition context keys",
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html)
PRINCIPAL_ARN: Final = re.compile(r"arn:aws[a-zA-Z0-9-]*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+")
#: the construct argument / app context value that opts into any bucket outside the account
ANY_BUCKET_FLAG: Final = "allow_any_bucket_outside_this_account"
ANY_BUCKET_CONTEXT: Final = "allowAnyBucketOutsideThisAccount"

#: buckets as given: ``s3.IBucket`` objects (``buckets_from_names`` imports them by name)
Buckets = Sequence[s3.IBucket]
#: principals as given: anything with a role or user (a role, a user, a function, an
#: ``iam.ArnPrincipal``) or the ARN of an IAM role or user
Principals = Sequence[iam.IGrantable | str]
#: KMS keys as given: ``kms.IKey`` objects or key ARNs
Keys = Sequence[kms.IKey | str]


def buckets_from_names(scope: Construct, names: Sequence[str]) -> list[s3.IBucket]:
    """``s3.IBucket`` references to the buckets named ``names``, imported into ``scope``
    (``s3.Bucket.from_bucket_name``, one ``Bucket-<name>`` child per name, reused when the
    same name is imported again: a bucket may be a source and a destination).

    A ``ValueError`` names the first string that is not a bucket name (see ``BUCKET_NAME``).
    """
    if isinstance(names, str):
        raise ValueError(f"give a list of bucket names, not one string: {names!r}")
    buckets: list[s3.IBucket] = []
    for name in names:
        if not isinstance(name, str) or not _is_bucket_name(name):
            raise ValueError(f"not a bucket name: {name!r}")
        construct_id = f"Bucket-{name}"
        existing = scope.node.try_find_child(construct_id)
        buckets.append(
            cast(s3.IBucket, existing)
            if existing is not None
            else s3.Bucket.from_bucket_name(scope, construct_id, name)
        )
    return buckets


@dataclass(frozen=True, kw_only=True)
class StepsS3CopyProps:
    """Everything ``StepsS3Copy`` can be told; each field but the buckets has a safe default.

    Buckets the copy may touch are ``s3.IBucket`` objects (``buckets_from_names`` imports
    buckets by name). They are required: ``None`` is an error unless
    ``allow_any_bucket_outside_this_account`` is set, which grants any bucket outside the
    installing account and, inside it, only the named ones. See ``StepsS3Copy`` and
    ``permissions.py`` for what each choice grants.

    ``writer_role``: a role the deployer manages, used instead of the WriterRole this
    construct would create (see ``StepsS3Copy``). ``dashboard`` and ``alarms`` (on by
    default) create the CloudWatch dashboard and alarms (``monitoring.py``); the alarms
    notify ``alarm_topic`` and ``alarm_actions``.
    """

    inbox_bucket: s3.IBucket | None = None
    topic: sns.ITopic | None = None
    vpc: ec2.IVpc | None = None
    source_buckets: Buckets | None = None
    destination_buckets: Buckets | None = None
    allow_write_to_installed_account: bool = False
    allow_any_bucket_outside_this_account: bool = False
    kms_keys: Keys | None = None
    submitters: Principals | None = None
    writer_role: iam.IRole | None = None
    writer_role_name: str | None = None
    task_cpu: int = 1024
    task_memory_mib: int = 2048
    use_spot: bool = True
    lane_cutoff_bytes: int = 1 * GiB
    jobs_prefix: str = DEFAULT_JOBS_PREFIX
    work_expiry_days: int = 30
    incomplete_upload_expiry_days: int = 7
    lambda_memory_mib: int = 1024
    copy_reserved_concurrency: int | None = DEFAULT_COPY_RESERVED_CONCURRENCY
    state_machine_timeout: Duration | None = None
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    dashboard: bool = True
    alarms: bool = True
    alarm_topic: sns.ITopic | None = None
    alarm_actions: Sequence[cloudwatch.IAlarmAction] | None = None
    image_directory: str | Path | None = None

    def __post_init__(self) -> None:
        # the order the construct has always checked in: the same bad argument is reported
        self._check_task_size()
        self._check_inbox_layout()
        self._check_lambda_and_role()
        self._check_buckets()
        self._check_timeout()
        self._check_monitoring()

    # --- derived values ------------------------------------------------------------------
    @property
    def sources(self) -> list[s3.IBucket] | None:
        """The source buckets; ``None`` when none is named."""
        return None if self.source_buckets is None else list(self.source_buckets)

    @property
    def destinations(self) -> list[s3.IBucket] | None:
        """The destination buckets; ``None`` when none is named."""
        return None if self.destination_buckets is None else list(self.destination_buckets)

    @property
    def alarm_notifications(self) -> list[cloudwatch.IAlarmAction]:
        """Whom the alarms notify: ``alarm_topic`` (an SNS action) and ``alarm_actions``."""
        topic = [] if self.alarm_topic is None else [cloudwatch_actions.SnsAction(self.alarm_topic)]
        return [*topic, *(self.alarm_actions or [])]

    def arguments(self) -> dict[str, Any]:
        """The fields as ``StepsS3Copy``'s keyword arguments (the values themselves)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def any_bucket(self) -> bool:
        """The deployer opted into any bucket outside the installing account."""
        return self.allow_any_bucket_outside_this_account

    @property
    def timeout(self) -> Duration:
        """The execution timeout of the state machine."""
        return self.state_machine_timeout or DEFAULT_STATE_MACHINE_TIMEOUT

    # --- validation ----------------------------------------------------------------------
    def _check_task_size(self) -> None:
        if self.task_cpu not in FARGATE_MEMORY:
            raise ValueError(
                f"task_cpu must be one of {sorted(FARGATE_MEMORY)}, not {self.task_cpu}"
            )
        low, high, step = FARGATE_MEMORY[self.task_cpu]
        if not (low <= self.task_memory_mib <= high and self.task_memory_mib % step == 0):
            raise ValueError(
                f"task_memory_mib for task_cpu={self.task_cpu} must be {low}..{high} in steps "
                f"of {step}, not {self.task_memory_mib}"
            )
        if self.lane_cutoff_bytes < 0:
            raise ValueError(f"lane_cutoff_bytes must be >= 0, not {self.lane_cutoff_bytes}")

    def _check_inbox_layout(self) -> None:
        prefix = self.jobs_prefix
        if (
            not prefix.endswith("/")
            or prefix.startswith("/")
            or "*" in prefix
            or prefix in (DEFAULT_WORK_PREFIX, DEFAULT_REPORTS_PREFIX)
        ):
            raise ValueError(
                f"jobs_prefix must end with '/', not start with '/', contain no '*' and differ "
                f"from {DEFAULT_WORK_PREFIX!r} and {DEFAULT_REPORTS_PREFIX!r}: {prefix!r}"
            )
        if self.work_expiry_days < 1 or self.incomplete_upload_expiry_days < 1:
            raise ValueError("work_expiry_days and incomplete_upload_expiry_days must be >= 1")

    def _check_lambda_and_role(self) -> None:
        low, high = LAMBDA_MEMORY_MIB
        if not low <= self.lambda_memory_mib <= high:
            raise ValueError(
                f"lambda_memory_mib must be {low}..{high}, not {self.lambda_memory_mib}"
            )
        reserved = self.copy_reserved_concurrency
        if reserved is not None and (isinstance(reserved, bool) or reserved < 1):
            raise ValueError(
                f"copy_reserved_concurrency must be >= 1, or None for none, not {reserved!r}"
            )
        name = self.writer_role_name
        if name is not None and self.writer_role is not None:
            raise ValueError(
                "writer_role_name names the writer role this construct creates; with "
                "writer_role (a role you manage) leave it out"
            )
        if name is not None and not (
            0 < len(name) <= ROLE_NAME_MAX_LENGTH
            and all(c.isalnum() or c in ROLE_NAME_PUNCTUATION for c in name)
        ):
            raise ValueError(f"writer_role_name is not a valid IAM role name: {name!r}")

    def _check_buckets(self) -> None:
        missing = []
        for name, context, buckets in (
            ("source_buckets", "sourceBuckets", self.source_buckets),
            ("destination_buckets", "destinationBuckets", self.destination_buckets),
        ):
            if isinstance(buckets, str) or (buckets is not None and len(buckets) == 0):
                raise ValueError(
                    f"{name} must name at least one bucket (a list of s3.IBucket), or be left out"
                )
            for bucket in buckets or []:
                if isinstance(bucket, str):
                    raise ValueError(
                        f"{name}: give s3.IBucket objects, not names ({bucket!r}); "
                        "StepsS3Copy.buckets_from_names(scope, names) imports buckets by name"
                    )
                if not _is_bucket_name(bucket.bucket_name):
                    raise ValueError(f"{name}: not a bucket name: {bucket.bucket_name!r}")
            if buckets is None:
                missing.append((name, context))
        if missing and not self.any_bucket:
            arguments = " and ".join(
                f"{name} (app context: -c {ctx}=<a,b>)" for name, ctx in missing
            )
            raise ValueError(
                f"name the buckets the copy may use: {arguments}. Nothing else is granted; "
                f"to allow any bucket outside this account instead, set {ANY_BUCKET_FLAG}=True "
                f"(app context: -c {ANY_BUCKET_CONTEXT}=true)"
            )
        for key in self.kms_keys or []:
            if isinstance(key, str) and not (
                Token.is_unresolved(key) or KMS_KEY_ARN.fullmatch(key)
            ):
                raise ValueError(f"kms_keys: not a KMS key ARN (arn:aws:kms:...:key/...): {key!r}")
        for principal in self.submitters or []:
            if isinstance(principal, str) and not (
                Token.is_unresolved(principal) or PRINCIPAL_ARN.fullmatch(principal)
            ):
                raise ValueError(f"submitters: not the ARN of an IAM role or user: {principal!r}")

    def _check_timeout(self) -> None:
        shortest, longest = STATE_MACHINE_TIMEOUT_SECONDS
        timeout = self.state_machine_timeout
        if timeout is not None and not shortest <= timeout.to_seconds() <= longest:
            raise ValueError("state_machine_timeout must be between 1 minute and 365 days")

    def _check_monitoring(self) -> None:
        if not self.alarms and (self.alarm_topic is not None or self.alarm_actions):
            raise ValueError(
                "alarm_topic and alarm_actions say whom the alarms notify; with alarms=False "
                "there are none: leave them out, or keep the alarms"
            )


def _is_bucket_name(name: str) -> bool:
    return Token.is_unresolved(name) or (
        BUCKET_NAME.fullmatch(name) is not None and ".." not in name
    )

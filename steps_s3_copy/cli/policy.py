"""The policies the destination account applies so that the writer role can copy into it.

The copy runs in the source (or a tooling) account under one writer role. For a
cross-account copy the destination bucket's owner grants that role what the copy engine
needs, scoped to the bucket (and prefix) and nothing else; if the bucket encrypts with a
customer-managed KMS key, the key policy must allow the role to use the key through S3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_ROLE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?P<name>.+)$"
)
_KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>key|alias)/(?P<id>.+)$"
)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

#: what the copy engine does to destination objects: write (single and multipart), tag,
#: and read back to skip what is already there and to verify what it copied.
OBJECT_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:GetObject",
    "s3:GetObjectAttributes",
    "s3:GetObjectTagging",
)
#: listing finds what is already copied without one HEAD per object; listing the uploads
#: finds the run's incomplete ones to abort them
BUCKET_ACTIONS = ("s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation")
#: the bucket actions ``s3:prefix`` applies to: of BUCKET_ACTIONS, ListBucket only (the
#: Service Authorization Reference, "Actions, resources, and condition keys for Amazon S3",
#: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html,
#: lists no s3:prefix for ListBucketMultipartUploads or GetBucketLocation), so under a prefix
#: those two get a statement without the condition: with it they would never be allowed, a
#: condition key missing from the request being false ("IAM JSON policy elements: Condition
#: operators",
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)
PREFIXED_BUCKET_ACTIONS = ("s3:ListBucket",)
#: SSE-KMS writes need a data key; multipart writes and verification reads need Decrypt
KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class PolicyInputError(ValueError):
    """A role, bucket or key given to ``destination-policy`` is malformed."""


@dataclass(frozen=True)
class WriterRole:
    arn: str
    partition: str
    account: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> WriterRole:
        match = _ROLE_ARN.match(arn)
        if not match:
            raise PolicyInputError(
                f"not an IAM role ARN: {arn!r} (expected arn:aws:iam::<account>:role/<name>)"
            )
        return cls(arn, match["partition"], match["account"], match["name"])

    @classmethod
    def from_parts(cls, account: str, name: str, partition: str = "aws") -> WriterRole:
        return cls.parse(f"arn:{partition}:iam::{account}:role/{name}")


def _check_bucket(bucket: str) -> None:
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise PolicyInputError(f"not a valid S3 bucket name: {bucket!r}")


def _normalise_prefix(prefix: str | None) -> str:
    prefix = (prefix or "").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


def bucket_policy(role: WriterRole, bucket: str, prefix: str | None = None) -> dict[str, Any]:
    """The destination bucket policy statement set granting ``role`` what the copy needs."""
    _check_bucket(bucket)
    prefix = _normalise_prefix(prefix)
    bucket_arn = f"arn:{role.partition}:s3:::{bucket}"
    objects = {
        "Sid": "StepsS3CopyWriteObjects",
        "Effect": "Allow",
        "Principal": {"AWS": role.arn},
        "Action": list(OBJECT_ACTIONS),
        "Resource": f"{bucket_arn}/{prefix}*",
    }
    listing: dict[str, Any] = {
        "Sid": "StepsS3CopyListBucket",
        "Effect": "Allow",
        "Principal": {"AWS": role.arn},
        "Action": list(BUCKET_ACTIONS),
        "Resource": bucket_arn,
    }
    if not prefix:
        return {"Version": "2012-10-17", "Statement": [objects, listing]}
    # ListBucket limited to the prefix; the bucket actions s3:prefix does not apply to, apart
    unconditioned = [a for a in BUCKET_ACTIONS if a not in PREFIXED_BUCKET_ACTIONS]
    listing["Action"] = list(PREFIXED_BUCKET_ACTIONS)
    listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    uploads = {
        "Sid": "StepsS3CopyListUploads",
        "Effect": "Allow",
        "Principal": {"AWS": role.arn},
        "Action": unconditioned,
        "Resource": bucket_arn,
    }
    return {"Version": "2012-10-17", "Statement": [objects, listing, uploads]}


def kms_key_policy_statement(role: WriterRole, key_arn: str, bucket: str) -> dict[str, Any]:
    """The statement to add to the destination KMS key's policy for SSE-KMS writes via S3."""
    match = _KMS_KEY_ARN.match(key_arn)
    if not match:
        raise PolicyInputError(
            f"not a KMS key ARN: {key_arn!r} (expected arn:aws:kms:<region>:<account>:key/<id>)"
        )
    if match["kind"] == "alias":
        raise PolicyInputError("give the key ARN, not an alias: key policies belong to keys")
    region = match["region"]
    return {
        "Sid": "StepsS3CopyUseKeyThroughS3",
        "Effect": "Allow",
        "Principal": {"AWS": role.arn},
        "Action": list(KMS_ACTIONS),
        # In a key policy "*" means this key.
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
            # The object's ARN, or the bucket's when the bucket uses S3 Bucket Keys.
            "StringLike": {
                "kms:EncryptionContext:aws:s3:arn": [
                    f"arn:{role.partition}:s3:::{bucket}",
                    f"arn:{role.partition}:s3:::{bucket}/*",
                ]
            },
        },
    }


def destination_policies(
    role: WriterRole,
    bucket: str,
    *,
    prefix: str | None = None,
    kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """Everything the destination owner applies, as one JSON-ready document."""
    result: dict[str, Any] = {
        "writerRole": role.arn,
        "bucket": bucket,
        "prefix": _normalise_prefix(prefix),
        "bucketPolicy": bucket_policy(role, bucket, prefix),
        "notes": [
            "Merge bucketPolicy's statements into the destination bucket's policy "
            "(aws s3api put-bucket-policy replaces the whole policy).",
            "Set Object Ownership to BucketOwnerEnforced on the destination bucket so that "
            "the destination account owns every copied object.",
            "The writer role also needs the same actions in its own IAM policy: the deployed "
            "stack grants them for the destination buckets it was deployed with "
            "(destinationBuckets), or for any bucket outside its account with "
            "allowAnyBucketOutsideThisAccount.",
        ],
    }
    if kms_key_arn:
        result["kmsKeyPolicyStatement"] = kms_key_policy_statement(role, kms_key_arn, bucket)
        result["notes"].append(
            "Add kmsKeyPolicyStatement to the key policy of the destination KMS key "
            "and name the key as sseKmsKeyId in the sidecar."
        )
    return result

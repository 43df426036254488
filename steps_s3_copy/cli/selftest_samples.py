"""The self test's sample objects: what they are, how they are written, and how a copy is
compared with its source."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from steps_s3_copy.cli.selftest_causes import error_code
from steps_s3_copy.models import MiB

#: the multipart sample's parts: uneven, every one but the last at least S3's 5 MiB
MULTIPART_PARTS = (5 * MiB, 6 * MiB + 1, 3 * 1024 + 7)


@dataclass(frozen=True)
class Sample:
    """One sample object: its key under the run's source prefix and what it must be."""

    name: str
    body: bytes
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: an additional checksum S3 keeps with the object (kept by the copy)
    checksum: str | None = None
    #: part sizes: uploaded as a multipart upload
    parts: tuple[int, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def samples(seed: bytes) -> list[Sample]:
    """The sample objects: small, zero-byte, awkward keys, uneven multipart, tags, metadata."""
    big = hashlib.shake_256(seed).digest(sum(MULTIPART_PARTS))
    return [
        Sample(
            "small.txt",
            b"steps-s3-copy selftest\n",
            content_type="text/plain; charset=utf-8",
            metadata={"purpose": "selftest", "origin": "s3copy"},
            tags={"selftest": "yes", "kind": "small"},
            checksum="SHA256",
        ),
        Sample("empty", b"", tags={"kind": "zero-byte"}),
        Sample("awkward/with space.txt", b"a key with a space\n"),
        Sample("awkward/ünïcødé-日本.txt", "unicode key ✓\n".encode()),
        Sample("awkward/plus+sign.txt", b"plus\n"),
        Sample("awkward/percent%20literal.txt", b"percent, not an escape\n"),
        Sample("awkward/equals=sign&more.txt", b"equals\n", metadata={"note": "a=b&c"}),
        Sample("awkward/comma,in,key.csv", b"a,b\n1,2\n", content_type="text/csv"),
        Sample(
            "multipart.bin",
            big,
            metadata={"purpose": "selftest-multipart"},
            tags={"kind": "multipart"},
            parts=MULTIPART_PARTS,
        ),
    ]


def put_sample(s3: Any, bucket: str, key: str, sample: Sample) -> None:
    """Upload one sample (a multipart upload of its parts when it has parts)."""
    extra: dict[str, Any] = {"ContentType": sample.content_type, "Metadata": sample.metadata}
    if sample.tags:
        extra["Tagging"] = urlencode(sample.tags)
    if not sample.parts:
        if sample.checksum:
            extra["ChecksumAlgorithm"] = sample.checksum
        s3.put_object(Bucket=bucket, Key=key, Body=sample.body, **extra)
        return
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    try:
        parts, offset = [], 0
        for number, size in enumerate(sample.parts, start=1):
            body = sample.body[offset : offset + size]
            offset += size
            etag = s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
            )["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        with contextlib.suppress(ClientError, BotoCoreError):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        raise


def object_facts(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """What S3 says of an object (None when it does not exist)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    tags = s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
    return {
        "size": int(head["ContentLength"]),
        "etag": str(head.get("ETag", "")).strip('"'),
        "contentType": head.get("ContentType"),
        "metadata": dict(head.get("Metadata") or {}),
        "tags": {t["Key"]: t["Value"] for t in tags},
        "checksums": {
            name.removeprefix("Checksum"): value
            for name, value in head.items()
            if name.startswith("Checksum") and name != "ChecksumType" and isinstance(value, str)
        },
        "encryption": head.get("ServerSideEncryption"),
    }


def compare(s3: Any, bucket: str, key: str, sample: Sample, source: dict[str, Any]) -> list[str]:
    """What differs between the copy at ``key`` and its sample (empty: identical)."""
    copy = object_facts(s3, bucket, key)
    if copy is None:
        return ["missing"]
    problems = []
    if copy["size"] != len(sample.body):
        problems.append(f"{copy['size']} bytes, not {len(sample.body)}")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if hashlib.sha256(body).hexdigest() != sample.sha256:
        problems.append("bytes differ (SHA-256)")
    # SSE-KMS ETags are not the content's MD5 and differ between copies of the same bytes
    if copy["etag"] != source["etag"] and "aws:kms" not in (
        copy["encryption"],
        source["encryption"],
    ):
        problems.append(f"ETag {copy['etag']} is not the source's {source['etag']}")
    # a copy keeps the source's checksums ("if the source object has a checksum, that
    # checksum value will be copied to the new object by default":
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)
    for algorithm, value in source["checksums"].items():
        if copy["checksums"].get(algorithm) != value:
            problems.append(f"checksum {algorithm} {copy['checksums'].get(algorithm)} != {value}")
    if copy["metadata"] != source["metadata"]:
        problems.append(f"metadata {copy['metadata']} != {source['metadata']}")
    if copy["contentType"] != source["contentType"]:
        problems.append(f"content type {copy['contentType']} != {source['contentType']}")
    if copy["tags"] != source["tags"]:
        problems.append(f"tags {copy['tags']} != {source['tags']}")
    return problems


def delete_prefix(s3: Any, bucket: str, prefix: str) -> tuple[int, list[str]]:
    """Delete every object (and incomplete upload) under ``prefix``: (deleted, errors)."""
    deleted, errors = 0, list[str]()
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if not keys:
                continue
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            failed = answer.get("Errors", [])
            deleted += len(keys) - len(failed)
            errors.extend(f"s3://{bucket}/{e.get('Key')} ({e.get('Code')})" for e in failed)
        uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
        for upload in uploads:
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    except (ClientError, BotoCoreError) as exc:
        errors.append(f"s3://{bucket}/{prefix} ({error_code(exc)})")
    return deleted, errors

"""What starts a run: the sidecar's event or the original direct input.

An execution's input is either the EventBridge "Object Created" event of a sidecar in the
inbox (parsed with Powertools' ready-made ``S3EventNotificationEventBridgeModel``) or the
original direct input. :func:`job_source` turns either into a :class:`JobSource`: the job's
name and where its manifest (and sidecar) are.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from pydantic import ValidationError

from steps_s3_copy.errors import InputInvalid, Problem
from steps_s3_copy.inbox import (
    DEFAULT_JOBS_PREFIX,
    JSONL_MANIFEST_SUFFIX,
    MANIFEST_SUFFIX,
    SIDECAR_SUFFIX,
)
from steps_s3_copy.s3uri import S3Uri
from steps_s3_copy.sidecar import DirectInput, parse_direct_input


@dataclass(frozen=True, slots=True)
class JobSource:
    """Where a job's manifest is, and how it was asked for."""

    job_name: str
    manifest_bucket: str
    manifest_key: str
    #: the sidecar's location (None for the direct input)
    sidecar_bucket: str | None = None
    sidecar_key: str | None = None
    #: the direct input's options (None when a sidecar is to be read)
    direct: DirectInput | None = None
    #: where else the manifest may be: jobs/<name>.jsonl beside jobs/<name>.csv
    other_manifest_keys: tuple[str, ...] = ()
    #: the sidecar event's identity, None for the direct input: its sequencer (one per
    #: write of a key) and the time the event occurred, which a duplicate delivery of the
    #: same event repeats (S3's EventBridge emulation here gives every event the same
    #: sequencer, so the time tells its writes apart)
    sequencer: str | None = None
    requester: str | None = None

    @property
    def manifest_uri(self) -> str:
        return str(S3Uri(self.manifest_bucket, self.manifest_key))

    @property
    def sidecar_uri(self) -> str | None:
        if self.sidecar_bucket is None:
            return None
        return str(S3Uri(self.sidecar_bucket, self.sidecar_key or ""))

    def with_sidecar_key(self, key: str, jobs_prefix: str) -> JobSource:
        """The same job with the sidecar found at ``key`` (e.g. after URL-decoding)."""
        found = sidecar_job(self.sidecar_bucket or "", key, jobs_prefix)
        return dataclasses.replace(found, sequencer=self.sequencer, requester=self.requester)


def sidecar_job(bucket: str, key: str, jobs_prefix: str = DEFAULT_JOBS_PREFIX) -> JobSource:
    """``jobs/team/a.json`` -> job ``team/a`` with the manifest ``jobs/team/a.csv``."""
    if not key.startswith(jobs_prefix) or not key.endswith(SIDECAR_SUFFIX):
        raise InputInvalid(
            f"s3://{bucket}/{key} is not a sidecar: expected {jobs_prefix}<name>{SIDECAR_SUFFIX}"
        )
    stem = key.removesuffix(SIDECAR_SUFFIX)
    name = stem.removeprefix(jobs_prefix)
    problem = job_name_problem(name)
    if problem:
        raise InputInvalid(f"s3://{bucket}/{key}: the job name {name!r} {problem}")
    return JobSource(
        job_name=name,
        manifest_bucket=bucket,
        manifest_key=stem + MANIFEST_SUFFIX,
        other_manifest_keys=(stem + JSONL_MANIFEST_SUFFIX,),
        sidecar_bucket=bucket,
        sidecar_key=key,
    )


#: path segments a job name may not have: the job's working area uses them for its own
#: files (work/<job>/lock.json, work/<job>/events/), and the writer role may write under
#: work/*/results/ (IAM wildcards cross "/", so a job named ".../results/..." would let the
#: copy write the job's own plan)
RESERVED_JOB_SEGMENTS = frozenset({"results", "events", "lock.json", ".", ".."})
MAX_JOB_NAME_BYTES = 400


def job_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a job, or None."""
    if not name:
        return "is empty"
    if len(name.encode()) > MAX_JOB_NAME_BYTES:
        return f"is longer than {MAX_JOB_NAME_BYTES} bytes"
    if any(not c.isprintable() for c in name):
        return "contains a control character"
    segments = name.split("/")
    if "" in segments:
        return "has an empty path segment ('//' or a leading or trailing '/')"
    reserved = sorted(RESERVED_JOB_SEGMENTS & set(segments))
    if reserved:
        return f"uses the reserved path segment {reserved[0]!r}"
    return None


def direct_job_name(csv_key: str, jobs_prefix: str = DEFAULT_JOBS_PREFIX) -> str:
    """The job name of a direct input: the CSV key's stem (``jobs/<name>.csv`` -> ``<name>``)."""
    for suffix in (MANIFEST_SUFFIX, JSONL_MANIFEST_SUFFIX):
        if csv_key.startswith(jobs_prefix) and csv_key.endswith(suffix):
            name = csv_key.removeprefix(jobs_prefix).removesuffix(suffix)
            if name:
                return name
    return PurePosixPath(csv_key).stem or "job"


def job_source(raw: dict[str, Any], jobs_prefix: str = DEFAULT_JOBS_PREFIX) -> JobSource:
    """Resolve an execution input: the sidecar event or the direct input."""
    if "detail-type" in raw or "detail" in raw:
        try:
            event = S3EventNotificationEventBridgeModel.model_validate(raw)
        except ValidationError as exc:
            problems = [
                Problem(message=e["msg"], field=".".join(str(p) for p in e["loc"]))
                for e in exc.errors()
            ]
            raise InputInvalid("not an S3 Object Created event", problems) from exc
        if event.detail_type != "Object Created" or event.source != "aws.s3":
            raise InputInvalid(f"unexpected event {event.source}/{event.detail_type}")
        job = sidecar_job(event.detail.bucket.name, event.detail.object.key, jobs_prefix)
        identity = None
        if event.detail.object.sequencer:
            when = event.time.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            identity = f"{event.detail.object.sequencer}-{when}"
        return dataclasses.replace(job, sequencer=identity, requester=event.detail.requester)
    if "sourceFilesCsvBucket" in raw or "sourceFilesCsvKey" in raw:
        direct = parse_direct_input(raw)
        name = direct_job_name(direct.source_files_csv_key, jobs_prefix)
        problem = job_name_problem(name)
        if problem:
            raise InputInvalid(f"the job name {name!r} (from sourceFilesCsvKey) {problem}")
        return JobSource(
            job_name=name,
            manifest_bucket=direct.source_files_csv_bucket,
            manifest_key=direct.source_files_csv_key,
            direct=direct,
        )
    raise InputInvalid(
        "the input is neither an S3 Object Created event nor the direct input"
        " {sourceFilesCsvBucket, sourceFilesCsvKey, destinationBucket, maxItemsPerBatch}"
    )


def decoded_key_candidates(key: str) -> list[str]:
    """A key as the event gave it, then URL-decoded (S3 event keys may be URL-encoded)."""
    decoded = unquote_plus(key)
    return [key] if decoded == key else [key, decoded]

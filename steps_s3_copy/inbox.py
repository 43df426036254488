"""The inbox bucket's layout, shared by the deployed stack, the steps, the local runner
and the CLI: where jobs are dropped, where each run works, where reports go.

A job is two objects under the jobs prefix: ``jobs/<name>.csv`` (the manifest) and
``jobs/<name>.json`` (the sidecar). The sidecar's arrival starts the run, so it is
uploaded second. Each run works under ``work/<job>/<run-id>/`` and, unless the sidecar
names another place, reports under ``reports/<job>/<run-id>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steps_s3_copy.models import RunLocation
from steps_s3_copy.s3uri import S3Uri

DEFAULT_JOBS_PREFIX = "jobs/"
DEFAULT_WORK_PREFIX = "work/"
DEFAULT_REPORTS_PREFIX = "reports/"
SIDECAR_SUFFIX = ".json"
MANIFEST_SUFFIX = ".csv"
#: the original system's copy instructions, one JSON object per line
JSONL_MANIFEST_SUFFIX = ".jsonl"


@dataclass(frozen=True, slots=True)
class InboxLayout:
    """Where one deployment keeps jobs, working areas and reports in its inbox bucket."""

    bucket: str
    jobs_prefix: str = DEFAULT_JOBS_PREFIX
    work_prefix: str = DEFAULT_WORK_PREFIX
    reports_prefix: str = DEFAULT_REPORTS_PREFIX

    def job_keys(self, name: str, *, jsonl: bool = False) -> tuple[str, str]:
        """The (manifest, sidecar) keys of job ``name`` (a JSON Lines manifest: ``.jsonl``)."""
        return job_keys(name, self.jobs_prefix, jsonl=jsonl)

    def submit(
        self,
        s3: Any,
        name: str,
        *,
        manifest: bytes | Path,
        sidecar: bytes | Path,
        jsonl: bool = False,
    ) -> tuple[str, str]:
        """Upload job ``name``: the manifest, then the sidecar, whose arrival starts a run.

        A manifest of the other form left by an earlier submission is deleted first (a job
        has one manifest: Prepare refuses two).
        """
        manifest_key, sidecar_key = self.job_keys(name, jsonl=jsonl)
        other_key, _ = self.job_keys(name, jsonl=not jsonl)
        s3.delete_object(Bucket=self.bucket, Key=other_key)
        for key, body, content_type in (
            (manifest_key, manifest, "application/x-ndjson" if jsonl else "text/csv"),
            (sidecar_key, sidecar, "application/json"),
        ):
            if isinstance(body, Path):
                s3.upload_file(str(body), self.bucket, key, ExtraArgs={"ContentType": content_type})
            else:
                s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return manifest_key, sidecar_key

    def work(self, job_name: str, run_id: str) -> RunLocation:
        """The working area of one run."""
        return RunLocation(bucket=self.bucket, prefix=f"{self.work_prefix}{job_name}/{run_id}/")

    def lock_key(self, job_name: str) -> str:
        """The job's lock: which execution is running it (docs/architecture.md)."""
        return f"{self.work_prefix}{job_name}/lock.json"

    def event_key(self, job_name: str, sequencer: str) -> str:
        """The marker of one sidecar event: a second delivery of it finds the marker."""
        return f"{self.work_prefix}{job_name}/events/{sequencer}"

    def report_uri(self, job_name: str, run_id: str) -> S3Uri:
        """The default report location of one run (a prefix ending in ``/``)."""
        return S3Uri(self.bucket, f"{self.reports_prefix}{job_name}/{run_id}/")


def sidecar_event_pattern(
    bucket_name: str, jobs_prefix: str = DEFAULT_JOBS_PREFIX
) -> dict[str, Any]:
    """The EventBridge pattern matching a sidecar landing in the inbox.

    The deployed rule (infra) and the local emulator's rule both use this pattern.
    """
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket_name]},
            "object": {"key": [{"wildcard": f"{jobs_prefix}*{SIDECAR_SUFFIX}"}]},
        },
    }


def job_keys(
    name: str, jobs_prefix: str = DEFAULT_JOBS_PREFIX, *, jsonl: bool = False
) -> tuple[str, str]:
    """The (manifest, sidecar) keys of job ``name``."""
    stem = f"{jobs_prefix}{name}"
    suffix = JSONL_MANIFEST_SUFFIX if jsonl else MANIFEST_SUFFIX
    return f"{stem}{suffix}", f"{stem}{SIDECAR_SUFFIX}"


def job_name_of(sidecar_key: str, jobs_prefix: str = DEFAULT_JOBS_PREFIX) -> str:
    """``jobs/team/run-1.json`` -> ``team/run-1``."""
    name = sidecar_key.removeprefix(jobs_prefix)
    return name.removesuffix(SIDECAR_SUFFIX)

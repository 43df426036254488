"""The inbox convention, shared by the deployed rule, the local runner and ``s3copy submit``.

A job is two objects under the jobs prefix of the inbox bucket: ``jobs/<name>.csv`` (the
manifest) and ``jobs/<name>.json`` (the sidecar). The sidecar's arrival starts the run, so
it is uploaded second.
"""

from __future__ import annotations

from typing import Any

DEFAULT_JOBS_PREFIX = "jobs/"
SIDECAR_SUFFIX = ".json"
MANIFEST_SUFFIX = ".csv"


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


def job_keys(name: str, jobs_prefix: str = DEFAULT_JOBS_PREFIX) -> tuple[str, str]:
    """The (manifest, sidecar) keys of job ``name``."""
    stem = f"{jobs_prefix}{name}"
    return f"{stem}{MANIFEST_SUFFIX}", f"{stem}{SIDECAR_SUFFIX}"


def job_name_of(sidecar_key: str, jobs_prefix: str = DEFAULT_JOBS_PREFIX) -> str:
    """``jobs/team/run-1.json`` -> ``team/run-1``."""
    name = sidecar_key.removeprefix(jobs_prefix)
    return name.removesuffix(SIDECAR_SUFFIX)

"""Offline checks of a manifest and its sidecar: the very checks Prepare runs first
(``steps_s3_copy.validation``), on two local files."""

from __future__ import annotations

from pathlib import Path

from steps_s3_copy.manifest import is_jsonl
from steps_s3_copy.validation import Boundaries, JobCheck, check_job


def check_files(
    manifest: Path, sidecar: Path, *, boundaries: Boundaries | None = None, keep: int = 1000
) -> JobCheck:
    with manifest.open("rb") as raw:
        return check_job(
            sidecar.read_bytes(),
            raw,
            where=str(sidecar),
            boundaries=boundaries,
            keep=keep,
            jsonl=is_jsonl(manifest.name),
        )

"""Offline checks of a manifest and its sidecar: the very checks Prepare runs first."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steps_s3_copy.errors import Problem
from steps_s3_copy.manifest import ManifestRow
from steps_s3_copy.sidecar import Sidecar
from steps_s3_copy.validation import Boundaries, check_job


@dataclass
class CheckResult:
    """Everything wrong with a manifest and a sidecar, or the parsed sidecar and rows."""

    sidecar: Sidecar | None = None
    rows: list[ManifestRow] = field(default_factory=list)
    sidecar_problems: list[Problem] = field(default_factory=list)
    manifest_problems: list[Problem] = field(default_factory=list)
    manifest_problem_total: int = 0

    @property
    def ok(self) -> bool:
        return not self.sidecar_problems and not self.manifest_problem_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "rows": len(self.rows),
            "prefixRows": sum(1 for r in self.rows if r.is_prefix),
            "sidecarProblems": [p.to_dict() for p in self.sidecar_problems],
            "manifestProblems": [p.to_dict() for p in self.manifest_problems],
            "manifestProblemTotal": self.manifest_problem_total,
        }


def check_files(
    manifest: Path, sidecar: Path, *, boundaries: Boundaries | None = None, keep: int = 1000
) -> CheckResult:
    """Every offline check Prepare runs (``steps_s3_copy.validation``), on two local files."""
    with manifest.open("rb") as raw:
        checked = check_job(
            sidecar.read_bytes(), raw, where=str(sidecar), boundaries=boundaries, keep=keep
        )
    return CheckResult(
        sidecar=checked.sidecar,
        rows=checked.rows,
        sidecar_problems=checked.sidecar_problems,
        manifest_problems=checked.manifest_problems,
        manifest_problem_total=checked.manifest_problem_total,
    )

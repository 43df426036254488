"""Offline checks of a manifest and its sidecar, through the same parsers Prepare uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steps_s3_copy.errors import Problem, Problems, StepsS3CopyError
from steps_s3_copy.manifest import ManifestReader, ManifestRow, text_lines
from steps_s3_copy.sidecar import Sidecar, parse_sidecar


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


def check_sidecar_text(data: bytes, where: str) -> tuple[Sidecar | None, list[Problem]]:
    try:
        return parse_sidecar(data, where=where), []
    except StepsS3CopyError as exc:
        return None, exc.problems or [Problem(message=exc.message, code=exc.error_name)]


def check_files(manifest: Path, sidecar: Path, *, keep: int = 1000) -> CheckResult:
    result = CheckResult()
    result.sidecar, result.sidecar_problems = check_sidecar_text(sidecar.read_bytes(), str(sidecar))
    problems = Problems(keep=keep)
    reader = ManifestReader(problems)
    rows: list[ManifestRow] = []
    with manifest.open("rb") as raw:
        try:
            rows.extend(reader.read(text_lines(raw)))
        except UnicodeDecodeError as exc:
            # As Prepare reports it: one problem, the rows read so far are kept.
            problems.add(f"the manifest is not UTF-8 text ({exc.reason})", row=None)
    result.rows = rows
    result.manifest_problems = sorted(problems.items, key=lambda p: (p.row is None, p.row or 0))
    result.manifest_problem_total = problems.total
    return result

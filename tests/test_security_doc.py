"""Every test docs/security.md names exists: the page maps each finding of the security
review (issue 8) to its tests, and a renamed or deleted test must not drop out silently.

The names are checked against what pytest collects from the files the page names (in a
subprocess, collection only: nothing runs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "security.md"
#: `tests/<path>.py::test_name` or `...::test_name[case-id]`, in backticks
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)(\[[^\]`]+\])?`")


def referenced() -> list[tuple[str, str, str]]:
    return [(m[1], m[2], m[3] or "") for m in REFERENCE.finditer(PAGE.read_text())]


def collected(files: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def missing(references: list[tuple[str, str, str]], ids: set[str]) -> list[str]:
    """The references no collected test answers: ``file::name[case]`` must be collected as
    is; ``file::name`` may be a test or a parametrized one (any of its cases)."""
    absent = []
    for path, name, case in references:
        node = f"{path}::{name}"
        if case:
            found = f"{node}{case}" in ids
        else:
            found = node in ids or any(i.startswith(f"{node}[") for i in ids)
        if not found:
            absent.append(f"{node}{case}")
    return absent


def test_the_checker_finds_a_missing_name_and_a_missing_case() -> None:
    ids = {"tests/a.py::test_x", "tests/a.py::test_p[one]"}
    references = [
        ("tests/a.py", "test_x", ""),
        ("tests/a.py", "test_p", ""),
        ("tests/a.py", "test_p", "[one]"),
        ("tests/a.py", "test_p", "[two]"),
        ("tests/a.py", "test_gone", ""),
        ("tests/b.py", "test_x", ""),
    ]
    assert missing(references, ids) == [
        "tests/a.py::test_p[two]",
        "tests/a.py::test_gone",
        "tests/b.py::test_x",
    ]


def test_every_test_docs_security_names_exists() -> None:
    references = referenced()
    # every finding of issue 8 is mapped (seven sections), with tests
    headings = re.findall(r"^## (\d)\. ", PAGE.read_text(), re.MULTILINE)
    assert headings == [str(n) for n in range(1, 8)]
    assert len(references) >= 40
    files = sorted({path for path, _, _ in references})
    for path in files:
        assert (ROOT / path).is_file(), path
    assert missing(references, collected(files)) == []

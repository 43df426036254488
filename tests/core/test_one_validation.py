"""`s3copy validate` and Prepare run one validation: for every bad input that needs no AWS
call, both report the same problems (row, field and message), through the same code."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steps_s3_copy.cli import app
from steps_s3_copy.errors import ManifestInvalid, SidecarInvalid
from steps_s3_copy.validation import check_job
from tests.core.conftest import World, run_prepare
from tests.core.test_bad_inputs import CASES, Case

#: cases whose verdict needs AWS (listing a prefix) or a Prepare-only setting
NEEDS_AWS = {"too-many-rows", "prefix-expanding-past-the-row-limit"}
OFFLINE = [
    c
    for c in CASES
    if c.error in (ManifestInvalid, SidecarInvalid) and c.csv is not None and c.id not in NEEDS_AWS
]

Triple = tuple[int | None, str | None, str]


def _ordered(triples: list[Triple]) -> list[Triple]:
    return sorted(triples, key=lambda t: (t[0] is None, t[0] or 0, t[1] or "", t[2]))


def _text(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode()


def _prepare_problems(world: World, case: Case) -> list[Triple]:
    world.put("src-bucket", "exists.txt", b"1")
    world.put("src-bucket", "other.txt", b"2")
    event = world.job("bad", case.csv, case.sidecar)
    with pytest.raises(case.error) as info:
        run_prepare(
            event, run_id="r", s3=world.s3, settings=replace(world.settings, **case.settings)
        )
    body = json.loads(str(info.value))
    listed = [(p["row"], p["field"], p["message"]) for p in body["problems"]]
    return _ordered(listed) or [(None, None, body["message"])]


@pytest.mark.parametrize("case", OFFLINE, ids=[c.id for c in OFFLINE])
def test_validate_and_prepare_report_the_same_problems(world: World, case: Case) -> None:
    settings = replace(world.settings, **case.settings)
    checked = check_job(
        _text(case.sidecar),
        io.BytesIO(_text(case.csv)),
        where="s3://inbox/jobs/bad.json",
        boundaries=settings.boundaries,
    )
    problems = (
        checked.sidecar_problems if case.error is SidecarInvalid else checked.manifest_problems
    )
    offline = _ordered([(p.row, p.field, p.message) for p in problems])
    assert not checked.ok
    assert offline == _prepare_problems(world, case)


def test_the_cli_runs_the_same_checks(tmp_path: Path) -> None:
    """`s3copy validate` (no deployment given) reports a case's problems with their rows."""
    manifest = tmp_path / "m.csv"
    sidecar = tmp_path / "m.json"
    manifest.write_bytes(b"bucket,key,notes\nsrc-bucket,a\x00b\nsrc-bucket,caf\xe9\n")
    sidecar.write_text(json.dumps({"destinationBucket": "dst-bucket"}))
    result = CliRunner().invoke(app, ["validate", str(manifest), str(sidecar), "--json"])
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    listed = [(p["row"], p["field"]) for p in report["manifestProblems"]]
    assert listed == [(1, "notes"), (2, "key"), (3, None)]

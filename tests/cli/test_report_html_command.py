"""``s3copy report JOB --html FILE``: the run's report.html, downloaded, for runs of the
local pipeline on the moto server (found with ``--inbox``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steps_s3_copy.cli import app
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.local.pipeline import EmbeddedPipeline
from steps_s3_copy.s3uri import S3Uri
from tests.cli.conftest import example

pytestmark = pytest.mark.slow

PARTIAL = (
    b"bucket,key,size\n"
    b"example-source-bucket,runs/2024-06/README.txt,1234\n"
    b"example-source-bucket,runs/2024-06/_SUCCESS,7\n"
)


def report(runner: CliRunner, pipeline: EmbeddedPipeline, job: str, *extra: str):
    return runner.invoke(
        app,
        [
            "report",
            job,
            "--inbox",
            pipeline.stack.inbox_bucket,
            "--endpoint-url",
            pipeline.stack.endpoint_url,
            *extra,
        ],
        env={"COLUMNS": "200"},
    )


def test_html_writes_the_runs_report_html(
    runner: CliRunner, pipeline: EmbeddedPipeline, tmp_path: Path
) -> None:
    pipeline.submit("partial", PARTIAL, example("example.json"))
    run = pipeline.run_next(timeout=15)
    assert run.status == "PARTIAL"
    uri = S3Uri.parse(run.notice["reportHtmlUri"])
    stored = pipeline.s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()

    result = report(runner, pipeline, "partial", "--html", str(target))

    assert result.exit_code == ExitCode.PARTIAL, result.output
    assert target.read_bytes() == stored
    page = target.read_text()
    assert "runs/2024-06/_SUCCESS" in page  # the failed object is listed
    assert 'data-stat="status">PARTIAL<' in page
    assert f"report.html written to {target}" in result.stdout
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]

    as_json = report(runner, pipeline, "partial", "--html", str(tmp_path / "again.html"), "--json")
    assert as_json.exit_code == ExitCode.PARTIAL, as_json.output
    body = json.loads(as_json.stdout)
    assert body["reportHtml"] == run.notice["reportHtmlUri"]
    assert body["htmlFile"] == str(tmp_path / "again.html")
    assert (tmp_path / "again.html").read_bytes() == stored


def test_without_html_the_notice_names_report_html(
    runner: CliRunner, pipeline: EmbeddedPipeline
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    run = pipeline.run_next(timeout=15)
    result = report(runner, pipeline, "example", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["reportHtml"] == run.notice["reportHtmlUri"]
    assert body["reportHtml"].endswith("/report.html")
    assert body["htmlFile"] is None
    shown = report(runner, pipeline, "example")
    assert run.notice["reportHtmlUri"] in shown.stdout


def test_a_failed_prepare_has_no_report_html(
    runner: CliRunner, pipeline: EmbeddedPipeline, tmp_path: Path
) -> None:
    pipeline.submit("broken", b"bucket,key\nexample-source-bucket,\n", example("example.json"))
    assert pipeline.run_next(timeout=15).status == "FAILED"
    target = tmp_path / "report.html"

    result = report(runner, pipeline, "broken", "--html", str(target))

    assert result.exit_code == ExitCode.AWS_ERROR, result.output
    message = " ".join(result.stderr.split())  # rich wraps long lines
    assert "has no report.html" in message
    assert "a run whose Prepare failed write none" in message
    assert not target.exists()


def test_a_missing_report_html_is_a_clear_error_and_leaves_no_file(
    runner: CliRunner, pipeline: EmbeddedPipeline, tmp_path: Path
) -> None:
    pipeline.submit("example", example("example.csv"), example("example.json"))
    run = pipeline.run_next(timeout=15)
    uri = S3Uri.parse(run.notice["reportHtmlUri"])
    pipeline.s3.delete_object(Bucket=uri.bucket, Key=uri.key)  # as a run from before it
    target = tmp_path / "report.html"

    result = report(runner, pipeline, "example", "--html", str(target))

    assert result.exit_code == ExitCode.AWS_ERROR, result.output
    assert f"{uri} does not exist" in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []

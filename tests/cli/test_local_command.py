"""`s3copy local` through the CLI runner: the embedded demo and the direct (S3-only) mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steps_s3_copy.cli import app
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.local import demo
from steps_s3_copy.observability import logger
from tests.cli.conftest import EXAMPLES, destination_keys
from tests.conftest import client

pytestmark = pytest.mark.slow


def test_local_demo_runs_end_to_end_on_its_own_emulator(runner: CliRunner) -> None:
    level = logger.log_level
    result = runner.invoke(app, ["local", "--demo", "--json"])
    assert logger.log_level == level, "the service logger is restored after the run"
    assert result.exit_code == 0, result.output
    notice = json.loads(result.stdout)
    assert notice["status"] == "SUCCEEDED"
    assert notice["counts"] == {"copied": 12, "skipped": 0, "failed": 0}
    assert notice["reportUri"].endswith("/report.csv")


def test_local_without_arguments_is_the_demo_with_tables(runner: CliRunner) -> None:
    result = runner.invoke(app, ["local"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "SUCCEEDED" in out
    assert "notice" in out
    assert "report (12 objects)" in out
    assert "runs/2024-06/large/sample-A.bam" in out
    assert "report: s3://s3copy-inbox/reports/example/" in out


def test_local_demo_on_a_named_emulator(runner: CliRunner, moto_server: str) -> None:
    result = runner.invoke(app, ["local", "--demo", "--endpoint-url", moto_server, "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "SUCCEEDED"
    s3 = client("s3", moto_server)
    assert len(destination_keys(s3)) == 12


@pytest.fixture
def seeded(moto_server: str) -> Any:
    s3 = client("s3", moto_server)
    demo.seed(s3)
    return s3


def test_direct_mode_with_a_work_bucket(runner: CliRunner, moto_server: str, seeded: Any) -> None:
    seeded.create_bucket(Bucket="my-work-bucket")
    args = [
        "local",
        str(EXAMPLES / "example.csv"),
        str(EXAMPLES / "example.json"),
        "--endpoint-url",
        moto_server,
        "--work-bucket",
        "my-work-bucket",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    notice = json.loads(result.stdout)
    assert notice["status"] == "SUCCEEDED"
    assert notice["counts"]["copied"] == 12
    assert notice["reportUri"].startswith("s3://my-work-bucket/reports/example/")
    assert notice["work"]["bucket"] == "my-work-bucket"
    assert len(destination_keys(seeded)) == 12

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["counts"] == {"copied": 0, "skipped": 12, "failed": 0}


def test_direct_mode_defaults_to_the_destination_bucket(
    runner: CliRunner, moto_server: str, seeded: Any
) -> None:
    result = runner.invoke(
        app,
        [
            "local",
            str(EXAMPLES / "example.csv"),
            str(EXAMPLES / "example.json"),
            "--endpoint-url",
            moto_server,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    notice = json.loads(result.stdout)
    assert notice["reportUri"].startswith(
        f"s3://{demo.DESTINATION_BUCKET}/.steps-s3-copy/reports/example/"
    )
    assert notice["work"]["prefix"].startswith(".steps-s3-copy/work/example/")
    # The copied objects are exactly the manifest's: nothing of ours under incoming/.
    assert len(destination_keys(seeded)) == 12

    # `report` finds the run in the destination bucket's .steps-s3-copy/ working area.
    report = runner.invoke(
        app,
        [
            "report",
            "example",
            "--inbox",
            demo.DESTINATION_BUCKET,
            "--work-prefix",
            ".steps-s3-copy/work/",
            "--endpoint-url",
            moto_server,
            "--json",
        ],
    )
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["reportCsv"] == notice["reportUri"]


def test_direct_mode_partial_exits_3(
    runner: CliRunner, moto_server: str, seeded: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "partial.csv"
    manifest.write_text(
        "bucket,key,size\n"
        "example-source-bucket,runs/2024-06/README.txt,1234\n"
        "example-source-bucket,runs/2024-06/_SUCCESS,7\n",  # the object is 0 bytes
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        [
            "local",
            str(manifest),
            str(EXAMPLES / "example.json"),
            "--endpoint-url",
            moto_server,
            "--json",
        ],
    )
    assert result.exit_code == ExitCode.PARTIAL, result.output
    notice = json.loads(result.stdout)
    assert notice["status"] == "PARTIAL"
    assert notice["counts"] == {"copied": 1, "skipped": 0, "failed": 1}


def test_direct_mode_bad_manifest_exits_1_with_rows(
    runner: CliRunner, moto_server: str, seeded: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text(
        "example-source-bucket,runs/2024-06/README.txt\nexample-source-bucket\n", encoding="utf-8"
    )
    result = runner.invoke(
        app,
        ["local", str(manifest), str(EXAMPLES / "example.json"), "--endpoint-url", moto_server],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "FAILED" in result.stdout
    assert "ManifestInvalid" in result.stdout
    assert "problems (1)" in result.stdout


def test_local_needs_both_files(runner: CliRunner) -> None:
    result = runner.invoke(app, ["local", str(EXAMPLES / "example.csv")])
    assert result.exit_code == ExitCode.USAGE


def test_plan_sizes_sources_from_s3(runner: CliRunner, moto_server: str, seeded: Any) -> None:
    result = runner.invoke(
        app,
        [
            "plan",
            str(EXAMPLES / "example.csv"),
            str(EXAMPLES / "example.json"),
            "--size-from-s3",
            "--endpoint-url",
            moto_server,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout)["estimate"]
    assert estimate["objects"] == 12
    assert estimate["bytes"] == sum(o.size for o in demo.DEMO_OBJECTS)
    # The same batches Prepare makes for the demo (its notice's "planned"): the small
    # objects, the archived one in a Lambda batch of its own, the 6 MiB object on Fargate.
    assert estimate["batches"] == {"lambda": 2, "fargate": 1}
    assert estimate["archivedObjects"] == 1


def test_report_shows_how_each_object_was_copied(runner: CliRunner) -> None:
    result = runner.invoke(app, ["local", "--demo"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    large = next(line for line in result.stdout.splitlines() if "sample-A.bam" in line)
    assert "multipart" in large


def test_direct_mode_with_a_missing_work_bucket_is_an_aws_error(
    runner: CliRunner, moto_server: str, seeded: Any
) -> None:
    result = runner.invoke(
        app,
        [
            "local",
            str(EXAMPLES / "example.csv"),
            str(EXAMPLES / "example.json"),
            "--endpoint-url",
            moto_server,
            "--work-bucket",
            "no-such-bucket",
        ],
    )
    assert result.exit_code == ExitCode.AWS_ERROR, result.output
    assert "NoSuchBucket" in result.stderr


def test_a_long_report_shows_its_first_rows(
    runner: CliRunner, moto_server: str, seeded: Any, tmp_path: Path
) -> None:
    for i in range(30):
        seeded.put_object(Bucket=demo.SOURCE_BUCKET, Key=f"many/{i:03d}.txt", Body=b"x" * i)
    manifest = tmp_path / "many.csv"
    manifest.write_text("example-source-bucket,many/*\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["local", str(manifest), str(EXAMPLES / "example.json"), "--endpoint-url", moto_server],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "report (30 objects)" in result.stdout
    assert "... 5 more rows in the report" in result.stdout

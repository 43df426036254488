"""validate, plan and destination-policy through the CLI runner: offline, no AWS at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.core
from typer.testing import CliRunner

from steps_s3_copy.cli import app
from steps_s3_copy.cli.exit_codes import ExitCode, for_status
from steps_s3_copy.cli.options import AwsOptions, RegionOpt, flatten
from steps_s3_copy.manifest import HEADER_NAMES
from steps_s3_copy.sidecar import Sidecar
from tests.cli.conftest import EXAMPLES


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "submit",
        "watch",
        "report",
        "validate",
        "plan",
        "destination-policy",
        "local",
    ):
        assert command in result.stdout
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0, command
        assert "Usage" in sub.stdout


def test_an_unknown_option_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--no-such-option"])
    assert result.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("name", ["example", "full"])
def test_the_examples_are_valid(runner: CliRunner, name: str) -> None:
    result = runner.invoke(
        app, ["validate", str(EXAMPLES / f"{name}.csv"), str(EXAMPLES / f"{name}.json"), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["valid"] is True
    assert body["rows"] == (10 if name == "example" else 8)
    assert body["prefixRows"] == 1


def test_full_example_uses_every_column_and_sidecar_field() -> None:
    header = (EXAMPLES / "full.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {HEADER_NAMES[h] for h in header} == set(HEADER_NAMES.values()) - {"source"}
    fields = json.loads((EXAMPLES / "full.json").read_text())
    assert set(fields) == {f.alias for f in Sidecar.model_fields.values()}


def test_validate_lists_every_problem_with_its_row(runner: CliRunner, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text(
        "bucket,key,size\n"
        "good-bucket,a.txt,10\n"
        "Bad_Bucket!,b.txt,10\n"
        "good-bucket,c.txt,ten\n"
        "good-bucket,,1\n",
        encoding="utf-8",
    )
    sidecar = tmp_path / "bad.json"
    sidecar.write_text('{"destinationBucket": "dest-bucket", "colour": "blue"}')

    result = runner.invoke(app, ["validate", str(manifest), str(sidecar), "--json"])

    assert result.exit_code == ExitCode.INVALID
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert [p["row"] for p in body["manifestProblems"]] == [3, 4, 5]
    assert body["sidecarProblems"][0]["field"] == "colour"

    human = runner.invoke(app, ["validate", str(manifest), str(sidecar)])
    assert human.exit_code == 4
    assert "unknown field 'colour'" in human.stdout
    assert "ten" in human.stdout


def test_plan_prices_the_full_example(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "plan",
            str(EXAMPLES / "full.csv"),
            str(EXAMPLES / "full.json"),
            "--assume-size",
            str(20 * 1024**3),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    estimate = body["estimate"]
    assert estimate["objects"] == 8
    # Two rows had no size (one plain, one prefix/*): assumed 20 GiB each -> Fargate lane.
    assert body["rowsWithAssumedSize"] == 2
    assert estimate["batches"]["fargate"] >= 1
    assert estimate["multipartObjects"] == 2
    # 20 GiB in 256 MiB parts: 80 UploadPartCopy each, plus Create and Complete.
    requests = estimate["requests"]
    assert requests["uploadPartCopy"] == 160
    assert requests["createMultipartUpload"] == requests["completeMultipartUpload"] == 2
    assert requests["copyObject"] == 6
    assert estimate["totalCost"] > 0
    prices = body["pricesAssumed"]
    assert prices["s3PutCopyPostListPer1000"]["value"] == 0.005
    assert prices["s3GetHeadOtherPer1000"]["value"] == 0.0004
    assert prices["s3PutCopyPostListPer1000"]["source"].startswith("https://aws.amazon.com/s3/")


def test_plan_prints_the_prices_it_assumed(runner: CliRunner, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "".join(f"src-bucket,k{i},,{(i + 1) * 1024**2}\n" for i in range(100)), encoding="utf-8"
    )
    sidecar = tmp_path / "s.json"
    sidecar.write_text('{"destinationBucket": "dst-bucket", "maxItemsPerBatch": 10}')
    result = runner.invoke(app, ["plan", str(manifest), str(sidecar)])
    assert result.exit_code == 0, result.output
    assert "batches per lane" in result.stdout
    assert "assumed" in result.stdout
    assert "0.005" in result.stdout
    as_json = json.loads(runner.invoke(app, ["plan", str(manifest), str(sidecar), "--json"]).stdout)
    assert as_json["estimate"]["batches"] == {"lambda": 1, "fargate": 0}
    assert as_json["estimate"]["requests"]["copyObject"] == 100


def test_plan_without_sizes_says_which_rows(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["plan", str(EXAMPLES / "example.csv"), str(EXAMPLES / "example.json")]
    )
    assert result.exit_code == ExitCode.INVALID
    assert "no size" in result.stderr
    assert "--size-from-s3" in result.stderr


ROLE = "arn:aws:iam::111122223333:role/steps-s3-copy-writer"


def test_destination_policy_is_valid_json_and_scoped(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "destination-policy",
            "--writer-role-arn",
            ROLE,
            "--bucket",
            "dest-bucket",
            "--prefix",
            "incoming",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    policy = document["bucketPolicy"]
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Principal"] == {"AWS": ROLE}
        assert statement["Effect"] == "Allow"
        assert "*" not in statement["Action"]
        assert statement["Resource"] in (
            "arn:aws:s3:::dest-bucket",
            "arn:aws:s3:::dest-bucket/incoming/*",
        )
    objects, listing, uploads = policy["Statement"]
    assert [objects["Sid"], listing["Sid"], uploads["Sid"]] == [
        "StepsS3CopyWriteObjects",
        "StepsS3CopyListBucket",
        "StepsS3CopyListUploads",
    ]
    # s3:prefix limits ListBucket only: the actions it does not apply to are apart, without
    # the condition (with it they would never be allowed)
    assert listing["Action"] == ["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*"]}}
    assert uploads["Action"] == ["s3:ListBucketMultipartUploads", "s3:GetBucketLocation"]
    assert "Condition" not in uploads
    assert {"s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"} <= set(
        objects["Action"]
    )
    assert "s3:DeleteObject" not in objects["Action"]
    assert "kmsKeyPolicyStatement" not in document


def test_destination_policy_with_kms_and_role_parts(runner: CliRunner) -> None:
    key = "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    result = runner.invoke(
        app,
        [
            "destination-policy",
            "--account",
            "111122223333",
            "--role-name",
            "steps-s3-copy-writer",
            "--bucket",
            "dest-bucket",
            "--kms-key-arn",
            key,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    statement = json.loads(result.stdout)["kmsKeyPolicyStatement"]
    assert statement["Principal"] == {"AWS": ROLE}
    assert set(statement["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"
    assert statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [
        "arn:aws:s3:::dest-bucket",
        "arn:aws:s3:::dest-bucket/*",
    ]

    only = runner.invoke(
        app,
        [
            "destination-policy",
            "--writer-role-arn",
            ROLE,
            "--bucket",
            "dest-bucket",
            "--bucket-policy-only",
        ],
    )
    assert only.exit_code == 0
    assert json.loads(only.stdout)["Statement"][0]["Resource"] == "arn:aws:s3:::dest-bucket/*"

    human = runner.invoke(
        app,
        [
            "destination-policy",
            "--writer-role-arn",
            ROLE,
            "--bucket",
            "dest-bucket",
            "--kms-key-arn",
            key,
        ],
    )
    assert human.exit_code == 0
    assert "Bucket policy" in human.stdout
    assert "KMS key policy statement" in human.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--writer-role-arn", "arn:aws:iam::123:user/bob", "--bucket", "dest-bucket"],
        ["--writer-role-arn", ROLE, "--bucket", "Not_A_Bucket!"],
        ["--writer-role-arn", ROLE, "--bucket", "dest-bucket", "--kms-key-arn", "alias/x"],
        ["--bucket", "dest-bucket"],
    ],
)
def test_destination_policy_rejects_bad_input(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, ["destination-policy", *args])
    assert result.exit_code == ExitCode.USAGE
    assert "error" in result.stderr


def test_exit_codes_are_stable() -> None:
    """Scripts rely on these numbers (docs/cli.md): changing one is a breaking change."""
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "USAGE": 2,
        "PARTIAL": 3,
        "INVALID": 4,
        "AWS_ERROR": 5,
        "TIMEOUT": 6,
        "INTERRUPTED": 130,
    }
    assert for_status("SUCCEEDED") == 0
    assert for_status("PARTIAL") == 3
    for status in ("FAILED", "ABORTED", "TIMED_OUT"):
        assert for_status(status) == 1


def test_validate_reports_a_manifest_that_is_not_utf8(runner: CliRunner, tmp_path: Path) -> None:
    manifest = tmp_path / "latin1.csv"
    manifest.write_bytes("src-bucket,caf\u00e9.txt\n".encode("latin-1"))
    result = runner.invoke(
        app, ["validate", str(manifest), str(EXAMPLES / "example.json"), "--json"]
    )
    assert result.exit_code == ExitCode.INVALID
    assert "not UTF-8" in json.loads(result.stdout)["manifestProblems"][0]["message"]


#: options that keep their own meaning in one command (docs/cli.md says why)
OWN_MEANING = {
    ("local", "--endpoint-url"),  # the moto server with --demo; no environment variable
    ("local", "--json"),  # only the notice
    ("local", "--timeout"),  # waiting for the sidecar's event, not for a run
    ("destination-policy", "--stack"),  # the writer role from the stack
}


def test_an_option_means_the_same_in_every_command() -> None:
    """Shared options are declared once (steps_s3_copy/cli/options.py): the same flag has
    the same help, default and environment variable wherever it appears."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    seen: dict[str, tuple[str, tuple[object, ...]]] = {}
    shared = set()
    for name, command in group.commands.items():
        for param in command.params:
            if not isinstance(param, typer.core.TyperOption):
                continue
            for flag in param.opts:
                if (name, flag) in OWN_MEANING:
                    continue
                meaning = (param.help, param.default, param.envvar, param.min, param.is_flag)
                if flag in seen:
                    shared.add(flag)
                    assert meaning == seen[flag][1], f"{flag} in {name} and {seen[flag][0]}"
                else:
                    seen[flag] = (name, meaning)
    # The AWS options and the run's location are shared by several commands.
    assert {"--endpoint-url", "--region", "--profile", "--json", "--inbox", "--stack"} <= shared
    assert {"--jobs-prefix", "--work-prefix", "--state-machine-arn"} <= shared


def test_an_option_group_cannot_reuse_a_name() -> None:
    def clash(region: RegionOpt = None, *, aws: AwsOptions) -> None:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="region"):
        flatten(clash)


def _loaded_after(args: list[str], modules: set[str]) -> str:
    """Which of ``modules`` a fresh interpreter has loaded after ``s3copy ARGS``."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from steps_s3_copy.cli import app\n"
        f"assert CliRunner().invoke(app, {args!r}).exit_code == 0\n"
        f"wanted = {sorted(modules)!r}\n"
        "print(sorted(m for m in sys.modules if m in wanted or m.split('.')[0] in wanted))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_the_command_line_starts_without_the_emulator() -> None:
    """moto is slow to import: only `s3copy local` loads it."""
    assert _loaded_after(["--help"], {"moto"}) == "[]"


def test_the_command_line_loads_the_planner_and_the_selftest_only_for_their_commands() -> None:
    """Every command starts with the app: the price list, the planner and the selftest are
    loaded by `plan` and `selftest` alone, not by `s3copy local` (docs/performance.md)."""
    heavy = {"steps_s3_copy.cli.pricing", "steps_s3_copy.cli.planner", "steps_s3_copy.cli.selftest"}
    assert _loaded_after(["local", "--help"], heavy) == "[]"

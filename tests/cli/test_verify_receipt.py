"""``s3copy verify-receipt`` on receipts written by ``s3copy local`` (issue 12, section 3):
a receipt verifies; after one destination object is overwritten it names exactly that
object; the recipient's checks (--destination-only, --sha256, --signature, --json) and the
exit codes (0 all match, 1 differences, 2 not a readable receipt)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steps_s3_copy.cli import app
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.local import demo
from tests.cli.conftest import EXAMPLES
from tests.conftest import _SlowHandler, client, relay

pytestmark = pytest.mark.slow

OVERWRITTEN = "incoming/runs/2024-06/sample-A_R1.fastq.gz"


def _local_demo(runner: CliRunner, endpoint: str) -> dict[str, Any]:
    result = runner.invoke(app, ["local", "--demo", "--endpoint-url", endpoint, "--json"])
    assert result.exit_code == 0, result.output
    notice: dict[str, Any] = json.loads(result.stdout)
    assert notice["delivered"] is True
    return notice


def _verify(runner: CliRunner, endpoint: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["verify-receipt", *args, "--endpoint-url", endpoint, "--json"])
    return result.exit_code, json.loads(result.stdout)


def _uris(found: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(d["side"], d["uri"], d["what"]) for d in found["differences"]]


class _Recording(_SlowHandler):
    """Forwards to moto; remembers every request as (method, path, query)."""

    seen: list[tuple[str, str, str]] = []

    def _relay(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        self.seen.append((self.command, urllib.parse.unquote(parts.path), parts.query))
        super()._relay()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay  # noqa: N815


@pytest.fixture
def recording(moto_server: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    seen: list[tuple[str, str, str]] = []
    with relay(_Recording, upstream=moto_server, seen=seen) as url:
        yield url, seen


def test_a_local_runs_receipt_verifies_and_then_names_the_one_object_overwritten(
    runner: CliRunner,
    moto_server: str,
    recording: tuple[str, list[tuple[str, str, str]]],
) -> None:
    notice = _local_demo(runner, moto_server)
    receipt = f"{notice['deliveryUri']}receipt.jsonl"
    sha256 = notice["receipt"]["sha256"]

    # through a relay that sees every request: HEAD and GetObjectAttributes only
    endpoint, seen = recording
    code, found = _verify(runner, endpoint, receipt, "--sha256", sha256)
    assert code == ExitCode.OK, found
    assert found["differences"] == []
    summary = found["summary"]
    assert (summary["objects"], summary["matched"], summary["differing"]) == (12, 12, 0)
    assert (summary["sha256"], summary["sha256Matches"], summary["ok"]) == (sha256, True, True)
    receipt_path = "/" + receipt.removeprefix("s3://")
    reads = [(path, query) for method, path, query in seen if method == "GET"]
    assert (receipt_path, "") in reads
    data_reads = [
        (path, query)
        for path, query in reads
        if path != receipt_path
        and not path.endswith("/receipt.sig.json")
        and "attributes" not in query
    ]
    assert data_reads == [], "no object's data is read"
    heads = {path for method, path, _ in seen if method == "HEAD"}
    assert len(heads) == 24  # each object on both sides
    assert f"/{demo.DESTINATION_BUCKET}/{OVERWRITTEN}" in heads

    # the recipient's copy of one object is overwritten (same size, other bytes)
    s3 = client("s3", moto_server)
    old = s3.head_object(Bucket=demo.DESTINATION_BUCKET, Key=OVERWRITTEN)
    s3.put_object(Bucket=demo.DESTINATION_BUCKET, Key=OVERWRITTEN, Body=b"?" * old["ContentLength"])
    code, found = _verify(runner, moto_server, receipt, "--sha256", sha256)
    assert code == ExitCode.FAILED
    uri = f"s3://{demo.DESTINATION_BUCKET}/{OVERWRITTEN}"
    assert {(side, named) for side, named, _ in _uris(found)} == {("destination", uri)}
    assert "etag" in {what for _, _, what in _uris(found)}
    summary = found["summary"]
    assert (summary["objects"], summary["matched"], summary["differing"]) == (12, 11, 1)
    assert summary["sha256Matches"] is True  # the receipt itself is untouched

    # the same in the words a person reads: one DIFFERS line per difference, all of it
    result = runner.invoke(app, ["verify-receipt", receipt, "--endpoint-url", moto_server])
    assert result.exit_code == ExitCode.FAILED
    differs = [line for line in result.stdout.splitlines() if line.startswith("DIFFERS")]
    assert differs, result.stdout
    assert all(f"destination {uri}: " in line for line in differs), differs
    assert "11 match, 1 differ" in result.stdout


def test_destination_only_checks_no_source_and_a_local_copy_of_the_receipt_verifies(
    runner: CliRunner, moto_server: str, tmp_path: Path
) -> None:
    notice = _local_demo(runner, moto_server)
    s3 = client("s3", moto_server)
    bucket, _, prefix = notice["deliveryUri"].removeprefix("s3://").partition("/")
    local = tmp_path / "receipt.jsonl"
    local.write_bytes(s3.get_object(Bucket=bucket, Key=f"{prefix}receipt.jsonl")["Body"].read())
    # the source is gone (or not readable by the recipient)
    source = "runs/2024-06/README.txt"
    s3.delete_object(Bucket=demo.SOURCE_BUCKET, Key=source)

    code, found = _verify(runner, moto_server, str(local))
    assert code == ExitCode.FAILED
    assert _uris(found) == [("source", f"s3://{demo.SOURCE_BUCKET}/{source}", "missing")]

    code, found = _verify(runner, moto_server, str(local), "--destination-only")
    assert code == ExitCode.OK, found
    assert found["summary"]["destinationOnly"] is True
    assert found["summary"]["matched"] == 12


def test_a_receipt_that_is_not_the_one_announced_differs(
    runner: CliRunner, moto_server: str, tmp_path: Path
) -> None:
    notice = _local_demo(runner, moto_server)
    receipt = f"{notice['deliveryUri']}receipt.jsonl"
    code, found = _verify(runner, moto_server, receipt, "--sha256", "0" * 64)
    assert code == ExitCode.FAILED
    assert _uris(found) == [("receipt", None, "sha256")]
    assert found["summary"]["sha256Matches"] is False

    # a line taken out: its end line no longer counts what it lists
    s3 = client("s3", moto_server)
    bucket, _, prefix = notice["deliveryUri"].removeprefix("s3://").partition("/")
    lines = s3.get_object(Bucket=bucket, Key=f"{prefix}receipt.jsonl")["Body"].read()
    shorter = tmp_path / "receipt.jsonl"
    header, _first, *rest = lines.splitlines(keepends=True)
    shorter.write_bytes(header + b"".join(rest))
    code, found = _verify(runner, moto_server, str(shorter))
    assert code == ExitCode.FAILED
    assert _uris(found) == [("receipt", None, "count")]
    assert found["summary"]["objects"] == 11


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "cannot read"),
        (b"not json\n", "line 1 is not JSON"),
        (b'{"v": 1, "type": "object"}\n', "not a steps-s3-copy receipt header"),
        (b'{"v": 2, "type": "header", "service": "steps-s3-copy"}\n', "receipt version 2"),
        (b"", "the receipt is empty"),
    ],
)
def test_what_is_not_a_readable_receipt_exits_2(
    runner: CliRunner, moto_server: str, tmp_path: Path, content: bytes | None, error: str
) -> None:
    path = tmp_path / "receipt.jsonl"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["verify-receipt", str(path), "--endpoint-url", moto_server])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert error in result.output
    code, found = _verify(runner, moto_server, str(path))
    assert code == ExitCode.USAGE
    assert error in found["error"]


def test_a_signed_receipt_verifies_and_a_signature_of_another_receipt_does_not(
    runner: CliRunner, moto_server: str, tmp_path: Path, kms_digest: None
) -> None:
    s3 = client("s3", moto_server)
    demo.seed(s3)
    kms = client("kms", moto_server)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    sidecar = json.loads((EXAMPLES / "example.json").read_text())
    signed = tmp_path / "example.json"
    signed.write_text(json.dumps({**sidecar, "receiptSigningKeyId": key}))
    args = ["local", str(EXAMPLES / "example.csv"), str(signed), "--endpoint-url", moto_server]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    notice = json.loads(result.stdout)
    assert notice["receipt"]["signature"]["keyId"] == key
    receipt = f"{notice['deliveryUri']}receipt.jsonl"

    # receipt.sig.json beside the delivered receipt is found and checked with KMS
    code, found = _verify(runner, moto_server, receipt, "--destination-only")
    assert code == ExitCode.OK, found
    assert (found["summary"]["signature"], found["summary"]["signatureKey"]) == ("valid", key)

    # a second run's receipt differs (everything SKIPPED): the first run's signature is not its
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    other = tmp_path / "receipt.sig.json"
    bucket, _, prefix = notice["deliveryUri"].removeprefix("s3://").partition("/")
    other.write_bytes(s3.get_object(Bucket=bucket, Key=f"{prefix}receipt.sig.json")["Body"].read())
    code, found = _verify(
        runner,
        moto_server,
        f"{second['deliveryUri']}receipt.jsonl",
        "--destination-only",
        "--signature",
        str(other),
    )
    assert code == ExitCode.FAILED
    assert _uris(found) == [("receipt", None, "signature")]
    assert found["summary"]["signature"] == "invalid"
    assert "not the one that was signed" in found["differences"][0]["detail"]


def test_recorded_versions_checks_the_copies_a_versioned_destination_still_keeps(
    runner: CliRunner, moto_server: str
) -> None:
    s3 = client("s3", moto_server)
    demo.seed(s3)
    s3.put_bucket_versioning(
        Bucket=demo.DESTINATION_BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    args = ["local", str(EXAMPLES / "example.csv"), str(EXAMPLES / "example.json")]
    result = runner.invoke(app, [*args, "--endpoint-url", moto_server, "--json"])
    assert result.exit_code == 0, result.output
    receipt = f"{json.loads(result.stdout)['deliveryUri']}receipt.jsonl"
    s3.put_object(Bucket=demo.DESTINATION_BUCKET, Key=OVERWRITTEN, Body=b"newer")

    # as it is now: the object differs, its version too
    code, found = _verify(runner, moto_server, receipt, "--destination-only")
    assert code == ExitCode.FAILED
    uri = f"s3://{demo.DESTINATION_BUCKET}/{OVERWRITTEN}"
    assert {(side, named) for side, named, _ in _uris(found)} == {("destination", uri)}
    assert {"size", "etag", "version"} <= {what for _, _, what in _uris(found)}
    # the versions the receipt recorded are all still there, unchanged
    code, found = _verify(runner, moto_server, receipt, "--destination-only", "--recorded-versions")
    assert code == ExitCode.OK, found
    assert found["summary"]["matched"] == 12

    # unsigned: fine, unless a signature is required
    assert found["summary"]["signature"] == "absent"
    code, found = _verify(
        runner, moto_server, receipt, "--recorded-versions", "--require-signature"
    )
    assert code == ExitCode.FAILED
    assert _uris(found) == [("receipt", None, "signature")]
    assert found["differences"][0]["detail"] == "no signature was found"

"""``s3copy verify-receipt``: what the receiving account runs on a delivered receipt
(:mod:`steps_s3_copy.verify_receipt`)."""

# Typer commands take their options as parameters: one per option, by design.
# ruff: noqa: PLR0917

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from steps_s3_copy.cli.common import console, err_console, fail
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.cli.options import AwsOptions, JsonOpt
from steps_s3_copy.s3uri import S3Uri
from steps_s3_copy.verify_receipt import (
    Difference,
    ReceiptSource,
    ReceiptUnreadableError,
    Summary,
    VerificationError,
    Verifier,
    read_location,
)

Sha256 = Annotated[
    str | None,
    typer.Option(
        "--sha256",
        metavar="HEX",
        help="The receipt's SHA-256 as the notice gave it: the receipt must have it.",
    ),
]


def verify_receipt(
    receipt: Annotated[
        str,
        typer.Argument(
            help="The receipt: a local receipt.jsonl or its s3:// URI "
            "(<destinationPrefix>.steps-s3-copy/runs/<job>/<run-id>/receipt.jsonl).",
        ),
    ],
    destination_only: Annotated[
        bool,
        typer.Option(
            "--destination-only",
            help="Check the destination only (the recipient cannot read the source).",
        ),
    ] = False,
    recorded_versions: Annotated[
        bool,
        typer.Option(
            "--recorded-versions",
            help="Check the destination versions the receipt recorded, not the current ones.",
        ),
    ] = False,
    sha256: Sha256 = None,
    signature: Annotated[
        str | None,
        typer.Option(
            "--signature",
            metavar="FILE",
            help="The receipt's signature (default: receipt.sig.json beside the receipt).",
        ),
    ] = None,
    require_signature: Annotated[
        bool,
        typer.Option("--require-signature", help="A receipt without a signature differs."),
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="Objects checked at once.")
    ] = 32,
    *,
    aws: AwsOptions,
    as_json: JsonOpt = False,
) -> None:
    """Check a receipt against S3: every object it lists, with HEAD and
    GetObjectAttributes only (no object's data is read), and the receipt's own SHA-256 and
    KMS signature.

    Each difference is printed as it is found (the side, the object, what differs), then a
    summary. Exit 0 when everything matches, 1 when anything differs (or the signature is
    invalid), 2 when the receipt cannot be read or is not a receipt, 5 when AWS cannot be
    reached or the signature cannot be checked.
    """
    session = aws.connect()
    s3 = session.client("s3")
    source = ReceiptSource(receipt, s3)
    stream = _JsonStream() if as_json else None
    verifier = Verifier(
        s3=s3,
        kms=session.client("kms"),
        destination_only=destination_only,
        recorded_versions=recorded_versions,
        concurrency=concurrency,
        expected_sha256=sha256,
        on_difference=stream.difference if stream else _print_difference,
    )
    try:
        given = _signature_file(signature, s3) if signature else None
        summary = verifier.run(source, signature=given, require_signature=require_signature)
    except ReceiptUnreadableError as exc:
        if stream:
            stream.abort(f"{receipt}: {exc}")
        fail(f"{receipt}: {exc}", ExitCode.USAGE)
    except VerificationError as exc:
        if stream:
            stream.abort(str(exc))
        fail(str(exc), ExitCode.AWS_ERROR)
    if stream:
        stream.close(summary)
    else:
        _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(int(ExitCode.FAILED))
    if summary.signature == "unchecked":
        raise typer.Exit(int(ExitCode.AWS_ERROR))
    raise typer.Exit(int(ExitCode.OK))


def _signature_file(location: str, s3: object) -> bytes:
    if location.startswith("s3://"):
        data = read_location(S3Uri.parse(location, need_key=True), s3)
        assert data is not None
        return data
    try:
        return Path(location).read_bytes()
    except OSError as exc:
        raise ReceiptUnreadableError(f"cannot read the signature {location}: {exc}") from exc


def _print_difference(difference: Difference) -> None:
    # one line per difference, however long (grep-able: never wrapped at the terminal's width)
    console.print(f"[red]DIFFERS[/] {escape(difference.text())}", soft_wrap=True)


def _print_summary(summary: Summary) -> None:
    header = summary.header
    sides = "the destination" if summary.destination_only else "the destination and the source"
    console.print(
        f"receipt of {escape(str(header.get('job')))} run {escape(str(header.get('runId')))}: "
        f"{summary.objects:,} objects checked against {sides}: {summary.matched:,} match, "
        f"{summary.differing:,} differ ({summary.differences:,} differences)"
    )
    compared = {True: "matches --sha256", False: "does NOT match --sha256", None: "not compared"}
    console.print(f"sha256 {summary.sha256} ({compared[summary.sha256_matches]})")
    if summary.signature == "absent":
        console.print("signature: none found")
    else:
        detail = f": {summary.signature_detail}" if summary.signature_detail else ""
        console.print(
            f"signature: {summary.signature} (key {escape(str(summary.signature_key))})"
            f"{escape(detail)}"
        )
    if not summary.ok:
        err_console.print("[red]the receipt does not match[/]")


class _JsonStream:
    """``{"differences": [...], "summary": {...}}`` written as it goes (one JSON document,
    however many differences); ``{"differences": [...], "error": "..."}`` when the receipt
    turns out unreadable on the way."""

    def __init__(self) -> None:
        self.opened = False

    def _open(self) -> str:
        if self.opened:
            return ","
        self.opened = True
        sys.stdout.write('{"differences": [')
        return ""

    def difference(self, difference: Difference) -> None:
        sys.stdout.write(f"{self._open()}\n  {json.dumps(difference.to_dict())}")

    def close(self, summary: Summary) -> None:
        self._open()
        sys.stdout.write(f'\n], "summary": {json.dumps(summary.to_dict())}}}\n')
        sys.stdout.flush()

    def abort(self, error: str) -> None:
        self._open()
        sys.stdout.write(f'\n], "error": {json.dumps(error)}}}\n')
        sys.stdout.flush()

"""``s3copy validate`` and ``s3copy plan``: a job's two files checked and priced before it
runs, with the parsers and the planner Prepare uses (no AWS call unless ``plan
--size-from-s3``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from steps_s3_copy.cli import render
from steps_s3_copy.cli.checks import check_files
from steps_s3_copy.cli.common import aws_errors, console, err_console, fail, print_json
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.cli.options import AwsOptions, JsonOpt, ManifestArg, SidecarArg
from steps_s3_copy.manifest import ManifestRow
from steps_s3_copy.sidecar import Sidecar


def validate(manifest: ManifestArg, sidecar: SidecarArg, as_json: JsonOpt = False) -> None:
    """Check a manifest and its sidecar offline, listing every problem with its row.

    Exit 0 when both are valid, 4 when anything is wrong.
    """
    result = check_files(manifest, sidecar)
    if as_json:
        print_json(result.to_dict())
    else:
        render.check_result(console, result, manifest, sidecar)
    raise typer.Exit(int(ExitCode.OK if result.ok else ExitCode.INVALID))


def checked_or_exit(manifest: Path, sidecar: Path) -> tuple[list[ManifestRow], Sidecar]:
    """The manifest's rows and the sidecar, both valid; else every problem on stderr and
    exit 4."""
    checked = check_files(manifest, sidecar)
    if not checked.ok or checked.sidecar is None:
        render.check_result(err_console, checked, manifest, sidecar)
        raise typer.Exit(int(ExitCode.INVALID))
    return checked.rows, checked.sidecar


def plan(
    manifest: ManifestArg,
    sidecar: SidecarArg,
    assume_size: Annotated[
        int | None,
        typer.Option(
            "--assume-size",
            min=0,
            help="Bytes to assume for rows without a size column (and prefix/* rows).",
        ),
    ] = None,
    size_from_s3: Annotated[
        bool,
        typer.Option(
            "--size-from-s3",
            help="Size rows without a size (and expand prefix/* rows) by listing the sources.",
        ),
    ] = False,
    lane_cutoff: Annotated[
        int | None,
        typer.Option(
            "--lane-cutoff",
            min=0,
            help="Objects above this many bytes go to Fargate (default: the sidecar's, or 1 GiB).",
        ),
    ] = None,
    *,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            exists=True,
            dir_okay=False,
            help="CPU figures measured by ./dev bench calibrate (default: the shipped ones).",
        ),
    ] = None,
    aws: AwsOptions,
    as_json: JsonOpt = False,
) -> None:
    """Batches per lane, requests by step, time, compute and an estimated cost in dollars.

    The batches are the ones Prepare would make (the same planner and copy model); the
    requests, time and cost are the engine's and the state machine's. Sizes come from the
    manifest's size column; rows without one are sized from S3 with --size-from-s3, or
    taken as --assume-size. Every price, assumption and calibrated figure is printed with
    where it comes from. Exit 0, or 4 when the input is invalid or sizes are missing.
    """
    # the planner and its price list load only for this command (s3copy local starts faster)
    from steps_s3_copy.cli.planner import SizingError, plan_files  # noqa: PLC0415

    rows, settings = checked_or_exit(manifest, sidecar)
    s3 = aws.connect().client("s3") if size_from_s3 else None
    try:
        with aws_errors("sizing the sources"):
            planned = plan_files(
                rows,
                settings,
                s3=s3,
                assume_size=assume_size,
                lane_cutoff=lane_cutoff,
                calibration_file=calibration,
            )
    except SizingError as exc:
        fail(str(exc), ExitCode.INVALID)
    except ValueError as exc:  # a calibration file that is not one
        fail(f"--calibration: {exc}", ExitCode.INVALID)
    if as_json:
        print_json(planned.to_dict())
    else:
        render.plan(console, planned)

"""``s3copy local``: the whole pipeline on this machine (what it does:
:mod:`steps_s3_copy.cli.local_run`, imported when the command runs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from steps_s3_copy.cli.options import OptionGroup, ProfileOpt, RegionOpt


def _job_file(what: str, example: str) -> Any:
    return typer.Argument(
        help=f"The {what} (default with --demo: manifests-example/{example}).",
        exists=True,
        dir_okay=False,
    )


@dataclasses.dataclass(frozen=True)
class LocalOptions(OptionGroup):
    """Every option of ``s3copy local``."""

    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Embedded emulator with demo source objects (the default with no files).",
        ),
    ] = False
    # Not the shared --endpoint-url: another meaning with --demo, and no environment variable.
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="Run against this S3-compatible endpoint (S3 only) instead of the emulator; "
            "with --demo, the moto server to use as the emulator.",
        ),
    ] = None
    work_bucket: Annotated[
        str | None,
        typer.Option(
            "--work-bucket",
            help="Bucket for the job files, working area and report when not embedded "
            "(default: the destination bucket, under .steps-s3-copy/).",
        ),
    ] = None
    job: Annotated[
        str | None, typer.Option("--job", help="Job name (default: the sidecar's file name).")
    ] = None
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, help="Seconds to wait for the sidecar's event."),
    ] = 30.0
    region: RegionOpt = None
    profile: ProfileOpt = None
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")] = False
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="Embedded: keep the emulator up after the run (until Ctrl-C) to look around.",
        ),
    ] = False
    # Not the shared --json: only the notice is printed.
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the notice as JSON (nothing else on stdout).")
    ] = False


def local(
    manifest: Annotated[Path | None, _job_file("manifest CSV", "example.csv")] = None,
    sidecar: Annotated[Path | None, _job_file("sidecar JSON", "example.json")] = None,
    *,
    options: LocalOptions,
) -> None:
    """Run the whole pipeline on this machine, with the same code as the Lambdas and container.

    With no files (or --demo) an embedded AWS emulator on 127.0.0.1 provides S3,
    EventBridge, SQS and SNS: the sidecar lands in the inbox, the event reaches the runner
    through a rule and a queue, and the notice comes back through SNS. With MANIFEST SIDECAR
    and --endpoint-url (or real AWS without it) only S3 is used and the notice is printed.
    Exit 0 SUCCEEDED, 3 PARTIAL, 1 FAILED, 6 when the event never arrives, 130 on Ctrl-C.
    """
    # Imported on use: moto is slow to import and only `local` needs it.
    from steps_s3_copy.cli import local_run  # noqa: PLC0415

    raise typer.Exit(int(local_run.run(manifest, sidecar, options)))

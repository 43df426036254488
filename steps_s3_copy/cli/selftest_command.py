"""``s3copy selftest``: is this deployment working? (what it checks:
:mod:`steps_s3_copy.cli.selftest`)."""

# Typer commands take their options as parameters: one per option, by design.

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from steps_s3_copy.cli.common import console, err_console, print_json
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.cli.options import AwsOptions, JsonOpt, OptionGroup, StackOpt, WaitStartOpt

if TYPE_CHECKING:
    from steps_s3_copy.cli.selftest import Check, SelfTestResult, Target

MARKS = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[dim]-[/]"}
#: the widest check name, for the columns
_WIDTH = len("scratch bucket")


@dataclasses.dataclass(frozen=True)
class SelftestOptions(OptionGroup):
    """Every option of ``s3copy selftest`` but the AWS ones."""

    stack: StackOpt = None
    scratch_bucket: Annotated[
        str | None,
        typer.Option(
            "--scratch-bucket",
            help="A bucket you own in the stack's region that the stack may read and write "
            "(its sourceBuckets and destinationBuckets); the test uses a unique prefix in it "
            "and removes what it wrote. With --local: created in the emulator.",
        ),
    ] = None
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Test the embedded emulator's pipeline (what `s3copy local` runs) instead; "
            "--endpoint-url then names a moto server to use as the emulator.",
        ),
    ] = False
    run_timeout: Annotated[
        float,
        typer.Option(
            "--run-timeout", min=1, help="Seconds a run may take before it is stopped and fails."
        ),
    ] = 1800.0
    wait_start: WaitStartOpt = 60.0
    notice_timeout: Annotated[
        float,
        typer.Option(
            "--notice-timeout", min=0, help="Seconds to wait for the notice once a run ended."
        ),
    ] = 120.0
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="--local: the pipeline's logs on stderr.")
    ] = False
    as_json: JsonOpt = False


def selftest(*, options: SelftestOptions, aws: AwsOptions) -> None:
    """Check that a deployment works end to end: sample objects copied through the inbox,
    followed, verified, skipped when submitted again, and everything removed.

    Creates a handful of sample objects under a unique prefix of the scratch bucket (small,
    zero-byte, awkward keys, an uneven multipart object, tags and metadata), submits them
    as a job, follows the run, checks the notice arrives on the topic (through a temporary
    SQS queue it subscribes), checks every copy (bytes, metadata, tags), submits again to
    see every object skipped, then removes everything it created. Each check is printed
    with ✓ or ✗ and, when it fails, the likely cause. Exit 0 when every check passed, 1 when
    one failed, 2 on a usage error, 130 on Ctrl-C (after the cleanup).
    """
    try:
        code = run(options, aws)
    except KeyboardInterrupt:  # the cleanup has run (it always does)
        err_console.print("interrupted")
        code = ExitCode.INTERRUPTED
    raise typer.Exit(int(code))


def run(
    options: SelftestOptions,
    aws: AwsOptions,
    *,
    on_check: Callable[[Check], None] | None = None,
    out: Console | None = None,
) -> ExitCode:
    """The command, as an API: ``on_check`` sees each check as it ends (after it is shown)."""
    out = out or console
    target, bucket = _target(options, aws)
    show = _printer(out, enabled=not options.as_json)

    def each(check: Check) -> None:
        show(check)
        if on_check is not None:
            on_check(check)

    if not options.as_json:
        where = "the embedded emulator" if options.local else f"stack {options.stack}"
        out.print(f"s3copy selftest of {where}, scratch bucket s3://{escape(bucket)}")
    from steps_s3_copy.cli.selftest import SelfTest  # noqa: PLC0415 - only this command needs it

    test = SelfTest(
        target, scratch_bucket=bucket, notice_timeout_seconds=options.notice_timeout, on_check=each
    )
    result = test.run()
    if options.as_json:
        print_json(result.to_json())
    else:
        _summary(out, result)
    return ExitCode.OK if result.ok else ExitCode.FAILED


def _target(options: SelftestOptions, aws: AwsOptions) -> tuple[Target, str]:
    if options.local == bool(options.stack):
        err_console.print("[red]error:[/] give --stack NAME --scratch-bucket BUCKET, or --local")
        raise typer.Exit(int(ExitCode.USAGE))
    if options.local:
        from steps_s3_copy.cli.selftest_local import (  # noqa: PLC0415 - moto on demand
            DEFAULT_SCRATCH_BUCKET,
            LocalTarget,
        )

        bucket = options.scratch_bucket or DEFAULT_SCRATCH_BUCKET
        local = LocalTarget(
            scratch_bucket=bucket,
            endpoint_url=aws.endpoint_url,
            run_timeout_seconds=max(options.wait_start, 1.0),
            verbose=options.verbose,
        )
        return local, bucket
    if not options.scratch_bucket:
        err_console.print(
            "[red]error:[/] give --scratch-bucket BUCKET: a bucket of yours in the stack's "
            "region that the stack may read and write"
        )
        raise typer.Exit(int(ExitCode.USAGE))
    from steps_s3_copy.cli.selftest import DeployedTarget  # noqa: PLC0415

    assert options.stack is not None
    deployed = DeployedTarget(
        aws.connect(),
        options.stack,
        wait_start_seconds=options.wait_start,
        run_timeout_seconds=options.run_timeout,
    )
    return deployed, options.scratch_bucket


def _printer(out: Console, *, enabled: bool) -> Callable[[Check], None]:
    def show(check: Check) -> None:
        if not enabled:
            return
        name = check.name.ljust(_WIDTH)
        timing = f"{check.seconds:5.1f} s" if check.status != "skipped" else " " * 7
        out.print(f"{MARKS[check.status]} {name} [dim]{timing}[/]  {escape(check.detail)}")
        if check.status == "failed":
            indent = " " * (_WIDTH + 11)
            out.print(f"{indent}likely cause: [bold]{check.cause}[/]")
            if check.hint:
                out.print(f"{indent}{escape(check.hint)}")

    return show


def _summary(out: Console, result: SelfTestResult) -> None:
    passed = sum(1 for c in result.checks if c.status == "passed")
    if result.ok:
        out.print(
            f"[bold green]selftest passed[/]: {passed} checks in {result.seconds:.1f} s "
            f"(job {escape(result.job)})"
        )
        return
    failures = ", ".join(f"{c.name} ({c.cause})" for c in result.failed)
    out.print(
        f"[bold red]selftest FAILED[/]: {escape(failures)}; {passed} of {len(result.checks)} "
        f"checks passed in {result.seconds:.1f} s (job {escape(result.job)})"
    )

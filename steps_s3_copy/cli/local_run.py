"""What ``s3copy local`` does: the embedded pipeline (demo) or a direct run against an
endpoint, with its progress and outcome on the terminal.

Imported only when ``local`` runs (by :mod:`steps_s3_copy.cli.local_command`): the
emulator's moto is slow to import.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from steps_s3_copy.cli import render, run_files
from steps_s3_copy.cli.checks import check_files
from steps_s3_copy.cli.common import aws, console, err_console, print_json
from steps_s3_copy.cli.exit_codes import ExitCode, for_status
from steps_s3_copy.cli.local_command import LocalOptions
from steps_s3_copy.cli.progress import RunProgress
from steps_s3_copy.inbox import job_name_of
from steps_s3_copy.local import demo as demo_data
from steps_s3_copy.local.emulator import Emulator
from steps_s3_copy.local.pipeline import (
    SHARED_BUCKET_PREFIX,
    DirectTarget,
    EmbeddedPipeline,
    EventNotReceivedError,
    LocalRun,
    run_direct,
)
from steps_s3_copy.local.runner import LOCAL_GRACE_SECONDS
from steps_s3_copy.manifest import is_jsonl
from steps_s3_copy.models import RunLocation
from steps_s3_copy.observability import logger, metrics_output

#: report rows printed after a run (the rest are in the CSV)
REPORT_ROWS_SHOWN = 25


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the time of writing (it is swapped in tests)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def service_logs(verbose: bool = False) -> Iterator[None]:
    """While a local run lasts, the pipeline's JSON logs go to stderr, warnings only unless
    ``verbose`` (stdout is for the CLI's own output), and so do its metric (EMF) lines,
    only when ``verbose``; restored afterwards."""
    level = logger.log_level
    streams = [
        (handler, handler.stream)
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler)
    ]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    for handler, _ in streams:
        handler.setStream(_CurrentStderr())
    try:
        with metrics_output(_CurrentStderr() if verbose else None):
            yield
    finally:
        logger.setLevel(level)
        for handler, stream in streams:
            handler.setStream(stream)


def _progress_adapter(bar: RunProgress) -> Any:
    return bar.update


@dataclass(frozen=True)
class _Job:
    """One ``s3copy local`` run: its files and options, and where it shows progress."""

    manifest: Path
    sidecar: Path
    name: str
    options: LocalOptions
    quiet: bool
    out: Console
    bar: RunProgress
    stop: threading.Event

    def read(self) -> tuple[bytes, bytes]:
        return self.manifest.read_bytes(), self.sidecar.read_bytes()


def run(
    manifest: Path | None,
    sidecar: Path | None,
    options: LocalOptions,
    *,
    verbose: bool = False,
) -> ExitCode:
    if (manifest is None) != (sidecar is None):
        err_console.print("[red]error:[/] give both MANIFEST and SIDECAR, or neither")
        return ExitCode.USAGE
    embedded = options.demo or manifest is None
    if embedded and (manifest is None or sidecar is None):
        examples = demo_data.examples_dir()
        manifest, sidecar = examples / "example.csv", examples / "example.json"
    assert manifest is not None
    assert sidecar is not None
    quiet = options.quiet or options.as_json
    out = Console(stderr=True) if options.as_json else console
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        stack.enter_context(service_logs(verbose))
        stack.enter_context(_stop_on_signals(stop))
        try:
            with RunProgress(out, enabled=not quiet) as bar:
                job = _Job(
                    manifest=manifest,
                    sidecar=sidecar,
                    name=options.job or job_name_of(sidecar.name, jobs_prefix=""),
                    options=options,
                    quiet=quiet,
                    out=out,
                    bar=bar,
                    stop=stop,
                )
                if embedded:
                    emulator = stack.enter_context(Emulator(options.endpoint_url))
                    local_run, report = _embedded(emulator, job)
                else:
                    direct = _direct(job)
                    if isinstance(direct, ExitCode):
                        return direct
                    local_run, report = direct
        except EventNotReceivedError as exc:
            err_console.print(f"[red]error:[/] {exc}")
            return ExitCode.TIMEOUT
        except (ClientError, BotoCoreError) as exc:
            err_console.print(f"[red]error:[/] {exc}")
            return ExitCode.AWS_ERROR
        except KeyboardInterrupt:
            stop.set()
            err_console.print("interrupted")
            return ExitCode.INTERRUPTED
        code = _show(local_run, report, job)
        if embedded and options.keep_running and code is not ExitCode.INTERRUPTED:
            _wait_for_ctrl_c(emulator.endpoint_url)
    return code


def _show(local_run: LocalRun, report: _ReportHead, job: _Job) -> ExitCode:
    """Print the run's outcome as asked; its exit code."""
    if job.options.as_json:
        print_json(local_run.notice)
    elif not job.quiet:
        _print_outcome(job.out, local_run, report)
    else:
        console.print(local_run.status)
    if local_run.result.interrupted:
        err_console.print("interrupted: the report lists what was not copied")
        return ExitCode.INTERRUPTED
    return for_status(local_run.status)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM (``kill``, a container runtime, CI) stop a run gracefully: no
    new objects, in-flight uploads aborted after a short grace period, then the report of
    what was and was not copied (exit 130). A second signal quits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        err_console.print(
            f"{signal.Signals(signum).name}: stopping (in-flight copies get "
            f"{LOCAL_GRACE_SECONDS:g} s); send it again to quit at once"
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_ctrl_c(endpoint_url: str) -> None:
    err_console.print(
        f"\nthe emulator keeps running at {endpoint_url} until Ctrl-C; for example:\n"
        f"  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"aws --endpoint-url {endpoint_url} s3 ls s3://{demo_data.DESTINATION_BUCKET} --recursive"
    )
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


def _direct(job: _Job) -> tuple[LocalRun, _ReportHead] | ExitCode:
    checked = check_files(job.manifest, job.sidecar)
    if job.options.work_bucket:
        target = DirectTarget(job.options.work_bucket, "")
    elif checked.sidecar is not None:
        target = DirectTarget(checked.sidecar.destination_bucket, SHARED_BUCKET_PREFIX)
    else:
        # Without a valid sidecar there is no destination bucket to work in.
        render.check_result(err_console, checked, job.manifest, job.sidecar)
        return ExitCode.INVALID
    session = aws(job.options.profile, job.options.region, job.options.endpoint_url)
    manifest, sidecar = job.read()
    local_run = run_direct(
        session=session.session,
        endpoint_url=job.options.endpoint_url,
        target=target,
        job=job.name,
        manifest=manifest,
        sidecar=sidecar,
        on_progress=_progress_adapter(job.bar),
        stop=job.stop,
        jsonl=is_jsonl(job.manifest.name),
    )
    if job.quiet:  # --quiet, --json: the report's rows are not shown
        return local_run, _ReportHead()
    return local_run, _report_rows(job.out, session.client("s3"), local_run)


def _embedded(emulator: Emulator, job: _Job) -> tuple[LocalRun, _ReportHead]:
    pipeline = EmbeddedPipeline(emulator, on_progress=_progress_adapter(job.bar), stop=job.stop)
    if not job.quiet:
        job.out.print(
            f"emulator at {emulator.endpoint_url}: inbox s3://{pipeline.stack.inbox_bucket}"
        )
    demo_data.seed(pipeline.s3)
    manifest_key, sidecar_key = pipeline.submit(
        job.name, *job.read(), jsonl=is_jsonl(job.manifest.name)
    )
    if not job.quiet:
        job.out.print(
            f"uploaded {manifest_key} then {sidecar_key}; waiting for the S3 event "
            "(EventBridge rule -> SQS)"
        )
    local_run = pipeline.run_next(timeout=job.options.timeout)
    if job.quiet:  # --quiet, --json: the report's rows are not shown
        return local_run, _ReportHead()
    return local_run, _report_rows(job.out, pipeline.s3, local_run)


def _print_outcome(out: Console, local_run: LocalRun, report: _ReportHead) -> None:
    received = local_run.received
    if received is not None:
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(received.attributes.items()))
        out.print(f"\n[bold]notice[/] received from {received.topic_arn} ({attrs}):")
    else:
        out.print("\n[bold]notice[/]:")
    render.notice(out, local_run.notice)
    failures = local_run.result.batch_failures
    if failures:
        out.print(f"[red]{len(failures)} batch(es) failed after their retries[/]")
    csv_uri = run_files.report_csv_uri(local_run.notice)
    if report.rows:
        out.print(render.report_table(report.rows, total=report.total))
        if report.total > len(report.rows):
            out.print(f"... {report.total - len(report.rows)} more rows in the report")
    if csv_uri:
        out.print(f"report: {csv_uri}")
    out.print(f"took {local_run.result.seconds:.1f} s")


@dataclass
class _ReportHead:
    """The first rows of report.csv and how many rows it has."""

    rows: list[dict[str, str]] = field(default_factory=list)
    total: int = 0


def _report_rows(out: Console, s3: Any, local_run: LocalRun) -> _ReportHead:
    """The first rows of report.csv (streamed), each with how it was copied."""
    uri = run_files.report_csv_uri(local_run.notice)
    if not uri:
        return _ReportHead()  # a dry run or a failed Prepare has no report
    try:
        head = _ReportHead(*run_files.head(run_files.report_rows(s3, uri), limit=REPORT_ROWS_SHOWN))
    except Exception as exc:  # shown as a courtesy: the report's URI is printed anyway
        out.print(f"(could not read the report: {exc})")
        return _ReportHead()
    work = local_run.notice.get("work")
    if isinstance(work, dict) and head.rows:
        wanted = {row.get("destination", "") for row in head.rows}
        methods = run_files.methods_of(s3, RunLocation.model_validate(work), wanted)
        for row in head.rows:
            row["method"] = methods.get(row.get("destination", ""), "")
    return head

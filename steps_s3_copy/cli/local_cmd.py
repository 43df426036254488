"""``s3copy local``: the embedded pipeline (demo) or a direct run against an endpoint."""

from __future__ import annotations

import contextlib
import csv
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from steps_s3_copy.cli import render
from steps_s3_copy.cli.checks import check_files
from steps_s3_copy.cli.common import aws, console, err_console, print_json
from steps_s3_copy.cli.exit_codes import ExitCode, for_status
from steps_s3_copy.cli.progress import RunProgress, Snapshot
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
from steps_s3_copy.local.runner import Progress
from steps_s3_copy.models import ObjectResult, RunLocation
from steps_s3_copy.observability import logger

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
    ``verbose`` (stdout is for the CLI's own output); restored afterwards."""
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
        yield
    finally:
        logger.setLevel(level)
        for handler, stream in streams:
            handler.setStream(stream)


def _progress_adapter(bar: RunProgress) -> Any:
    def on_progress(progress: Progress) -> None:
        bar.update(
            Snapshot(
                objects_done=progress.objects_done,
                objects_total=progress.objects_total,
                bytes_done=progress.bytes_done,
                bytes_total=progress.bytes_total,
                failed=progress.objects_failed,
                batches_done=progress.batches_done,
                batches_total=progress.batches_total,
                batches_failed=progress.batches_failed,
            )
        )

    return on_progress


def run(
    *,
    manifest: Path | None,
    sidecar: Path | None,
    demo: bool,
    endpoint_url: str | None,
    work_bucket: str | None,
    job: str | None,
    timeout: float,
    region: str | None,
    profile: str | None,
    quiet: bool,
    as_json: bool,
    keep_running: bool = False,
    verbose: bool = False,
) -> ExitCode:
    if (manifest is None) != (sidecar is None):
        err_console.print("[red]error:[/] give both MANIFEST and SIDECAR, or neither")
        return ExitCode.USAGE
    embedded = demo or manifest is None
    if embedded and (manifest is None or sidecar is None):
        examples = demo_data.examples_dir()
        manifest, sidecar = examples / "example.csv", examples / "example.json"
    assert manifest is not None
    assert sidecar is not None
    job_name = job or sidecar.name.removesuffix(".json")
    out = Console(stderr=True) if as_json else console
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        stack.enter_context(service_logs(verbose))
        try:
            with RunProgress(out, enabled=not quiet) as bar:
                if embedded:
                    emulator = stack.enter_context(Emulator(endpoint_url))
                    local_run, report = _embedded(
                        emulator,
                        manifest,
                        sidecar,
                        job=job_name,
                        timeout=timeout,
                        bar=bar,
                        stop=stop,
                        quiet=quiet,
                        out=out,
                    )
                else:
                    direct = _direct(
                        manifest,
                        sidecar,
                        job=job_name,
                        endpoint_url=endpoint_url,
                        work_bucket=work_bucket,
                        region=region,
                        profile=profile,
                        bar=bar,
                        stop=stop,
                        out=out,
                    )
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
        if as_json:
            print_json(local_run.notice)
        elif not quiet:
            _print_outcome(out, local_run, report)
        else:
            console.print(local_run.status)
        if embedded and keep_running:
            _wait_for_ctrl_c(emulator.endpoint_url)
    return for_status(local_run.status)


def _wait_for_ctrl_c(endpoint_url: str) -> None:
    err_console.print(
        f"\nthe emulator keeps running at {endpoint_url} until Ctrl-C; for example:\n"
        f"  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"aws --endpoint-url {endpoint_url} s3 ls s3://{demo_data.DESTINATION_BUCKET} --recursive"
    )
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


def _direct(
    manifest: Path,
    sidecar: Path,
    *,
    job: str,
    endpoint_url: str | None,
    work_bucket: str | None,
    region: str | None,
    profile: str | None,
    bar: RunProgress,
    stop: threading.Event,
    out: Console,
) -> tuple[LocalRun, _ReportHead] | ExitCode:
    checked = check_files(manifest, sidecar)
    if work_bucket:
        target = DirectTarget(work_bucket, "")
    elif checked.sidecar is not None:
        target = DirectTarget(checked.sidecar.destination_bucket, SHARED_BUCKET_PREFIX)
    else:
        # Without a valid sidecar there is no destination bucket to work in.
        render.check_result(err_console, checked, manifest, sidecar)
        return ExitCode.INVALID
    session = aws(profile, region, endpoint_url)
    local_run = run_direct(
        session=session.session,
        endpoint_url=endpoint_url,
        target=target,
        job=job,
        manifest=manifest.read_bytes(),
        sidecar=sidecar.read_bytes(),
        on_progress=_progress_adapter(bar),
        stop=stop,
    )
    return local_run, _report_rows(out, session.client("s3"), local_run)


def _embedded(
    emulator: Emulator,
    manifest: Path,
    sidecar: Path,
    *,
    job: str,
    timeout: float,
    bar: RunProgress,
    stop: threading.Event,
    quiet: bool,
    out: Console,
) -> tuple[LocalRun, _ReportHead]:
    pipeline = EmbeddedPipeline(emulator, on_progress=_progress_adapter(bar), stop=stop)
    if not quiet:
        out.print(f"emulator at {emulator.endpoint_url}: inbox s3://{pipeline.stack.inbox_bucket}")
    demo_data.seed(pipeline.s3)
    manifest_key, sidecar_key = pipeline.submit(job, manifest.read_bytes(), sidecar.read_bytes())
    if not quiet:
        out.print(
            f"uploaded {manifest_key} then {sidecar_key}; waiting for the S3 event "
            "(EventBridge rule -> SQS)"
        )
    local_run = pipeline.run_next(timeout=timeout)
    return local_run, _report_rows(out, pipeline.s3, local_run)


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
    csv_uri = render.report_csv_uri(local_run.notice)
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
    head = _ReportHead()
    uri = render.report_csv_uri(local_run.notice)
    if not uri:
        return head  # a dry run or a failed Prepare has no report
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        lines = (line.decode("utf-8") for line in body.iter_lines(keepends=True))
        for row in csv.DictReader(lines):
            head.total += 1
            if len(head.rows) < REPORT_ROWS_SHOWN:
                head.rows.append(dict(row))
    except Exception as exc:  # shown as a courtesy: the report's URI is printed anyway
        out.print(f"(could not read the report: {exc})")
        return _ReportHead()
    work = local_run.notice.get("work")
    if isinstance(work, dict) and head.rows:
        wanted = {row.get("destination", "") for row in head.rows}
        methods = _methods(s3, RunLocation.model_validate(work), wanted)
        for row in head.rows:
            row["method"] = methods.get(row.get("destination", ""), "")
    return head


def _methods(s3: Any, location: RunLocation, wanted: set[str]) -> dict[str, str]:
    """How the ``wanted`` destinations were handled (copy, multipart, skip), from the
    batches' results; stops reading once every one is found."""
    methods: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.results_prefix
    ):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=location.bucket, Key=item["Key"])["Body"].read()
            for line in body.decode("utf-8").splitlines():
                if line.strip():
                    result = ObjectResult.model_validate_json(line)
                    if result.destination in wanted:
                        methods[result.destination] = result.method
            if len(methods) == len(wanted):
                return methods
    return methods

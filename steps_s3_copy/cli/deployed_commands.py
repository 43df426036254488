"""``s3copy submit``, ``watch`` and ``report``: a job on a deployed stack, from upload to
its report. How the stack and its runs are read: :mod:`steps_s3_copy.cli.deployed` (Step
Functions) and :mod:`steps_s3_copy.cli.run_files` (the run's files in S3)."""

# Typer commands take their options as parameters: one per option, by design.
# ruff: noqa: PLR0917

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from pydantic.alias_generators import to_camel

from steps_s3_copy.cli import deployed, render, run_files, throughput
from steps_s3_copy.cli.common import Aws, aws_errors, console, err_console, fail, print_json
from steps_s3_copy.cli.exit_codes import ExitCode, for_status
from steps_s3_copy.cli.offline_commands import checked_or_exit
from steps_s3_copy.cli.options import (
    AwsOptions,
    InboxOpt,
    JobsPrefixOpt,
    JsonOpt,
    ManifestArg,
    RunTarget,
    SidecarArg,
    StackOpt,
    WaitStartOpt,
    stack_outputs,
)
from steps_s3_copy.cli.progress import RunProgress
from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, InboxLayout, job_keys, job_name_of
from steps_s3_copy.manifest import is_jsonl
from steps_s3_copy.models import RunLocation
from steps_s3_copy.progress import Progress
from steps_s3_copy.s3uri import S3Uri

# ----------------------------------------------------------------------------- submit


def submit(
    manifest: ManifestArg,
    sidecar: SidecarArg,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Job name (default: the sidecar file's name without .json)."),
    ] = None,
    inbox: InboxOpt = None,
    stack: StackOpt = None,
    jobs_prefix: JobsPrefixOpt = DEFAULT_JOBS_PREFIX,
    skip_validation: Annotated[
        bool, typer.Option("--no-validate", help="Upload even if the offline check fails.")
    ] = False,
    *,
    aws: AwsOptions,
    as_json: JsonOpt = False,
) -> None:
    """Upload the manifest, then the sidecar (which starts the run), to the inbox.

    Prints the job name. Re-submitting the same job re-runs it, skipping what is already
    copied. Exit 0, 4 when the offline check fails, 5 on an AWS error.
    """
    job = name or job_name_of(sidecar.name, jobs_prefix="")
    if not job or job.startswith("/") or job.endswith("/") or ".." in job.split("/"):
        fail(
            f"bad job name {job!r}: use letters, digits, - _ . and / between parts", ExitCode.USAGE
        )
    if not skip_validation:
        checked_or_exit(manifest, sidecar)
    session = aws.connect()
    if stack:
        outputs = stack_outputs(session, stack)
        inbox = inbox or outputs.inbox_bucket
    if not inbox:
        fail("give --inbox BUCKET or --stack NAME", ExitCode.USAGE)
    s3 = session.client("s3")
    with aws_errors(f"uploading to s3://{inbox}"):
        # The manifest first: the sidecar's arrival starts the run.
        manifest_key, sidecar_key = InboxLayout(inbox, jobs_prefix=jobs_prefix).submit(
            s3, job, manifest=manifest, sidecar=sidecar, jsonl=is_jsonl(manifest.name)
        )
    manifest_uri, sidecar_uri = S3Uri(inbox, manifest_key), S3Uri(inbox, sidecar_key)
    if as_json:
        print_json(
            {
                "job": job,
                "inbox": inbox,
                "manifest": str(manifest_uri),
                "sidecar": str(sidecar_uri),
                "submittedAt": datetime.now(UTC).isoformat(),
            }
        )
    else:
        console.print(job)
        err_console.print(
            f"submitted {manifest_uri} and {sidecar_uri}\n"
            f"follow it with: s3copy watch {job} --inbox {inbox} --state-machine-arn ARN"
        )


# ----------------------------------------------------------------------------- finding a run


def _locate_execution(
    sfn: Any, s3: Any, job: str, target: RunTarget, *, wait_seconds: float
) -> dict[str, Any]:
    """The execution ``--execution-arn`` names, or the newest one the job's sidecar started
    (waiting up to ``wait_seconds`` for it to appear)."""
    if target.execution_arn:
        with aws_errors(f"describing {target.execution_arn}"):
            described: dict[str, Any] = sfn.describe_execution(executionArn=target.execution_arn)
            return described
    if not target.state_machine_arn:
        fail("give --state-machine-arn, --stack or --execution-arn", ExitCode.USAGE)
    _, sidecar_key = job_keys(job, target.jobs_prefix)
    # Executions older than the sidecar cannot be its run: stop scanning there.
    started_after = datetime.now(UTC) - timedelta(days=90)
    if target.inbox:
        with contextlib.suppress(ClientError):
            uploaded = s3.head_object(Bucket=target.inbox, Key=sidecar_key)["LastModified"]
            started_after = uploaded - timedelta(minutes=5)
    deadline = time.monotonic() + wait_seconds
    while True:
        with aws_errors("listing executions"):
            try:
                return deployed.find_execution(
                    sfn,
                    target.state_machine_arn,
                    sidecar_key,
                    bucket=target.inbox,
                    started_after=started_after,
                )
            except deployed.NotFoundError as exc:
                if time.monotonic() >= deadline:
                    fail(str(exc), ExitCode.AWS_ERROR)
        time.sleep(1.0)


def _failed_prepare_area(
    execution: dict[str, Any], job: str, target: RunTarget
) -> RunLocation | None:
    """Where a run whose Prepare failed keeps its failure notice: the working area named
    after the execution (``work/<job>/<execution name>/``)."""
    bucket = target.inbox or deployed.event_bucket(execution)
    if not bucket:
        return None
    return InboxLayout(bucket, work_prefix=target.work_prefix).work(job, execution["name"])


def _prepared_area(prepared: dict[str, Any]) -> RunLocation:
    """The working area in Prepare's result."""
    return RunLocation.model_validate(prepared["work"])


# ----------------------------------------------------------------------------- watch


def _snapshot(
    sfn: Any,
    s3: Any,
    execution_arn: str,
    prepared: dict[str, Any] | None,
    results: run_files.ResultsWatcher | None,
) -> Progress:
    snap = results.poll(s3) if results is not None else Progress()
    if prepared is not None:
        snap.objects_total = int(prepared.get("objects", 0))
        snap.bytes_total = int(prepared.get("bytes", 0))
    snap += deployed.map_counters(sfn, execution_arn)
    return snap


def _final_notice(
    s3: Any,
    execution: dict[str, Any],
    job: str,
    target: RunTarget,
    *,
    prepared: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The notice in the execution's output or, when Prepare failed, in the working area."""
    notice = deployed.notice_of(execution)
    if notice is None and prepared is None:
        area = _failed_prepare_area(execution, job, target)
        if area is not None:
            with aws_errors("reading the failure notice"):
                notice = run_files.notice_in_work_area(s3, area)
    return notice


def _snapshot_json(snap: Progress, rate: throughput.Throughput) -> dict[str, Any]:
    counts: dict[str, Any] = {to_camel(name): value for name, value in vars(snap).items()}
    return {**counts, **rate.to_json()}


def _throughput(
    execution: dict[str, Any],
    results: run_files.ResultsWatcher | None,
    snap: Progress,
    window: float,
) -> throughput.Throughput:
    """The rate over the last ``window`` seconds (ending when the execution ended, if it
    has) and the time left at that rate; unknown until Prepare has planned the run."""
    if results is None:
        return throughput.Throughput()
    finished = execution["status"] != "RUNNING"
    stopped = execution.get("stopDate")
    now = stopped if finished and isinstance(stopped, datetime) else datetime.now(UTC)
    started = execution.get("startDate")
    started = started if isinstance(started, datetime) else None
    first = results.first_written()
    if first is not None and (started is None or first < started):
        started = first  # the clocks differ a little; the run began by then at the latest
    recent = results.written_since(now - timedelta(seconds=window))
    return throughput.estimate(
        snap,
        recent_objects=recent.objects_done,
        recent_bytes=recent.bytes_done,
        now=now,
        started=started,
        window_seconds=window,
        finished=finished,
    )


def watch(
    job: Annotated[str, typer.Argument(help="The job name (as printed by submit).")],
    *,
    target: RunTarget,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between polls.")
    ] = 3.0,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="Give up after this many seconds (exit 6)."),
    ] = None,
    wait_start: WaitStartOpt = 60.0,
    window: Annotated[
        float,
        typer.Option(
            "--window",
            min=10,
            help="Seconds of recent results the throughput and the time left are taken from.",
        ),
    ] = throughput.DEFAULT_WINDOW_SECONDS,
    aws: AwsOptions,
    as_json: JsonOpt = False,
) -> None:
    """Follow a job's execution with a live progress bar until it ends.

    Objects and bytes done of the total, failures, the throughput over the recent window
    and the estimated time left, from the execution's map-run counters and the per-object
    results in the working area. Exit 0 SUCCEEDED, 3 PARTIAL, 1 FAILED, 6 on --timeout,
    130 on Ctrl-C.
    """
    session = aws.connect()
    target = target.resolved(session)
    sfn = session.client("stepfunctions")
    s3 = session.client("s3")
    execution = _locate_execution(sfn, s3, job, target, wait_seconds=wait_start)
    arn = execution["executionArn"]
    if not as_json:
        err_console.print(f"execution {arn}")
    deadline = None if timeout is None else time.monotonic() + timeout
    prepared: dict[str, Any] | None = None
    results: run_files.ResultsWatcher | None = None
    snap = Progress()
    rate = throughput.Throughput()
    try:
        with RunProgress(console, enabled=not as_json) as bar, aws_errors("polling"):
            while True:
                execution = sfn.describe_execution(executionArn=arn)
                if prepared is None:
                    prepared = deployed.prepared_of(sfn, arn)
                    if prepared is not None:
                        results = run_files.ResultsWatcher(_prepared_area(prepared))
                snap = _snapshot(sfn, s3, arn, prepared, results)
                rate = _throughput(execution, results, snap, window)
                bar.update(snap, rate)
                if execution["status"] != "RUNNING":
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    if as_json:
                        print_json(
                            {
                                "executionArn": arn,
                                "status": "RUNNING",
                                **_snapshot_json(snap, rate),
                            }
                        )
                    err_console.print(f"still running after {timeout:g} s")
                    raise typer.Exit(int(ExitCode.TIMEOUT))
                time.sleep(interval)
    except KeyboardInterrupt:
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    notice = _final_notice(s3, execution, job, target, prepared=prepared)
    status = str(notice["status"]) if notice else str(execution["status"])
    if as_json:
        print_json(
            {
                "executionArn": arn,
                "executionStatus": execution["status"],
                "status": status,
                "notice": notice,
                **_snapshot_json(snap, rate),
            }
        )
    else:
        render.final_line(console, status, snap, rate)
        if notice:
            render.notice(console, notice)
    raise typer.Exit(int(for_status(status)))


# ----------------------------------------------------------------------------- report


def report(
    job: Annotated[str, typer.Argument(help="The job name.")],
    *,
    target: RunTarget,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Failed objects to list (0: all).")
    ] = 50,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            dir_okay=False,
            help="Also download the run's report.html (the report to look at) to FILE.",
        ),
    ] = None,
    aws: AwsOptions,
    as_json: JsonOpt = False,
) -> None:
    """The summary of a job's latest run and its failed objects, with the report CSV's path.

    The run is found through its execution (--state-machine-arn / --execution-arn / --stack)
    or, with only --inbox, as the newest working area of the job. Exit: 0 SUCCEEDED,
    3 PARTIAL, 1 FAILED, 5 when no run is found (or, with --html, the run has no
    report.html: a dry run, a failed Prepare).
    """
    session = aws.connect()
    target = target.resolved(session)
    s3 = session.client("s3")
    with aws_errors("finding the run"):
        notice, location, execution = _find_run(session, job, target)
        if notice is None:
            if execution is not None and execution["status"] == "RUNNING":
                fail(f"{job} is still running: follow it with s3copy watch", ExitCode.AWS_ERROR)
            fail(f"no finished run of {job} found", ExitCode.AWS_ERROR)
        csv_uri = run_files.report_csv_uri(notice)
        if csv_uri:
            failed, failed_total = run_files.failed_rows(s3, csv_uri, limit=limit)
        else:
            failed, failed_total = [], 0
        html_uri = run_files.report_html_uri(notice)
        if html is not None:
            _download_html(s3, job, notice, html_uri, html)
    status = str(notice.get("status") or "UNKNOWN")
    if as_json:
        print_json(
            {
                "job": job,
                "status": status,
                "notice": notice,
                "work": location.model_dump(by_alias=True) if location else None,
                "reportCsv": csv_uri,
                "reportHtml": html_uri,
                "htmlFile": str(html) if html is not None else None,
                "failed": failed,
                "failedTotal": failed_total,
            }
        )
    else:
        render.notice(console, notice)
        render.failed_rows(console, failed, total=failed_total)
        if csv_uri:
            console.print(f"report: {csv_uri}")
        if html is not None:
            console.print(f"report.html written to {html}")
    raise typer.Exit(int(for_status(status)))


def _download_html(s3: Any, job: str, notice: dict[str, Any], uri: str | None, path: Path) -> None:
    """Write the run's report.html to ``path``, or exit 5 saying why there is none."""
    status = notice.get("status") or "UNKNOWN"
    if uri is None:
        fail(
            f"{job}'s run {notice.get('runId', '?')} ({status}) has no report.html: "
            "a dry run and a run whose Prepare failed write none (run without --html "
            "for its notice)",
            ExitCode.AWS_ERROR,
        )
    try:
        found = run_files.download(s3, uri, path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc}", ExitCode.AWS_ERROR)
    if not found:
        fail(
            f"{uri} does not exist (runs summarised before report.html existed have "
            "only report.csv)",
            ExitCode.AWS_ERROR,
        )


def _find_run(
    session: Aws, job: str, target: RunTarget
) -> tuple[dict[str, Any] | None, RunLocation | None, dict[str, Any] | None]:
    """(notice, working area, execution) of the job's latest run."""
    s3 = session.client("s3")
    location: RunLocation | None = None
    execution: dict[str, Any] | None = None
    notice: dict[str, Any] | None = None
    if target.execution_arn or target.state_machine_arn:
        sfn = session.client("stepfunctions")
        execution = _locate_execution(sfn, s3, job, target, wait_seconds=0)
        notice = deployed.notice_of(execution)
        prepared = deployed.prepared_of(sfn, execution["executionArn"])
        if prepared is not None:
            location = _prepared_area(prepared)
        else:
            location = _failed_prepare_area(execution, job, target)
    elif target.inbox:
        location = run_files.latest_run(s3, target.inbox, job, target.work_prefix)
    else:
        fail("give --inbox, --state-machine-arn, --execution-arn or --stack", ExitCode.USAGE)
    if notice is None and location is not None:
        notice = run_files.notice_in_work_area(s3, location)
    return notice, location, execution

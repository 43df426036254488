"""``s3copy``: the command line for a deployed stack and for the local pipeline.

Every command has help (``s3copy COMMAND --help``), stable exit codes (``ExitCode``,
docs/cli.md) and, where a script would want it, ``--json``.
"""

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

from steps_s3_copy.cli import deployed, policy, render
from steps_s3_copy.cli.checks import check_files
from steps_s3_copy.cli.common import (
    Aws,
    aws,
    aws_errors,
    console,
    err_console,
    fail,
    print_json,
)
from steps_s3_copy.cli.exit_codes import ExitCode, for_status
from steps_s3_copy.cli.planner import SizingError, plan_files
from steps_s3_copy.cli.progress import RunProgress, Snapshot
from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, job_keys
from steps_s3_copy.models import RunLocation

app = typer.Typer(
    name="s3copy",
    help=(
        "Copy very large sets of S3 objects between accounts: submit and follow jobs on a "
        "deployed stack, check and price a manifest offline, or run the whole pipeline on "
        "this machine with `s3copy local`."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: where the deployed stack keeps the runs' working areas (PrepareSettings.work_prefix)
DEFAULT_WORK_PREFIX = "work/"

# ----------------------------------------------------------------------------- options

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="S3/Step Functions endpoint to use instead of AWS (an S3-compatible server, moto).",
        envvar="S3COPY_ENDPOINT_URL",
    ),
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS named profile.")]
StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack", help="A deployed stack's name: the inbox and state machine from its outputs."
    ),
]
InboxOpt = Annotated[str | None, typer.Option("--inbox", help="The inbox bucket.")]
StateMachineOpt = Annotated[
    str | None, typer.Option("--state-machine-arn", help="The copy state machine's ARN.")
]
ExecutionOpt = Annotated[
    str | None,
    typer.Option("--execution-arn", help="Follow this execution instead of searching for it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
JobsPrefixOpt = Annotated[str, typer.Option("--jobs-prefix", help="Prefix of jobs in the inbox.")]
WorkPrefixOpt = Annotated[
    str, typer.Option("--work-prefix", help="Prefix of the runs' working areas in the inbox.")
]
ManifestArg = Annotated[
    Path,
    typer.Argument(
        help="The manifest CSV (source objects).", exists=True, dir_okay=False, readable=True
    ),
]
SidecarArg = Annotated[
    Path,
    typer.Argument(
        help="The sidecar JSON (destination and options).",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]


def _with_stack(
    session: Aws, stack: str | None, inbox: str | None, state_machine_arn: str | None
) -> tuple[str | None, str | None]:
    if stack:
        with aws_errors(f"reading stack {stack}"):
            try:
                outputs = deployed.resolve_stack(session.client("cloudformation"), stack)
            except deployed.NotFoundError as exc:
                fail(str(exc), ExitCode.AWS_ERROR)
        inbox = inbox or outputs.inbox_bucket
        state_machine_arn = state_machine_arn or outputs.state_machine_arn
    return inbox, state_machine_arn


# ----------------------------------------------------------------------------- validate


@app.command()
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


# ----------------------------------------------------------------------------- plan


@app.command()
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
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Batches per lane, requests by method, compute time and an estimated cost in dollars.

    Sizes come from the manifest's size column; rows without one are sized from S3 with
    --size-from-s3, or taken as --assume-size. The prices and throughput assumed are printed
    with the estimate. Exit 0, or 4 when the input is invalid or sizes are missing.
    """
    checked = check_files(manifest, sidecar)
    if not checked.ok or checked.sidecar is None:
        render.check_result(err_console, checked, manifest, sidecar)
        raise typer.Exit(int(ExitCode.INVALID))
    s3 = aws(profile, region, endpoint_url).client("s3") if size_from_s3 else None
    try:
        with aws_errors("sizing the sources"):
            planned = plan_files(
                checked.rows,
                checked.sidecar,
                s3=s3,
                assume_size=assume_size,
                lane_cutoff=lane_cutoff,
            )
    except SizingError as exc:
        fail(str(exc), ExitCode.INVALID)
    if as_json:
        print_json(planned.to_dict())
    else:
        render.plan(console, planned)


# ----------------------------------------------------------------------------- policy


@app.command("destination-policy")
def destination_policy(
    bucket: Annotated[str, typer.Option("--bucket", help="The destination bucket.")],
    writer_role_arn: Annotated[
        str | None, typer.Option("--writer-role-arn", help="The stack's writer role ARN.")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="The writer role's account id.")
    ] = None,
    role_name: Annotated[
        str | None, typer.Option("--role-name", help="The writer role's name.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Limit writes to this key prefix.")
    ] = None,
    kms_key_arn: Annotated[
        str | None,
        typer.Option("--kms-key-arn", help="The destination's SSE-KMS key: adds a key policy."),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack", help="Take the writer role from this stack's WriterRoleArn output."
        ),
    ] = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    bucket_policy_only: Annotated[
        bool,
        typer.Option(
            "--bucket-policy-only",
            help="Print only the bucket policy (for aws s3api put-bucket-policy --policy).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The bucket policy (and KMS key policy statement) a destination account applies.

    Give the writer role as --writer-role-arn (the stack's WriterRoleArn output), --stack,
    or --account and --role-name. Exit 0, 2 when the role, bucket or key is malformed,
    5 when the stack cannot be read.
    """
    if stack and not writer_role_arn:
        with aws_errors(f"reading stack {stack}"):
            try:
                outputs = deployed.resolve_stack(
                    aws(profile, region, endpoint_url).client("cloudformation"), stack
                )
            except deployed.NotFoundError as exc:
                fail(str(exc), ExitCode.AWS_ERROR)
        writer_role_arn = outputs.writer_role_arn
        if not writer_role_arn:
            fail(f"stack {stack} has no WriterRoleArn output", ExitCode.AWS_ERROR)
    try:
        if writer_role_arn:
            role = policy.WriterRole.parse(writer_role_arn)
        elif account and role_name:
            role = policy.WriterRole.from_parts(account, role_name)
        else:
            fail("give --writer-role-arn, --stack, or --account and --role-name", ExitCode.USAGE)
        document = policy.destination_policies(role, bucket, prefix=prefix, kms_key_arn=kms_key_arn)
    except policy.PolicyInputError as exc:
        fail(str(exc), ExitCode.USAGE)
    if bucket_policy_only:
        print_json(document["bucketPolicy"])
    elif as_json:
        print_json(document)
    else:
        render.policies(console, document)


# ----------------------------------------------------------------------------- submit


@app.command()
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
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload the manifest, then the sidecar (which starts the run), to the inbox.

    Prints the job name. Re-submitting the same job re-runs it, skipping what is already
    copied. Exit 0, 4 when the offline check fails, 5 on an AWS error.
    """
    job = name or sidecar.name.removesuffix(".json")
    if not job or job.startswith("/") or job.endswith("/") or ".." in job.split("/"):
        fail(
            f"bad job name {job!r}: use letters, digits, - _ . and / between parts", ExitCode.USAGE
        )
    if not skip_validation:
        checked = check_files(manifest, sidecar)
        if not checked.ok:
            render.check_result(err_console, checked, manifest, sidecar)
            raise typer.Exit(int(ExitCode.INVALID))
    session = aws(profile, region, endpoint_url)
    inbox, _ = _with_stack(session, stack, inbox, None)
    if not inbox:
        fail("give --inbox BUCKET or --stack NAME", ExitCode.USAGE)
    manifest_key, sidecar_key = job_keys(job, jobs_prefix)
    s3 = session.client("s3")
    with aws_errors(f"uploading to s3://{inbox}"):
        # The manifest first: the sidecar's arrival starts the run.
        s3.upload_file(str(manifest), inbox, manifest_key, ExtraArgs={"ContentType": "text/csv"})
        s3.upload_file(
            str(sidecar), inbox, sidecar_key, ExtraArgs={"ContentType": "application/json"}
        )
    if as_json:
        print_json(
            {
                "job": job,
                "inbox": inbox,
                "manifest": f"s3://{inbox}/{manifest_key}",
                "sidecar": f"s3://{inbox}/{sidecar_key}",
                "submittedAt": datetime.now(UTC).isoformat(),
            }
        )
    else:
        console.print(job)
        err_console.print(
            f"submitted s3://{inbox}/{manifest_key} and s3://{inbox}/{sidecar_key}\n"
            f"follow it with: s3copy watch {job} --inbox {inbox} --state-machine-arn ARN"
        )


# ----------------------------------------------------------------------------- watch


def _locate_execution(
    sfn: Any,
    job: str,
    *,
    s3: Any,
    inbox: str | None,
    state_machine_arn: str | None,
    execution_arn: str | None,
    jobs_prefix: str,
    wait_seconds: float,
) -> dict[str, Any]:
    if execution_arn:
        with aws_errors(f"describing {execution_arn}"):
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            return described
    if not state_machine_arn:
        fail("give --state-machine-arn, --stack or --execution-arn", ExitCode.USAGE)
    _, sidecar_key = job_keys(job, jobs_prefix)
    # Executions older than the sidecar cannot be its run: stop scanning there.
    started_after = datetime.now(UTC) - timedelta(days=90)
    if inbox:
        with contextlib.suppress(ClientError):
            uploaded = s3.head_object(Bucket=inbox, Key=sidecar_key)["LastModified"]
            started_after = uploaded - timedelta(minutes=5)
    deadline = time.monotonic() + wait_seconds
    while True:
        with aws_errors("listing executions"):
            try:
                return deployed.find_execution(
                    sfn,
                    state_machine_arn,
                    sidecar_key,
                    bucket=inbox,
                    started_after=started_after,
                )
            except deployed.NotFoundError as exc:
                if time.monotonic() >= deadline:
                    fail(str(exc), ExitCode.AWS_ERROR)
        time.sleep(1.0)


def _snapshot(
    sfn: Any,
    s3: Any,
    execution_arn: str,
    prepared: dict[str, Any] | None,
    results: deployed.ResultsWatcher | None,
) -> Snapshot:
    snap = Snapshot()
    if prepared is not None:
        snap.objects_total = int(prepared.get("objects", 0))
        snap.bytes_total = int(prepared.get("bytes", 0))
    if results is not None:
        tally = results.poll(s3)
        snap.objects_done = tally.done
        snap.bytes_done = tally.bytes_done
        snap.failed = tally.failed
    counters = deployed.map_counters(sfn, execution_arn)
    snap.batches_total = counters.total
    snap.batches_done = counters.succeeded + counters.failed
    snap.batches_failed = counters.failed
    return snap


def _final_notice(
    s3: Any,
    execution: dict[str, Any],
    *,
    job: str,
    inbox: str | None,
    prepared: dict[str, Any] | None,
    work_prefix: str,
) -> dict[str, Any] | None:
    """The notice in the execution's output or, when Prepare failed, in the working area."""
    notice = deployed.notice_of(execution)
    if notice is None and prepared is None:
        # Prepare failed: its failure notice is in work/<job>/<execution name>/.
        bucket = inbox or deployed.event_bucket(execution)
        if bucket:
            with aws_errors("reading the failure notice"):
                notice = deployed.notice_in_work_area(
                    s3,
                    RunLocation(bucket=bucket, prefix=f"{work_prefix}{job}/{execution['name']}/"),
                )
    return notice


def _snapshot_json(snap: Snapshot) -> dict[str, int]:
    return {to_camel(name): value for name, value in vars(snap).items()}


@app.command()
def watch(
    job: Annotated[str, typer.Argument(help="The job name (as printed by submit).")],
    inbox: InboxOpt = None,
    state_machine_arn: StateMachineOpt = None,
    execution_arn: ExecutionOpt = None,
    stack: StackOpt = None,
    jobs_prefix: JobsPrefixOpt = DEFAULT_JOBS_PREFIX,
    work_prefix: WorkPrefixOpt = DEFAULT_WORK_PREFIX,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between polls.")
    ] = 3.0,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="Give up after this many seconds (exit 6)."),
    ] = None,
    wait_start: Annotated[
        float,
        typer.Option("--wait-start", min=0, help="Seconds to wait for the execution to appear."),
    ] = 60.0,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Follow a job's execution with a live progress bar until it ends.

    Objects and bytes done of the total, failures and the rate, from the execution's map-run
    counters and the per-object results in the working area. Exit 0 SUCCEEDED, 3 PARTIAL,
    1 FAILED, 6 on --timeout, 130 on Ctrl-C.
    """
    session = aws(profile, region, endpoint_url)
    inbox, state_machine_arn = _with_stack(session, stack, inbox, state_machine_arn)
    sfn = session.client("stepfunctions")
    s3 = session.client("s3")
    execution = _locate_execution(
        sfn,
        job,
        s3=s3,
        inbox=inbox,
        state_machine_arn=state_machine_arn,
        execution_arn=execution_arn,
        jobs_prefix=jobs_prefix,
        wait_seconds=wait_start,
    )
    arn = execution["executionArn"]
    if not as_json:
        err_console.print(f"execution {arn}")
    deadline = None if timeout is None else time.monotonic() + timeout
    prepared: dict[str, Any] | None = None
    results: deployed.ResultsWatcher | None = None
    snap = Snapshot()
    try:
        with RunProgress(console, enabled=not as_json) as bar, aws_errors("polling"):
            while True:
                execution = sfn.describe_execution(executionArn=arn)
                if prepared is None:
                    prepared = deployed.prepared_of(sfn, arn)
                    if prepared is not None:
                        location = RunLocation.model_validate(prepared["work"])
                        results = deployed.ResultsWatcher(location)
                snap = _snapshot(sfn, s3, arn, prepared, results)
                bar.update(snap)
                if execution["status"] != "RUNNING":
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    if as_json:
                        print_json(
                            {"executionArn": arn, "status": "RUNNING", **_snapshot_json(snap)}
                        )
                    err_console.print(f"still running after {timeout:g} s")
                    raise typer.Exit(int(ExitCode.TIMEOUT))
                time.sleep(interval)
    except KeyboardInterrupt:
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    notice = _final_notice(
        s3, execution, job=job, inbox=inbox, prepared=prepared, work_prefix=work_prefix
    )
    status = str(notice["status"]) if notice else str(execution["status"])
    if as_json:
        print_json(
            {
                "executionArn": arn,
                "executionStatus": execution["status"],
                "status": status,
                "notice": notice,
                **_snapshot_json(snap),
            }
        )
    else:
        render.final_line(console, status, snap)
        if notice:
            render.notice(console, notice)
    raise typer.Exit(int(for_status(status)))


# ----------------------------------------------------------------------------- report


@app.command()
def report(
    job: Annotated[str, typer.Argument(help="The job name.")],
    inbox: InboxOpt = None,
    state_machine_arn: StateMachineOpt = None,
    execution_arn: ExecutionOpt = None,
    stack: StackOpt = None,
    jobs_prefix: JobsPrefixOpt = DEFAULT_JOBS_PREFIX,
    work_prefix: WorkPrefixOpt = DEFAULT_WORK_PREFIX,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Failed objects to list (0: all).")
    ] = 50,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The summary of a job's latest run and its failed objects, with the report CSV's path.

    The run is found through its execution (--state-machine-arn / --execution-arn / --stack)
    or, with only --inbox, as the newest working area of the job. Exit: 0 SUCCEEDED,
    3 PARTIAL, 1 FAILED, 5 when no run is found.
    """
    session = aws(profile, region, endpoint_url)
    inbox, state_machine_arn = _with_stack(session, stack, inbox, state_machine_arn)
    s3 = session.client("s3")
    with aws_errors("finding the run"):
        notice, location, execution = _find_run(
            session,
            job,
            inbox=inbox,
            state_machine_arn=state_machine_arn,
            execution_arn=execution_arn,
            jobs_prefix=jobs_prefix,
            work_prefix=work_prefix,
        )
        if notice is None:
            if execution is not None and execution["status"] == "RUNNING":
                fail(f"{job} is still running: follow it with s3copy watch", ExitCode.AWS_ERROR)
            fail(f"no finished run of {job} found", ExitCode.AWS_ERROR)
        csv_uri = render.report_csv_uri(notice)
        if csv_uri:
            failed, failed_total = deployed.failed_rows(s3, csv_uri, limit=limit)
        else:
            failed, failed_total = [], 0
    status = str(notice.get("status") or "UNKNOWN")
    if as_json:
        print_json(
            {
                "job": job,
                "status": status,
                "notice": notice,
                "work": location.model_dump(by_alias=True) if location else None,
                "reportCsv": csv_uri,
                "failed": failed,
                "failedTotal": failed_total,
            }
        )
    else:
        render.notice(console, notice)
        render.failed_rows(console, failed, total=failed_total)
        if csv_uri:
            console.print(f"report: {csv_uri}")
    raise typer.Exit(int(for_status(status)))


def _find_run(
    session: Aws,
    job: str,
    *,
    inbox: str | None,
    state_machine_arn: str | None,
    execution_arn: str | None,
    jobs_prefix: str,
    work_prefix: str,
) -> tuple[dict[str, Any] | None, RunLocation | None, dict[str, Any] | None]:
    """(notice, working area, execution) of the job's latest run."""
    s3 = session.client("s3")
    location: RunLocation | None = None
    execution: dict[str, Any] | None = None
    notice: dict[str, Any] | None = None
    if execution_arn or state_machine_arn:
        sfn = session.client("stepfunctions")
        execution = _locate_execution(
            sfn,
            job,
            s3=s3,
            inbox=inbox,
            state_machine_arn=state_machine_arn,
            execution_arn=execution_arn,
            jobs_prefix=jobs_prefix,
            wait_seconds=0,
        )
        notice = deployed.notice_of(execution)
        prepared = deployed.prepared_of(sfn, execution["executionArn"])
        bucket = inbox or deployed.event_bucket(execution)
        if prepared is not None:
            location = RunLocation.model_validate(prepared["work"])
        elif bucket:
            # Prepare failed: the failure notice is in work/<job>/<execution name>/.
            location = RunLocation(bucket=bucket, prefix=f"{work_prefix}{job}/{execution['name']}/")
    elif inbox:
        location = deployed.latest_run(s3, inbox, job, work_prefix)
    else:
        fail("give --inbox, --state-machine-arn, --execution-arn or --stack", ExitCode.USAGE)
    if notice is None and location is not None:
        notice = deployed.notice_in_work_area(s3, location)
    return notice, location, execution


# ----------------------------------------------------------------------------- local


@app.command()
def local(
    manifest: Annotated[
        Path | None,
        typer.Argument(
            help="The manifest CSV (default with --demo: manifests-example/example.csv).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    sidecar: Annotated[
        Path | None,
        typer.Argument(
            help="The sidecar JSON (default with --demo: manifests-example/example.json).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Embedded emulator with demo source objects (the default with no files).",
        ),
    ] = False,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="Run against this S3-compatible endpoint (S3 only) instead of the emulator; "
            "with --demo, the moto server to use as the emulator.",
        ),
    ] = None,
    work_bucket: Annotated[
        str | None,
        typer.Option(
            "--work-bucket",
            help="Bucket for the job files, working area and report when not embedded "
            "(default: the destination bucket, under .steps-s3-copy/).",
        ),
    ] = None,
    job: Annotated[
        str | None, typer.Option("--job", help="Job name (default: the sidecar's file name).")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, help="Seconds to wait for the sidecar's event."),
    ] = 30.0,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")
    ] = False,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="Embedded: keep the emulator up after the run (until Ctrl-C) to look around.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the notice as JSON (nothing else on stdout).")
    ] = False,
) -> None:
    """Run the whole pipeline on this machine, with the same code as the Lambdas and container.

    With no files (or --demo) an embedded AWS emulator on 127.0.0.1 provides S3,
    EventBridge, SQS and SNS: the sidecar lands in the inbox, the event reaches the runner
    through a rule and a queue, and the notice comes back through SNS. With MANIFEST SIDECAR
    and --endpoint-url (or real AWS without it) only S3 is used and the notice is printed.
    Exit 0 SUCCEEDED, 3 PARTIAL, 1 FAILED, 6 when the event never arrives, 130 on Ctrl-C.
    """
    # Imported on use: moto is slow to import and only `local` needs it.
    from steps_s3_copy.cli import local_cmd  # noqa: PLC0415

    code = local_cmd.run(
        manifest=manifest,
        sidecar=sidecar,
        demo=demo,
        endpoint_url=endpoint_url,
        work_bucket=work_bucket,
        job=job,
        timeout=timeout,
        region=region,
        profile=profile,
        quiet=quiet or as_json,
        as_json=as_json,
        keep_running=keep_running,
    )
    raise typer.Exit(int(code))


def main() -> None:
    """The ``s3copy`` console script."""
    app()

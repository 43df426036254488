"""How results look on a terminal (rich tables); ``--json`` output never goes through here."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from steps_s3_copy.cli.common import human_bytes
from steps_s3_copy.cli.throughput import Throughput, describe
from steps_s3_copy.progress import Progress
from steps_s3_copy.s3uri import S3Uri

if TYPE_CHECKING:
    from steps_s3_copy.cli.planner import PlanSummary
    from steps_s3_copy.cli.pricing import Estimate
    from steps_s3_copy.validation import JobCheck

STATUS_STYLE = {"SUCCEEDED": "bold green", "PARTIAL": "bold yellow", "FAILED": "bold red"}


def _table(title: str | None = None, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def check_result(console: Console, result: JobCheck, manifest: Path, sidecar: Path) -> None:
    if result.ok:
        console.print(
            f"[green]valid[/]: {manifest} ({len(result.rows)} rows, "
            f"{sum(1 for r in result.rows if r.is_prefix)} prefix/* rows) and {sidecar}"
        )
        return
    if result.sidecar_problems:
        table = _table(f"{sidecar}: {len(result.sidecar_problems)} problem(s)", "field", "problem")
        for problem in result.sidecar_problems:
            table.add_row(problem.field or "", problem.message)
        console.print(table)
    if result.manifest_problem_total:
        table = _table(
            f"{manifest}: {result.manifest_problem_total} problem(s)", "row", "field", "problem"
        )
        for problem in result.manifest_problems:
            table.add_row(
                "" if problem.row is None else str(problem.row),
                problem.field or "",
                problem.message,
            )
        console.print(table)
        hidden = result.manifest_problem_total - len(result.manifest_problems)
        if hidden > 0:
            console.print(f"... and {hidden} more")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _counts_line(body: dict[str, Any]) -> str | None:
    counts, sizes = body.get("counts"), body.get("bytes")
    if not isinstance(counts, dict):
        return None
    sizes = sizes if isinstance(sizes, dict) else {}
    parts = []
    for name in ("copied", "skipped", "failed"):
        n = int(counts.get(name, 0) or 0)
        b = int(sizes.get(name, 0) or 0)
        parts.append(f"{n:,} {name} ({human_bytes(b)})")
    return ", ".join(parts)


#: notice fields shown on a terminal, in this order (``--json`` prints every field)
_NOTICE_ROWS = (
    ("job", "jobName"),
    ("run", "runId"),
    ("manifest", "manifest"),
    ("dry run", "dryRun"),
    ("duration", "durationSeconds"),
    ("report", "reportUri"),
    ("report (html)", "reportHtmlUri"),
    ("summary", "summaryUri"),
    ("execution", "executionId"),
    ("error", "error"),
)


def notice(console: Console, body: dict[str, Any]) -> None:
    """A notice: status, counts, where the report is, and the problems when it failed."""
    status = str(body.get("status", "?"))
    table = _table(None, "", "")
    table.show_header = False
    table.add_row("status", f"[{STATUS_STYLE.get(status, 'bold')}]{status}[/]")
    counts = _counts_line(body)
    if counts:
        table.add_row("objects", counts)
    planned = body.get("planned")
    if isinstance(planned, dict):
        batches = planned.get("batches") or {}
        lanes = ", ".join(f"{n} {lane}" for lane, n in batches.items())
        table.add_row(
            "planned",
            f"{int(planned.get('objects', 0)):,} objects, "
            f"{human_bytes(int(planned.get('bytes', 0)))}; batches: {lanes}",
        )
    for label, key in _NOTICE_ROWS:
        value = body.get(key)
        if value is None or value == "" or (key == "dryRun" and not value):
            continue
        shown = f"{value:.1f} s" if key == "durationSeconds" else _scalar(value)
        table.add_row(label, shown)
    console.print(table)
    problems = body.get("problems")
    if isinstance(problems, list) and problems:
        more = int(body.get("moreProblems", 0) or 0)
        title = f"problems ({len(problems) + more})"
        listing = _table(title, "row", "field", "problem")
        for problem in problems:
            if isinstance(problem, dict):
                row = problem.get("row")
                listing.add_row(
                    "" if row is None else str(row),
                    str(problem.get("field") or ""),
                    str(problem.get("message", "")),
                )
            else:
                listing.add_row("", "", str(problem))
        console.print(listing)
        if more:
            console.print(f"... and {more} more")


def failed_rows(console: Console, rows: list[dict[str, str]], *, total: int) -> None:
    if not total:
        console.print("no failed objects")
        return
    table = _table(f"failed objects ({total})", "source", "destination", "bytes", "error")
    for row in rows:
        size = row.get("bytes", "")
        table.add_row(
            row.get("source", ""),
            row.get("destination", ""),
            human_bytes(int(size)) if size.isdigit() else size,
            row.get("error", ""),
        )
    console.print(table)
    if total > len(rows):
        console.print(f"... and {total - len(rows)} more (see the report CSV)")


def final_line(
    console: Console, status: str, snap: Progress, rate: Throughput | None = None
) -> None:
    console.print(
        f"[{STATUS_STYLE.get(status, 'bold')}]{status}[/]: {snap.objects_done:,} of "
        f"{snap.objects_total:,} objects, {human_bytes(snap.bytes_done)} of "
        f"{human_bytes(snap.bytes_total)}, {snap.failed:,} failed"
    )
    if rate is not None and rate.bytes_per_second is not None:
        console.print(describe(rate), highlight=False)


def policies(console: Console, document: dict[str, Any]) -> None:
    console.print(f"[bold]Bucket policy for s3://{document['bucket']}[/] (destination account):")
    console.print_json(json.dumps(document["bucketPolicy"]))
    if "kmsKeyPolicyStatement" in document:
        console.print("[bold]KMS key policy statement[/] (add to the destination key's policy):")
        console.print_json(json.dumps(document["kmsKeyPolicyStatement"]))
    for note in document.get("notes", []):
        console.print(f"- {note}")


#: S3 requests as ``s3copy plan`` lists them: (label, field of pricing.Requests, price class)
_PLAN_REQUESTS = (
    ("CopyObject", "copy_object", "PUT"),
    ("CreateMultipartUpload", "create_multipart_upload", "PUT"),
    ("UploadPartCopy", "upload_part_copy", "PUT"),
    ("CompleteMultipartUpload", "complete_multipart_upload", "PUT"),
    ("HeadObject (source: no planned ETag, or multipart)", "head_object_source", "GET"),
    ("HeadObject (source parts)", "head_object_source_parts", "GET"),
    ("GetObjectAttributes (source parts)", "get_object_attributes", "GET"),
    ("GetObjectTagging (multipart source)", "get_object_tagging", "GET"),
    ("ListMultipartUploads (multipart: leftovers)", "list_multipart_uploads", "PUT"),
    ("HeadObject (verify multipart)", "head_object_verify", "GET"),
    ("ListObjectsV2 (skip checks)", "list_objects_skip_check", "PUT"),
    ("HeadObject (skip check, lone key)", "head_object_skip_check", "GET"),
    ("GetObject (batch: run.json, plan range)", "batch_get_object", "GET"),
    ("PutObject (batch results)", "batch_put_object", "PUT"),
    ("Prepare: reads, HeadBucket, samples", "prepare_get_head", "GET"),
    ("Prepare: marker, lock, plan parts, index", "prepare_put_list", "PUT"),
    ("Prepare: HeadObject (unsized rows)", "sizing_head_object", "GET"),
    ("Prepare: ListObjectsV2 (folders, prefix/*)", "sizing_list_objects", "PUT"),
    ("RestoreObject (archived)", "restore_object", "restore"),
    ("Thaw: HeadObject (polls)", "thaw_head_object", "GET"),
    ("CheckDestination: probe upload", "check_destination_put", "PUT"),
    ("Summarise: GetObject (results files)", "summarise_get_object", "GET"),
    ("Summarise: report and summary writes", "summarise_put", "PUT"),
    ("Finish: GetObject (run.json, plan)", "finish_get_object", "GET"),
    ("Finish: ListMultipartUploads", "finish_list", "PUT"),
    ("Notify: marker reads", "notify_get", "GET"),
    ("Notify: marker writes", "notify_put", "PUT"),
)

_PLAN_TIMES = (
    ("Prepare", "prepare"),
    ("CheckDestination", "check_destination"),
    ("Copy (the Map)", "copy"),
    ("  batches, maxConcurrency at a time", "copy_batches"),
    ("  S3's request rates per prefix allow", "copy_s3_rate"),
    ("restore wait (archived sources)", "restore_wait"),
    ("Summarise", "summarise"),
    ("Finish", "finish"),
    ("Notify", "notify"),
    ("Step Functions' own time", "states"),
)


def plan(console: Console, planned: PlanSummary) -> None:
    """``s3copy plan``: batches, requests, compute, time, cost, and every figure used."""
    est = planned.estimate
    console.print(
        f"[bold]{est.objects:,} objects, {human_bytes(est.bytes)}[/] "
        f"({est.multipart_objects:,} by multipart copy)"
    )
    lanes = _table("batches per lane", "lane", "batches", "objects", "bytes")
    for lane in ("lambda", "fargate"):
        lanes.add_row(
            lane,
            f"{est.batches[lane]:,}",
            f"{est.objects_by_lane[lane]:,}",
            human_bytes(est.bytes_by_lane[lane]),
        )
    console.print(lanes)
    _plan_requests(console, est)
    _plan_time(console, est)
    console.print(
        f"compute: {est.lambda_invocations:,} Lambda invocations, "
        f"{est.lambda_gb_seconds:,.0f} GB-s; {est.fargate_tasks:,} Fargate tasks, "
        f"{est.fargate_task_hours:,.2f} task-hours; {est.state_transitions:,} state "
        f"transitions; {est.kms_requests:,} KMS requests; longest Lambda batch "
        f"{est.longest_lambda_batch_seconds:,.0f} s"
    )
    costs = _table("estimated cost (USD)", "item", "usd")
    for name, usd in est.cost.items():
        if usd:
            costs.add_row(name, f"{usd:.4f}")
    costs.add_row("[bold]total", f"[bold]{est.total_cost:.4f}")
    costs.add_row("per TiB", f"{est.cost_per_tib:.4f}")
    console.print(costs)
    if planned.restore:
        restore = planned.restore
        console.print(
            f"archived: {restore['objects']:,} objects ({human_bytes(restore['bytes'])}) "
            f"restored with {restore['tier']} for {restore['days']} days; expected wait "
            f"{restore['expectedWaitHours']:g} h ({restore['expectedWaitSource']})"
        )
    _plan_figures(console, planned)
    for note in [*planned.notes, *est.warnings]:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if planned.assumed_rows:
        console.print(
            f"[yellow]{planned.assumed_rows:,} rows had no size and were taken as "
            f"{human_bytes(planned.assumed_size or 0)}[/]"
        )


def _plan_requests(console: Console, est: Estimate) -> None:
    req = est.requests
    requests = _table("S3 requests", "request", "count", "price class")
    for label, name, klass in _PLAN_REQUESTS:
        count = getattr(req, name)
        if count:
            requests.add_row(label, f"{count:,}", klass)
    requests.add_row(
        "[bold]total", f"[bold]{req.put_class:,} PUT-class, {req.get_class:,} GET-class", ""
    )
    console.print(requests)


def _plan_time(console: Console, est: Estimate) -> None:
    timing = est.timing
    bound = "S3 request rates" if timing.copy_bound_by == "s3RequestRate" else "the batches"
    times = _table(
        f"time (about {_duration(timing.total)}; the Map bound by {bound})", "step", "seconds"
    )
    for label, name in _PLAN_TIMES:
        seconds = getattr(timing, name)
        if seconds or name in ("prepare", "copy", "summarise"):
            times.add_row(label, f"{seconds:,.1f}")
    console.print(times)


_FIGURE_TITLES = {
    "price": "prices assumed (list prices)",
    "assumption": "assumptions (not measurable offline)",
    "deployment": "how the construct and the code run it",
    "calibrated": "calibrated (measured)",
}


def _plan_figures(console: Console, planned: PlanSummary) -> None:
    """Every figure the estimate used, one per line with where it comes from."""
    for kind, title in _FIGURE_TITLES.items():
        console.print(f"[bold]{title}[/]")
        if kind == "calibrated":
            console.print(f"  [dim]{escape(planned.calibration_source)}[/]")
        for figure in planned.figures:
            if figure.kind == kind:
                unit = f" {figure.unit}" if figure.unit else ""
                shown = escape(f"{figure.name} = {_scalar(figure.value)}{unit}")
                console.print(f"  {shown}  [dim]{escape(figure.source)}[/]")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _common_bucket(uris: list[str]) -> S3Uri | None:
    """The bucket (as ``s3://bucket/``) every ``s3://`` URI of ``uris`` is in, if one."""
    buckets = set()
    for uri in uris:
        with contextlib.suppress(ValueError):
            buckets.add(S3Uri(S3Uri.parse(uri).bucket))
    return next(iter(buckets)) if len(buckets) == 1 else None


def report_table(rows: list[dict[str, str]], *, total: int) -> Table:
    """Rows of report.csv: source, destination, status, bytes, seconds, error.

    When every source (destination) is in one bucket, the column shows keys and its
    header names the bucket.
    """
    sources = [r.get("source", "") for r in rows]
    destinations = [r.get("destination", "") for r in rows]
    source_bucket, destination_bucket = _common_bucket(sources), _common_bucket(destinations)

    def short(uri: str, bucket: S3Uri | None) -> str:
        return uri.removeprefix(str(bucket)) if bucket else uri

    table = _table(
        f"report ({total} objects)",
        f"source key in {source_bucket}" if source_bucket else "source",
        f"destination key in {destination_bucket}" if destination_bucket else "destination",
        "status",
        "bytes",
        "seconds",
    )
    with_methods = any(row.get("method") for row in rows)
    if with_methods:
        table.add_column("method")
    with_errors = any(row.get("error") for row in rows)
    if with_errors:
        table.add_column("error", overflow="fold")
    for row in rows:
        status = row.get("status", "")
        style = {"COPIED": "green", "SKIPPED": "cyan", "FAILED": "red"}.get(status, "")
        size = row.get("bytes", "")
        seconds = row.get("seconds", "")
        with contextlib.suppress(ValueError):
            seconds = f"{float(seconds):.2f}"
        cells = [
            short(row.get("source", ""), source_bucket),
            short(row.get("destination", ""), destination_bucket),
            f"[{style}]{status}[/]" if style else status,
            human_bytes(int(size)) if size.isdigit() else size,
            seconds,
        ]
        if with_methods:
            cells.append(row.get("method", ""))
        if with_errors:
            cells.append(row.get("error", ""))
        table.add_row(*cells)
    return table

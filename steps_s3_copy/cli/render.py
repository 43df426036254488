"""How results look on a terminal (rich tables); ``--json`` output never goes through here."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from steps_s3_copy.cli.common import human_bytes
from steps_s3_copy.cli.throughput import Throughput, describe
from steps_s3_copy.progress import Progress
from steps_s3_copy.s3uri import S3Uri

if TYPE_CHECKING:
    from steps_s3_copy.cli.planner import PlanSummary
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


def plan(console: Console, planned: PlanSummary) -> None:
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
    req = est.requests
    requests = _table("S3 requests by method", "method", "requests", "price class")
    for name, count, klass in (
        ("CopyObject", req.copy_object, "PUT/COPY"),
        ("CreateMultipartUpload", req.create_multipart_upload, "PUT/COPY"),
        ("UploadPartCopy", req.upload_part_copy, "PUT/COPY"),
        ("CompleteMultipartUpload", req.complete_multipart_upload, "PUT/COPY"),
        ("ListObjectsV2 (skip checks)", req.list_objects, "LIST"),
        ("HeadObject/GetObjectAttributes", req.head_or_attributes, "GET/HEAD"),
        ("GetObjectTagging", req.get_object_tagging, "GET/HEAD"),
        ("HeadObject (Prepare, sizing)", req.sizing_head_object, "GET/HEAD"),
        ("ListObjectsV2 (Prepare, prefix/*)", req.sizing_list_objects, "LIST"),
    ):
        requests.add_row(name, f"{count:,}", klass)
    if req.kms:
        requests.add_row("KMS (GenerateDataKey/Decrypt)", f"{req.kms:,}", "KMS")
    console.print(requests)
    costs = _table("estimated cost (USD)", "item", "usd")
    for name, usd in est.cost.items():
        costs.add_row(name, f"{usd:.4f}")
    costs.add_row("[bold]total", f"[bold]{est.total_cost:.4f}")
    console.print(costs)
    console.print(
        f"compute: {est.lambda_gb_seconds:,.0f} Lambda GB-s, "
        f"{est.fargate_task_hours:,.2f} Fargate task-hours, "
        f"{est.state_transitions:,} state transitions; "
        f"about {_duration(est.wall_clock_seconds)} at maxConcurrency {planned.max_concurrency}"
    )
    assumed = _table("assumed (us-east-1 list prices and throughput)", "figure", "value")
    for name, value in {**planned.prices, **planned.assumptions}.items():
        assumed.add_row(name, _scalar(value))
    console.print(assumed)
    if planned.assumed_rows:
        console.print(
            f"[yellow]{planned.assumed_rows:,} rows had no size and were taken as "
            f"{human_bytes(planned.assumed_size or 0)}[/]"
        )


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

"""A run's files in S3 as the CLI reads them, deployed or local alike: the batches'
results in the working area, the run's notice, ``report.csv``, and a job's latest run.

Every reader here streams or reads only what it needs: a run may have millions of rows.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from steps_s3_copy.inbox import DEFAULT_WORK_PREFIX, InboxLayout
from steps_s3_copy.models import ObjectResult, RunLocation, Status
from steps_s3_copy.progress import Progress
from steps_s3_copy.s3uri import SCHEME, S3Uri


def read_results(s3: Any, bucket: str, key: str) -> Iterator[ObjectResult]:
    """The per-object results of one batch (``results/<batch>.jsonl``)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    for line in body.decode("utf-8").splitlines():
        if line.strip():
            yield ObjectResult.model_validate_json(line)


def results_files(s3: Any, location: RunLocation) -> Iterator[dict[str, Any]]:
    """The ListObjectsV2 entries of the run's ``results/`` (one request per 1,000 batches)."""
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.results_prefix
    ):
        yield from page.get("Contents", [])


@dataclass(frozen=True)
class _ResultsFile:
    etag: str
    done: Progress
    #: when the batch wrote it (its end): what the throughput is measured by
    modified: datetime | None


@dataclass
class ResultsWatcher:
    """Follows ``results/*.jsonl`` of a working area across polls.

    Each poll lists the results (one request per 1,000 batches) and reads only the files
    that are new or changed since the last poll (a retried batch rewrites its file), so
    watching a million-object run does not re-read every result every few seconds.
    """

    location: RunLocation
    _files: dict[str, _ResultsFile] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def poll(self, s3: Any) -> Progress:
        """The objects done so far (objects and bytes done, failed)."""
        seen: set[str] = set()
        for item in results_files(s3, self.location):
            key, etag = item["Key"], str(item.get("ETag", ""))
            seen.add(key)
            modified = item.get("LastModified")
            known = self._files.get(key)
            if known is not None and known.etag == etag:
                continue
            done = Progress()
            for result in read_results(s3, self.location.bucket, key):
                done.add(result)
            self._files[key] = _ResultsFile(
                etag, done, modified if isinstance(modified, datetime) else None
            )
        self._seen = seen
        total = Progress()
        for key, file in self._files.items():
            if key in seen:
                total += file.done
        return total

    def written_since(self, since: datetime) -> Progress:
        """What the results files written at or after ``since`` hold (as of the last poll)."""
        recent = Progress()
        for key in self._seen:
            file = self._files[key]
            if file.modified is not None and file.modified >= since:
                recent += file.done
        return recent

    def first_written(self) -> datetime | None:
        """When the earliest results file still there was written (as of the last poll)."""
        times = [self._files[k].modified for k in self._seen if self._files[k].modified]
        return min(t for t in times if t is not None) if times else None


def methods_of(s3: Any, location: RunLocation, wanted: set[str]) -> dict[str, str]:
    """How the ``wanted`` destinations were handled (copy, multipart, skip), from the
    batches' results; stops reading once every one is found."""
    methods: dict[str, str] = {}
    for item in results_files(s3, location):
        for result in read_results(s3, location.bucket, item["Key"]):
            if result.destination in wanted:
                methods[result.destination] = result.method
        if len(methods) == len(wanted):
            return methods
    return methods


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    value = json.loads(body)
    return value if isinstance(value, dict) else None


def notice_in_work_area(s3: Any, location: RunLocation) -> dict[str, Any] | None:
    """The run's notice: ``summary.json`` of the working area, else the notice marker's."""
    summary = read_json(s3, location.bucket, location.key("summary.json"))
    if summary is not None and "status" in summary:
        return summary
    marker = read_json(s3, location.bucket, location.key("notice.json"))
    if marker is not None:
        inner = marker.get("notice", marker)
        if isinstance(inner, dict) and "status" in inner:
            return inner
    return None


def latest_run(
    s3: Any, inbox_bucket: str, job_name: str, work_prefix: str = DEFAULT_WORK_PREFIX
) -> RunLocation | None:
    """The newest finished working area of ``job_name``: the one whose ``summary.json``
    (written by Summarise, also after a failed Prepare) is newest; without any, the newest
    ``run.json`` (a run still going).

    S3 times have one-second resolution, so runs finished within the same second are told
    apart by their summary's ``finishedAt``.
    """
    layout = InboxLayout(inbox_bucket, work_prefix=work_prefix)
    # The job's working areas: <work>/<job>/<run-id>/
    job_prefix = f"{work_prefix}{job_name}/"
    found: dict[str, list[tuple[datetime, str]]] = {"summary.json": [], "run.json": []}
    depth = job_prefix.count("/") + 1
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=inbox_bucket, Prefix=job_prefix
    ):
        for item in page.get("Contents", []):
            key = item["Key"]
            name = key.rsplit("/", 1)[1]
            # <work>/<job>/<run>/<name> only: not results/, nor a deeper job's files
            if key.count("/") == depth and name in found:
                found[name].append((item["LastModified"], key))
    candidates = found["summary.json"] or found["run.json"]
    if not candidates:
        return None
    newest = max(when for when, _ in candidates)
    tied = [key for when, key in candidates if when == newest]
    if len(tied) > 1 and found["summary.json"]:
        tied.sort(key=lambda key: str((read_json(s3, inbox_bucket, key) or {}).get("finishedAt")))
    run_id = tied[-1].split("/")[-2]
    return layout.work(job_name, run_id)


def report_csv_uri(notice: dict[str, Any] | None) -> str | None:
    """The ``report.csv`` a notice points at; None for a run without one (a dry run, a
    failed Prepare) or a location that is not an ``s3://`` URI."""
    if not notice:
        return None
    for key in ("reportCsv", "reportCsvUri", "report"):
        value = notice.get(key)
        if isinstance(value, str) and value.startswith(SCHEME):
            return value
    uri = notice.get("reportUri")
    if not isinstance(uri, str) or not uri:
        return None
    if uri.endswith(".csv"):
        return uri
    try:
        return str(S3Uri.parse(uri).join("report.csv"))
    except ValueError:
        return None


def report_html_uri(notice: dict[str, Any] | None) -> str | None:
    """The ``report.html`` of a run: the notice's ``reportHtmlUri``, else (a run summarised
    before the notice had it) beside its ``report.csv``; None for a run without a report."""
    uri = (notice or {}).get("reportHtmlUri")
    if isinstance(uri, str) and uri.startswith(SCHEME):
        return uri
    csv_uri = report_csv_uri(notice)
    if csv_uri is None:
        return None
    return csv_uri.rsplit("/", 1)[0] + "/report.html"


def download(s3: Any, uri: str, path: Path) -> bool:
    """Write the object at ``uri`` to ``path`` (through a temporary file beside it, so a
    failed download leaves no partial file); False when the object does not exist."""
    source = S3Uri.parse(uri, need_key=True)
    try:
        body = s3.get_object(Bucket=source.bucket, Key=source.key)["Body"]
    except s3.exceptions.NoSuchKey:
        return False
    folder = path.parent if str(path.parent) else Path()
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(body, out, 1024 * 1024)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def report_rows(s3: Any, report_uri: str) -> Iterator[dict[str, str]]:
    """The rows of a ``report.csv``, streamed (a report may have millions of rows)."""
    uri = S3Uri.parse(report_uri, need_key=True)
    body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
    lines = (line.decode("utf-8") for line in body.iter_lines(keepends=True))
    for row in csv.DictReader(lines):
        yield dict(row)


def failed_rows(s3: Any, report_uri: str, *, limit: int) -> tuple[list[dict[str, str]], int]:
    """FAILED rows of report.csv: the first ``limit`` (all with ``limit=0``) and how many
    there are."""
    return head(
        (row for row in report_rows(s3, report_uri) if row.get("status") == Status.FAILED.value),
        limit=limit,
    )


def head(rows: Iterator[dict[str, str]], *, limit: int) -> tuple[list[dict[str, str]], int]:
    """The first ``limit`` rows (all with ``limit=0``) and how many rows there are."""
    shown: list[dict[str, str]] = []
    total = 0
    for row in rows:
        total += 1
        if limit == 0 or len(shown) < limit:
            shown.append(row)
    return shown, total

"""report.html: the rendering (escaping, numbers, charts present or left out, nothing
external) and Summarise writing it beside report.csv with summary.json's numbers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from steps_s3_copy import report_html
from steps_s3_copy.models import RunLocation
from steps_s3_copy.payloads import ExecutionContext, Notice, StatusCounts, StepError
from steps_s3_copy.report_html import count, duration, render, size
from steps_s3_copy.report_stats import ObjectRow, ReportStats
from steps_s3_copy.summarise import summarise, summarise_failure
from tests.core.conftest import INBOX, World
from tests.core.report_run import EXECUTION, HTML_KEY, realistic_run
from tests.core.test_summarise import planned

NOW = datetime(2026, 11, 25, 18, 20, tzinfo=UTC)

# -- reading a page back ----------------------------------------------------------------


class _Page(HTMLParser):
    """Collects the text of every element with a data-stat (or a lane cell), the charts,
    the tags and attributes used, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stats: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.lanes: dict[tuple[str, str], str] = {}
        self.charts: list[str] = []
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []
        self._open: list[tuple[str, Any, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        self.attributes.update(found)
        if "data-chart" in found:
            self.charts.append(str(found["data-chart"]))
        key: Any = None
        if "data-stat" in found:
            key = ("stat", found["data-stat"])
            if "data-value" in found:
                self.values[str(found["data-stat"])] = str(found["data-value"])
        elif "data-lane" in found:
            key = ("lane", (found["data-lane"], found["data-status"]))
        self._open.append((tag, key, []))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, key, parts = self._open.pop()
            if key is not None:
                text = "".join(parts).strip()
                if key[0] == "stat":
                    self.stats[key[1]] = text
                else:
                    self.lanes[key[1]] = text
            if self._open:
                self._open[-1][2].extend(parts)
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open:
            self._open[-1][2].append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def number(text: str) -> int:
    return int(text.replace(",", ""))


def assert_numbers_match(page: _Page, summary: dict[str, Any]) -> None:
    """Every number of summary.json the page shows equals summary.json's."""
    assert page.stats["status"] == summary["status"]
    assert page.stats["jobName"] == summary["jobName"]
    assert page.stats["runId"] == summary["runId"]
    for status in ("copied", "skipped", "failed"):
        assert number(page.stats[f"counts.{status}"]) == summary["counts"][status], status
        assert number(page.stats[f"bytes.{status}"]) == summary["bytes"][status], status
    assert number(page.stats["planned.objects"]) == summary["planned"]["objects"]
    assert number(page.stats["planned.bytes"]) == summary["planned"]["bytes"]
    assert float(page.values["durationSeconds"]) == summary["durationSeconds"]
    assert page.stats["durationSeconds"] == duration(summary["durationSeconds"])
    assert number(page.stats["failed-total"]) == summary["counts"]["failed"]
    for status in ("COPIED", "SKIPPED", "FAILED"):
        per_lane = sum(number(text) for (_, each), text in page.lanes.items() if each == status)
        assert per_lane == summary["counts"][status.lower()], status


# -- rendering ----------------------------------------------------------------------------


def notice_for(stats: ReportStats, **extra: Any) -> Notice:
    def lower(values: dict[str, int]) -> StatusCounts:
        return StatusCounts.model_validate({k.lower(): v for k, v in values.items()})

    fields: dict[str, Any] = {
        "job_name": "lab-a",
        "run_id": "run-1",
        "execution_id": "arn:aws:states:eu-west-2:123456789012:execution:sm:run-1",
        "status": "PARTIAL" if stats.failed_total else "SUCCEEDED",
        "counts": lower(stats.counts),
        "bytes": lower(stats.bytes),
        "finished_at": "2026-11-25T18:02:30+00:00",
        "started_at": "2026-11-25T18:00:00Z",
        "duration_seconds": 150.0,
        "report_uri": "s3://inbox/reports/lab-a/run-1/report.csv",
        "report_html_uri": "s3://inbox/reports/lab-a/run-1/report.html",
        "work": RunLocation(bucket="inbox", prefix="work/lab-a/run-1/"),
    }
    return Notice(**(fields | extra))


def small_run(*, timed: bool = True, evil: str = "<script>alert(1)</script>") -> ReportStats:
    stats = ReportStats()
    rows = [
        ("COPIED", 5 * 1024**3, 20.0, "fargate", None, None),
        ("COPIED", 1000, 0.2, "lambda", None, None),
        ("SKIPPED", 300, 0.01, "lambda", None, None),
        ("FAILED", 42, 0.1, "lambda", "AccessDenied", "<img src=x onerror=alert(2)>"),
    ]
    for i, (status, size_, seconds, lane, code, message) in enumerate(rows):
        stats.add(
            ObjectRow(
                source=f"s3://src/{evil}/{i}",
                destination=f"s3://dst/{evil}/{i}",
                status=status,
                bytes=size_,
                seconds=seconds,
                lane=lane,
                error_code=code,
                error_message=message,
            ),
            finished_at=1_795_629_600.0 + 10 * i if timed else None,
        )
    return stats


def test_every_string_from_the_run_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    stats = small_run(evil=evil)
    page = render(
        notice_for(stats, job_name='job"<b>&', manifest=f"s3://inbox/jobs/{evil}.csv"), stats
    )
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    parsed = parse(page)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert "onerror" not in parsed.attributes
    assert parsed.stats["jobName"] == 'job"<b>&'  # shown as text, exactly
    assert any(evil in text for text in parsed.text)


def test_the_page_loads_nothing_from_anywhere() -> None:
    stats = small_run()
    page = render(notice_for(stats), stats)
    parsed = parse(page)
    assert not parsed.attributes & {"src", "href", "srcset", "action", "formaction"}
    assert not {"script", "link", "img", "iframe", "object", "embed"} & parsed.tags
    assert "url(" not in page
    assert "@import" not in page
    # the only URL is the SVG namespace (an identifier, never fetched)
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {"http://www.w3.org/2000/svg"}
    assert f'content="{report_html.CSP}"' in page.replace("&#x27;", "'")


def test_numbers_on_the_page_equal_the_notice() -> None:
    stats = small_run()
    notice = notice_for(stats)
    page = parse(render(notice, stats))
    summary = notice.to_payload()
    summary["planned"] = {"objects": stats.objects, "bytes": sum(stats.bytes.values())}
    assert_numbers_match(page, summary)
    assert page.stats["counts.copied"] == "2"
    assert page.stats["bytes.copied"] == count(5 * 1024**3 + 1000) == "5,368,710,120"


def test_charts_are_present_with_finish_times() -> None:
    stats = small_run()
    parsed = parse(render(notice_for(stats), stats))
    assert parsed.charts == [
        "objects-by-status",
        "bytes-by-status",
        "objects-by-lane",
        "bytes-by-lane",
        "throughput",
        "objects-over-time",
    ]


def test_throughput_is_left_out_with_a_reason_without_finish_times() -> None:
    stats = small_run(timed=False)
    page = render(notice_for(stats), stats)
    parsed = parse(page)
    assert "throughput" not in parsed.charts
    assert "objects-over-time" not in parsed.charts
    assert 'data-note="no-timeline"' in page
    assert "finishedAt" in page
    assert "objects-by-lane" in parsed.charts


def test_objects_without_a_finish_time_are_counted_in_a_note() -> None:
    stats = small_run()
    stats.add(ObjectRow("s3://s/x", "s3://d/x", "FAILED", 1, 0.0, "fargate", "BatchFailed"))
    page = render(notice_for(stats), stats)
    assert "1 of 5 objects have no finish time" in page


def test_a_run_without_failures_says_so() -> None:
    stats = ReportStats()
    stats.add(ObjectRow("s3://s/a", "s3://d/a", "COPIED", 5, 0.1, "lambda"))
    page = parse(render(notice_for(stats), stats))
    assert page.stats["failed-total"] == "0"
    assert any("No object failed" in text for text in page.text)


def test_failed_objects_past_the_cap_are_counted() -> None:
    stats = ReportStats(failed_cap=3)
    for i in range(7):
        stats.add(ObjectRow(f"s3://s/{i}", f"s3://d/{i}", "FAILED", 1, 0.0, "lambda", "X"))
    page = render(notice_for(stats), stats)
    parsed = parse(page)
    assert number(parsed.stats["failed-total"]) == 7
    assert "the first 3 are listed" in page
    listed = page.split('data-table="failed"', 1)[1]
    assert re.findall(r"s3://s/\d", listed) == ["s3://s/0", "s3://s/1", "s3://s/2"]


def test_an_empty_run_renders() -> None:
    stats = ReportStats()
    page = parse(render(notice_for(stats, status="FAILED", duration_seconds=0.0), stats))
    assert page.stats["counts.copied"] == "0"
    assert "throughput" not in page.charts


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (5 * 1024**3, "5.0 GiB"),
        (300 * 1024**2, "300 MiB"),
    ],
)
def test_sizes(value: int, shown: str) -> None:
    assert size(value) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.42, "0.4 s"),
        (42, "42 s"),
        (150, "2 min 30 s"),
        (3 * 3600 + 300, "3 h 05 min"),
        (50 * 3600, "2 d 2 h"),
    ],
)
def test_durations(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


# -- Summarise writes it ----------------------------------------------------------------


def test_summarise_writes_report_html_with_the_numbers_of_summary_json(world: World) -> None:
    run = realistic_run(world.s3, INBOX, objects=120)
    notice = summarise(run.prepared, EXECUTION, s3=world.s3, now=NOW)
    prefix = "reports/lab-a-to-partner/run-0042/"
    assert notice.report_html_uri == f"s3://{INBOX}/{prefix}report.html"
    assert sorted(world.keys(INBOX, prefix)) == [
        f"{prefix}receipt.jsonl",
        f"{prefix}report.csv",
        f"{prefix}report.html",
        f"{prefix}summary.json",
    ]
    head = world.s3.head_object(Bucket=INBOX, Key=f"{prefix}report.html")
    assert head["ContentType"] == "text/html; charset=utf-8"
    summary = json.loads(world.text(INBOX, f"{prefix}summary.json"))
    assert summary["reportHtmlUri"] == notice.report_html_uri
    page = world.text(INBOX, f"{prefix}report.html")
    parsed = parse(page)
    assert_numbers_match(parsed, summary)
    # the run has failures of each kind Summarise reports, and both lanes
    reasons = set(re.findall(r'data-reason="([^"]+)"', page))
    assert {"BatchFailed", "NotAttempted"} <= reasons
    assert summary["counts"]["failed"] > 0
    assert {lane for (lane, _), text in parsed.lanes.items() if number(text)} == {
        "lambda",
        "fargate",
    }
    assert "throughput" in parsed.charts
    assert any(HTML_KEY in text for text in parsed.text)
    assert "<script" not in page


def test_a_dry_run_writes_no_report_html(world: World) -> None:
    prepared = planned(world, 3, dryRun=True)
    notice = summarise(prepared, EXECUTION, s3=world.s3, now=NOW)
    assert notice.report_html_uri is None
    assert world.keys(INBOX, "reports/") == ["reports/mix/r/summary.json"]


def test_a_failed_prepare_writes_no_report_html(world: World) -> None:
    execution = ExecutionContext(id="arn:aws:states:::execution:sm:bad", name="bad")
    notice = summarise_failure(
        StepError(error="ManifestInvalid", cause="row 2: key is empty"),
        {"sourceFilesCsvBucket": INBOX, "sourceFilesCsvKey": "jobs/x.csv"},
        execution,
        s3=world.s3,
        layout=world.settings.layout,
        now=NOW,
    )
    assert notice.report_html_uri is None
    assert not [k for k in world.keys(INBOX) if k.endswith("report.html")]

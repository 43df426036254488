"""``report.html``: one self-contained page about a run, written by Summarise beside
``report.csv``.

Everything is inline: the CSS in a ``<style>`` element, the charts as ``<svg>`` elements.
There is no script, font, image or link to fetch, and the page's Content-Security-Policy
(``default-src 'none'``) makes a browser refuse any that slipped in, so it opens the same
from S3, from disk or from a mail attachment. Every string from the run (keys are user
data) goes through :func:`html.escape`.

The numbers the summary shows carry ``data-stat`` attributes (``counts.copied``,
``bytes.failed``, ...) named after ``summary.json``'s fields, so a test (or a scraper) can
read them back from the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from steps_s3_copy.payloads import Notice
from steps_s3_copy.report_stats import (
    LANES,
    STATUSES,
    ObjectRow,
    ReportStats,
    Timeline,
)
from steps_s3_copy.s3uri import S3Uri

CONTENT_TYPE = "text/html; charset=utf-8"

#: what the page may load: nothing but its own inline styles (and data: images, unused)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

COLOURS = {"COPIED": "#2e7d32", "SKIPPED": "#78909c", "FAILED": "#c62828"}
STATUS_COLOURS = {"SUCCEEDED": "#2e7d32", "PARTIAL": "#e08600", "FAILED": "#c62828"}
LANE_NAMES = {"lambda": "Lambda", "fargate": "Fargate"}


# -- formatting ---------------------------------------------------------------------------


def esc(value: object) -> str:
    """Text for HTML content or a quoted attribute (``<``, ``>``, ``&``, ``"``, ``'``)."""
    return html.escape(str(value), quote=True)


def count(n: int) -> str:
    return f"{n:,}"


def size(n: float) -> str:
    """Bytes in binary units: ``0 B``, ``999 B``, ``1.5 KiB``, ``12.3 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            if unit == "B":
                return f"{value:.0f} B"
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def rate(bytes_per_second: float) -> str:
    return f"{size(bytes_per_second)}/s"


def duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``2 min 30 s``, ``3 h 05 min``, ``2 d 4 h``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def when(text: str | None) -> str:
    """An ISO time as ``2026-11-25 18:00:00 UTC`` (the text itself when it does not parse)."""
    if not text:
        return "unknown"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(epoch: float, *, with_date: bool) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%m-%d %H:%M" if with_date else "%H:%M:%S")


def share(values: dict[str, int], key: str) -> str:
    """`` · 85%``: ``key``'s share of the total (nothing when the total is 0)."""
    total = sum(values.values())
    if not total:
        return ""
    part = 100 * values[key] / total
    shown = f"{part:.0f}" if part >= 1 or part == 0 else "<1"
    return f" · {shown}%"


def _bucket_width(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


# -- charts ------------------------------------------------------------------------------

_LABEL_W = 80
_VALUE_W = 110
_BAR_H = 22
_GAP = 8


def _svg(name: str, title: str, width: int, height: int, body: str) -> str:
    return (
        f'<svg class="chart" data-chart="{esc(name)}" role="img" aria-label="{esc(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>{body}</svg>'
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{esc(text)}</text>'


def bar_chart(
    name: str, title: str, rows: Sequence[tuple[str, float, str, str]], *, width: int = 460
) -> str:
    """Horizontal bars: (label, value, colour, value text) per row, scaled to the largest."""
    plot = width - _LABEL_W - _VALUE_W
    top = max((value for _, value, _, _ in rows), default=0) or 1
    parts = []
    for i, (label, value, colour, shown) in enumerate(rows):
        y = i * (_BAR_H + _GAP)
        length = plot * value / top
        parts.append(_text(_LABEL_W - 8, y + _BAR_H * 0.7, label, anchor="end"))
        parts.append(
            f'<rect x="{_LABEL_W}" y="{y}" width="{plot:.1f}" height="{_BAR_H}" class="track"/>'
        )
        if value > 0:
            parts.append(
                f'<rect x="{_LABEL_W}" y="{y}" width="{max(length, 1.5):.1f}" '
                f'height="{_BAR_H}" fill="{colour}"/>'
            )
        parts.append(_text(_LABEL_W + plot + 8, y + _BAR_H * 0.7, shown, cls="value"))
    height = len(rows) * (_BAR_H + _GAP) - _GAP
    return _svg(name, title, width, height, "".join(parts))


def stacked_chart(
    name: str,
    title: str,
    rows: Sequence[tuple[str, dict[str, float], str]],
    *,
    width: int = 460,
) -> str:
    """Horizontal bars split by status: (label, {status: value}, total text) per row."""
    plot = width - _LABEL_W - _VALUE_W
    top = max((sum(parts.values()) for _, parts, _ in rows), default=0) or 1
    out = []
    for i, (label, values, shown) in enumerate(rows):
        y = i * (_BAR_H + _GAP)
        out.append(_text(_LABEL_W - 8, y + _BAR_H * 0.7, label, anchor="end"))
        out.append(
            f'<rect x="{_LABEL_W}" y="{y}" width="{plot:.1f}" height="{_BAR_H}" class="track"/>'
        )
        x = float(_LABEL_W)
        for status in STATUSES:
            value = values.get(status, 0)
            if value <= 0:
                continue
            length = max(plot * value / top, 1.5)
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{_BAR_H}" '
                f'fill="{COLOURS[status]}"><title>{esc(status.lower())}</title></rect>'
            )
            x += length
        out.append(_text(_LABEL_W + plot + 8, y + _BAR_H * 0.7, shown, cls="value"))
    height = len(rows) * (_BAR_H + _GAP) - _GAP
    return _svg(name, title, width, height, "".join(out))


def _nice_top(value: float, *, binary: bool = False) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value``; with ``binary``,
    that many KiB, MiB, GiB... (so a byte axis reads 2 GiB/s, not 1.9 GiB/s)."""
    if value <= 0:
        return 1.0
    if binary and value >= 1024:
        unit = 1024.0 ** min(math.floor(math.log(value, 1024)), 5)
        return unit * _nice_top(value / unit)
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover


def time_chart(
    name: str,
    title: str,
    timeline: Timeline,
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    axis: Any,
    binary: bool = False,
    width: int = 960,
    height: int = 200,
) -> str:
    """Vertical bars over time, stacked by series (name, colour, one value per bucket).

    ``axis`` formats a y value (the top of the axis and its middle)."""
    left, right, top_pad, bottom = 84, 12, 10, 24
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    n = len(timeline.buckets)
    totals = [sum(values[i] for _, _, values in series) for i in range(n)]
    top = _nice_top(max(totals, default=0), binary=binary)
    slot = plot_w / max(n, 1)
    bar = max(slot * 0.8, 1.0)
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(_text(left - 6, y + 4, axis(top * fraction), anchor="end", cls="axis"))
    for i in range(n):
        x = left + i * slot + (slot - bar) / 2
        base = float(top_pad + plot_h)
        for _, colour, values in series:
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"/>'
            )
    span = timeline.width * n
    with_date = span > 86400
    ticks = min(n, 6)
    for t in range(ticks):
        i = round(t * (n - 1) / max(ticks - 1, 1))
        x = left + i * slot + slot / 2
        moment = timeline.start + i * timeline.width
        anchor = "start" if t == 0 and ticks > 1 else ("end" if t == ticks - 1 else "middle")
        if ticks == 1:
            anchor = "middle"
        parts.append(
            _text(x, height - 6, _clock(moment, with_date=with_date), anchor=anchor, cls="axis")
        )
    return _svg(name, title, width, height, "".join(parts))


# -- the page ------------------------------------------------------------------------------


STYLE = """
:root{--ink:#1d232a;--muted:#5f6b76;--line:#dde3e8;--bg:#f5f7f9;--card:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px 20px 40px}
header{display:flex;align-items:center;gap:16px;flex-wrap:wrap;margin-bottom:4px}
h1{font-size:22px;margin:0;word-break:break-all}
h2{font-size:16px;margin:0 0 12px}
h3{font-size:13px;margin:0 0 8px;color:var(--muted);font-weight:600}
.sub{color:var(--muted);margin:0 0 18px;word-break:break-all}
.badge{color:#fff;font-weight:700;letter-spacing:.04em;padding:4px 12px;border-radius:14px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:16px 18px;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;
margin-bottom:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;
border-top:4px solid var(--line)}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.05em}
.card .big{font-size:24px;font-weight:700;margin:2px 0}
.card .small{color:var(--muted);font-size:12px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(400px,1fr));gap:18px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.key{word-break:break-all;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:12px}
td.err{word-break:break-word;font-size:12.5px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dt{color:var(--muted)}
dd{margin:0;word-break:break-all}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.exact{color:var(--muted);font-size:11.5px;display:block}
.note{color:var(--muted);margin:8px 0 0}
.legend{display:flex;gap:14px;flex-wrap:wrap;color:var(--muted);font-size:12px;margin:6px 0 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.status{font-weight:600;font-size:12px}
.meter{background:var(--line);height:8px;border-radius:4px;min-width:60px;margin-top:5px}
.meter b{display:block;height:8px;border-radius:4px;background:#c62828}
svg.chart{max-width:100%;height:auto;display:block;overflow:visible}
svg text{font-size:12px;fill:var(--ink)}
svg text.value,svg text.axis{fill:var(--muted)}
svg .track{fill:#eef1f4}
svg .grid{stroke:var(--line);stroke-width:1}
footer{color:var(--muted);font-size:12px;text-align:center}
@media print{body{background:#fff}section,.card{break-inside:avoid}}
"""


def _status_cell(status: str) -> str:
    colour = COLOURS.get(status, "#555")
    return f'<span class="status" style="color:{colour}">{esc(status)}</span>'


def _legend(items: Iterable[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{esc(label)}</span>' for label, c in items)
        + "</div>"
    )


def _status_legend() -> str:
    return _legend((s.lower(), COLOURS[s]) for s in STATUSES)


class _Page:
    def __init__(self, notice: Notice, stats: ReportStats) -> None:
        self.notice = notice
        self.stats = stats

    # each section returns its HTML

    def header(self) -> str:
        n = self.notice
        colour = STATUS_COLOURS.get(n.status, "#555")
        return (
            "<header>"
            f'<span class="badge" style="background:{colour}" data-stat="status">'
            f"{esc(n.status)}</span>"
            f'<h1>Copy report: <span data-stat="jobName">{esc(n.job_name)}</span></h1>'
            "</header>"
            f'<p class="sub">run <code data-stat="runId">{esc(n.run_id)}</code> · finished '
            f"{esc(when(n.finished_at))}</p>"
        )

    def cards(self) -> str:
        n, s = self.notice, self.stats
        planned_objects = n.planned.objects if n.planned else s.objects
        planned_bytes = n.planned.bytes if n.planned else sum(s.bytes.values())
        counts = n.counts.model_dump()
        sizes = n.bytes.model_dump()

        def card(label: str, body: str, small: str, colour: str = "var(--line)") -> str:
            return (
                f'<div class="card" style="border-top-color:{colour}">'
                f'<div class="label">{esc(label)}</div><div class="big">{body}</div>'
                f'<div class="small">{small}</div></div>'
            )

        out = [
            card(
                "planned",
                f'<span data-stat="planned.objects">{count(planned_objects)}</span>',
                f'{esc(size(planned_bytes))}<span class="exact">'
                f'<span data-stat="planned.bytes">{count(planned_bytes)}</span> bytes</span>',
            )
        ]
        for status in STATUSES:
            key = status.lower()
            out.append(
                card(
                    key,
                    f'<span data-stat="counts.{key}">{count(counts[key])}</span>',
                    f'{esc(size(sizes[key]))}<span class="exact">'
                    f'<span data-stat="bytes.{key}">{count(sizes[key])}</span> bytes</span>',
                    COLOURS[status],
                )
            )
        seconds = n.duration_seconds
        average = sizes["copied"] / seconds if seconds > 0 else 0.0
        out.append(
            card(
                "duration",
                f'<span data-stat="durationSeconds" data-value="{seconds}">'
                f"{esc(duration(seconds))}</span>",
                f"{esc(rate(average))} copied on average" if seconds > 0 else "&nbsp;",
            )
        )
        return f'<div class="cards">{"".join(out)}</div>'

    def details(self) -> str:
        n = self.notice
        rows: list[tuple[str, str]] = [
            ("job", esc(n.job_name)),
            ("run id", f"<code>{esc(n.run_id)}</code>"),
            ("execution", f"<code>{esc(n.execution_id)}</code>"),
        ]
        if n.manifest:
            rows.append(("manifest", f"<code>{esc(n.manifest)}</code>"))
        if n.requester:
            rows.append(("submitted by", f"<code>{esc(n.requester)}</code>"))
        rows += [
            ("started", esc(when(n.started_at))),
            ("finished", esc(when(n.finished_at))),
        ]
        if n.planned:
            batches = ", ".join(
                f"{count(v)} {esc(LANE_NAMES.get(k, k))}"
                for k, v in sorted(n.planned.batches.items())
            )
            rows.append(("batches", batches or "none"))
        if n.report_uri:
            rows.append(("report.csv", f'<code data-stat="reportUri">{esc(n.report_uri)}</code>'))
        if n.summary_uri:
            rows.append(("summary.json", f"<code>{esc(n.summary_uri)}</code>"))
        rows += self._receipt_rows()
        if n.objects_restored:
            wait = n.restore_wait_seconds or 0.0
            rows.append(
                (
                    "restored",
                    f'<span data-stat="objectsRestored">{count(n.objects_restored)}</span> '
                    "archived objects (each marked <code>restored</code> in its receipt "
                    "line); the restores took "
                    f'<span data-stat="restoreWaitSeconds" data-value="{wait}">'
                    f"{esc(duration(wait))}</span> (the first asked to the last done)",
                )
            )
        body = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
        return f'<section id="run"><h2>The run</h2><dl>{body}</dl></section>'

    def _receipt_rows(self) -> list[tuple[str, str]]:
        receipt = self.notice.receipt
        if receipt is None:
            return []
        rows = [
            (
                "receipt",
                f"<code>{esc(receipt.uri)}</code> · "
                f'<span data-stat="receipt.objects">{count(receipt.objects)}</span> objects',
            ),
            ("receipt SHA-256", f'<code data-stat="receipt.sha256">{esc(receipt.sha256)}</code>'),
        ]
        if receipt.signature is not None:
            signature = receipt.signature
            rows.append(
                (
                    "signed",
                    f"{esc(signature.signing_algorithm)} with <code>{esc(signature.key_id)}</code>",
                )
            )
        if self.notice.delivery_uri:
            # written before Finish delivers: whether it arrived is the notice's "delivered"
            rows.append(
                (
                    "delivery",
                    f"<code>{esc(self.notice.delivery_uri)}</code>, once the run has ended "
                    "(the receipt last; the notice says whether it arrived)",
                )
            )
        return rows

    def by_status(self) -> str:
        s = self.stats
        objects = bar_chart(
            "objects-by-status",
            "Objects by status",
            [
                (
                    st.lower(),
                    s.counts[st],
                    COLOURS[st],
                    f"{count(s.counts[st])}{share(s.counts, st)}",
                )
                for st in STATUSES
            ],
        )
        sizes = bar_chart(
            "bytes-by-status",
            "Bytes by status",
            [
                (st.lower(), s.bytes[st], COLOURS[st], f"{size(s.bytes[st])}{share(s.bytes, st)}")
                for st in STATUSES
            ],
        )
        return (
            '<section id="by-status"><h2>By status</h2><div class="grid2">'
            f"<div><h3>objects</h3>{objects}</div><div><h3>bytes</h3>{sizes}</div>"
            "</div></section>"
        )

    def by_lane(self) -> str:
        s = self.stats
        lanes = list(LANES) + sorted(set(s.lane_counts) - set(LANES))

        def label(lane: str) -> str:
            return LANE_NAMES.get(lane, lane)

        objects = stacked_chart(
            "objects-by-lane",
            "Objects by lane and status",
            [
                (label(lane), dict(s.lane_counts[lane]), count(sum(s.lane_counts[lane].values())))
                for lane in lanes
            ],
        )
        sizes = stacked_chart(
            "bytes-by-lane",
            "Bytes by lane and status",
            [
                (label(lane), dict(s.lane_bytes[lane]), size(sum(s.lane_bytes[lane].values())))
                for lane in lanes
            ],
        )
        head = "".join(f'<th class="n">{st.lower()}</th>' for st in STATUSES)
        rows = []
        for lane in lanes:
            cells = "".join(
                f'<td class="n"><span data-lane="{esc(lane)}" data-status="{st}" '
                f'data-measure="objects">{count(s.lane_counts[lane][st])}</span>'
                f'<span class="exact">{esc(size(s.lane_bytes[lane][st]))}</span></td>'
                for st in STATUSES
            )
            total = (
                f'<td class="n"><b>{count(sum(s.lane_counts[lane].values()))}</b>'
                f'<span class="exact">{esc(size(sum(s.lane_bytes[lane].values())))}</span></td>'
            )
            rows.append(f"<tr><td>{esc(label(lane))}</td>{cells}{total}</tr>")
        table = f'<table><tr><th>lane</th>{head}<th class="n">all</th></tr>{"".join(rows)}</table>'
        return (
            '<section id="by-lane"><h2>By lane</h2>'
            '<p class="note" style="margin:0 0 12px">Small objects are copied by Lambda '
            "functions, large ones by Fargate tasks; a batch's lane is in the run's "
            "<code>index.csv</code>.</p>"
            f'<div class="grid2"><div><h3>objects</h3>{objects}</div>'
            f"<div><h3>bytes</h3>{sizes}</div></div>{_status_legend()}"
            f'<div style="margin-top:14px">{table}</div></section>'
        )

    def throughput(self) -> str:
        s = self.stats
        timeline = s.timeline()
        if timeline is None:
            return (
                '<section id="throughput"><h2>Throughput over time</h2>'
                '<p class="note" data-note="no-timeline">No chart: none of this run\'s '
                "results says when its object finished (the copy engine that ran it did not "
                "record <code>finishedAt</code>), so throughput over time cannot be drawn. "
                "The average is in the summary above.</p></section>"
            )
        width = timeline.width
        copied = [b.copied_bytes / width for b in timeline.buckets]
        bytes_chart = time_chart(
            "throughput",
            "Bytes copied per second over time",
            timeline,
            [("copied", COLOURS["COPIED"], copied)],
            axis=rate,
            binary=True,
        )
        objects_chart = time_chart(
            "objects-over-time",
            "Objects finished over time, by status",
            timeline,
            [
                (st.lower(), COLOURS[st], [float(b.objects[st]) for b in timeline.buckets])
                for st in STATUSES
            ],
            axis=lambda v: count(round(v)),
            height=150,
        )
        peak = max(copied, default=0.0)
        notes = [f"Each bar is {esc(_bucket_width(width))} (times in UTC); peak {esc(rate(peak))}."]
        if s.untimed:
            notes.append(
                f"{count(s.untimed)} of {count(s.objects)} objects have no finish time "
                "(objects of batches that failed or stopped, or results without "
                "<code>finishedAt</code>) and are not in these charts."
            )
        return (
            '<section id="throughput"><h2>Throughput over time</h2>'
            f"<h3>bytes copied per second</h3>{bytes_chart}"
            f'<h3 style="margin-top:14px">objects finished per {esc(_bucket_width(width))}'
            f"</h3>{objects_chart}{_status_legend()}"
            f'<p class="note">{" ".join(notes)}</p></section>'
        )

    def top(self, name: str, title: str, rows: list[ObjectRow], measure: str) -> str:
        """A top-10 table, with a bar under the measured column (time or size)."""
        if not rows:
            return ""
        values = [row.seconds if measure == "seconds" else float(row.bytes) for row in rows]
        top = max(values) or 1.0

        def cell(text: str, value: float | None) -> str:
            meter = (
                ""
                if value is None
                else f'<div class="meter"><b style="width:{100 * value / top:.1f}%;'
                f'background:#546e7a"></b></div>'
            )
            return f"<td class='n'>{esc(text)}{meter}</td>"

        body = []
        for i, (row, value) in enumerate(zip(rows, values, strict=True), 1):
            copied = row.status == "COPIED" and row.seconds > 0
            body.append(
                f"<tr><td class='n'>{i}</td><td class='key'>{esc(row.source)}</td>"
                f"<td>{_status_cell(row.status)}</td>"
                f"<td>{esc(LANE_NAMES.get(row.lane, row.lane))}</td>"
                + cell(size(row.bytes), value if measure == "bytes" else None)
                + cell(duration(row.seconds), value if measure == "seconds" else None)
                + cell(rate(row.bytes / row.seconds) if copied else "\u2013", None)
                + "</tr>"
            )
        return (
            f'<section id="{name}"><h2>{esc(title)}</h2><table data-table="{name}">'
            "<tr><th class='n'>#</th><th>source</th><th>status</th><th>lane</th>"
            "<th class='n'>size</th><th class='n'>time</th><th class='n'>rate</th></tr>"
            f"{''.join(body)}</table></section>"
        )

    def top_pair(self) -> str:
        slowest = [r for r in self.stats.slowest() if r.seconds > 0]
        largest = self.stats.largest()
        return self.top(
            "slowest", f"The {len(slowest)} slowest objects", slowest, "seconds"
        ) + self.top("largest", f"The {len(largest)} largest objects", largest, "bytes")

    def failure_reasons(self) -> str:
        s = self.stats
        if not s.failed_total:
            return (
                '<section id="failures"><h2>Failures</h2>'
                '<p class="note" style="margin:0">No object failed '
                '(<span data-stat="failed-total">0</span> failed).</p></section>'
            )
        reasons = s.reasons()
        top = max(r.count for r in reasons)
        rows = []
        for reason in reasons:
            example = reason.example
            message = example.error_message if example else None
            where = example.source if example else ""
            rows.append(
                f'<tr data-reason="{esc(reason.code)}"><td><code>{esc(reason.code)}</code></td>'
                f"<td class='n'>{count(reason.count)}"
                f'<div class="meter"><b style="width:{100 * reason.count / top:.1f}%">'
                "</b></div></td>"
                f"<td class='n'>{esc(size(reason.bytes))}</td>"
                f"<td class='err'>{esc(message or '')}"
                f"<span class='exact'>e.g. {esc(where)}</span></td></tr>"
            )
        return (
            '<section id="failures"><h2>Failures by reason</h2>'
            '<table data-table="reasons"><tr><th>error</th><th class="n">objects</th>'
            f'<th class="n">bytes</th><th>example</th></tr>{"".join(rows)}</table></section>'
        )

    def failed_objects(self) -> str:
        s = self.stats
        if not s.failed_total:
            return ""
        shown = len(s.failed)
        listed = []
        for i, row in enumerate(s.failed, 1):
            error = ": ".join(p for p in (row.error_code, row.error_message) if p)
            listed.append(
                f"<tr><td class='n'>{i}</td><td class='key'>{esc(row.source)}"
                f"<span class='exact'>→ {esc(row.destination)}</span></td>"
                f"<td>{esc(LANE_NAMES.get(row.lane, row.lane))}</td>"
                f"<td class='n'>{esc(size(row.bytes))}</td><td class='err'>{esc(error)}</td></tr>"
            )
        total = f'<span data-stat="failed-total">{count(s.failed_total)}</span>'
        if shown < s.failed_total:
            listing = (
                f"{total} objects failed; the first {count(shown)} are listed here, "
                "<code>report.csv</code> has them all."
            )
        else:
            listing = f"{total} {'object' if shown == 1 else 'objects'} failed, each listed here."
        return (
            '<section id="failed"><h2>Failed objects</h2>'
            f'<p class="note" style="margin:0 0 10px">{listing}</p>'
            '<table data-table="failed"><tr><th class="n">#</th><th>source → destination</th>'
            '<th>lane</th><th class="n">size</th><th>error</th></tr>'
            f"{''.join(listed)}</table></section>"
        )

    def footer(self) -> str:
        where = ""
        if self.notice.report_uri:
            where = f" Every object, one row each: <code>{esc(self.notice.report_uri)}</code>."
        return f"<footer>Written by steps-s3-copy's Summarise step.{where}</footer>"

    def render(self) -> str:
        n = self.notice
        title = f"{n.status}: {n.job_name} ({n.run_id})"
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            "<body><main>"
            + self.header()
            + self.cards()
            + self.details()
            + self.failure_reasons()
            + self.by_status()
            + self.by_lane()
            + self.throughput()
            + self.top_pair()
            + self.failed_objects()
            + self.footer()
            + "</main></body></html>\n"
        )


def render(notice: Notice, stats: ReportStats) -> str:
    """The whole page for a run's notice and the statistics of its objects."""
    return _Page(notice, stats).render()


def write(s3: Any, uri: str, notice: Notice, stats: ReportStats) -> None:
    """Render the page and put it at ``uri`` (an ``s3://`` URI), as ``text/html``."""
    target = S3Uri.parse(uri, need_key=True)
    body = render(notice, stats).encode("utf-8")
    s3.put_object(Bucket=target.bucket, Key=target.key, Body=body, ContentType=CONTENT_TYPE)

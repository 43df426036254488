"""report.html in a real headless browser: Debian's chromium, driven through its
chromedriver by Selenium, loading the file from disk as a user would.

The page must load with no console error (the browser log is collected: a script error,
a blocked load, a CSP violation would each be a SEVERE entry), and the numbers it shows,
read from the DOM, must equal summary.json's. Skipped, saying why, only when chromium is
not installed; ``.ci/run`` installs it (``apt-get install chromium chromium-driver``).

Set ``S3COPY_REPORT_SCREENSHOT=path.png`` to keep the screenshot of the whole page (that is
how docs/report-example.png is made).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from steps_s3_copy.summarise import summarise
from tests.core.conftest import INBOX, World
from tests.core.report_run import EXECUTION, HTML_KEY, STARTED, realistic_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1100,1000",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason=(
            f"Debian's chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): "
            "apt-get install -y chromium chromium-driver (.ci/run does)"
        ),
    ),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    profile = tempfile.mkdtemp(prefix="s3copy-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_report_opens_cleanly_and_shows_summary_json(
    world: World, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    run = realistic_run(world.s3, INBOX, objects=300)
    finished = datetime.fromtimestamp(STARTED + 15 * 60, UTC)
    notice = summarise(run.prepared, EXECUTION, s3=world.s3, now=finished)
    assert notice.report_html_uri is not None
    key = notice.report_html_uri.removeprefix(f"s3://{INBOX}/")
    page = tmp_path / "report.html"
    page.write_bytes(world.s3.get_object(Bucket=INBOX, Key=key)["Body"].read())
    summary = json.loads(world.text(INBOX, key.replace("report.html", "summary.json")))

    browser.get(page.as_uri())
    assert console_errors(browser) == []
    assert browser.title.startswith(summary["status"])

    def stat(name: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, f'[data-stat="{name}"]').text)

    assert stat("status") == summary["status"] == "PARTIAL"
    assert stat("jobName") == summary["jobName"]
    assert stat("runId") == summary["runId"]
    for status in ("copied", "skipped", "failed"):
        assert number(stat(f"counts.{status}")) == summary["counts"][status]
        assert number(stat(f"bytes.{status}")) == summary["bytes"][status]
    assert number(stat("planned.objects")) == summary["planned"]["objects"] == 300
    assert number(stat("planned.bytes")) == summary["planned"]["bytes"]
    duration = browser.find_element(By.CSS_SELECTOR, '[data-stat="durationSeconds"]')
    assert float(duration.get_attribute("data-value")) == summary["durationSeconds"]
    assert number(stat("failed-total")) == summary["counts"]["failed"]
    for status in ("COPIED", "SKIPPED", "FAILED"):
        cells = browser.find_elements(By.CSS_SELECTOR, f'[data-status="{status}"]')
        assert {c.get_attribute("data-lane") for c in cells} == {"lambda", "fargate"}
        assert sum(number(c.text) for c in cells) == summary["counts"][status.lower()]

    # the charts are drawn (an SVG the browser laid out has a size)
    charts = browser.find_elements(By.CSS_SELECTOR, "svg[data-chart]")
    assert [c.get_attribute("data-chart") for c in charts] == [
        "objects-by-status",
        "bytes-by-status",
        "objects-by-lane",
        "bytes-by-lane",
        "throughput",
        "objects-over-time",
    ]
    assert all(c.size["width"] > 100 and c.size["height"] > 40 for c in charts)
    # a key that is HTML is shown as text, and nothing runs
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert HTML_KEY in browser.find_element(By.TAG_NAME, "body").text
    failed_rows = browser.find_elements(By.CSS_SELECTOR, '[data-table="failed"] tr')
    assert len(failed_rows) == 1 + summary["counts"]["failed"]  # the header and each one

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1100, min(int(height) + 40, 20000))
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("S3COPY_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
    assert console_errors(browser) == []


def test_the_console_check_sees_a_blocked_load(browser: Any, tmp_path: Path) -> None:
    """The check above can fail: a page that tries to load an image gets a SEVERE entry
    (the report's Content-Security-Policy refuses it before any request is made)."""
    from steps_s3_copy.report_html import CSP  # noqa: PLC0415

    page = tmp_path / "bad.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        f'content="{CSP}"></head><body><img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    browser.get(page.as_uri())
    errors = console_errors(browser)
    assert errors, "a load the policy refuses must show in the browser log"
    assert any("Content Security Policy" in e["message"] for e in errors)

"""Prepare's listings: LastModified left unparsed, the next page fetched ahead."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from steps_s3_copy.prepare import _Prefetched, lean_listings
from steps_s3_copy.workarea import WorkArea
from tests.core.conftest import DEST, INBOX, SOURCE, World, run_prepare


def test_listings_leave_last_modified_out_and_keep_the_rest(world: World) -> None:
    for n in range(3):
        world.put(SOURCE, f"d/{n}", b"x" * (n + 1))
    plain = world.s3.list_objects_v2(Bucket=SOURCE, Prefix="d/")["Contents"]
    assert all("LastModified" in obj for obj in plain)
    lean_listings(world.s3)
    lean_listings(world.s3)  # registered once
    lean = world.s3.list_objects_v2(Bucket=SOURCE, Prefix="d/")["Contents"]
    assert all("LastModified" not in obj for obj in lean)
    strip = [{k: v for k, v in obj.items() if k != "LastModified"} for obj in plain]
    assert lean == strip
    # other answers keep their timestamps
    head = world.s3.head_object(Bucket=SOURCE, Key="d/0")
    assert "LastModified" in head


def test_a_prefix_row_is_planned_page_by_page_in_order(world: World) -> None:
    keys = [f"many/{n:04d}" for n in range(2500)]  # three listing pages
    for key in keys:
        world.put(SOURCE, key, key.encode())
    world.put(INBOX, "jobs/many.csv", f"bucket,key\n{SOURCE},many/*\n")
    prepared = run_prepare(
        {"sourceFilesCsvBucket": INBOX, "sourceFilesCsvKey": "jobs/many.csv",
         "destinationBucket": DEST},
        run_id="many-1",
        s3=world.s3,
        settings=world.settings,
    )  # fmt: skip
    assert prepared.objects == 2500
    planned = [json.loads(line) for line in WorkArea(world.s3, prepared.work).plan_lines()]
    assert sorted(item["sourceKey"] for item in planned) == keys
    assert all(item["size"] == 9 and item["etag"] for item in planned)


def test_prefetched_keeps_the_order_and_reads_ahead() -> None:
    fetched: list[int] = []

    def source() -> Iterator[int]:
        for n in range(10):
            fetched.append(n)
            yield n

    items = _Prefetched(source(), depth=2)
    first = next(items)
    deadline = time.monotonic() + 5
    while len(fetched) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first == 0
    assert len(fetched) >= 3  # fetched ahead of the reader
    assert [first, *items] == list(range(10))


def test_prefetched_raises_the_sources_error_to_the_reader() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 failed")

    items = _Prefetched(source())
    assert next(items) == 1
    with pytest.raises(ValueError, match="page 2 failed"):
        next(items)
    with pytest.raises(StopIteration):
        next(items)


def test_closing_prefetched_stops_the_fetching() -> None:
    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    before = threading.active_count()
    items = _Prefetched(endless(), depth=1)
    assert next(items) == 0
    items.close()
    assert threading.active_count() == before
    with pytest.raises(StopIteration):
        next(items)

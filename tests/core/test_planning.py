"""Planning properties: every item lands in exactly one batch, caps hold, lanes split at the
cut-off, and the byte ranges of index.csv cut plan.jsonl exactly."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_s3_copy.models import INDEX_COLUMNS, BatchRef, CopyItem, Lane
from steps_s3_copy.planning import (
    LAMBDA_BUDGET_SECONDS,
    LAMBDA_MAX_ITEMS,
    LAMBDA_TIMEOUT_SECONDS,
    CopyModel,
    Planner,
)
from steps_s3_copy.workarea import index_csv

KEYS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"),
    min_size=1,
    max_size=40,
)
SIZES = st.integers(min_value=0, max_value=5000)


def plan(
    items: list[tuple[str, int]],
    max_items: int,
    max_bytes: int,
    cutoff: int,
    model: CopyModel | None = None,
):
    out = io.BytesIO()
    planner = Planner(
        out, max_items=max_items, max_bytes=max_bytes, lane_cutoff=cutoff, model=model
    )
    for n, (key, size) in enumerate(items):
        planner.add(
            {
                "sourceBucket": "src",
                "sourceKey": key,
                "destinationBucket": "dst",
                "destinationKey": f"{n}/{key}",
                "size": size,
            },
            size,
        )
    batches = planner.finish()
    rows = list(csv.DictReader(io.StringIO(index_csv(batches).decode())))
    refs = [BatchRef.model_validate(row) for row in rows]
    return out.getvalue(), refs, planner


#: a slow engine (30 s per request, one object at a time) makes the time limit bite early
SLOW = CopyModel(request_seconds=30.0, concurrency=1, copy_bytes_per_second=100.0)


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(st.tuples(KEYS, SIZES), max_size=120),
    max_items=st.integers(min_value=1, max_value=12),
    max_bytes=st.integers(min_value=1, max_value=8000),
    cutoff=st.integers(min_value=0, max_value=5000),
    slow=st.booleans(),
)
def test_planning_properties(
    items: list[tuple[str, int]], max_items: int, max_bytes: int, cutoff: int, slow: bool
) -> None:
    model = SLOW if slow else CopyModel()
    data, refs, planner = plan(items, max_items, max_bytes, cutoff, model)
    seen: list[str] = []
    covered = 0
    for expected_id, ref in enumerate(sorted(refs, key=lambda r: r.start)):
        # batches tile the plan: contiguous, non-overlapping, in order, ids in order
        assert ref.start == covered
        assert ref.batch_id == expected_id
        covered = ref.end
        lines = data[ref.start : ref.end].decode().splitlines()
        batch = [CopyItem.model_validate(json.loads(line)) for line in lines]
        assert len(batch) == ref.objects >= 1
        sizes = [item.size or 0 for item in batch]
        assert sum(sizes) == ref.bytes
        # lane limits: count always; bytes (and, in the Lambda lane, the estimated time
        # inside the function's budget) unless a single object is above them on its own
        estimate = planner.estimates[ref.batch_id]
        if ref.lane is Lane.FARGATE:
            assert ref.objects <= max_items
            assert ref.timeout_seconds >= estimate
        else:
            assert ref.objects <= LAMBDA_MAX_ITEMS
            assert estimate <= LAMBDA_BUDGET_SECONDS or ref.objects == 1
            assert ref.timeout_seconds == LAMBDA_TIMEOUT_SECONDS
        total = sum(model.object_seconds(size) for size in sizes)
        longest = max(model.object_seconds(size) for size in sizes)
        assert estimate == pytest.approx(model.batch_seconds(total, longest))
        assert ref.bytes <= max_bytes or ref.objects == 1
        # lanes split at the cut-off
        for size in sizes:
            assert (size > cutoff) == (ref.lane == Lane.FARGATE)
        seen.extend(item.destination_key for item in batch)
    assert covered == len(data)
    # every item in exactly one batch
    assert sorted(seen) == sorted(f"{n}/{key}" for n, (key, _) in enumerate(items))
    assert planner.objects == len(items)
    assert planner.bytes == sum(size for _, size in items)
    per_lane = planner.batches_per_lane()
    assert sum(per_lane.values()) == len(refs)


def test_index_header_is_the_contract() -> None:
    _, refs, _ = plan([("a", 1)], 10, 100, 10)
    assert len(refs) == 1
    assert index_csv([]).decode().strip() == ",".join(INDEX_COLUMNS)


def test_an_object_above_the_byte_cap_gets_a_batch_of_its_own() -> None:
    _, refs, _ = plan([("a", 10), ("big", 500), ("b", 10)], 10, 100, 1000)
    assert sorted((r.objects, r.bytes) for r in refs) == [(1, 500), (2, 20)]


def test_small_objects_are_a_thousand_batches_per_million_not_a_hundred_thousand() -> None:
    """The Lambda lane is sized by count and time, not by the Fargate lane's 10."""
    planner = Planner(io.BytesIO(), max_items=10, max_bytes=100 * 1024**3, lane_cutoff=1024**3)
    for _ in range(100_000):
        planner.add_line(b"x\n", 64 * 1024)
    batches = planner.finish()
    assert planner.batches_per_lane() == {"lambda": 50, "fargate": 0}
    assert {b.objects for b in batches} == {LAMBDA_MAX_ITEMS}
    # 2,000 objects of 64 KiB: 2,000 x (0.05 s + 64 KiB at 100 MiB/s) / 16 workers
    assert planner.estimates[0] == pytest.approx(2000 * (0.05 + 1 / 1600) / 16)


def test_the_fargate_lane_keeps_the_seeds_batch_size() -> None:
    planner = Planner(io.BytesIO(), max_items=10, max_bytes=100 * 1024**3, lane_cutoff=1024**3)
    for _ in range(25):
        planner.add_line(b"x\n", 2 * 1024**3)
    assert [b.objects for b in planner.finish()] == [10, 10, 5]

"""Planning properties: every item lands in exactly one batch, caps hold, lanes split at the
cut-off, and the byte ranges of index.csv cut plan.jsonl exactly."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from steps_s3_copy.models import INDEX_COLUMNS, BatchRef, CopyItem, Lane
from steps_s3_copy.planning import Planner
from steps_s3_copy.workarea import index_csv

KEYS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"),
    min_size=1,
    max_size=40,
)
SIZES = st.integers(min_value=0, max_value=5000)


def plan(items: list[tuple[str, int]], max_items: int, max_bytes: int, cutoff: int):
    out = io.BytesIO()
    planner = Planner(out, max_items=max_items, max_bytes=max_bytes, lane_cutoff=cutoff)
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


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(st.tuples(KEYS, SIZES), max_size=120),
    max_items=st.integers(min_value=1, max_value=12),
    max_bytes=st.integers(min_value=1, max_value=8000),
    cutoff=st.integers(min_value=0, max_value=5000),
)
def test_planning_properties(
    items: list[tuple[str, int]], max_items: int, max_bytes: int, cutoff: int
) -> None:
    data, refs, planner = plan(items, max_items, max_bytes, cutoff)
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
        # caps: count always; bytes unless a single object is above the cap on its own
        assert ref.objects <= max_items
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

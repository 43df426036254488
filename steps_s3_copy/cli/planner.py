"""``s3copy plan``: the batches Prepare would make, and what they would cost.

Batching goes through the same :class:`steps_s3_copy.planning.Planner` Prepare uses, with
the sidecar's limits and lane cut-off, so the batch counts are the ones a run would get.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel

from steps_s3_copy.cli import pricing
from steps_s3_copy.manifest import ManifestRow
from steps_s3_copy.models import Lane
from steps_s3_copy.planning import Planner
from steps_s3_copy.sidecar import DEFAULT_LANE_CUTOFF_BYTES, Sidecar


class SizingError(ValueError):
    """Rows have no size and neither --size-from-s3 nor --assume-size was given."""


@dataclass
class PlanSummary:
    estimate: pricing.Estimate
    max_concurrency: int
    lane_cutoff: int
    prices: dict[str, Any] = field(default_factory=dict)
    assumptions: dict[str, Any] = field(default_factory=dict)
    assumed_rows: int = 0
    assumed_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = camel_keys(
            {
                "estimate": self.estimate.to_dict(),
                "maxConcurrency": self.max_concurrency,
                "laneCutoffBytes": self.lane_cutoff,
                "pricesAssumed": self.prices,
                "assumptions": self.assumptions,
                "rowsWithAssumedSize": self.assumed_rows,
                "assumedSize": self.assumed_size,
            }
        )
        return out


def camel_keys(value: Any) -> Any:
    """snake_case keys -> camelCase, recursively (the JSON style of the whole project)."""
    if isinstance(value, dict):
        return {to_camel(str(k)): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _sizes_from_s3(s3: Any, row: ManifestRow, payer: dict[str, str]) -> list[int]:
    if row.is_prefix:
        sizes: list[int] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=row.bucket, Prefix=row.prefix, **payer
        ):
            sizes.extend(int(obj["Size"]) for obj in page.get("Contents", []))
        return sizes
    head = s3.head_object(Bucket=row.bucket, Key=row.key, **payer)
    return [int(head["ContentLength"])]


def plan_files(
    rows: list[ManifestRow],
    sidecar: Sidecar,
    *,
    s3: Any | None = None,
    assume_size: int | None = None,
    lane_cutoff: int | None = None,
    prices: pricing.Prices | None = None,
    assumptions: pricing.Assumptions | None = None,
) -> PlanSummary:
    prices = prices or pricing.Prices()
    assumptions = assumptions or pricing.Assumptions()
    cutoff = lane_cutoff
    if cutoff is None:
        cutoff = (
            sidecar.lane_cutoff_bytes
            if sidecar.lane_cutoff_bytes is not None
            else DEFAULT_LANE_CUTOFF_BYTES
        )
    payer = {"RequestPayer": "requester"} if sidecar.requester_pays else {}
    unsized = [r for r in rows if r.is_prefix or r.size is None]
    if unsized and s3 is None and assume_size is None:
        listed = ", ".join(str(r.row) for r in unsized[:10])
        more = f" and {len(unsized) - 10} more" if len(unsized) > 10 else ""
        raise SizingError(
            f"{len(unsized)} row(s) have no size (rows {listed}{more}): add a size column, "
            "or pass --size-from-s3 or --assume-size BYTES"
        )
    planner = Planner(
        io.BytesIO(),
        max_items=sidecar.max_items_per_batch,
        max_bytes=sidecar.max_bytes_per_batch,
        lane_cutoff=cutoff,
    )
    sizes_of_line: list[int] = []
    assumed = 0
    heads = lists = 0
    for row in rows:
        if row.size is not None and not row.is_prefix:
            sizes = [row.size]
        elif s3 is not None:
            sizes = _sizes_from_s3(s3, row, payer)
        else:
            assert assume_size is not None
            sizes = [assume_size]
            assumed += 1
        # What Prepare will send to size this row (at most: it lists a folder instead of
        # HEAD-ing each key when many keys share it).
        if row.is_prefix:
            lists += max(1, math.ceil(len(sizes) / 1000))
        elif row.size is None:
            heads += 1
        for size in sizes:
            # One plan line per object; its content does not matter for the counts.
            planner.add_line(f"{len(sizes_of_line)}\n".encode(), size)
            sizes_of_line.append(size)
    batches = planner.finish()
    planned: list[pricing.PlannedBatch] = []
    # Lines are numbered in the order they were added; recover each batch's sizes.
    out = planner.out
    assert isinstance(out, io.BytesIO)
    data = out.getvalue()
    for batch in batches:
        indices = [int(x) for x in data[batch.start : batch.end].split()]
        planned.append(pricing.PlannedBatch(Lane(batch.lane), [sizes_of_line[i] for i in indices]))
    options = sidecar.copy_options()
    estimate = pricing.estimate(
        planned,
        options,
        max_concurrency=sidecar.max_concurrency,
        sizing_heads=heads,
        sizing_lists=lists,
        prices=prices,
        assumptions=assumptions,
    )
    return PlanSummary(
        estimate=estimate,
        max_concurrency=sidecar.max_concurrency,
        lane_cutoff=cutoff,
        prices=asdict(prices),
        assumptions=asdict(assumptions),
        assumed_rows=assumed,
        assumed_size=assume_size if assumed else None,
    )

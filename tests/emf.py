"""Reading the embedded-metric-format lines a step printed, as CloudWatch would.

Each EMF line is checked against the rules of "Specification: Embedded metric format"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
that the contract relies on (a JSON object per line, ``_aws.Timestamp``, every dimension
key and metric name a member of the root with a string / numeric value) and turned into
points: one per metric and dimension set, which is how CloudWatch stores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NAMESPACE = "StepsS3Copy"


@dataclass(frozen=True)
class Point:
    name: str
    unit: str
    value: float
    dimensions: tuple[tuple[str, str], ...]
    namespace: str


def documents(text: str) -> list[dict[str, Any]]:
    """The EMF documents among the lines of ``text`` (other log lines are skipped)."""
    found = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)  # the whole line is one JSON object, nothing around it
        assert isinstance(document, dict), line
        found.append(document)
    return found


def points(text: str) -> list[Point]:
    out: list[Point] = []
    for document in documents(text):
        meta = document["_aws"]
        assert isinstance(meta["Timestamp"], int)
        for directive in meta["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                assert len(dimension_set) <= 30
                for key in dimension_set:
                    value = document[key]
                    assert isinstance(value, str), key
                    assert value.isascii(), value  # CloudWatch dimension values are ASCII
                    assert 1 <= len(value) <= 1024, value
                dims = tuple(sorted((key, document[key]) for key in dimension_set))
                for metric in directive["Metrics"]:
                    raw = document[metric["Name"]]
                    values = raw if isinstance(raw, list) else [raw]
                    assert all(isinstance(v, int | float) for v in values)
                    out.append(
                        Point(
                            metric["Name"],
                            metric["Unit"],
                            float(sum(values)),
                            dims,
                            directive["Namespace"],
                        )
                    )
    return out


def total(found: Iterable[Point], name: str, **dimensions: str) -> float | None:
    """The sum of metric ``name`` with exactly ``dimensions``; None when never emitted."""
    wanted = tuple(sorted(dimensions.items()))
    matching = [p.value for p in found if p.name == name and p.dimensions == wanted]
    return sum(matching) if matching else None


def both(found: list[Point], name: str, job: str, **dimensions: str) -> float | None:
    """Metric ``name``'s total, after checking that the per-job copy says the same and
    that both are in the contract's namespace."""
    overall = total(found, name, **dimensions)
    per_job = total(found, name, **dimensions, job=job)
    assert overall == per_job, (name, dimensions, overall, per_job)
    assert {p.namespace for p in found if p.name == name} <= {NAMESPACE}
    return overall


def names(found: Iterable[Point]) -> set[str]:
    return {p.name for p in found}

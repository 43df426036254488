"""The inbox convention: keys, job names, and the event pattern as moto's EventBridge matches it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from steps_s3_copy.inbox import job_keys, job_name_of, sidecar_event_pattern


def _event(bucket: str, key: str) -> Any:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10}},
    }


@pytest.mark.parametrize(
    ("key", "matches"),
    [
        ("jobs/run-1.json", True),
        ("jobs/team/nested run ü.json", True),
        ("jobs/run-1.csv", False),
        ("other/run-1.json", False),
        ("jobs/run-1.json.bak", False),
    ],
)
def test_pattern_matches_only_sidecars_in_the_jobs_prefix(key: str, matches: bool) -> None:
    pattern = EventPattern.load(json.dumps(sidecar_event_pattern("inbox")))
    assert pattern.matches_event(_event("inbox", key)) is matches


def test_pattern_ignores_other_buckets() -> None:
    pattern = EventPattern.load(json.dumps(sidecar_event_pattern("inbox")))
    assert not pattern.matches_event(_event("elsewhere", "jobs/a.json"))


def test_job_keys_and_name_round_trip() -> None:
    csv_key, sidecar_key = job_keys("team/run 1")
    assert (csv_key, sidecar_key) == ("jobs/team/run 1.csv", "jobs/team/run 1.json")
    assert job_name_of(sidecar_key) == "team/run 1"

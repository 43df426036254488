"""The embedded emulator: loopback only, wired with the deployed rule's pattern, idempotent."""

from __future__ import annotations

import json

import pytest

from steps_s3_copy.events import job_source
from steps_s3_copy.inbox import sidecar_event_pattern
from steps_s3_copy.local.emulator import RULE_NAME, Emulator, receive_one
from steps_s3_copy.local.pipeline import MOTO_CONSTANT_SEQUENCER, distinct_writes

pytestmark = pytest.mark.slow


def test_the_embedded_server_listens_on_loopback_only() -> None:
    with Emulator() as emulator:
        assert emulator.endpoint_url.startswith("http://127.0.0.1:")
        stack = emulator.provision()
        assert stack.client("s3").list_buckets()["Buckets"][0]["Name"] == "s3copy-inbox"


def test_only_a_sidecar_under_jobs_starts_a_run(emulator: Emulator) -> None:
    stack = emulator.provision()
    s3, sqs = stack.client("s3"), stack.client("sqs")
    rule = stack.client("events").describe_rule(Name=RULE_NAME)
    assert json.loads(rule["EventPattern"]) == sidecar_event_pattern("s3copy-inbox")

    for key in ("jobs/a.csv", "other/a.json", "jobs/a.json.bak", "reports/x/summary.json"):
        s3.put_object(Bucket=stack.inbox_bucket, Key=key, Body=b"{}")
    assert receive_one(sqs, stack.events_queue_url, timeout=1) is None

    s3.put_object(Bucket=stack.inbox_bucket, Key="jobs/team/run 1 é.json", Body=b"{}")
    event = receive_one(sqs, stack.events_queue_url, timeout=5)
    assert event is not None
    assert event["detail-type"] == "Object Created"
    assert event["detail"]["object"]["key"] == "jobs/team/run 1 é.json"


def test_provisioning_twice_changes_nothing(emulator: Emulator) -> None:
    first = emulator.provision()
    second = emulator.provision()
    assert first == second
    subscriptions = first.client("sns").list_subscriptions_by_topic(TopicArn=first.topic_arn)
    assert len(subscriptions["Subscriptions"]) == 1
    targets = first.client("events").list_targets_by_rule(Rule=RULE_NAME)["Targets"]
    assert len(targets) == 1


def test_two_writes_of_a_sidecar_are_two_events_not_one_delivered_twice(
    emulator: Emulator,
) -> None:
    """moto gives every S3 event one constant sequencer; the pipeline gives each write its
    own, so Prepare's duplicate check (sequencer + time) sees two writes."""
    stack = emulator.provision()
    s3, sqs = stack.client("s3"), stack.client("sqs")
    for _ in range(2):
        s3.put_object(Bucket=stack.inbox_bucket, Key="jobs/a.json", Body=b"{}")
    first = receive_one(sqs, stack.events_queue_url, timeout=5)
    second = receive_one(sqs, stack.events_queue_url, timeout=5)
    assert first is not None
    assert second is not None
    # what moto sends (if an upgrade makes it unique, distinct_writes can go)
    assert first["detail"]["object"]["sequencer"] == MOTO_CONSTANT_SEQUENCER
    identities = {job_source(distinct_writes(e)).sequencer for e in (first, second)}
    assert len(identities) == 2

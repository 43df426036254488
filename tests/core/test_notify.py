"""The completion notice on SNS: its JSON, its attributes, published once per run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from steps_s3_copy.errors import PublishFailed
from steps_s3_copy.models import RunLocation
from steps_s3_copy.notify import publish_notice, subject
from steps_s3_copy.payloads import Notice, StatusCounts
from tests.conftest import client
from tests.core.conftest import INBOX, World


@dataclass
class Topic:
    arn: str
    sns: Any
    sqs: Any
    queue_url: str

    def messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not got:
                return out
            out.extend(json.loads(m["Body"]) for m in got)


@pytest.fixture
def topic(world: World) -> Topic:
    sns = client("sns", world.endpoint)
    sqs = client("sqs", world.endpoint)
    arn = sns.create_topic(Name="steps-s3-copy-notices")["TopicArn"]
    url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(arn=arn, sns=sns, sqs=sqs, queue_url=url)


def notice(**overrides: Any) -> Notice:
    base: dict[str, Any] = {
        "job_name": "team/run-1",
        "run_id": "exec-1",
        "execution_id": "arn:aws:states:us-east-1:111122223333:execution:S:exec-1",
        "manifest": "s3://inbox/jobs/team/run-1.csv",
        "status": "PARTIAL",
        "counts": StatusCounts(copied=98, skipped=0, failed=2),
        "bytes": StatusCounts(copied=9800, skipped=0, failed=200),
        "finished_at": datetime(2026, 11, 25, 18, 30, tzinfo=UTC).isoformat(),
        "duration_seconds": 61.5,
        "report_uri": "s3://inbox/reports/team/run-1/exec-1/report.csv",
        "work": RunLocation(bucket=INBOX, prefix="work/team/run-1/exec-1/"),
    }
    return Notice.model_validate(base | overrides)


def test_publishes_the_notice_with_filterable_attributes(world: World, topic: Topic) -> None:
    result = publish_notice(notice(), sns=topic.sns, s3=world.s3, topic_arn=topic.arn)

    assert result.published is True
    assert result.message_id
    [envelope] = topic.messages()
    assert (
        envelope["Subject"] == "steps-s3-copy PARTIAL: team/run-1 (98 copied, 0 skipped, 2 failed)"
    )
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {"status": "PARTIAL", "job": "team/run-1"}
    body = json.loads(envelope["Message"])
    assert body["jobName"] == "team/run-1"
    assert body["manifest"] == "s3://inbox/jobs/team/run-1.csv"
    assert body["counts"] == {"copied": 98, "skipped": 0, "failed": 2}
    assert body["bytes"] == {"copied": 9800, "skipped": 0, "failed": 200}
    assert body["durationSeconds"] == 61.5
    assert body["reportUri"].endswith("report.csv")
    assert body["executionId"].endswith(":exec-1")
    marker = json.loads(world.text(INBOX, "work/team/run-1/exec-1/notice.json"))
    assert (marker["state"], marker["messageId"]) == ("published", result.message_id)


def test_publishing_twice_for_one_run_sends_one_message(world: World, topic: Topic) -> None:
    first = publish_notice(notice(), sns=topic.sns, s3=world.s3, topic_arn=topic.arn)
    second = publish_notice(notice(), sns=topic.sns, s3=world.s3, topic_arn=topic.arn)
    assert (first.published, second.published) == (True, False)
    assert second.message_id == first.message_id
    assert len(topic.messages()) == 1
    # another run (a retry by re-uploading the sidecar) publishes its own notice
    other = notice(
        run_id="exec-2", work=RunLocation(bucket=INBOX, prefix="work/team/run-1/exec-2/")
    )
    assert publish_notice(other, sns=topic.sns, s3=world.s3, topic_arn=topic.arn).published


def test_an_unfinished_publish_is_taken_over(world: World, topic: Topic) -> None:
    world.put(INBOX, "work/team/run-1/exec-1/notice.json", json.dumps({"state": "publishing"}))
    result = publish_notice(notice(), sns=topic.sns, s3=world.s3, topic_arn=topic.arn)
    assert result.published is True
    assert len(topic.messages()) == 1


def test_a_failed_publish_leaves_no_marker(world: World, topic: Topic) -> None:
    missing = topic.arn + "-gone"
    with pytest.raises(PublishFailed):
        publish_notice(notice(), sns=topic.sns, s3=world.s3, topic_arn=missing)
    assert world.keys(INBOX, "work/") == []
    assert publish_notice(notice(), sns=topic.sns, s3=world.s3, topic_arn=topic.arn).published


def test_failed_notice_lists_problems_and_subject_names_the_error(
    world: World, topic: Topic
) -> None:
    failed = notice(
        status="FAILED",
        counts=StatusCounts(),
        bytes=StatusCounts(),
        report_uri=None,
        error="ManifestInvalid",
        problems=[{"row": 3, "field": "size", "message": "size 'x' is not a whole number"}],
    )
    publish_notice(failed, sns=topic.sns, s3=world.s3, topic_arn=topic.arn)
    [envelope] = topic.messages()
    assert envelope["Subject"] == "steps-s3-copy FAILED: team/run-1 (ManifestInvalid)"
    assert json.loads(envelope["Message"])["problems"][0]["row"] == 3


def test_subject_is_short_ascii() -> None:
    text = subject(notice(job_name="ü" * 300))
    assert len(text) <= 100
    assert text.isascii()

"""The thin Lambda handlers, called as Lambda calls them, with the real-shaped events of
tests/events/, against the moto server: Prepare -> copy each batch -> Summarise -> Notify."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from steps_s3_copy.errors import BatchIncomplete, InputInvalid, ManifestInvalid
from steps_s3_copy.handlers import copy_batch, notify, prepare, summarise
from tests.conftest import client
from tests.core.conftest import DEST, EVENTS, INBOX, SOURCE, World

# a handler that raises has published no metrics yet: Powertools says so, and that is fine
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@dataclass
class Context:
    """What Lambda passes as ``context`` (the fields Powertools reads)."""

    remaining_ms: int = 600_000
    function_name: str = "steps-s3-copy-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_env(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    sns = client("sns", world.endpoint)
    topic = sns.create_topic(Name="notices")["TopicArn"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.endpoint)
    monkeypatch.setenv("WORK_BUCKET", INBOX)
    monkeypatch.setenv("TOPIC_ARN", topic)
    for module in (prepare, summarise, notify, copy_batch):
        module.runtime.cache_clear()
    yield topic
    for module in (prepare, summarise, notify, copy_batch):
        module.runtime.cache_clear()


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def index_items(world: World, prepared: dict[str, Any]) -> list[dict[str, str]]:
    """The Map's items: index.csv rows with every value a string, as the CSV reader gives."""
    text = world.text(prepared["work"]["bucket"], prepared["indexKey"])
    return list(csv.DictReader(io.StringIO(text)))


def test_the_pipeline_through_the_handlers(world: World, lambda_env: str) -> None:
    keys = ["a.txt", "b b.txt", "ü/c+%.txt"]
    for key in keys:
        world.put(SOURCE, key, key.encode() * 100)
    manifest = "bucket,key\n" + "".join(f'{SOURCE},"{k}"\n' for k in keys)
    world.put(INBOX, "jobs/team/genomes-2026.csv", manifest)
    world.put(INBOX, "jobs/team/genomes-2026.json", json.dumps({"destinationBucket": DEST}))
    event = payload("prepare_payload_sidecar.json")

    prepared = prepare.handler(event, Context())
    assert prepared["jobName"] == "team/genomes-2026"
    assert prepared["runId"] == "run-0001"
    assert prepared["objects"] == 3

    for item in index_items(world, prepared):
        outcome = copy_batch.handler({"batch": item, "work": prepared["work"]}, Context())
        assert outcome["copied"] == int(item["objects"])
    assert sorted(world.keys(DEST)) == sorted(keys)

    summary = summarise.handler({"prepared": prepared, "execution": event["execution"]}, Context())
    notice = summary["notice"]
    assert notice["status"] == "SUCCEEDED"
    assert notice["counts"] == {"copied": 3, "skipped": 0, "failed": 0}

    first = notify.handler(summary, Context())
    again = notify.handler(summary, Context())
    assert first["published"] is True
    assert again == {"published": False, "messageId": first["messageId"]}


def test_copy_handler_out_of_time_raises_batch_incomplete(world: World, lambda_env: str) -> None:
    world.put(SOURCE, "a", b"1")
    world.put(INBOX, "jobs/t.csv", f"{SOURCE},a\n")
    world.put(INBOX, "jobs/t.json", json.dumps({"destinationBucket": DEST}))
    event = payload("prepare_payload_sidecar.json")
    event["input"]["detail"]["object"]["key"] = "jobs/t.json"
    prepared = prepare.handler(event, Context())
    [item] = index_items(world, prepared)
    with pytest.raises(BatchIncomplete):
        copy_batch.handler({"batch": item, "work": prepared["work"]}, Context(remaining_ms=0))
    assert world.keys(DEST) == []


def test_prepare_handler_raises_the_named_error(world: World, lambda_env: str) -> None:
    raw = payload("direct_input.json")
    world.put(INBOX, raw["sourceFilesCsvKey"], "s3://nokey\n")
    event = {"input": raw, "execution": payload("prepare_payload_sidecar.json")["execution"]}
    with pytest.raises(ManifestInvalid) as info:
        prepare.handler(event, Context())
    # the failure path: what the state machine's Catch hands to Summarise
    cause = json.dumps({"errorMessage": str(info.value), "errorType": "ManifestInvalid"})
    failure = {
        "error": {"Error": "ManifestInvalid", "Cause": cause},
        "input": raw,
        "execution": event["execution"],
    }
    notice = summarise.handler(failure, Context())["notice"]
    assert notice["status"] == "FAILED"
    assert notice["jobName"] == "key-of-source-files"
    assert notice["problems"][0]["row"] == 1
    assert notify.handler({"notice": notice}, Context())["published"] is True


def test_handlers_reject_malformed_payloads(lambda_env: str) -> None:
    with pytest.raises(InputInvalid):
        prepare.handler({"input": {}}, Context())
    with pytest.raises(InputInvalid):
        copy_batch.handler({"batch": {"batchId": "x"}}, Context())
    with pytest.raises(InputInvalid):
        summarise.handler({"execution": {"id": "i", "name": "n"}}, Context())
    with pytest.raises(InputInvalid):
        notify.handler({}, Context())


def test_prepare_env_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORK_BUCKET", raising=False)
    prepare.runtime.cache_clear()
    with pytest.raises(ValueError, match="WORK_BUCKET"):
        prepare.runtime()
    prepare.runtime.cache_clear()

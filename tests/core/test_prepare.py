"""Prepare end to end against the moto server: inputs, CSV forms, sizing, the plan's layout."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from typing import Any

import pytest

from steps_s3_copy.errors import RunTooLong
from steps_s3_copy.models import INDEX_COLUMNS, BatchRef, CopyItem, Lane, RunConfig
from steps_s3_copy.payloads import PrepareResult
from tests.core.conftest import DEST, EVENTS, INBOX, SOURCE, World, run_prepare


def read_plan(world: World, result: PrepareResult) -> list[tuple[BatchRef, list[CopyItem]]]:
    index = world.text(INBOX, result.index_key)
    rows = list(csv.DictReader(io.StringIO(index)))
    assert tuple(rows[0].keys()) == INDEX_COLUMNS
    plan = world.s3.get_object(Bucket=INBOX, Key=result.work.plan_key)["Body"].read()
    out = []
    for row in rows:
        ref = BatchRef.model_validate(row)
        lines = plan[ref.start : ref.end].decode().splitlines()
        out.append((ref, [CopyItem.model_validate_json(line) for line in lines]))
    return out


def all_items(world: World, result: PrepareResult) -> list[CopyItem]:
    return [item for _, items in read_plan(world, result) for item in items]


def test_sidecar_event_plans_the_manifest(world: World) -> None:
    keys = ["a.txt", "dir/b c.bin", "ü/ñ+%=.dat", "x,y.txt"]
    for key in keys:
        world.put(SOURCE, key, b"hello")
    manifest = "bucket,key\n" + "".join(f'{SOURCE},"{k}"\n' for k in keys)
    event = world.job("team/one", manifest, {"destinationBucket": DEST, "destinationPrefix": "in/"})

    result = run_prepare(event, run_id="run-1", s3=world.s3, settings=world.settings)

    assert result.job_name == "team/one"
    assert result.run_id == "run-1"
    assert result.manifest == f"s3://{INBOX}/jobs/team/one.csv"
    assert result.work.prefix == "work/team/one/run-1/"
    assert result.index_key == "work/team/one/run-1/index.csv"
    assert (result.objects, result.bytes) == (4, 20)
    assert result.batches == {"lambda": 1, "fargate": 0}
    assert result.report_uri == f"s3://{INBOX}/reports/team/one/run-1/"
    assert (result.max_concurrency, result.dry_run) == (25, False)
    items = all_items(world, result)
    assert sorted(i.source_key for i in items) == sorted(keys)
    assert {i.destination_key for i in items} == {f"in/{k}" for k in keys}
    assert all(i.size == 5 and i.etag for i in items)
    config = RunConfig.model_validate_json(world.text(INBOX, result.work.run_config_key))
    assert config.sidecar == f"s3://{INBOX}/jobs/team/one.json"
    assert config.objects == 4
    # the write check left nothing behind at the destination
    assert world.keys(DEST) == []


def test_payload_shape_is_camel_case(world: World) -> None:
    world.put(SOURCE, "a", b"1")
    event = world.job("j", f"{SOURCE},a\n", {"destinationBucket": DEST})
    payload = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings).to_payload()
    assert set(payload) == {
        "jobName",
        "runId",
        "manifest",
        "work",
        "indexKey",
        "objects",
        "bytes",
        "batches",
        "maxConcurrency",
        "dryRun",
        "reportUri",
        "requester",
        "laneCutoffBytes",
        "notes",
        "archived",
    }
    assert payload["archived"] is None
    assert payload["laneCutoffBytes"] == 1024**3
    assert payload["notes"] == []
    # who wrote the sidecar: the event's detail.requester (tests/events/)
    event_requester = json.loads((EVENTS / "eventbridge_s3_object_created.json").read_text())
    assert payload["requester"] == event_requester["detail"]["requester"]
    assert payload["work"] == {"bucket": INBOX, "prefix": "work/j/r/"}
    assert payload["batches"] == {"lambda": 1, "fargate": 0}


def test_direct_input_keeps_working(world: World) -> None:
    raw = json.loads((EVENTS / "direct_input.json").read_text())
    for i in range(25):
        world.put(SOURCE, f"data/{i:03d}.txt", b"abc")
    world.put(
        INBOX, raw["sourceFilesCsvKey"], "".join(f"{SOURCE},data/{i:03d}.txt\n" for i in range(25))
    )

    result = run_prepare(raw, run_id="exec-1", s3=world.s3, settings=world.settings)

    assert result.job_name == "key-of-source-files"
    assert result.objects == 25
    # small objects: one Lambda-lane batch (maxItemsPerBatch 10 sizes Fargate tasks)
    assert result.batches == {"lambda": 1, "fargate": 0}
    assert {i.destination_key for i in all_items(world, result)} == {
        f"data/{i:03d}.txt" for i in range(25)
    }


def test_uri_form_destination_sizes_and_checksums(world: World) -> None:
    manifest = (
        "\ufeff"
        f"s3://{SOURCE}/k 1.txt,renamed/k1.txt,5,sha256:{'A' * 43}=\n"
        "\n"
        f"s3://{SOURCE}/k2.txt,,7,etag:{'ab' * 16}\n"
        f"{SOURCE},k3.txt,,,crc32c:AAAAAA==\n"
    )
    world.put(SOURCE, "k 1.txt", b"12345")
    world.put(SOURCE, "k2.txt", b"1234567")
    world.put(SOURCE, "k3.txt", b"1")
    event = world.job("forms", manifest, {"destinationBucket": DEST})
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    by_key = {i.source_key: i for i in all_items(world, result)}
    assert by_key["k 1.txt"].destination_key == "renamed/k1.txt"
    assert by_key["k 1.txt"].expected_size == 5
    assert by_key["k 1.txt"].expected_checksum is not None
    assert by_key["k 1.txt"].expected_checksum.algorithm == "SHA256"
    assert by_key["k2.txt"].expected_checksum is not None
    assert by_key["k2.txt"].expected_checksum.value == "ab" * 16
    assert by_key["k3.txt"].size == 1  # sized by HeadObject
    assert result.bytes == 13


def test_prefix_rows_expand_with_listing(world: World) -> None:
    for i in range(7):
        world.put(SOURCE, f"runs/r1/f{i}.fastq", b"x" * i)
    world.put(SOURCE, "runs/r2/other", b"no")
    manifest = f"{SOURCE},runs/r1/*\ns3://{SOURCE}/runs/r2/*,moved/\n"
    event = world.job("prefix", manifest, {"destinationBucket": DEST, "destinationPrefix": "p/"})
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    dests = sorted(i.destination_key for i in all_items(world, result))
    assert dests == sorted([f"p/runs/r1/f{i}.fastq" for i in range(7)] + ["p/moved/other"])
    assert result.bytes == sum(range(7)) + 2


def test_many_keys_in_one_folder_are_sized_by_listing(world: World) -> None:
    settings = replace(world.settings, list_threshold=10, chunk_rows=100)
    for i in range(40):
        world.put(SOURCE, f"many/{i:02d}", b"y" * (i + 1))
    manifest = "".join(f"{SOURCE},many/{i:02d}\n" for i in range(40))
    event = world.job("many", manifest, {"destinationBucket": DEST, "maxItemsPerBatch": 7})
    result = run_prepare(event, run_id="r", s3=world.s3, settings=settings)
    assert result.bytes == sum(range(1, 41))
    items = all_items(world, result)
    assert {i.source_key: i.size for i in items} == {f"many/{i:02d}": i + 1 for i in range(40)}


def test_lanes_split_at_the_cutoff(world: World) -> None:
    manifest = "".join(
        f"{SOURCE},obj{i},,{size}\n" for i, size in enumerate([10, 2000, 3000, 5, 1024])
    )
    for i in range(5):
        world.put(SOURCE, f"obj{i}", b"z")
    event = world.job(
        "lanes",
        manifest,
        {"destinationBucket": DEST, "laneCutoffBytes": 1024, "maxItemsPerBatch": 2},
    )
    settings = replace(world.settings, lambda_max_items=2)
    result = run_prepare(event, run_id="r", s3=world.s3, settings=settings)
    plan = read_plan(world, result)
    assert result.batches == {"lambda": 2, "fargate": 1}
    for ref, items in plan:
        sizes = [i.expected_size or 0 for i in items]
        if ref.lane == Lane.FARGATE:
            assert all(s > 1024 for s in sizes)
        else:
            assert all(s <= 1024 for s in sizes)
        assert ref.objects == len(items)
        assert ref.bytes == sum(sizes)


def test_dry_run_and_options_reach_run_config(world: World) -> None:
    world.put(SOURCE, "a", b"1")
    sidecar: dict[str, Any] = {
        "destinationBucket": DEST,
        "dryRun": True,
        "storageClass": "GLACIER_IR",
        "checksumAlgorithm": "sha256",
        "overwrite": "never",
        "copyTags": False,
        "maxConcurrency": 5,
        "reportUri": f"s3://{INBOX}/reports/mine",
    }
    event = world.job("dry", f"{SOURCE},a\n", sidecar)
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    assert result.dry_run is True
    assert result.max_concurrency == 5
    assert result.report_uri == f"s3://{INBOX}/reports/mine/"
    config = RunConfig.model_validate_json(world.text(INBOX, result.work.run_config_key))
    assert config.options.storage_class == "GLACIER_IR"
    assert config.options.checksum_algorithm == "SHA256"
    assert config.options.copy_tags is False
    assert config.dry_run is True


def test_url_encoded_event_key_is_decoded(world: World) -> None:
    world.put(SOURCE, "a", b"1")
    world.job("my job", f"{SOURCE},a\n", {"destinationBucket": DEST})
    event = json.loads((EVENTS / "eventbridge_s3_object_created.json").read_text())
    event["detail"]["object"]["key"] = "jobs/my+job.json"
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    assert result.job_name == "my job"


@pytest.mark.parametrize(
    "header",
    ["bucket,key,size", "Key,Bucket,Size", "source,size", "source,destinationKey,size,checksum"],
)
def test_headers_in_any_order(world: World, header: str) -> None:
    world.put(SOURCE, "k", b"1")
    cols = [c.lower() for c in header.split(",")]
    values = {"bucket": SOURCE, "key": "k", "size": "1", "source": f"s3://{SOURCE}/k"}
    values |= {"destinationkey": "", "checksum": ""}
    row = ",".join(values[c] for c in cols)
    event = world.job("hdr", f"{header}\n{row}\n", {"destinationBucket": DEST})
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    assert result.objects == 1


def test_the_lambda_lane_takes_no_object_it_cannot_copy_in_time(world: World) -> None:
    """laneCutoffBytes up to 5 TiB is accepted, but the Lambda lane stops at one
    CopyObject (5 GiB): larger objects go to Fargate, and the plan says so."""
    world.put(SOURCE, "a", b"1")
    manifest = f"{SOURCE},a,,{6 * 1024**3}\n{SOURCE},a,b,10\n"
    event = world.job("huge", manifest, {"destinationBucket": DEST, "laneCutoffBytes": 5 * 1024**4})
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    assert result.lane_cutoff_bytes == 5 * 1024**3
    assert result.batches == {"lambda": 1, "fargate": 1}
    assert "lowered" in result.notes[0]


def test_concurrency_is_clamped_to_the_copy_functions_reserved_concurrency(world: World) -> None:
    world.put(SOURCE, "a", b"1")
    event = world.job("wide", f"{SOURCE},a\n", {"destinationBucket": DEST, "maxConcurrency": 500})
    settings = replace(world.settings, copy_concurrency_limit=40)
    result = run_prepare(event, run_id="r", s3=world.s3, settings=settings)
    assert result.max_concurrency == 40
    assert "reserved concurrency" in result.notes[0]


def test_a_fargate_only_run_is_clamped_only_when_thaw_invokes_the_copy_function(
    world: World,
) -> None:
    """Thaw runs in the CopyBatch function for archived batches of either lane."""
    world.s3.put_object(Bucket=SOURCE, Key="cold", Body=b"c", StorageClass="GLACIER")
    world.put(SOURCE, "warm", b"w")
    settings = replace(world.settings, copy_concurrency_limit=40)
    sidecar: dict[str, object] = {"destinationBucket": DEST, "maxConcurrency": 500}
    sidecar["laneCutoffBytes"] = 0  # every object on Fargate
    warm = run_prepare(
        world.job("warm", f"{SOURCE},warm\n", sidecar), run_id="r", s3=world.s3, settings=settings
    )
    assert (warm.batches, warm.max_concurrency) == ({"lambda": 0, "fargate": 1}, 500)
    sidecar["restore"] = {"tier": "Bulk"}
    cold = run_prepare(
        world.job("cold", f"{SOURCE},cold\n", sidecar), run_id="r", s3=world.s3, settings=settings
    )
    assert (cold.batches, cold.max_concurrency) == ({"lambda": 0, "fargate": 1}, 40)
    assert "reserved concurrency" in cold.notes[-1]


def test_a_plan_that_could_outlast_the_execution_timeout_is_refused(world: World) -> None:
    """Every Fargate batch may run until its timeout: 30 batches of a 1 TiB object, one at
    a time, could take longer than a day."""
    world.put(SOURCE, "a", b"1")
    manifest = "".join(f"{SOURCE},a,d/{n},{1024**4}\n" for n in range(30))
    sidecar = {"destinationBucket": DEST, "maxConcurrency": 1}
    event = world.job("long", manifest, sidecar)
    settings = replace(world.settings, execution_timeout_seconds=24 * 3600)
    with pytest.raises(RunTooLong, match="execution timeout") as info:
        run_prepare(event, run_id="r", s3=world.s3, settings=settings)
    assert "maxConcurrency" in str(info.value)
    assert world.keys(INBOX, "work/long/r/") == []

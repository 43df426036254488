"""The shared contracts: wire names, validation, the working-area layout."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from steps_s3_copy.models import (
    BatchRef,
    CopyItem,
    CopyOptions,
    Lane,
    ObjectResult,
    RunLocation,
    Status,
)


def test_copy_item_round_trips_with_camel_case_keys() -> None:
    item = CopyItem(
        source_bucket="src",
        source_key="a b/ü+%=.txt",
        destination_bucket="dst",
        destination_key="x/a b/ü+%=.txt",
        size=3,
    )
    wire = item.to_json()
    assert '"sourceKey":"a b/ü+%=.txt"' in wire
    assert "sourceVersionId" not in wire  # None fields are left out
    assert CopyItem.model_validate_json(wire) == item


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="colour"):
        CopyOptions.model_validate({"colour": "blue"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("multipartThreshold", 6 * 1024**3),
        ("partSize", 1024),
        ("concurrency", 0),
        ("destinationAccount", "12345"),
        ("storageClass", "COLD"),
    ],
)
def test_out_of_range_options_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        CopyOptions.model_validate({field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_batch_ref_accepts_the_strings_a_csv_item_reader_gives() -> None:
    row = {"batchId": "7", "lane": "fargate", "start": "10", "end": "99", "objects": "2"}
    ref = BatchRef.model_validate({**row, "bytes": "123"})
    assert (ref.batch_id, ref.lane, ref.end, ref.bytes) == (7, Lane.FARGATE, 99, 123)


def test_run_location_keys() -> None:
    loc = RunLocation(bucket="inbox", prefix="work/job/run-1/")
    assert loc.plan_key == "work/job/run-1/plan.jsonl"
    assert loc.results_key(12) == "work/job/run-1/results/00000012.jsonl"
    assert loc.results_prefix == "work/job/run-1/results/"


def test_object_result_defaults() -> None:
    res = ObjectResult(source="s3://a/b", destination="s3://c/d", status=Status.FAILED)
    assert res.bytes == 0
    assert res.method == "none"

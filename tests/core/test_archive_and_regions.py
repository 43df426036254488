"""Archived sources are found while sizing (and refused without a restore), and buckets
outside the deployment's region are refused unless the sidecar allows them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from steps_s3_copy import retries
from steps_s3_copy.errors import ManifestInvalid, RunTooLong, SidecarInvalid, SourceArchived
from tests.core.conftest import DEST, INBOX, SOURCE, World, run_prepare
from tests.core.test_prepare import read_plan


def _archived_sources(world: World) -> None:
    world.s3.put_object(Bucket=SOURCE, Key="cold/a.bam", Body=b"a" * 10, StorageClass="GLACIER")
    world.s3.put_object(
        Bucket=SOURCE, Key="cold/b.bam", Body=b"b" * 20, StorageClass="DEEP_ARCHIVE"
    )
    world.s3.put_object(Bucket=SOURCE, Key="cold/ir.bam", Body=b"c", StorageClass="GLACIER_IR")
    world.put(SOURCE, "warm.txt", b"w")


def test_archived_sources_without_a_restore_are_refused_naming_each(world: World) -> None:
    _archived_sources(world)
    event = world.job("cold", f"{SOURCE},warm.txt\n{SOURCE},cold/*\n", {"destinationBucket": DEST})
    with pytest.raises(SourceArchived) as info:
        run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    message = " ".join(p.message for p in info.value.problems)
    assert "cold/a.bam is archived (GLACIER)" in message
    assert "cold/b.bam is archived (DEEP_ARCHIVE)" in message
    assert "ir.bam" not in message  # GLACIER_IR is read like any other class
    assert '"restore"' in message
    assert world.keys(INBOX, "work/cold/r/") == []


def test_with_a_restore_archived_sources_wait_in_batches_of_their_own(world: World) -> None:
    _archived_sources(world)
    sidecar = {"destinationBucket": DEST, "restore": {"tier": "Bulk", "days": 3}}
    event = world.job("cold", f"{SOURCE},warm.txt\n{SOURCE},cold/*\n", sidecar)
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    assert result.archived is not None
    assert (result.archived.objects, result.archived.bytes) == (2, 30)
    assert result.archived.by_storage_class == {"GLACIER": 1, "DEEP_ARCHIVE": 1}
    assert result.archived.expected_hours == 48  # DEEP_ARCHIVE Bulk: within 48 hours
    batches = read_plan(world, result)
    waiting = [(ref, items) for ref, items in batches if ref.archived]
    assert len(waiting) == 1
    ref, items = waiting[0]
    assert ref.archived == ref.objects == 2
    assert {i.restore for i in items} == {"needed"}
    assert {i.storage_class for i in items} == {"GLACIER", "DEEP_ARCHIVE"}
    ready = [i for r, items in batches if not r.archived for i in items]
    assert sorted(i.source_key for i in ready) == ["cold/ir.bam", "warm.txt"]


def test_a_tier_an_archive_does_not_have_is_refused(world: World) -> None:
    _archived_sources(world)
    sidecar = {"destinationBucket": DEST, "restore": {"tier": "Expedited"}}
    event = world.job("cold", f"{SOURCE},cold/b.bam\n", sidecar)
    with pytest.raises(SourceArchived, match="has no Expedited restore"):
        run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)


def test_a_restored_copy_is_copied_without_waiting(world: World) -> None:
    _archived_sources(world)
    world.s3.restore_object(Bucket=SOURCE, Key="cold/a.bam", RestoreRequest={"Days": 1})
    event = world.job("cold", f"{SOURCE},cold/a.bam\n", {"destinationBucket": DEST})
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    assert result.archived is None
    [(ref, items)] = read_plan(world, result)
    assert ref.archived == 0
    assert items[0].restore == "done"


def _in_another_region(world: World, bucket: str) -> None:
    world.s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )


def test_a_source_in_another_region_needs_allow_cross_region(world: World) -> None:
    _in_another_region(world, "eu-source")
    world.s3.put_object(Bucket="eu-source", Key="x", Body=b"x")
    settings = replace(world.settings, region="us-east-1")
    event = world.job(
        "far", f"{SOURCE},nothing-here.txt,,1\neu-source,x\n", {"destinationBucket": DEST}
    )
    with pytest.raises(ManifestInvalid) as info:
        run_prepare(event, run_id="r", s3=world.s3, settings=settings)
    assert "'eu-source' is in eu-west-1, not us-east-1" in str(info.value)
    assert (2, "bucket") in [(p.row, p.field) for p in info.value.problems]
    allowed = world.job(
        "far-allowed", "eu-source,x\n", {"destinationBucket": DEST, "allowCrossRegion": True}
    )
    assert run_prepare(allowed, run_id="r2", s3=world.s3, settings=settings).objects == 1


def test_a_destination_in_another_region_is_refused(world: World) -> None:
    _in_another_region(world, "eu-destination")
    world.put(SOURCE, "a", b"a")
    settings = replace(world.settings, region="us-east-1")
    sidecar = {"destinationBucket": "eu-destination", "allowCrossRegion": True}
    event = world.job("far", f"{SOURCE},a\n", sidecar)
    with pytest.raises((SidecarInvalid, ManifestInvalid), match="deploy it in eu-west-1"):
        run_prepare(event, run_id="r", s3=world.s3, settings=settings)


def test_a_restore_wait_that_could_outlast_the_execution_is_refused(world: World) -> None:
    """A batch with archived sources first waits for their restore in its Map item, up to
    the tier's whole Retry (Bulk: 52 hourly polls): an execution timeout shorter than that
    plus the batch would end the run with no notice, so Prepare refuses it, and accepts
    the same job with the faster tier."""
    _archived_sources(world)
    manifest = f"{SOURCE},cold/a.bam\n"
    bulk_wait = retries.RESTORE_WAIT["Bulk"].longest_wait_seconds()
    assert bulk_wait == 52 * 3600
    settings = replace(world.settings, execution_timeout_seconds=48 * 3600)
    bulk = {"destinationBucket": DEST, "restore": {"tier": "Bulk"}}
    with pytest.raises(RunTooLong, match="restore's longest wait"):
        run_prepare(world.job("cold", manifest, bulk), run_id="r", s3=world.s3, settings=settings)
    assert world.keys(INBOX, "work/cold/r/") == []

    standard = {"destinationBucket": DEST, "restore": {"tier": "Standard"}}
    event = world.job("cold-standard", manifest, standard)
    result = run_prepare(event, run_id="s", s3=world.s3, settings=settings)
    assert result.archived is not None
    assert result.archived.objects == 1


@pytest.mark.parametrize(
    ("error", "index"),
    [
        ("PlanUnreadable", 0),  # never retried: MaxAttempts 0
        ("BatchIncomplete", 1),
        ("Lambda.ServiceException", 1),
        ("RuntimeError", 2),  # a crash: States.TaskFailed
        ("States.Timeout", None),  # States.TaskFailed does not match a timeout
    ],
)
def test_the_lambda_lane_retrier_each_error_gets(error: str, index: int | None) -> None:
    """Step Functions uses the first retrier that names the error (the definition's order,
    tests/infra/test_definition.py checks it is this table's)."""
    assert retries.first_retrier(retries.COPY_BATCH_LAMBDA_RETRIERS, error) == index


def test_states_all_matches_a_timeout_too() -> None:
    catch_all = (retries.RetryPolicy(("States.ALL",), 1, 1, 1),)
    assert retries.first_retrier(catch_all, "States.Timeout") == 0

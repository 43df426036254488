"""The Thaw step: a restore is asked once per archived object, the batch waits (by
raising RestorePending<Tier>, which the state machine retries) until every object is
readable, then it is copied byte for byte.

moto restores at once; the ``restoring_endpoint`` relay keeps each restore "in progress"
for its first HeadObject answers, as S3 does for hours (tests/conftest.py)."""

from __future__ import annotations

import pytest

from steps_s3_copy import thaw
from steps_s3_copy.errors import RestorePendingBulk, RestorePendingStandard
from steps_s3_copy.payloads import CopyPayload
from steps_s3_copy.workarea import WorkArea
from steps_s3_copy.worker import copy_batch
from tests.conftest import RestoringEndpoint, client, read_body
from tests.core.conftest import DEST, SOURCE, World, run_prepare
from tests.core.test_prepare import read_plan

BODIES = {"cold/a.bam": b"a" * 1000, "cold/b.bam": b"b" * 2000}


def _archived_batch(world: World, tier: str) -> tuple[CopyPayload, list[str]]:
    for key, body in BODIES.items():
        world.s3.put_object(Bucket=SOURCE, Key=key, Body=body, StorageClass="GLACIER")
    world.put(SOURCE, "warm.txt", b"w")
    sidecar = {"destinationBucket": DEST, "restore": {"tier": tier, "days": 2}}
    event = world.job("cold", f"{SOURCE},warm.txt\n{SOURCE},cold/*\n", sidecar)
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    [(ref, items)] = [(r, i) for r, i in read_plan(world, result) if r.archived]
    return CopyPayload(batch=ref, work=result.work), [i.source_key for i in items]


def test_a_batch_waits_until_every_restore_is_done_then_copies(
    world: World, restoring_endpoint: RestoringEndpoint
) -> None:
    payload, keys = _archived_batch(world, "Bulk")
    s3 = client("s3", restoring_endpoint.url)
    messages = []
    for _ in range(3):  # asked, then in progress for two answers: the Retry waits each time
        with pytest.raises(RestorePendingBulk) as info:
            thaw.run(payload, s3=s3)
        messages.append(str(info.value))
    assert all("still being restored (Bulk)" in m for m in messages)
    outcome = thaw.run(payload, s3=s3)
    assert outcome.restored == 2
    # one RestoreObject per object, however often Thaw ran
    assert sorted(restoring_endpoint.restores) == sorted(f"/{SOURCE}/{k}" for k in keys)
    record = WorkArea(world.s3, payload.work).read_restores(payload.batch.batch_id)
    assert set(record) == set(keys)
    assert all(r["requestedAt"] <= r["readyAt"] for r in record.values())

    result = copy_batch.run(payload, endpoint_url=restoring_endpoint.url)
    assert (result.copied, result.failed) == (2, 0)
    for key, body in BODIES.items():
        # copied in its own class, as the source was (no storageClass in the sidecar)
        assert world.s3.head_object(Bucket=DEST, Key=key)["StorageClass"] == "GLACIER"
        assert read_body(world.s3, DEST, key) == body


def test_the_tier_names_the_wait(world: World, restoring_endpoint: RestoringEndpoint) -> None:
    payload, _ = _archived_batch(world, "Standard")
    with pytest.raises(RestorePendingStandard):
        thaw.run(payload, s3=client("s3", restoring_endpoint.url))


def test_a_batch_without_archived_sources_passes_at_once(world: World) -> None:
    world.put(SOURCE, "warm.txt", b"w")
    event = world.job("warm", f"{SOURCE},warm.txt\n", {"destinationBucket": DEST})
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    [(ref, _)] = read_plan(world, result)
    assert thaw.run(CopyPayload(batch=ref, work=result.work), s3=world.s3).restored == 0

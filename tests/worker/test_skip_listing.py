"""Skip checks proportional to the batch (issue 10): the destination listing of a batch
asks for no more keys than the batch has, and a re-run of a large sorted batch costs one
ListObjectsV2 request per 1,000 objects, however large the destination folder.

The LIST requests are counted at the fault proxy in front of the moto server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
from moto.s3.models import s3_backends

from steps_s3_copy.models import CopyItem, Status
from steps_s3_copy.worker.engine import CopyEngine
from steps_s3_copy.worker.skip import key_before, list_destinations
from tests.worker.conftest import DEST, SOURCE, FaultProxy, Seen

Engine = Callable[..., CopyEngine]

BODY = b"same"
ETAG = f'"{hashlib.md5(BODY).hexdigest()}"'
PARTITION = "aws"


def fill(s3: Any, keys: list[str]) -> None:
    """Put ``keys`` into the destination.

    Through the moto server's own S3 backend (the server runs in this process): 8,000
    PutObject requests through HTTP take about 45 s here, the backend's ``put_object``
    (what the server's PutObject handler calls) well under one. Nothing is patched; the
    objects are then read through the S3 API like any other, and counted here first.
    """
    backend = s3_backends[ACCOUNT_ID][PARTITION]
    for key in keys:
        backend.put_object(DEST, key, BODY)
    listed = sum(
        page.get("KeyCount", 0)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=DEST)
    )
    assert listed >= len(keys)


def planned_items(keys: list[str]) -> list[CopyItem]:
    """Items as Prepare plans them, their sources identical to what the destination
    holds (the skip check never reads the source when size and ETag match)."""
    return [
        CopyItem(
            source_bucket=SOURCE,
            source_key=key,
            destination_bucket=DEST,
            destination_key=key,
            size=len(BODY),
            etag=ETAG,
        )
        for key in keys
    ]


def listings(proxy: FaultProxy) -> list[Seen]:
    return proxy.requests_of("GET", "list-type=2")


def max_keys(seen: Seen) -> int:
    return int(parse_qs(seen.target.partition("?")[2])["max-keys"][0])


def test_a_rerun_of_a_3000_object_batch_lists_three_pages(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    keys = [f"run/part-{n:05d}.dat" for n in range(3000)]
    fill(buckets, keys)
    results = make_engine(endpoint=fault_proxy.url).copy(planned_items(keys))
    assert {(r.status, r.method) for r in results} == {(Status.SKIPPED, "skip")}
    assert len(results) == len(keys)
    lists = listings(fault_proxy)
    assert len(lists) == 3, [s.target for s in lists]
    assert [max_keys(s) for s in lists] == [1000, 1000, 1000]
    assert len(fault_proxy.seen) == 3  # nothing but the listing


def test_a_10_object_batch_in_a_5000_key_folder_lists_10_keys(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    keys = [f"folder/key-{n:05d}" for n in range(5000)]
    fill(buckets, keys)
    batch = keys[2000:2010]
    results = make_engine(endpoint=fault_proxy.url).copy(planned_items(batch))
    assert {r.status for r in results} == {Status.SKIPPED}
    [listing] = listings(fault_proxy)
    assert max_keys(listing) == 10
    assert len(fault_proxy.seen) == 1

    # New keys between the folder's keys: one request of 10 keys shows them absent.
    fault_proxy.seen.clear()
    fresh = [f"folder/key-{n:05d}-new" for n in range(2000, 2010)]
    engine = make_engine(endpoint=fault_proxy.url)
    known = list_destinations(engine.context, planned_items(fresh), 4)
    assert known == {(DEST, key): None for key in fresh}
    [listing] = listings(fault_proxy)
    assert max_keys(listing) == 10


def test_keys_spread_thinly_among_others_fall_back_to_head_object(
    buckets: Any, make_engine: Engine, fault_proxy: FaultProxy
):
    keys = [f"folder/key-{n:05d}" for n in range(2000)]
    fill(buckets, keys)
    batch = keys[::200]  # 10 keys, 199 others between each two
    results = make_engine(endpoint=fault_proxy.url).copy(planned_items(batch))
    assert {r.status for r in results} == {Status.SKIPPED}
    lists = listings(fault_proxy)
    heads = [s for s in fault_proxy.seen if s.method == "HEAD"]
    assert len(lists) == 2  # two pages that taught one key each, then HeadObject
    assert max(max_keys(s) for s in lists) <= len(batch)
    assert len(heads) == len(batch) - 2


@pytest.mark.parametrize("key", ["a/b", "a/b0", "a\x00", "ü", "x\ue000", "🙂"])
def test_key_before_is_just_below_the_key(key: str):
    """Nothing a listing could show sorts between: not the key's own "folder", not a key
    one character longer (the lowest a key can continue with is NUL)."""
    before = key_before(key)
    assert before < key
    lower = key[:-1] + chr(max(ord(key[-1]) - 1, 0))
    for other in (key[:-1], lower, lower + "zzz", lower + "\uffff/x", key[:-1] + "\x00zz"):
        if not any("\ud800" <= c <= "\udfff" for c in other):  # keys only
            assert not before < other < key, other
    assert len(before.encode("utf-8")) <= 1024 + 4


def test_key_before_a_key_of_1024_bytes_stays_within_the_key_length():
    key = "k" * 1024
    before = key_before(key)
    assert before < key
    assert len(before.encode("utf-8")) <= 1024

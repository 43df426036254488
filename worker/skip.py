"""Skip checks: is the destination already what the copy would make?

The destination's size and ETag come from ListObjectsV2 where a batch has several keys in
one destination bucket, else from a HeadObject. Same size and equal ETag, or same size and
an equal checksum of the same algorithm and type, is SKIPPED; ``overwrite=never`` skips
whatever exists.

**Listings proportional to the batch** (issue 10). A batch's destination keys are sorted
(S3 lists keys in UTF-8 binary order, which is Python's code-point order) and cut into
runs of at most 1,000. Each run is listed under the run's common prefix, each request
starting just before the first key not yet known (``StartAfter``) and asking for no more
keys than the run has left to learn (``MaxKeys``): keys the listing passes without
showing are absent. A run whose keys are contiguous in the destination (a re-run of a
sorted batch) costs one request per 1,000 keys however large the destination folder;
keys of other runs or other jobs between the batch's keys are jumped over, not paged
through; where the batch's keys are thinly spread among others (two pages in a row that
taught one key each) the rest of the run is asked with HeadObject.
(ListObjectsV2, ``start-after``, ``max-keys``, "Returns some or all (up to 1,000) of the
objects", https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html.)
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from steps_s3_copy.models import CopyItem, OverwritePolicy, Status
from steps_s3_copy.worker.context import (
    CopyContext,
    Outcome,
    Source,
    head_evidence,
    listed_evidence,
    source_evidence,
)
from steps_s3_copy.worker.evidence import checksum_evidence, checksum_type, norm_etag
from steps_s3_copy.worker.s3client import HeadResult, ListEntry, S3Error

logger = logging.getLogger("steps-s3-copy")

#: A bucket with at least this many keys in a batch is listed, not HEAD-ed.
LIST_MIN_KEYS = 2
#: Keys per run, and the most one ListObjectsV2 request returns.
PAGE_KEYS = 1000
#: "not looked up": the destination's state must be asked with HeadObject
UNKNOWN: Any = object()
#: The largest Unicode scalar value: no key continues a prefix with anything above it.
_MAX_CHAR = "\U0010ffff"
#: S3 keys are at most 1,024 bytes of UTF-8.
_MAX_KEY_BYTES = 1024

#: What a listing knows of a destination: an entry, None (absent) or no key (unknown).
Listed = dict[tuple[str, str], ListEntry | None]


def key_before(key: str) -> str:
    """The greatest string below ``key`` that a listing can start after.

    No key of at most 1,024 bytes sorts strictly between it and ``key`` (short of keys
    that continue the result with U+10FFFF, a noncharacter), so ``StartAfter`` with it
    starts the listing exactly at ``key``.
    """
    head, last = key[:-1], key[-1]
    if last == "\x00":
        return head
    previous = ord(last) - 1
    if 0xD800 <= previous <= 0xDFFF:  # surrogates are not characters: skip them
        previous = 0xD7FF
    candidate = head + chr(previous) + _MAX_CHAR
    if len(candidate.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        return head  # keys between may be listed first; still correct, only less exact
    return candidate


def common_prefix(first: str, last: str) -> str:
    """The longest string both keys start with (character by character, not by path)."""
    n = 0
    for a, b in zip(first, last, strict=False):
        if a != b:
            break
        n += 1
    return first[:n]


def list_destinations(ctx: CopyContext, items: Iterable[CopyItem], concurrency: int) -> Listed:
    """Destination state from listings: an entry, None (absent) or missing (unknown)."""
    buckets: dict[str, set[str]] = defaultdict(set)
    for item in items:
        buckets[item.destination_bucket].add(item.destination_key)
    runs: list[tuple[str, list[str]]] = []
    for bucket, keys in buckets.items():
        if len(keys) < LIST_MIN_KEYS:
            continue
        ordered = sorted(keys)
        runs.extend((bucket, ordered[n : n + PAGE_KEYS]) for n in range(0, len(ordered), PAGE_KEYS))
    known: Listed = {}
    if not runs:
        return known
    with ThreadPoolExecutor(min(len(runs), concurrency)) as pool:
        for found in pool.map(lambda run: list_run(ctx, *run), runs):
            known.update(found)
    return known


def list_run(ctx: CopyContext, bucket: str, keys: list[str]) -> Listed:
    """What the destination holds of ``keys`` (sorted): entries, None for absent; keys
    left out are unknown (the listing failed or gave up)."""
    prefix = common_prefix(keys[0], keys[-1])
    wanted = set(keys)
    known: Listed = {}
    next_key = 0  # keys[:next_key] are known
    poor_pages = 0
    while next_key < len(keys):
        left = len(keys) - next_key
        try:
            page = ctx.s3.list_objects_page(
                bucket,
                prefix,
                start_after=key_before(keys[next_key]),
                max_keys=min(PAGE_KEYS, left),
                access=ctx.destination_access,
            )
        except S3Error as exc:
            logger.warning(
                "destination listing failed; using HeadObject",
                extra={"bucket": bucket, "prefix": prefix, "error": exc.code},
            )
            return known
        for entry in page.entries:
            if entry.key in wanted:
                known[(bucket, entry.key)] = entry
        # Every key up to the last one shown is known now: shown, or absent.
        last = page.entries[-1].key if page.entries else None
        before = next_key
        while next_key < len(keys) and (
            not page.truncated or (last is not None and keys[next_key] <= last)
        ):
            known.setdefault((bucket, keys[next_key]), None)
            next_key += 1
        if next_key == before:  # cannot happen with S3; never loop on a strange answer
            return known
        poor_pages = poor_pages + 1 if next_key - before < LIST_MIN_KEYS else 0
        if poor_pages >= 2 and len(keys) - next_key >= LIST_MIN_KEYS:
            # The batch's keys are thinly spread among others here: HeadObject is cheaper.
            return known
    return known


def skip_check(ctx: CopyContext, item: CopyItem, source: Source, listed: object) -> Outcome | None:
    """SKIPPED when the destination needs no copy, else None.

    ``listed`` is the destination as a listing saw it (a ``ListEntry`` or None for
    absent) or ``UNKNOWN`` (asked here with HeadObject).
    """
    dest = ctx.head_destination(item) if listed is UNKNOWN else listed
    if not isinstance(dest, ListEntry | HeadResult):
        return None
    if ctx.options.overwrite is OverwritePolicy.NEVER:
        return Outcome(
            Status.SKIPPED,
            dest.size,
            "skip",
            f"ETAG:{norm_etag(dest.etag)}",
            source=source_evidence(source),
            destination=listed_evidence(dest),
        )
    return same_content(ctx, item, source, dest)


def same_content(
    ctx: CopyContext, item: CopyItem, source: Source, dest: ListEntry | HeadResult
) -> Outcome | None:
    """SKIPPED with the evidence that the destination already holds the source's
    content, else None."""
    if dest.size != source.size:
        return None
    if norm_etag(dest.etag) == norm_etag(source.etag):
        return Outcome(
            Status.SKIPPED,
            source.size,
            "skip",
            f"ETAG:{norm_etag(dest.etag)}",
            source=source_evidence(source),
            destination=listed_evidence(dest),
        )
    # ETags differ (SSE-KMS, another part layout): only checksums can tell.
    if isinstance(dest, ListEntry) and not dest.checksum_algorithms:
        return None
    dest_head = dest if isinstance(dest, HeadResult) else ctx.head_destination(item)
    if dest_head is None:
        return None
    source = ctx.with_head(item, source)
    assert source.head is not None
    same, evidence = checksum_evidence(
        source.head.checksums,
        checksum_type(source.head),
        dest_head.checksums,
        checksum_type(dest_head),
    )
    if not same:
        return None
    return Outcome(
        Status.SKIPPED,
        source.size,
        "skip",
        evidence,
        source=source_evidence(source),
        destination=head_evidence(dest_head),
    )

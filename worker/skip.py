"""Skip checks: is the destination already what the copy would make?

The destination's size and ETag come from ListObjectsV2 where a batch has several keys in
one destination "folder" (one request per 1,000 keys instead of a HeadObject each), else
from a HeadObject. Same size and equal ETag, or same size and an equal checksum of the
same algorithm and type, is SKIPPED; ``overwrite=never`` skips whatever exists.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from steps_s3_copy.models import CopyItem, OverwritePolicy, Status
from steps_s3_copy.worker.context import CopyContext, Outcome, Source
from steps_s3_copy.worker.evidence import checksum_evidence, norm_etag
from steps_s3_copy.worker.s3client import HeadResult, ListEntry, S3Error

logger = logging.getLogger("steps-s3-copy")

#: A destination folder with at least this many keys in a batch is listed, not HEAD-ed.
LIST_MIN_KEYS = 2
#: "not looked up": the destination's state must be asked with HeadObject
UNKNOWN: Any = object()

#: What a listing knows of a destination: an entry, None (absent) or no key (unknown).
Listed = dict[tuple[str, str], ListEntry | None]


def list_destinations(ctx: CopyContext, items: Iterable[CopyItem], concurrency: int) -> Listed:
    """Destination state from listings: an entry, None (absent) or missing (unknown).

    Keys are grouped by bucket and folder; a folder with ``LIST_MIN_KEYS`` or more keys
    is listed from just before its smallest key to its largest, at most a few pages
    more than the keys need (a huge folder falls back to HeadObject for the rest).
    """
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in items:
        key = item.destination_key
        folder = key[: key.rfind("/") + 1]
        groups[(item.destination_bucket, folder)].add(key)
    known: Listed = {}
    todo = [(b, f, keys) for (b, f), keys in groups.items() if len(keys) >= LIST_MIN_KEYS]
    if not todo:
        return known

    def list_group(group: tuple[str, str, set[str]]) -> None:
        bucket, folder, keys = group
        lowest, highest = min(keys), max(keys)
        start_after = lowest[:-1] if len(lowest) - 1 > len(folder) else None
        max_entries = 2_000 + 4 * len(keys)
        seen = 0
        last: str | None = None
        complete = True
        try:
            for entry in ctx.s3.list_objects(
                bucket, folder, start_after=start_after, access=ctx.destination_access
            ):
                seen += 1
                if entry.key in keys:
                    known[(bucket, entry.key)] = entry
                last = entry.key
                if entry.key >= highest:
                    break
                if seen >= max_entries:
                    complete = False
                    break
        except S3Error as exc:
            logger.warning(
                "destination listing failed; using HeadObject",
                extra={"bucket": bucket, "prefix": folder, "error": exc.code},
            )
            return
        for key in keys:
            if (bucket, key) not in known and (complete or (last is not None and key <= last)):
                known[(bucket, key)] = None

    with ThreadPoolExecutor(min(len(todo), concurrency)) as pool:
        list(pool.map(list_group, todo))
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
        return Outcome(Status.SKIPPED, dest.size, "skip", f"ETAG:{norm_etag(dest.etag)}")
    evidence = same_content(ctx, item, source, dest)
    return Outcome(Status.SKIPPED, source.size, "skip", evidence) if evidence else None


def same_content(
    ctx: CopyContext, item: CopyItem, source: Source, dest: ListEntry | HeadResult
) -> str | None:
    """Evidence that the destination already holds the source's content, else None."""
    if dest.size != source.size:
        return None
    if norm_etag(dest.etag) == norm_etag(source.etag):
        return f"ETAG:{norm_etag(dest.etag)}"
    # ETags differ (SSE-KMS, another part layout): only checksums can tell.
    if isinstance(dest, ListEntry) and not dest.checksum_algorithms:
        return None
    dest_head = dest if isinstance(dest, HeadResult) else ctx.head_destination(item)
    source_head = source.head or ctx.head_source(item).head
    if dest_head is None or source_head is None:
        return None
    same, evidence = checksum_evidence(
        source_head.checksums,
        source_head.checksum_type,
        dest_head.checksums,
        dest_head.checksum_type,
    )
    return evidence if same else None

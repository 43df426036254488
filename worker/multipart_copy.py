"""A multipart copy: how objects above the threshold, and every multipart source, are copied.

CreateMultipartUpload carries what a CopyObject would have copied by itself: the content
headers and user metadata (from HeadObject, byte for byte), the tags (GetObjectTagging),
storage class, SSE-KMS, and the checksum algorithm and type that keep the destination's
checksum comparable with the source's. The part layout mirrors the source's own parts
(GetObjectAttributes ``ObjectParts`` when S3 lists them, else HeadObject with
``partNumber``), so uneven parts work and the ETag comes out equal; a single-part source
is cut in ``partSize`` parts. UploadPartCopy runs ``partConcurrency`` parts at once, each
conditional on the source's ETag. CompleteMultipartUpload, then verification.

Any failure, or a stop whose grace period is over, aborts the upload: no incomplete
upload is left behind.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from steps_s3_copy.models import CopyItem
from steps_s3_copy.worker.context import (
    CopyContext,
    Outcome,
    Source,
    destination_ref,
    source_ref,
)
from steps_s3_copy.worker.control import Control, CopyInterruptedError
from steps_s3_copy.worker.evidence import (
    byte_ranges,
    multipart_checksum_type,
    parts_in_etag,
    plan_parts,
)
from steps_s3_copy.worker.s3client import HeadResult, PartResult, S3Error, WriteSettings
from steps_s3_copy.worker.verify import verify

logger = logging.getLogger("steps-s3-copy")


def copy_multipart(ctx: CopyContext, item: CopyItem, source: Source, control: Control) -> Outcome:
    """Copy ``item`` in parts, abort on any failure, and verify it."""
    options = ctx.options
    if source.head is None:
        source = ctx.head_source(item)
    head = source.head
    assert head is not None
    layout, mirrored = part_layout(ctx, item, head)
    tags = (
        ctx.s3.get_object_tagging(source_ref(item), access=ctx.source_access)
        if options.copy_tags
        else []
    )
    algorithm = options.checksum_algorithm or next(iter(sorted(head.checksums)), None)
    destination = destination_ref(item)
    upload_id = ctx.s3.create_multipart_upload(
        destination,
        content=head.content,
        metadata=head.metadata if options.copy_metadata else None,
        tags=tags,
        settings=WriteSettings(
            storage_class=options.storage_class,
            sse_kms_key_id=options.sse_kms_key_id,
            checksum_algorithm=str(algorithm) if algorithm else None,
        ),
        checksum_type=multipart_checksum_type(algorithm, head, mirrored) if algorithm else None,
        access=ctx.destination_access,
    )
    completed = False
    try:
        parts = copy_parts(
            ctx, item, head=head, layout=layout, upload_id=upload_id, control=control
        )
        if algorithm:
            # Complete lists only the checksum of the algorithm the upload declared.
            parts = [_only(part, str(algorithm)) for part in parts]
        ctx.s3.complete_multipart_upload(
            destination, upload_id=upload_id, parts=parts, access=ctx.destination_access
        )
        completed = True
    finally:
        if not completed:
            abort(ctx, item, upload_id)
    return verify(ctx, item, source, mirrored=mirrored, method="multipart")


def abort(ctx: CopyContext, item: CopyItem, upload_id: str) -> None:
    """Abort an upload; a failure to abort is logged, never raised over the first error."""
    try:
        ctx.s3.abort_multipart_upload(
            destination_ref(item), upload_id=upload_id, access=ctx.destination_access
        )
    except S3Error:
        logger.exception(
            "could not abort a multipart upload",
            extra={"bucket": item.destination_bucket, "key": item.destination_key},
        )


def part_layout(ctx: CopyContext, item: CopyItem, head: HeadResult) -> tuple[list[int], bool]:
    """Part sizes, and whether they mirror the source's own parts."""
    count = parts_in_etag(head.etag)
    if count:
        sizes = source_part_sizes(ctx, item, count)
        if sizes and len(sizes) == count and sum(sizes) == head.size:
            return sizes, True
        logger.warning(
            "source part layout unavailable; ETag will differ",
            extra={"source": f"s3://{item.source_bucket}/{item.source_key}"},
        )
    return plan_parts(head.size, ctx.options.part_size), False


def source_part_sizes(ctx: CopyContext, item: CopyItem, count: int) -> list[int]:
    """Part sizes from GetObjectAttributes, or from HeadObject with partNumber."""
    source = source_ref(item)
    try:
        sizes = ctx.s3.get_object_part_sizes(source, access=ctx.source_access)
    except S3Error:
        sizes = []
    if len(sizes) == count:
        return sizes

    # Only objects written with additional checksums list their parts: ask each part.
    def part_size(number: int) -> int:
        answer = ctx.s3.head_object(source, part_number=number, access=ctx.source_access)
        if answer is None:
            raise S3Error("NoSuchKey", "source disappeared while reading its parts", 404)
        return answer.size

    with ThreadPoolExecutor(min(count, ctx.options.part_concurrency)) as pool:
        return list(pool.map(part_size, range(1, count + 1)))


def copy_parts(
    ctx: CopyContext,
    item: CopyItem,
    *,
    head: HeadResult,
    layout: list[int],
    upload_id: str,
    control: Control,
) -> list[PartResult]:
    """UploadPartCopy of every part, ``part_concurrency`` at once; the first failure stops
    the parts not yet started."""
    failed = threading.Event()
    source, destination = source_ref(item), destination_ref(item)

    def copy_part(number: int, byte_range: tuple[int, int] | None) -> PartResult:
        if failed.is_set():
            raise CopyInterruptedError
        if control.must_abort():
            failed.set()
            raise CopyInterruptedError
        try:
            return ctx.s3.upload_part_copy(
                source,
                destination,
                upload_id=upload_id,
                part_number=number,
                byte_range=byte_range,
                if_match=head.etag,
                access=ctx.copy_access,
            )
        except Exception:
            failed.set()
            raise

    ranges = byte_ranges(layout)
    with ThreadPoolExecutor(min(len(layout), ctx.options.part_concurrency)) as pool:
        futures = [pool.submit(copy_part, n + 1, r) for n, r in enumerate(ranges)]
        try:
            return [f.result() for f in futures]
        except BaseException:
            failed.set()
            for future in futures:
                future.cancel()
            raise


def _only(part: PartResult, algorithm: str) -> PartResult:
    checksum = part.checksums.get(algorithm)
    return PartResult(
        part_number=part.part_number,
        etag=part.etag,
        checksums={algorithm: checksum} if checksum else {},
    )

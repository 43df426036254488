"""A multipart copy: how objects above the threshold, and every multipart source, are copied.

CreateMultipartUpload carries what a CopyObject would have copied by itself: the content
headers and user metadata (from HeadObject, byte for byte), the tags (GetObjectTagging),
storage class, SSE-KMS, and the checksum algorithm and type that keep the destination's
checksum comparable with the source's. The part layout mirrors the source's own parts
(GetObjectAttributes ``ObjectParts`` when S3 lists them, else HeadObject with
``partNumber``), so uneven parts work and the ETag comes out equal; a single-part source
is cut in ``partSize`` parts. UploadPartCopy runs ``partConcurrency`` parts at once.
CompleteMultipartUpload, then verification.

The planned ETag is the contract of every read of the source (``context.py``): the
HeadObject carries ``If-Match``, every UploadPartCopy ``x-amz-copy-source-if-match``,
GetObjectAttributes' answered ETag is compared, and tags, attributes and part sizes are
read from the version the HeadObject reported (a versioned source). A source that changed
is FAILED ``SourceChanged``, its upload aborted.

Before its upload starts, a copy aborts the incomplete uploads of its own destination key
(ListMultipartUploads with the key as prefix, exact key match): an earlier attempt killed
hard (``kill -9``, out of memory, a Lambda timeout) could not abort its own. Any failure,
or a stop whose grace period is over, aborts the upload: nothing is left behind.
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
    SourceChangedError,
    destination_ref,
    reading_source,
    source_ref,
)
from steps_s3_copy.worker.control import Control, CopyInterruptedError
from steps_s3_copy.worker.evidence import (
    byte_ranges,
    multipart_checksum_type,
    norm_etag,
    parts_in_etag,
    plan_parts,
)
from steps_s3_copy.worker.s3client import (
    ObjectParts,
    ObjectRef,
    PartResult,
    S3Error,
    WriteSettings,
)
from steps_s3_copy.worker.verify import verify

logger = logging.getLogger("steps-s3-copy")


def copy_multipart(ctx: CopyContext, item: CopyItem, source: Source, control: Control) -> Outcome:
    """Copy ``item`` in parts, abort on any failure, and verify it."""
    options = ctx.options
    source = ctx.with_head(item, source)
    head = source.head
    assert head is not None
    layout, mirrored = part_layout(ctx, item, source)
    tags = (
        ctx.s3.get_object_tagging(_read_ref(item, source), access=ctx.source_access)
        if options.copy_tags
        else []
    )
    algorithm = options.checksum_algorithm or next(iter(sorted(head.checksums)), None)
    destination = destination_ref(item)
    abort_stale_uploads(ctx, item)
    upload_id = ctx.s3.create_multipart_upload(
        destination,
        content=head.content,
        metadata=head.metadata if options.copy_metadata else None,
        tags=tags,
        settings=WriteSettings(
            storage_class=ctx.storage_class(item),
            sse_kms_key_id=options.sse_kms_key_id,
            checksum_algorithm=str(algorithm) if algorithm else None,
        ),
        checksum_type=multipart_checksum_type(algorithm, head, mirrored) if algorithm else None,
        access=ctx.destination_access,
    )
    completed = False
    try:
        parts = copy_parts(
            ctx, item, etag=source.etag, layout=layout, upload_id=upload_id, control=control
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


def abort_stale_uploads(ctx: CopyContext, item: CopyItem) -> int:
    """Abort the incomplete uploads of ``item``'s destination key; how many were aborted.

    ListMultipartUploads lists uploads by key prefix
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html): the
    key itself is the prefix, and only uploads of exactly that key are aborted. A failure
    to list or abort is logged: it must not stop the copy (the run's Finish step sweeps
    the run's keys again).
    """
    key = item.destination_key
    try:
        uploads = ctx.s3.list_multipart_uploads(
            item.destination_bucket, key, access=ctx.destination_access
        )
    except S3Error as exc:
        logger.warning(
            "could not list incomplete uploads of the destination key",
            extra={"bucket": item.destination_bucket, "key": key, "error": exc.code},
        )
        return 0
    aborted = 0
    for upload in uploads:
        if upload.key != key:
            continue
        try:
            ctx.s3.abort_multipart_upload(
                destination_ref(item), upload_id=upload.upload_id, access=ctx.destination_access
            )
            aborted += 1
        except S3Error as exc:
            logger.warning(
                "could not abort an incomplete upload left by an earlier attempt",
                extra={"bucket": item.destination_bucket, "key": key, "error": exc.code},
            )
    if aborted:
        logger.info(
            "aborted incomplete uploads left by an earlier attempt",
            extra={"bucket": item.destination_bucket, "key": key, "uploads": aborted},
        )
    return aborted


def _read_ref(item: CopyItem, source: Source) -> ObjectRef:
    """The source for reads of tags and attributes: the version the plan or the source's
    HeadObject named."""
    return ObjectRef(item.source_bucket, item.source_key, source.read_version)


def part_layout(ctx: CopyContext, item: CopyItem, source: Source) -> tuple[list[int], bool]:
    """Part sizes, and whether they mirror the source's own parts."""
    count = parts_in_etag(source.etag)
    if count:
        sizes = source_part_sizes(ctx, item, source, count)
        if sizes and len(sizes) == count and sum(sizes) == source.size:
            return sizes, True
        logger.warning(
            "source part layout unavailable; ETag will differ",
            extra={"source": f"s3://{item.source_bucket}/{item.source_key}"},
        )
    return plan_parts(source.size, ctx.options.part_size), False


def source_part_sizes(ctx: CopyContext, item: CopyItem, source: Source, count: int) -> list[int]:
    """Part sizes from GetObjectAttributes, or from HeadObject with partNumber."""
    read = _read_ref(item, source)
    try:
        parts = ctx.s3.get_object_parts(read, access=ctx.source_access)
    except S3Error:
        parts = ObjectParts("", [])
    # GetObjectAttributes takes no condition: its answered ETag is compared instead.
    if parts.etag and norm_etag(parts.etag) != norm_etag(source.etag):
        raise SourceChangedError(
            f'the source changed since it was planned: its ETag is "{norm_etag(parts.etag)}", '
            f'not "{norm_etag(source.etag)}"'
        )
    if len(parts.sizes) == count:
        return parts.sizes

    # Only objects written with additional checksums list their parts: ask each part.
    # Without If-Match: S3 compares it with the whole object's ETag, moto with the part's
    # own. The sizes only cut the ranges of UploadPartCopy requests, each conditional on
    # the planned ETag, so parts of a changed source are never copied.
    def part_size(number: int) -> int:
        answer = ctx.s3.head_object(read, part_number=number, access=ctx.source_access)
        if answer is None:
            raise S3Error("NoSuchKey", "source disappeared while reading its parts", 404)
        return answer.size

    with ThreadPoolExecutor(min(count, ctx.options.part_concurrency)) as pool:
        return list(pool.map(part_size, range(1, count + 1)))


def copy_parts(
    ctx: CopyContext,
    item: CopyItem,
    *,
    etag: str,
    layout: list[int],
    upload_id: str,
    control: Control,
) -> list[PartResult]:
    """UploadPartCopy of every part, each conditional on the source's ETag,
    ``part_concurrency`` at once; the first failure stops the parts not yet started."""
    failed = threading.Event()
    source, destination = source_ref(item), destination_ref(item)
    if_match = f'"{norm_etag(etag)}"'

    def copy_part(number: int, byte_range: tuple[int, int] | None) -> PartResult:
        if failed.is_set():
            raise CopyInterruptedError
        if control.must_abort():
            failed.set()
            raise CopyInterruptedError
        try:
            with reading_source(etag):
                return ctx.s3.upload_part_copy(
                    source,
                    destination,
                    upload_id=upload_id,
                    part_number=number,
                    byte_range=byte_range,
                    if_match=if_match,
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

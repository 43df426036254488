"""A single CopyObject: how an object up to the multipart threshold is copied.

``MetadataDirective`` COPY (REPLACE with the content headers only, when ``copyMetadata`` is
off), ``TaggingDirective`` COPY (REPLACE, i.e. no tags, when ``copyTags`` is off), the
storage class, SSE-KMS and checksum algorithm of the options, and
``x-amz-copy-source-if-match`` the planned ETag, so what is copied is exactly what was
planned: a source changed since is refused by S3 (412) and FAILED ``SourceChanged``, the
destination untouched. An answered ETag equal to the source's verifies the copy without
another request.
"""

from __future__ import annotations

from dataclasses import replace

from steps_s3_copy.models import CopyItem, Status
from steps_s3_copy.worker.context import (
    CopyContext,
    Evidence,
    Outcome,
    Source,
    checksum_of,
    destination_ref,
    reading_source,
    source_evidence,
    source_ref,
)
from steps_s3_copy.worker.evidence import evidence_of, norm_etag
from steps_s3_copy.worker.s3client import Directive, WriteSettings
from steps_s3_copy.worker.verify import check_expected, verify


def copy_single(ctx: CopyContext, item: CopyItem, source: Source) -> Outcome:
    """Copy ``item`` with one CopyObject and verify it."""
    options = ctx.options
    metadata_directive: Directive = "COPY"
    content: dict[str, str] = {}
    if not options.copy_metadata:
        # REPLACE without user metadata, but the content headers stay.
        source = ctx.with_head(item, source)
        metadata_directive = "REPLACE"
        content = dict(source.head.content) if source.head else {}
    algorithm = options.checksum_algorithm or (
        item.expected_checksum.algorithm
        if item.expected_checksum and item.expected_checksum.algorithm != "ETAG"
        else None
    )
    with reading_source(source.etag):
        answer = ctx.s3.copy_object(
            source_ref(item),
            destination_ref(item),
            if_match=f'"{norm_etag(source.etag)}"',
            metadata_directive=metadata_directive,
            content=content,
            tagging_directive="COPY" if options.copy_tags else "REPLACE",
            settings=WriteSettings(
                storage_class=ctx.storage_class(item),
                sse_kms_key_id=options.sse_kms_key_id,
                checksum_algorithm=str(algorithm) if algorithm else None,
            ),
            access=ctx.copy_access,
        )
    if norm_etag(answer.etag) == norm_etag(source.etag):
        # Same ETag and the copy was conditional on it: verified without another request.
        failure = check_expected(ctx, item, answer.etag, answer.checksums)
        if failure:
            return replace(failure, bytes=source.size, method="copy")
        return Outcome(
            Status.COPIED,
            source.size,
            "copy",
            evidence_of(answer.checksums, answer.etag),
            source=source_evidence(source, version_id=answer.source_version_id),
            destination=Evidence(
                answer.version_id,
                source.size,
                norm_etag(answer.etag),
                checksum_of(answer.checksums),
            ),
        )
    return verify(
        ctx, item, source, mirrored=True, method="copy", copied_version=answer.source_version_id
    )

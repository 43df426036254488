"""Verification: is the destination, after the copy, what was planned?

Equal size, and an equal checksum of the same algorithm and type (``ChecksumMismatch``
otherwise); where ETags are comparable (the part layout mirrored, no SSE-KMS on either
side) equal ETags (``ETagMismatch``); and a manifest's expected checksum
(``ExpectedChecksumMismatch``, or ``ChecksumUnverifiable`` when the destination has no
checksum of that algorithm).
"""

from __future__ import annotations

from dataclasses import replace

from steps_s3_copy.models import CopyItem, Status
from steps_s3_copy.worker.context import (
    CopyContext,
    Method,
    Outcome,
    Source,
    destination_ref,
    failed,
    head_evidence,
    source_evidence,
)
from steps_s3_copy.worker.evidence import checksum_evidence, checksum_type, is_kms, norm_etag


def verify(
    ctx: CopyContext,
    item: CopyItem,
    source: Source,
    *,
    mirrored: bool,
    method: Method,
    copied_version: str | None = None,
) -> Outcome:
    """Check the destination after a copy whose answer alone did not prove it.

    The destination is compared with the source as planned (its size and ETag, the
    contract) and with the checksums of the source's HeadObject, itself conditional on
    the planned ETag. ``copied_version``: the source version the copy's answer named.
    """
    dest = ctx.s3.head_object(destination_ref(item), access=ctx.destination_access)
    if dest is None:
        return failed(source.size, "VerifyFailed", "destination missing after the copy")
    if dest.size != source.size:
        return failed(
            source.size, "SizeMismatch", f"destination {dest.size} != source {source.size}"
        )
    source = ctx.with_head(item, source)
    source_head = source.head
    assert source_head is not None
    same, detail = checksum_evidence(
        source_head.checksums, checksum_type(source_head), dest.checksums, checksum_type(dest)
    )
    if same is False:
        return failed(source.size, "ChecksumMismatch", detail or "")
    etag_equal = norm_etag(dest.etag) == norm_etag(source.etag)
    comparable = (
        mirrored
        and not is_kms(source_head.sse)
        and not is_kms(dest.sse)
        and not ctx.options.sse_kms_key_id
    )
    if not etag_equal and comparable and same is None:
        return failed(
            source.size,
            "ETagMismatch",
            f"destination {norm_etag(dest.etag)} != source {norm_etag(source.etag)}",
        )
    failure = check_expected(ctx, item, dest.etag, dest.checksums)
    if failure:
        return replace(failure, bytes=source.size, method=method)
    evidence = detail if same else f"ETAG:{norm_etag(dest.etag)}"
    return Outcome(
        Status.COPIED,
        source.size,
        method,
        evidence,
        source=source_evidence(source, version_id=copied_version),
        destination=head_evidence(dest),
    )


def check_expected(
    ctx: CopyContext, item: CopyItem, dest_etag: str, dest_checksums: dict[str, str]
) -> Outcome | None:
    """FAILED when the destination does not carry the manifest's expected checksum."""
    expected = item.expected_checksum
    if expected is None:
        return None
    if expected.algorithm == "ETAG":
        actual: str | None = norm_etag(dest_etag)
        wanted = norm_etag(expected.value)
    else:
        actual = dest_checksums.get(str(expected.algorithm))
        if actual is None:
            head = ctx.head_destination(item)
            actual = head.checksums.get(str(expected.algorithm)) if head else None
        wanted = expected.value
    if actual is None:
        return failed(
            0, "ChecksumUnverifiable", f"destination has no {expected.algorithm} checksum"
        )
    if actual != wanted:
        return failed(
            0,
            "ExpectedChecksumMismatch",
            f"{expected.algorithm}: destination {actual} != manifest {wanted}",
        )
    return None

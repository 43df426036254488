"""The Destination step: what touches the destination besides the copies, run as the
writer role (the one role a destination's bucket policy trusts).

``check`` (before anything is copied): prove that the destination takes writes with the
run's options and leave nothing behind. It starts a multipart upload of
``<destinationPrefix>.steps-s3-copy/write-check/<run-id>`` and aborts it:
CreateMultipartUpload needs what a copy needs (``s3:PutObject``, the bucket owner the
sidecar names, ``kms:GenerateDataKey`` for SSE-KMS; see
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html and
https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions)
and creates no object. A report location outside the inbox is probed the same way.

``finish`` (at the end of every run, on the success and the failure path): abort every
incomplete multipart upload of the run's destination keys and of the probes. A batch
killed hard (``kill -9``, an out-of-memory kill, a Lambda timeout) cannot abort its own
uploads; the next run of the job, or this step, finds them by listing the destination's
uploads (ListMultipartUploads) and aborts them, so nothing the service started outlives
the run. Only keys of this run's plan that can take a multipart copy are considered.

Then, last of all, it delivers: the report files to a report location outside the inbox
(the sidecar's ``reportUri``), and, unless the sidecar turns ``deliverToDestination``
off, ``report.csv``, ``report.html``, ``receipt.sig.json`` (when signed) and, last,
``receipt.jsonl`` into the destination under
``<destinationPrefix>.steps-s3-copy/runs/<job>/<run-id>/``
(:func:`steps_s3_copy.receipt.delivery_location`): the receiving account cannot read the
inbox, and the receipt's arrival (an S3 event it can act on) tells it the run has ended.
Each file is copied server-side (CopyObject: ``s3:GetObject`` on the inbox's report,
``s3:PutObject`` on the target, "CopyObject", Permissions,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html) with the run's
``ExpectedBucketOwner`` and SSE-KMS key, never its storage class (a receipt in an archive
tier could not be read), and with the content type Summarise gave each file. A
destination that refuses them does not cost the run its notice: the notice says so as a
problem (``deliverToDestination``), the copy stands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from steps_s3_copy.errors import (
    DestinationNotWritable,
    ReportNotDelivered,
    ReportNotWritable,
    RunConfigUnreadable,
    StepsS3CopyError,
)
from steps_s3_copy.models import CopyOptions, RunConfig
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import CheckPayload, FinishPayload, Notice
from steps_s3_copy.receipt import (
    DELIVERED_REPORTS,
    RECEIPT_NAME,
    SIGNATURE_NAME,
    delivery_location,
)
from steps_s3_copy.s3uri import S3Uri
from steps_s3_copy.workarea import WorkArea

#: where the probes go, under the destination prefix (and under a foreign report prefix)
PROBE_DIR = ".steps-s3-copy/write-check/"
#: answers that mean "this principal may not write here" (rather than "try again")
_REFUSED_STATUS = frozenset({301, 400, 403, 404})


def _multipart_args(options: CopyOptions) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if options.destination_account:
        args["ExpectedBucketOwner"] = options.destination_account
    if options.sse_kms_key_id:
        args["ServerSideEncryption"] = "aws:kms"
        args["SSEKMSKeyId"] = options.sse_kms_key_id
    if options.storage_class:
        args["StorageClass"] = options.storage_class
    return args


def probe(
    s3: Any,
    bucket: str,
    key: str,
    options: CopyOptions,
    *,
    error: type[StepsS3CopyError],
    what: str,
) -> None:
    """Start and abort a multipart upload of ``key``; ``error`` names why if refused."""
    args = _multipart_args(options)
    try:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **args)["UploadId"]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in _REFUSED_STATUS or code.startswith("KMS") or code in ("AccessDenied",):
            raise error(
                f"cannot write to the {what} s3://{bucket}/ ({code or status}): "
                "check its bucket policy trusts the writer role (s3copy destination-policy), "
                "the bucket exists in this region, and any SSE-KMS key lets the role use it"
            ) from exc
        raise  # throttling or a server error: Step Functions retries the step
    owner = (
        {"ExpectedBucketOwner": args["ExpectedBucketOwner"]}
        if "ExpectedBucketOwner" in args
        else {}
    )
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, **owner)


def check(payload: CheckPayload, *, s3: Any) -> None:
    """The CheckDestination state: the destination (and a foreign report location)
    accept this run's writes; ``DestinationNotWritable`` / ``ReportNotWritable``."""
    prepared = payload.prepared
    config = WorkArea(s3, prepared.work).read_run_config()
    probe(
        s3,
        config.destination_bucket,
        f"{config.destination_prefix}{PROBE_DIR}{config.run_id}",
        config.options,
        error=DestinationNotWritable,
        what="destination bucket",
    )
    if config.deliver_uri:
        report = S3Uri.parse(config.deliver_uri).as_prefix()
        probe(
            s3,
            report.bucket,
            f"{report.key}{PROBE_DIR}{config.run_id}",
            CopyOptions(destination_account=config.options.destination_account),
            error=ReportNotWritable,
            what="report location",
        )


# -- the end of a run ----------------------------------------------------------------------


def _may_be_multipart(item: dict[str, Any], options: CopyOptions) -> bool:
    """Whether the engine may copy this plan line with a multipart upload."""
    etag = item.get("etag")
    size = item.get("size", item.get("expectedSize"))
    return not etag or "-" in str(etag) or size is None or int(size) > options.multipart_threshold


def _candidate_keys(area: WorkArea, config: RunConfig) -> set[str]:
    """Destination keys of the run's plan that a multipart copy may have written."""
    keys: set[str] = set()
    for line in area.plan_lines():
        item = json.loads(line)
        if _may_be_multipart(item, config.options):
            keys.add(item["destinationKey"])
    return keys


def _uploads(s3: Any, bucket: str, prefix: str, owner: dict[str, str]) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, **owner}
    while True:
        page = s3.list_multipart_uploads(**kwargs)
        yield from page.get("Uploads", [])
        if not page.get("IsTruncated"):
            return
        kwargs["KeyMarker"] = page["NextKeyMarker"]
        kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")


def sweep(s3: Any, area: WorkArea, config: RunConfig) -> int:
    """Abort the incomplete uploads of the run's keys and of every probe; how many."""
    options = config.options
    owner = (
        {"ExpectedBucketOwner": options.destination_account} if options.destination_account else {}
    )
    candidates = _candidate_keys(area, config)
    probes = f"{config.destination_prefix}{PROBE_DIR}"
    aborted = 0
    try:
        uploads = list(_uploads(s3, config.destination_bucket, config.destination_prefix, owner))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("NoSuchBucket", "AccessDenied", "403", "404"):
            raise
        # a destination that is gone or refuses the listing took none of our uploads (the
        # probe failed first) or lets none be aborted: say so, the notice still goes out
        logger.warning(
            "cannot list the destination's incomplete uploads",
            extra={"bucket": config.destination_bucket, "error": code},
        )
        return 0
    for upload in uploads:
        key = upload["Key"]
        if key in candidates or key.startswith(probes):
            try:
                s3.abort_multipart_upload(
                    Bucket=config.destination_bucket, Key=key, UploadId=upload["UploadId"], **owner
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise
            aborted += 1
    if aborted:
        logger.warning(
            "incomplete uploads aborted",
            extra={
                "bucket": config.destination_bucket,
                "aborted": aborted,
                "run_id": config.run_id,
            },
        )
    return aborted


def finish(payload: FinishPayload, *, s3: Any) -> Notice:
    """The Finish state: nothing the run started is left in the destination; the report
    files are delivered (the receipt into the destination last of all)."""
    notice = payload.notice
    area = WorkArea(s3, notice.work)
    try:
        config = area.read_run_config()
    except RunConfigUnreadable as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
            "NoSuchKey",
            "404",
        ):
            return notice  # the run failed before it planned: it started nothing
        raise
    aborted = sweep(s3, area, config)
    notice = notice.model_copy(update={"uploads_aborted": aborted})
    if config.deliver_uri and notice.report_uri:
        deliver(s3, notice, S3Uri.parse(config.deliver_uri).as_prefix(), config.options)
    if config.deliver_to_destination and notice.report_uri and notice.receipt:
        notice = deliver_to_destination(s3, notice, config)
    return notice


def _report_folder(notice: Notice) -> S3Uri:
    source = S3Uri.parse(notice.report_uri or "")
    return S3Uri(source.bucket, source.key.rsplit("/", 1)[0] + "/")


def _owner(options: CopyOptions) -> dict[str, str]:
    return (
        {"ExpectedBucketOwner": options.destination_account} if options.destination_account else {}
    )


#: the report files copied to a report location outside the inbox, the summary last
DELIVERED = (*DELIVERED_REPORTS, SIGNATURE_NAME, RECEIPT_NAME, "summary.json")


def deliver(s3: Any, notice: Notice, target: S3Uri, options: CopyOptions) -> None:
    """Copy the run's report files (server-side) from the inbox to ``target``."""
    folder = _report_folder(notice)
    for name in DELIVERED:
        origin = folder.join(name)
        try:
            _copy_file(s3, origin, target.join(name), _owner(options))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                continue  # a dry run has no report.csv, an unsigned receipt no signature
            raise ReportNotWritable(f"cannot copy {origin} to {target}: {exc}") from exc


def _copy_file(s3: Any, origin: S3Uri, to: S3Uri, args: dict[str, Any]) -> None:
    """One report file copied server-side from the inbox to ``to``."""
    s3.copy_object(
        Bucket=to.bucket,
        Key=to.key,
        CopySource={"Bucket": origin.bucket, "Key": origin.key},
        **args,
    )


def destination_files(notice: Notice) -> list[str]:
    """What is delivered into the destination, in order: the receipt last."""
    signed = notice.receipt is not None and notice.receipt.signature_uri is not None
    return [*DELIVERED_REPORTS, *([SIGNATURE_NAME] if signed else []), RECEIPT_NAME]


def deliver_to_destination(s3: Any, notice: Notice, config: RunConfig) -> Notice:
    """Copy the report files and the receipt into the destination, the receipt last; the
    notice with ``delivered`` set, or with the problem that stopped the delivery."""
    target = delivery_location(config)
    folder = _report_folder(notice)
    args: dict[str, Any] = _owner(config.options)
    if config.options.sse_kms_key_id:
        args |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.options.sse_kms_key_id}
    for name in destination_files(notice):
        try:
            _copy_file(s3, folder.join(name), target.join(name), args)
        except (ClientError, BotoCoreError) as exc:
            problem = ReportNotDelivered(_refused(exc, name, target))
            logger.warning(
                "report not delivered to the destination",
                extra={"target": str(target), "file": name, "error": problem.message},
            )
            entry = {"row": None, "field": "deliverToDestination", "message": problem.message}
            return notice.model_copy(update={"problems": [*notice.problems, entry]})
    logger.info("report delivered to the destination", extra={"target": str(target)})
    return notice.model_copy(update={"delivered": True})


def _refused(exc: Exception, name: str, target: S3Uri) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'Error')} ({error.get('Message', '')})"
    else:
        reason = str(exc)
    return (
        f"the report and the receipt were not delivered to {target}: copying {name} "
        f"failed with {reason}; the copy itself stands. Check that the destination's bucket "
        "policy lets the writer role s3:PutObject there (s3copy destination-policy) and "
        "any SSE-KMS key lets it encrypt"
    )

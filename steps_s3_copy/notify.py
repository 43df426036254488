"""Notify: publish the completion notice on SNS, once per run.

The message is the notice's JSON; message attributes ``status`` and ``job`` let
subscribers filter (e.g. ``{"status": ["FAILED", "PARTIAL"]}``). Idempotency uses
``notice.json`` in the run's working area:

1. create it with ``If-None-Match: *`` in state ``publishing``; if it already exists in
   state ``published``, do nothing (a retry or a second Notify of the same run);
2. publish; if publishing fails, delete the marker and raise ``PublishFailed`` so a retry
   can publish;
3. overwrite the marker in state ``published`` with the message id.

A marker left in state ``publishing`` (the previous attempt died between 1 and 3) is
taken over and published again: a notice may in that rare case arrive twice, never not
at all. FIFO topics also get a deduplication id derived from the execution id.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from steps_s3_copy.errors import PublishFailed
from steps_s3_copy.inbox import DEFAULT_WORK_PREFIX, InboxLayout
from steps_s3_copy.jobs import release_lock
from steps_s3_copy.observability import logger
from steps_s3_copy.payloads import Notice, NotifyPayload, PublishResult

#: SNS subjects are at most 100 printable ASCII characters
_MAX_SUBJECT = 100


def subject(notice: Notice) -> str:
    """A short, ASCII subject line: ``steps-s3-copy PARTIAL: team/run-1 (98 copied, 2 failed)``."""
    counts = notice.counts
    if notice.dry_run:
        detail = f"dry run, {notice.planned.objects if notice.planned else 0} planned"
    elif notice.error:
        detail = notice.error
    else:
        detail = f"{counts.copied} copied, {counts.skipped} skipped, {counts.failed} failed"
    job = notice.job_name.encode("ascii", "replace").decode()
    job = "".join(c if c.isprintable() else "?" for c in job)
    text = f"steps-s3-copy {notice.status}: {job} ({detail})"
    if len(text) > _MAX_SUBJECT:
        text = text[: _MAX_SUBJECT - 3] + "..."
    return text


def message_attributes(notice: Notice) -> dict[str, dict[str, str]]:
    return {
        "status": {"DataType": "String", "StringValue": notice.status},
        "job": {"DataType": "String", "StringValue": notice.job_name},
    }


def _marker(s3: Any, notice: Notice) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=notice.work.bucket, Key=notice.work.key("notice.json"))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    data: dict[str, Any] = json.loads(body["Body"].read())
    return data


def _put_marker(s3: Any, notice: Notice, state: str, message_id: str | None, **extra: Any) -> None:
    body = {"state": state, "messageId": message_id, "notice": notice.to_payload()}
    s3.put_object(
        Bucket=notice.work.bucket,
        Key=notice.work.key("notice.json"),
        Body=json.dumps(body, ensure_ascii=False).encode(),
        ContentType="application/json",
        **extra,
    )


def run(
    payload: NotifyPayload,
    *,
    sns: Any,
    s3: Any,
    topic_arn: str | None,
    work_prefix: str = DEFAULT_WORK_PREFIX,
) -> PublishResult:
    """The Notify step: publish the run's notice, once, then release the job's lock (the
    run has ended) if this execution holds it. Without a topic (``s3copy local`` against
    S3 alone) the notice is only returned, and the lock still released."""
    notice = payload.notice
    result = PublishResult(published=False)
    if topic_arn is not None:
        result = publish_notice(notice, sns=sns, s3=s3, topic_arn=topic_arn)
    layout = InboxLayout(notice.work.bucket, work_prefix=work_prefix)
    release_lock(s3, layout, notice.job_name, notice.execution_id)
    return result


def publish_notice(notice: Notice, *, sns: Any, s3: Any, topic_arn: str) -> PublishResult:
    """Publish ``notice`` to ``topic_arn`` unless this run's notice was already published."""
    log = {"job": notice.job_name, "run_id": notice.run_id, "status": notice.status}
    try:
        _put_marker(s3, notice, "publishing", None, IfNoneMatch="*")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
            raise
        marker = _marker(s3, notice) or {}
        if marker.get("state") == "published":
            logger.info("notice already published", extra=log)
            return PublishResult(published=False, message_id=marker.get("messageId"))
        logger.warning("taking over an unfinished publish", extra=log)
    request: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Message": json.dumps(notice.to_payload(), ensure_ascii=False),
        "Subject": subject(notice),
        "MessageAttributes": message_attributes(notice),
    }
    if topic_arn.endswith(".fifo"):
        request["MessageGroupId"] = "steps-s3-copy"
        request["MessageDeduplicationId"] = hashlib.sha256(notice.execution_id.encode()).hexdigest()
    try:
        message_id = str(sns.publish(**request)["MessageId"])
    except ClientError as exc:
        s3.delete_object(Bucket=notice.work.bucket, Key=notice.work.key("notice.json"))
        raise PublishFailed(f"cannot publish the notice to {topic_arn}: {exc}") from exc
    _put_marker(s3, notice, "published", message_id)
    logger.info("notice published", extra={**log, "message_id": message_id})
    return PublishResult(published=True, message_id=message_id)

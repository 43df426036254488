"""The two ways ``s3copy local`` runs a job, as an API (the CLI and the tests use it).

:class:`EmbeddedPipeline`: the emulator's full event path. The manifest and then the
sidecar are uploaded to the inbox; S3 emits the event; the rule puts it on a queue; the
runner takes it from there and runs every step; the notice is published to SNS and read
back from the subscribed queue.

:func:`run_direct`: S3 only, against any S3-compatible endpoint or AWS. The two files are
uploaded to the work bucket's jobs prefix, the runner is given the same ``Object Created``
event S3 would have sent, and the notice is returned instead of published.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from steps_s3_copy import aws
from steps_s3_copy.inbox import (
    DEFAULT_JOBS_PREFIX,
    DEFAULT_REPORTS_PREFIX,
    DEFAULT_WORK_PREFIX,
    InboxLayout,
    job_keys,
)
from steps_s3_copy.local.emulator import ACCOUNT_ID, Emulator, LocalStack, receive_one
from steps_s3_copy.local.runner import LocalRunner, RunResult
from steps_s3_copy.prepare import PrepareSettings
from steps_s3_copy.progress import Progress

#: where ``local`` keeps its files in a bucket it shares with data (the destination)
SHARED_BUCKET_PREFIX = ".steps-s3-copy/"


class EventNotReceivedError(TimeoutError):
    """The sidecar's event did not reach the runner's queue in time."""


@dataclass
class ReceivedNotice:
    """A notice read back from the SNS -> SQS subscription."""

    notice: dict[str, Any]
    attributes: dict[str, str]
    topic_arn: str | None


@dataclass
class LocalRun:
    result: RunResult
    event: dict[str, Any]
    received: ReceivedNotice | None = None

    @property
    def notice(self) -> dict[str, Any]:
        return self.received.notice if self.received else self.result.notice

    @property
    def status(self) -> str:
        return str(self.notice.get("status", "FAILED"))


def upload_job(
    s3: Any,
    bucket: str,
    job: str,
    *,
    manifest: bytes,
    sidecar: bytes,
    jobs_prefix: str = DEFAULT_JOBS_PREFIX,
    jsonl: bool = False,
) -> tuple[str, str]:
    """Upload the manifest, then the sidecar (whose arrival starts a run)."""
    layout = InboxLayout(bucket, jobs_prefix=jobs_prefix)
    return layout.submit(s3, job, manifest=manifest, sidecar=sidecar, jsonl=jsonl)


class EmbeddedPipeline:
    """The emulator's event path wired to the local runner."""

    def __init__(
        self,
        emulator: Emulator,
        *,
        inbox_bucket: str = "s3copy-inbox",
        on_progress: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
        source_buckets: frozenset[str] | None = None,
        destination_buckets: frozenset[str] | None = None,
    ) -> None:
        self.emulator = emulator
        self.stack: LocalStack = emulator.provision(inbox_bucket)
        #: what the emulated deployment may read and write (None: not named), as a stack
        #: deployed with sourceBuckets / destinationBuckets tells Prepare
        self.source_buckets = source_buckets
        self.destination_buckets = destination_buckets
        self.on_progress = on_progress
        self.stop = stop
        self.s3 = self.stack.client("s3")
        self.sqs = self.stack.client("sqs")

    def submit(
        self, job: str, manifest: bytes, sidecar: bytes, *, jsonl: bool = False
    ) -> tuple[str, str]:
        return upload_job(
            self.s3,
            self.stack.inbox_bucket,
            job,
            manifest=manifest,
            sidecar=sidecar,
            jobs_prefix=self.stack.jobs_prefix,
            jsonl=jsonl,
        )

    def resubmit_sidecar(self, job: str, sidecar: bytes) -> str:
        """Upload the sidecar again: how a user retries a job."""
        _, sidecar_key = job_keys(job, self.stack.jobs_prefix)
        self.s3.put_object(Bucket=self.stack.inbox_bucket, Key=sidecar_key, Body=sidecar)
        return sidecar_key

    def run_next(self, *, timeout: float = 30.0) -> LocalRun:
        """Take the next sidecar event from the queue and run the job it names."""
        event = receive_one(self.sqs, self.stack.events_queue_url, timeout=timeout)
        if event is not None:
            event = distinct_writes(event)
        if event is None:
            raise EventNotReceivedError(
                f"no sidecar event arrived on {self.stack.events_queue_url} in {timeout:g} s"
            )
        runner = LocalRunner(
            session=self.stack.session,
            endpoint_url=self.stack.endpoint_url,
            settings=PrepareSettings(
                layout=InboxLayout(self.stack.inbox_bucket, jobs_prefix=self.stack.jobs_prefix),
                source_buckets=self.source_buckets,
                destination_buckets=self.destination_buckets,
                region=self.stack.region,
                sign_with_any_key=True,
            ),
            topic_arn=self.stack.topic_arn,
            account=ACCOUNT_ID,
            on_progress=self.on_progress,
            stop=self.stop,
        )
        result = runner.run(event)
        received = self.read_notice(timeout=timeout)
        return LocalRun(result=result, event=event, received=received)

    def read_notice(self, *, timeout: float) -> ReceivedNotice | None:
        envelope = receive_one(self.sqs, self.stack.notices_queue_url, timeout=timeout)
        if envelope is None:
            return None
        attributes = {
            name: str(value.get("Value"))
            for name, value in (envelope.get("MessageAttributes") or {}).items()
        }
        return ReceivedNotice(
            notice=json.loads(envelope["Message"]),
            attributes=attributes,
            topic_arn=envelope.get("TopicArn"),
        )


#: the sequencer moto's S3 gives every EventBridge event (moto 5.2.5, s3/notifications.py);
#: on S3 it is unique per write of a key (the identity Prepare deduplicates on)
MOTO_CONSTANT_SEQUENCER = "617f08299329d189"


def distinct_writes(event: dict[str, Any]) -> dict[str, Any]:
    """The emulator's event with a sequencer of its own, as S3 gives each write.

    moto gives every event the same sequencer and a time in whole seconds, so two uploads
    of a sidecar within one second would look like one event delivered twice. Each event
    that reaches the emulator's queue is a distinct write, so it gets a fresh sequencer.
    """
    detail = event.get("detail")
    if isinstance(detail, dict):
        obj = detail.get("object")
        if isinstance(obj, dict) and obj.get("sequencer") == MOTO_CONSTANT_SEQUENCER:
            obj["sequencer"] = uuid.uuid4().hex[:18].upper()
    return event


def object_created_event(
    bucket: str, key: str, *, size: int, etag: str, region: str, account: str = ACCOUNT_ID
) -> dict[str, Any]:
    """The EventBridge ``Object Created`` event S3 sends for ``key`` (as in AWS's docs)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag.strip('"'),
                # unique per write of the key, as S3's is: this event is for a new write
                "sequencer": uuid.uuid4().hex[:18].upper(),
            },
            "request-id": "local",
            "requester": account,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


@dataclass(frozen=True)
class DirectTarget:
    """Where a direct run keeps its files."""

    work_bucket: str
    prefix: str  # "" for a dedicated work bucket, SHARED_BUCKET_PREFIX for the destination

    def settings(self) -> PrepareSettings:
        return PrepareSettings(
            layout=InboxLayout(
                self.work_bucket,
                jobs_prefix=f"{self.prefix}{DEFAULT_JOBS_PREFIX}",
                work_prefix=f"{self.prefix}{DEFAULT_WORK_PREFIX}",
                reports_prefix=f"{self.prefix}{DEFAULT_REPORTS_PREFIX}",
            ),
            sign_with_any_key=True,
        )


def run_direct(
    *,
    session: boto3.session.Session,
    endpoint_url: str | None,
    target: DirectTarget,
    job: str,
    manifest: bytes,
    sidecar: bytes,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    jsonl: bool = False,
) -> LocalRun:
    """Run one job against ``endpoint_url`` (or AWS): S3 only, the notice is returned."""
    settings = dataclasses.replace(target.settings(), region=session.region_name)
    s3 = aws.client("s3", session=session, endpoint_url=endpoint_url)
    _, sidecar_key = upload_job(
        s3,
        target.work_bucket,
        job,
        manifest=manifest,
        sidecar=sidecar,
        jobs_prefix=settings.layout.jobs_prefix,
        jsonl=jsonl,
    )
    head = s3.head_object(Bucket=target.work_bucket, Key=sidecar_key)
    region = session.region_name or "us-east-1"
    event = object_created_event(
        target.work_bucket,
        sidecar_key,
        size=int(head["ContentLength"]),
        etag=str(head.get("ETag", "")),
        region=region,
    )
    runner = LocalRunner(
        session=session,
        endpoint_url=endpoint_url,
        settings=settings,
        topic_arn=None,
        on_progress=on_progress,
        stop=stop,
    )
    return LocalRun(result=runner.run(event), event=event)

"""The embedded AWS emulator: a moto server on 127.0.0.1 wired the way the stack is.

``s3copy local`` starts one :class:`moto.server.ThreadedMotoServer` on a free port of the
loopback interface (or connects to a server the user names) and provisions the same event
path as the deployed stack:

    inbox bucket (EventBridge notifications on)
      --(rule with inbox.sidecar_event_pattern)--> SQS "job events" queue  (the runner reads it)
    SNS completion topic --(subscription)--> SQS "notices" queue           (the notice is read back)

The emulator never reaches the network beyond 127.0.0.1 and never reads the user's AWS
credentials: its clients carry fixed dummy keys.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import boto3
from botocore.config import Config

from steps_s3_copy import aws
from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, sidecar_event_pattern

REGION = "us-east-1"
#: the account moto answers as
ACCOUNT_ID = "123456789012"
DEFAULT_INBOX_BUCKET = "s3copy-inbox"
RULE_NAME = "s3copy-sidecar-arrived"
EVENTS_QUEUE = "s3copy-job-events"
NOTICES_QUEUE = "s3copy-notices"
TOPIC_NAME = "s3copy-completion"

_DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


class EmulatorError(RuntimeError):
    """The emulator could not be started or provisioned."""


def emulator_session(region: str = REGION) -> boto3.session.Session:
    """A boto3 session with dummy credentials: never the user's own."""
    return boto3.session.Session(region_name=region, **_DUMMY_CREDENTIALS)


def client_config() -> Config:
    """Short timeouts and few retries so that nothing local can hang for long."""
    return aws.config(connect_timeout=5, read_timeout=60, max_attempts=3)


@dataclass(frozen=True)
class LocalStack:
    """The provisioned resources of the local event path (named after a deployed stack)."""

    endpoint_url: str
    session: boto3.session.Session = field(repr=False)
    inbox_bucket: str
    jobs_prefix: str
    events_queue_url: str
    notices_queue_url: str
    topic_arn: str
    region: str = REGION

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url, config=client_config())


class Emulator:
    """A moto server on 127.0.0.1 (started here) or at ``endpoint_url`` (someone else's).

    Use as a context manager; the server stops on exit when this object started it.
    """

    def __init__(self, endpoint_url: str | None = None, *, region: str = REGION) -> None:
        self._given_endpoint = endpoint_url
        self._server: Any = None
        self.region = region
        self.session = emulator_session(region)
        self.endpoint_url = endpoint_url or ""

    def start(self) -> str:
        if self._given_endpoint:
            self.endpoint_url = self._given_endpoint
            return self.endpoint_url
        # imported here: moto takes a third of a second to import, and a run against an
        # endpoint (s3copy local MANIFEST SIDECAR --endpoint-url) never starts a server
        from moto.server import ThreadedMotoServer  # noqa: PLC0415

        # werkzeug logs every request at INFO; the CLI's output is the progress bar.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: an embedded emulator starts
        # empty even if this process ran another one before (as the tests do).
        self.reset()
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        if not self.endpoint_url:
            raise EmulatorError("the emulator is not started")
        return self.session.client(service, endpoint_url=self.endpoint_url, config=client_config())

    def reset(self) -> None:
        """Empty every moto backend (moto's own ``/moto-api/reset``)."""
        request = urllib.request.Request(  # noqa: S310 - always the loopback moto endpoint
            f"{self.endpoint_url}/moto-api/reset", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status != 200:
                raise EmulatorError(f"moto reset answered {response.status}")

    def provision(
        self,
        inbox_bucket: str = DEFAULT_INBOX_BUCKET,
        *,
        jobs_prefix: str = DEFAULT_JOBS_PREFIX,
    ) -> LocalStack:
        """Create (idempotently) the inbox, the rule, the queues, the topic and its subscription."""
        s3 = self.client("s3")
        events = self.client("events")
        sqs = self.client("sqs")
        sns = self.client("sns")

        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if inbox_bucket not in existing:
            s3.create_bucket(Bucket=inbox_bucket)
        s3.put_bucket_notification_configuration(
            Bucket=inbox_bucket,
            NotificationConfiguration={"EventBridgeConfiguration": {}},
        )

        events_queue_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        events_queue_arn = _queue_arn(sqs, events_queue_url)
        events.put_rule(
            Name=RULE_NAME,
            EventPattern=json.dumps(sidecar_event_pattern(inbox_bucket, jobs_prefix)),
            State="ENABLED",
        )
        events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "runner", "Arn": events_queue_arn}])

        notices_queue_url = sqs.create_queue(QueueName=NOTICES_QUEUE)["QueueUrl"]
        topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        subscribed = {
            s["Endpoint"]
            for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
        }
        notices_queue_arn = _queue_arn(sqs, notices_queue_url)
        if notices_queue_arn not in subscribed:
            # Raw delivery off: the SNS envelope arrives, with the message attributes that
            # subscribers filter on (the status), exactly as an SQS subscriber sees it in AWS.
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notices_queue_arn)

        return LocalStack(
            endpoint_url=self.endpoint_url,
            session=self.session,
            inbox_bucket=inbox_bucket,
            jobs_prefix=jobs_prefix,
            events_queue_url=events_queue_url,
            notices_queue_url=notices_queue_url,
            topic_arn=topic_arn,
            region=self.region,
        )


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def receive_one(sqs: Any, queue_url: str, *, timeout: float) -> dict[str, Any] | None:
    """Receive and delete one message (its parsed JSON body), waiting at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        wait = max(0, min(5, int(remaining)))
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait
        )
        for message in response.get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            body: dict[str, Any] = json.loads(message["Body"])
            return body
        if time.monotonic() >= deadline:
            return None
        if wait == 0:
            time.sleep(0.1)

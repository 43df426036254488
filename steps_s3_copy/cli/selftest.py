"""``s3copy selftest``: prove a deployment works end to end, the way a user would use it.

The checks, in order (each a :class:`Check`, passed, failed or skipped):

==============  ===========================================================================
stack           the deployment answers: its inbox, topic and state machine (deployed: the
                stack's outputs; ``--local``: the embedded emulator, provisioned)
scratch bucket  the bucket exists and is in the stack's region
samples         a handful of objects under a unique prefix of the scratch bucket: small,
                zero-byte, awkward keys (spaces, unicode, ``+``, ``%``, ``=``, ``,``), one
                multipart object of uneven parts, tags, metadata, an additional checksum
subscription    a temporary SQS queue subscribed to the completion topic (filtered on the
                job), to see the notice arrive as a subscriber would
submit          the manifest and the sidecar uploaded to the inbox, as ``s3copy submit`` does
run             the run the sidecar started, followed to its end (deployed: through the
                state machine's executions, as ``s3copy watch`` does; local: the embedded
                pipeline of ``s3copy local``): SUCCEEDED, every object copied
notice          its notice arrived on the temporary queue
objects         every copy has the source's bytes (SHA-256 of the body; ETag; the
                additional checksum), metadata, content type and tags
resubmit        the sidecar uploaded again: a new run in which every object is skipped
cleanup         everything it created removed: the samples, the copies, the job files, the
                runs' working areas and reports, the queue and its subscription
==============  ===========================================================================

A failed check names the likely cause (:func:`likely_cause`: permissions, quotas, the
Fargate lane's image, the network, the configuration, or the data) and what to do; the
checks that depend on it are skipped. Cleanup always runs.

The target is a :class:`Target`: :class:`DeployedTarget` here, the local one in
:mod:`steps_s3_copy.cli.selftest_local` (it imports the emulator). The samples and how a
copy is compared: :mod:`steps_s3_copy.cli.selftest_samples`; the causes:
:mod:`steps_s3_copy.cli.selftest_causes`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from steps_s3_copy.cli import deployed, run_files
from steps_s3_copy.cli.common import Aws, human_bytes
from steps_s3_copy.cli.selftest_causes import (
    CheckFailedError,
    error_code,
    failed_from,
    likely_cause,
)
from steps_s3_copy.cli.selftest_samples import (
    MULTIPART_PARTS,
    compare,
    delete_prefix,
    object_facts,
    put_sample,
    samples,
)
from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, InboxLayout
from steps_s3_copy.models import MiB
from steps_s3_copy.s3uri import S3Uri

__all__ = [
    "CHECKS",
    "PREFIX",
    "Check",
    "CheckFailedError",
    "DeployedTarget",
    "RunOutcome",
    "SelfTest",
    "SelfTestResult",
    "Target",
    "likely_cause",
]

CheckStatus = Literal["passed", "failed", "skipped"]

#: the checks in the order they run
CHECKS = (
    "stack",
    "scratch bucket",
    "samples",
    "subscription",
    "submit",
    "run",
    "notice",
    "objects",
    "resubmit",
    "cleanup",
)
#: where the samples and their copies go in the scratch bucket, and the job's name
PREFIX = "s3copy-selftest"
#: objects above this go to the Fargate lane: the multipart sample tries the image
LANE_CUTOFF_BYTES = 8 * MiB


# -- checks ----------------------------------------------------------------------------


@dataclass
class Check:
    """One check's outcome; ``data`` is what it found (printed by ``--json``)."""

    name: str
    status: CheckStatus
    detail: str
    #: why it failed, most likely: permissions, quotas, image, network, configuration, data
    cause: str | None = None
    #: what to do about it
    hint: str | None = None
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "ok": self.ok,
            "detail": self.detail,
            "cause": self.cause,
            "hint": self.hint,
            "seconds": round(self.seconds, 3),
            "data": self.data,
        }


# -- targets -----------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """How a run the sidecar started ended: its notice (None when none was found)."""

    notice: dict[str, Any] | None
    #: the execution's ARN (deployed) or the local run's execution id
    execution: str | None = None
    #: the execution's own status (deployed), when it differs from the notice's meaning
    execution_status: str | None = None
    seconds: float = 0.0


class Target(Protocol):
    """Where the self test runs: a deployed stack or the embedded emulator."""

    mode: str
    region: str
    inbox: str
    jobs_prefix: str
    topic_arn: str

    def open(self) -> str:
        """Reach the deployment; a one-line description (``CheckFailedError`` if it cannot)."""
        ...

    def client(self, service: str) -> Any: ...

    def scratch(self, bucket: str) -> str:
        """Make sure the scratch bucket is usable; a one-line description."""
        ...

    def wait_for_run(
        self, sidecar_key: str, *, after: datetime, exclude: frozenset[str]
    ) -> RunOutcome:
        """The run the sidecar at ``sidecar_key`` started (uploaded at ``after``), followed
        to its end; not one of ``exclude`` (earlier runs of the job)."""
        ...

    def close(self) -> None: ...


def bucket_region(s3: Any, bucket: str) -> str:
    """The bucket's region (GetBucketLocation: none means us-east-1, EU eu-west-1)."""
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, str(location))


class DeployedTarget:
    """A deployed stack, found by name; the run followed through its state machine."""

    mode = "deployed"

    def __init__(
        self,
        session: Aws,
        stack: str,
        *,
        wait_start_seconds: float = 180.0,
        run_timeout_seconds: float = 1800.0,
        poll_seconds: float = 5.0,
    ) -> None:
        """``poll_seconds``: between two looks at the state machine's executions."""
        self.session = session
        self.stack = stack
        self.wait_start_seconds = wait_start_seconds
        self.run_timeout_seconds = run_timeout_seconds
        self.poll_seconds = poll_seconds
        self.region = session.session.region_name or "us-east-1"
        self.inbox = ""
        self.topic_arn = ""
        self.state_machine_arn = ""
        self.jobs_prefix = DEFAULT_JOBS_PREFIX

    def client(self, service: str) -> Any:
        from steps_s3_copy import aws  # noqa: PLC0415

        return aws.client(
            service,
            session=self.session.session,
            endpoint_url=self.session.endpoint_url,
            region=self.region,
        )

    def open(self) -> str:
        try:
            outputs = deployed.resolve_stack(self.client("cloudformation"), self.stack)
        except deployed.NotFoundError as exc:
            cause = exc.__cause__
            code = error_code(cause) if isinstance(cause, Exception) else "NotFound"
            found, hint = likely_cause(code)
            raise CheckFailedError(str(exc), cause=found, hint=hint) from exc
        missing = [
            name
            for name, value in (
                ("inbox bucket", outputs.inbox_bucket),
                ("topic", outputs.topic_arn),
                ("state machine", outputs.state_machine_arn),
            )
            if not value
        ]
        if missing:
            raise CheckFailedError(
                f"the stack {self.stack}'s outputs name no {', '.join(missing)}",
                cause="configuration",
                hint="deploy the StepsS3Copy stack (its outputs name the inbox, the topic and "
                "the state machine) or give the right --stack",
            )
        self.inbox = outputs.inbox_bucket or ""
        self.topic_arn = outputs.topic_arn or ""
        self.state_machine_arn = outputs.state_machine_arn or ""
        self.region = self.state_machine_arn.split(":")[3] or self.region
        return (
            f"stack {self.stack} in {self.region}: inbox s3://{self.inbox}, topic "
            f"{self.topic_arn}, state machine {self.state_machine_arn}"
        )

    def scratch(self, bucket: str) -> str:
        s3 = self.client("s3")
        region = bucket_region(s3, bucket)
        if region != self.region:
            raise CheckFailedError(
                f"s3://{bucket} is in {region}, the stack in {self.region}",
                cause="configuration",
                hint="use a scratch bucket in the stack's region (a copy never crosses regions)",
            )
        return f"s3://{bucket} in {region}"

    def wait_for_run(
        self, sidecar_key: str, *, after: datetime, exclude: frozenset[str]
    ) -> RunOutcome:
        sfn = self.client("stepfunctions")
        started = time.monotonic()
        deadline = started + self.wait_start_seconds
        while True:
            try:
                execution = deployed.find_execution(
                    sfn,
                    self.state_machine_arn,
                    sidecar_key,
                    bucket=self.inbox,
                    started_after=after - timedelta(minutes=1),
                    exclude=exclude,
                )
                break
            except deployed.NotFoundError as exc:
                if time.monotonic() >= deadline:
                    raise CheckFailedError(
                        f"no execution of {self.state_machine_arn} started for "
                        f"s3://{self.inbox}/{sidecar_key} in {self.wait_start_seconds:g} s",
                        cause="configuration",
                        hint="the inbox's EventBridge notifications and the stack's rule start "
                        "runs: see the rule's dead-letter queue and its failed invocations",
                    ) from exc
            time.sleep(self.poll_seconds)
        arn = str(execution["executionArn"])
        deadline = time.monotonic() + self.run_timeout_seconds
        while execution["status"] == "RUNNING":
            if time.monotonic() >= deadline:
                # stopped, so that it copies nothing into what the cleanup removes
                with contextlib.suppress(ClientError, BotoCoreError):
                    sfn.stop_execution(executionArn=arn, cause="s3copy selftest: --run-timeout")
                raise CheckFailedError(
                    f"{arn} still running after {self.run_timeout_seconds:g} s (stopped)",
                    cause="quotas",
                    hint="a Fargate task waiting for capacity, or Lambda throttled: see the "
                    "execution in the Step Functions console; raise --run-timeout",
                    data={"execution": arn},
                )
            time.sleep(self.poll_seconds)
            execution = sfn.describe_execution(executionArn=arn)
        notice = deployed.notice_of(execution)
        if notice is None:  # the notice is in the run's working area (the run id: its name)
            job = sidecar_key.removeprefix(self.jobs_prefix).removesuffix(".json")
            area = InboxLayout(self.inbox).work(job, str(execution["name"]))
            notice = run_files.notice_in_work_area(self.client("s3"), area)
        return RunOutcome(
            notice=notice,
            execution=arn,
            execution_status=str(execution["status"]),
            seconds=time.monotonic() - started,
        )

    def close(self) -> None:
        return None


# -- the self test -----------------------------------------------------------------------


@dataclass
class SelfTestResult:
    mode: str
    job: str
    scratch_bucket: str
    checks: list[Check]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "job": self.job,
            "scratchBucket": self.scratch_bucket,
            "seconds": round(self.seconds, 3),
            "failed": [check.name for check in self.failed],
            "checks": [check.to_json() for check in self.checks],
        }


def new_id(now: datetime | None = None) -> str:
    """A unique id for one self test: the time and a random suffix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


class SelfTest:
    """One self test against ``target``; :meth:`run` runs every check and cleans up."""

    def __init__(
        self,
        target: Target,
        *,
        scratch_bucket: str,
        notice_timeout_seconds: float = 120.0,
        on_check: Callable[[Check], None] | None = None,
        test_id: str | None = None,
    ) -> None:
        self.target = target
        self.bucket = scratch_bucket
        self.notice_timeout = notice_timeout_seconds
        self.on_check = on_check or (lambda _check: None)
        self.id = test_id or new_id()
        self.job = f"{PREFIX}/{self.id}"
        self.source_prefix = f"{PREFIX}/{self.id}/source/"
        self.copy_prefix = f"{PREFIX}/{self.id}/copy/"
        self.samples = samples(self.id.encode())
        self.checks: list[Check] = []
        # what was created, for the cleanup
        self.created_keys: list[str] = []
        self.sources: dict[str, dict[str, Any]] = {}
        self.queue_url: str | None = None
        self.subscription_arn: str | None = None
        self.job_files: list[str] = []
        self.outcomes: list[RunOutcome] = []

    # -- running checks ----------------------------------------------------------------

    def _check(self, name: str, step: Callable[[], tuple[str, dict[str, Any]]]) -> Check:
        started = time.monotonic()
        try:
            detail, data = step()
            check = Check(name, "passed", detail, data=data)
        except CheckFailedError as exc:
            check = Check(name, "failed", exc.detail, exc.cause, exc.hint, data=exc.data)
        except (ClientError, BotoCoreError, OSError) as exc:
            failure = failed_from(exc, name)
            check = Check(name, "failed", failure.detail, failure.cause, failure.hint)
        check.seconds = time.monotonic() - started
        self.checks.append(check)
        self.on_check(check)
        return check

    def _skip(self, name: str, because: str) -> None:
        check = Check(name, "skipped", f"not run: {because} failed")
        self.checks.append(check)
        self.on_check(check)

    def run(self) -> SelfTestResult:
        started = time.monotonic()
        try:
            self._run()
        finally:
            self._check("cleanup", self.cleanup)
            self.target.close()
        return SelfTestResult(
            mode=self.target.mode,
            job=self.job,
            scratch_bucket=self.bucket,
            checks=self.checks,
            seconds=time.monotonic() - started,
        )

    def _run(self) -> None:
        sequence: list[tuple[str, Callable[[], tuple[str, dict[str, Any]]]]] = [
            ("stack", lambda: (self.target.open(), {})),
            ("scratch bucket", lambda: (self.target.scratch(self.bucket), {})),
            ("samples", self.create_samples),
            ("subscription", self.subscribe),
            ("submit", self.submit),
            ("run", self.first_run),
        ]
        # the notice is looked for even when the run failed: a FAILED notice is a notice
        independent = {"subscription"}
        failed: str | None = None
        for name, step in sequence:
            if failed is not None:
                self._skip(name, failed)
                continue
            check = self._check(name, step)
            if not check.ok and name not in independent:
                failed = name
        subscribed = self.subscription_arn is not None
        if not self.outcomes:
            self._skip("notice", failed or "subscription")
        elif not subscribed:
            self._skip("notice", "subscription")
        else:
            self._check("notice", self.notice)
        if failed is not None:
            self._skip("objects", failed)
            self._skip("resubmit", failed)
            return
        objects = self._check("objects", self.verify_copies)
        if objects.ok:
            self._check("resubmit", self.resubmit)
        else:
            self._skip("resubmit", "objects")

    # -- the steps -----------------------------------------------------------------------

    def create_samples(self) -> tuple[str, dict[str, Any]]:
        s3 = self.target.client("s3")
        for sample in self.samples:
            key = self.source_prefix + sample.name
            try:
                put_sample(s3, self.bucket, key, sample)
            except (ClientError, BotoCoreError) as exc:
                raise failed_from(exc, f"writing s3://{self.bucket}/{key}") from exc
            self.created_keys.append(key)
            facts = object_facts(s3, self.bucket, key)
            if facts is None:
                raise CheckFailedError(
                    f"s3://{self.bucket}/{key} was written but cannot be read back",
                    cause="permissions",
                    hint="the scratch bucket must let you read what you write",
                )
            self.sources[sample.name] = facts
        size = sum(len(s.body) for s in self.samples)
        return (
            f"{len(self.samples)} objects, {human_bytes(size)}: awkward keys, a zero-byte one, "
            f"{len(MULTIPART_PARTS)} uneven parts, tags, metadata, a SHA-256 checksum",
            {"source": f"s3://{self.bucket}/{self.source_prefix}", "objects": len(self.samples)},
        )

    def subscribe(self) -> tuple[str, dict[str, Any]]:
        sqs, sns = self.target.client("sqs"), self.target.client("sns")
        fifo = self.target.topic_arn.endswith(".fifo")
        name = f"{PREFIX}-{self.id}"[:75] + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        try:
            self.queue_url = str(
                sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            )
            arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            # the topic may send to this queue, and only this topic ("Subscribing an Amazon
            # SQS queue to an Amazon SNS topic", https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html)
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": self.target.topic_arn}},
                    }
                ],
            }
            sqs.set_queue_attributes(
                QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)}
            )
            self.subscription_arn = str(
                sns.subscribe(
                    TopicArn=self.target.topic_arn,
                    Protocol="sqs",
                    Endpoint=arn,
                    # only this job's notices (Notify's message attribute "job")
                    Attributes={"FilterPolicy": json.dumps({"job": [self.job]})},
                    ReturnSubscriptionArn=True,
                )["SubscriptionArn"]
            )
        except (ClientError, BotoCoreError) as exc:
            raise failed_from(exc, "subscribing a temporary queue to the topic") from exc
        return (
            f"temporary queue {name} subscribed to the topic",
            {"queueUrl": self.queue_url, "subscriptionArn": self.subscription_arn},
        )

    def manifest(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("bucket", "key", "destination_key"))
        for sample in self.samples:
            writer.writerow((self.bucket, self.source_prefix + sample.name, sample.name))
        return out.getvalue().encode()

    def sidecar(self) -> bytes:
        return json.dumps(
            {
                "destinationBucket": self.bucket,
                "destinationPrefix": self.copy_prefix,
                "laneCutoffBytes": LANE_CUTOFF_BYTES,
            }
        ).encode()

    def submit(self) -> tuple[str, dict[str, Any]]:
        layout = InboxLayout(self.target.inbox, jobs_prefix=self.target.jobs_prefix)
        self.submitted_at = datetime.now(UTC)
        try:
            manifest_key, sidecar_key = layout.submit(
                self.target.client("s3"), self.job, manifest=self.manifest(), sidecar=self.sidecar()
            )
        except (ClientError, BotoCoreError) as exc:
            raise failed_from(exc, f"uploading the job to s3://{self.target.inbox}") from exc
        self.job_files = [manifest_key, sidecar_key]
        self.sidecar_key = sidecar_key
        return (
            f"s3://{self.target.inbox}/{manifest_key}, then the sidecar",
            {"manifest": manifest_key, "sidecar": sidecar_key},
        )

    def _follow(self, after: datetime) -> RunOutcome:
        exclude = frozenset(o.execution for o in self.outcomes if o.execution)
        try:
            outcome = self.target.wait_for_run(self.sidecar_key, after=after, exclude=exclude)
        except (ClientError, BotoCoreError) as exc:
            raise failed_from(exc, "following the run") from exc
        self.outcomes.append(outcome)
        return outcome

    def first_run(self) -> tuple[str, dict[str, Any]]:
        outcome = self._follow(self.submitted_at)
        notice = self._notice_of(outcome)
        counts = notice.get("counts") or {}
        data = {"execution": outcome.execution, "status": notice.get("status"), "counts": counts}
        if notice.get("status") != "SUCCEEDED" or counts.get("copied") != len(self.samples):
            raise self._run_failure(outcome, notice, data)
        planned = notice.get("planned") or {}
        lanes = ", ".join(f"{n} {lane}" for lane, n in (planned.get("batches") or {}).items())
        return (
            f"SUCCEEDED: {counts.get('copied')} copied (batches: {lanes or 'none'})",
            data,
        )

    def _notice_of(self, outcome: RunOutcome) -> dict[str, Any]:
        if outcome.notice is None:
            raise CheckFailedError(
                f"the run {outcome.execution} ended {outcome.execution_status} without a notice",
                cause="unknown",
                hint="see the execution's history in the Step Functions console",
                data={"execution": outcome.execution},
            )
        return outcome.notice

    def _run_failure(
        self, outcome: RunOutcome, notice: dict[str, Any], data: dict[str, Any]
    ) -> CheckFailedError:
        """Why the run did not copy everything: its error, or its failed objects' errors."""
        status = notice.get("status")
        code = notice.get("error")
        errors: dict[str, int] = {}
        if not code:
            errors = self._failed_errors(notice)
            code = max(errors, key=lambda k: errors[k]) if errors else None
        if not code and outcome.execution_status in ("TIMED_OUT", "ABORTED", "FAILED"):
            code = "TIMED_OUT" if outcome.execution_status == "TIMED_OUT" else None
        cause, hint = likely_cause(code)
        counts = notice.get("counts") or {}
        problems = notice.get("problems") or []
        first = problems[0].get("message") if problems and isinstance(problems[0], dict) else None
        detail = (
            f"{status}: {counts.get('copied', 0)} of {len(self.samples)} copied, "
            f"{counts.get('failed', 0)} failed"
            + (f"; {code}" if code else "")
            + (f": {first}" if first else "")
            + (f" ({', '.join(f'{n} {e}' for e, n in errors.items())})" if errors else "")
        )
        return CheckFailedError(detail, cause=cause, hint=hint, data={**data, "errors": errors})

    def _failed_errors(self, notice: dict[str, Any]) -> dict[str, int]:
        """The error codes of the run's FAILED objects (from its report.csv)."""
        uri = run_files.report_csv_uri(notice)
        if not uri:
            return {}
        try:
            rows, _ = run_files.failed_rows(self.target.client("s3"), uri, limit=0)
        except (ClientError, BotoCoreError):
            return {}
        errors: dict[str, int] = {}
        for row in rows:
            code = (row.get("error") or "Unknown").split(":", 1)[0].strip() or "Unknown"
            errors[code] = errors.get(code, 0) + 1
        return errors

    def notice(self) -> tuple[str, dict[str, Any]]:
        assert self.queue_url is not None
        run_ids = {str((o.notice or {}).get("runId")) for o in self.outcomes}
        found = receive_notice(
            self.target.client("sqs"), self.queue_url, self.job, timeout=self.notice_timeout
        )
        if found is None:
            raise CheckFailedError(
                f"no notice of {self.job} arrived on the temporary queue in "
                f"{self.notice_timeout:g} s",
                cause="permissions",
                hint="the topic's delivery to SQS: the topic's access policy and, for an "
                "encrypted topic or queue, the KMS key policy must let SNS deliver; see the "
                "topic's delivery-failure metrics (NumberOfNotificationsFailed)",
            )
        notice, attributes = found
        if str(notice.get("runId")) not in run_ids:
            raise CheckFailedError(
                f"a notice of {self.job} arrived for run {notice.get('runId')}, not this run",
                cause="unknown",
                data={"notice": notice},
            )
        return (
            f"the {notice.get('status')} notice arrived on the temporary queue",
            {"runId": notice.get("runId"), "attributes": attributes},
        )

    def verify_copies(self) -> tuple[str, dict[str, Any]]:
        s3 = self.target.client("s3")
        problems: dict[str, list[str]] = {}
        for sample in self.samples:
            key = self.copy_prefix + sample.name
            try:
                found = compare(s3, self.bucket, key, sample, self.sources[sample.name])
            except (ClientError, BotoCoreError) as exc:
                raise failed_from(exc, f"reading the copy s3://{self.bucket}/{key}") from exc
            if found:
                problems[sample.name] = found
        if problems:
            missing = [name for name, found in problems.items() if found == ["missing"]]
            listing = "; ".join(f"{name}: {', '.join(found)}" for name, found in problems.items())
            raise CheckFailedError(
                f"{len(problems)} of {len(self.samples)} copies differ from their source: "
                + listing,
                cause="data",
                hint=(
                    "the run reported them copied, so something removed them afterwards "
                    "(a lifecycle rule or another process on the scratch bucket?)"
                    if missing
                    else "the copy engine changed what it copied: report it with the run's "
                    "report.csv"
                ),
                data={"problems": problems},
            )
        return (
            f"{len(self.samples)} of {len(self.samples)} copies match: bytes (SHA-256, ETag, "
            "checksums), metadata, content type, tags",
            {"copies": f"s3://{self.bucket}/{self.copy_prefix}"},
        )

    def resubmit(self) -> tuple[str, dict[str, Any]]:
        s3 = self.target.client("s3")
        after = datetime.now(UTC)
        try:
            s3.put_object(
                Bucket=self.target.inbox,
                Key=self.sidecar_key,
                Body=self.sidecar(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as exc:
            raise failed_from(exc, "uploading the sidecar again") from exc
        outcome = self._follow(after)
        notice = self._notice_of(outcome)
        counts = notice.get("counts") or {}
        data = {"execution": outcome.execution, "status": notice.get("status"), "counts": counts}
        if notice.get("status") != "SUCCEEDED" or counts.get("skipped") != len(self.samples):
            failure = self._run_failure(outcome, notice, data)
            if notice.get("status") == "SUCCEEDED":
                failure = CheckFailedError(
                    f"{counts.get('skipped', 0)} of {len(self.samples)} skipped, "
                    f"{counts.get('copied', 0)} copied again",
                    cause="data",
                    hint="a copy that is not skipped the second time differs from its source "
                    "as the skip check sees it (size, ETag or checksum)",
                    data=data,
                )
            raise failure
        return f"SUCCEEDED: {counts.get('skipped')} skipped, none copied again", data

    # -- cleanup -------------------------------------------------------------------------

    def cleanup(self) -> tuple[str, dict[str, Any]]:
        """Remove what the test created; ✗ when something of its own is left behind."""
        left: list[str] = []
        removed: list[str] = []
        notes: list[str] = []
        s3 = self.target.client("s3") if self.target.inbox or self.created_keys else None
        if self.subscription_arn:
            try:
                self.target.client("sns").unsubscribe(SubscriptionArn=self.subscription_arn)
                removed.append("the subscription")
            except (ClientError, BotoCoreError) as exc:
                left.append(f"subscription {self.subscription_arn} ({error_code(exc)})")
        if self.queue_url:
            try:
                self.target.client("sqs").delete_queue(QueueUrl=self.queue_url)
                removed.append("the queue")
            except (ClientError, BotoCoreError) as exc:
                left.append(f"queue {self.queue_url} ({error_code(exc)})")
        if s3 is not None and self.created_keys:
            for prefix, what in ((self.source_prefix, "samples"), (self.copy_prefix, "copies")):
                count, errors = delete_prefix(s3, self.bucket, prefix)
                removed.append(f"{count} {what}")
                left.extend(errors)
        if s3 is not None and self.job_files:
            for key in self.job_files:
                try:
                    s3.delete_object(Bucket=self.target.inbox, Key=key)
                except (ClientError, BotoCoreError) as exc:
                    left.append(f"s3://{self.target.inbox}/{key} ({error_code(exc)})")
            removed.append(f"{len(self.job_files)} job files")
            # the runs' working areas and reports: the pipeline's, removed when allowed
            areas = 0
            for prefix in self._run_prefixes():
                count, errors = delete_prefix(s3, self.target.inbox, prefix)
                areas += count
                if errors:
                    notes.append(f"left s3://{self.target.inbox}/{prefix} ({errors[0]})")
            removed.append(f"{areas} files of the runs' working areas and reports")
        data = {"removed": removed, "left": left, "notes": notes}
        if left:
            raise CheckFailedError(
                f"left behind: {'; '.join(left)}",
                cause=likely_cause(left[0].rsplit("(", 1)[-1].rstrip(")"))[0],
                hint="remove them by hand; you need s3:DeleteObject on the scratch bucket and "
                "the inbox's jobs/, sqs:DeleteQueue and sns:Unsubscribe",
                data=data,
            )
        detail = "removed " + ", ".join(removed) if removed else "nothing to remove"
        return detail + ("; " + "; ".join(notes) if notes else ""), data

    def _run_prefixes(self) -> Iterator[str]:
        """The job's working area (every run, the event markers, the lock) and reports:
        where the default layout keeps them, and where the runs' notices say they are."""
        layout = InboxLayout(self.target.inbox, jobs_prefix=self.target.jobs_prefix)
        default = (f"{layout.work_prefix}{self.job}/", f"{layout.reports_prefix}{self.job}/")
        seen: set[str] = set(default)
        yield from default
        for outcome in self.outcomes:
            notice = outcome.notice or {}
            work = notice.get("work")
            if isinstance(work, dict) and isinstance(work.get("prefix"), str):
                run_prefix = work["prefix"].rstrip("/")
                job_area = run_prefix.rsplit("/", 1)[0] + "/"
                if job_area.endswith(f"{self.job}/") and job_area not in seen:
                    seen.add(job_area)
                    yield job_area
            for key in ("summaryUri", "reportUri"):
                uri = notice.get(key)
                if not isinstance(uri, str):
                    continue
                with contextlib.suppress(ValueError):
                    parsed = S3Uri.parse(uri)
                    if parsed.bucket != self.target.inbox:
                        continue
                    # reports/<job>/<run-id>/<file>: the job's reports
                    head, _, _ = parsed.key.partition(f"{self.job}/")
                    prefix = f"{head}{self.job}/"
                    if head and prefix not in seen:
                        seen.add(prefix)
                        yield prefix


def receive_notice(
    sqs: Any, queue_url: str, job: str, *, timeout: float
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The first notice of ``job`` on the queue (the SNS envelope's message and message
    attributes), waiting at most ``timeout`` seconds; None when none came."""
    deadline = time.monotonic() + timeout
    while True:
        wait = max(0, min(10, int(deadline - time.monotonic())))
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
        )
        for message in answer.get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            with contextlib.suppress(ValueError, KeyError, TypeError):
                envelope = json.loads(message["Body"])
                notice = json.loads(envelope["Message"])
                if isinstance(notice, dict) and notice.get("jobName") == job:
                    attributes = {
                        name: str(value.get("Value"))
                        for name, value in (envelope.get("MessageAttributes") or {}).items()
                    }
                    return notice, attributes
        if time.monotonic() >= deadline:
            return None
        if wait == 0:
            time.sleep(0.2)

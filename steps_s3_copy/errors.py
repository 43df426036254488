"""Named errors of the Lambda steps.

A step raises one of these (``raise ... from exc``); Lambda reports the class name as
``errorType`` and Step Functions uses it as the state's error name, so ``Retry`` and
``Catch`` can match on it. The message (``str(exc)``) is one JSON object, so Summarise can
turn a caught failure back into the list of problems::

    {"error": "ManifestInvalid", "message": "3 problems in s3://inbox/jobs/a.csv",
     "problems": [{"row": 4, "field": "key", "message": "..."}], "moreProblems": 0}

Only the first ``MAX_PROBLEMS_IN_MESSAGE`` problems travel in the message (Step Functions
limits a Cause to 32 KiB); ``moreProblems`` counts the rest.
"""

# ruff: noqa: N818  (the class names are the Step Functions error names of the contract)
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

#: problems listed in an error message (and in a FAILED notice); the rest are counted
MAX_PROBLEMS_IN_MESSAGE = 100
#: a Step Functions Cause is at most 32 KiB: keep the message well under it
_MAX_MESSAGE_CHARS = 24_000


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input: where (row of the CSV, field) and what."""

    message: str
    row: int | None = None
    field: str | None = None
    #: the error class this kind of problem raises (ManifestInvalid, SourceNotFound, ...)
    code: str = "ManifestInvalid"

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


class Problems:
    """Collects problems instead of stopping at the first; keeps a bounded number in memory."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self.items: list[Problem] = []
        self.total = 0
        self.codes: Counter[str] = Counter()

    def add(
        self,
        message: str,
        *,
        row: int | None = None,
        field: str | None = None,
        code: str = "ManifestInvalid",
    ) -> None:
        self.total += 1
        self.codes[code] += 1
        if len(self.items) < self.keep:
            self.items.append(Problem(message=message, row=row, field=field, code=code))

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total

    def error_name(self) -> str:
        """The error to raise: a manifest problem wins over a missing source over a denied one."""
        for name in ("ManifestInvalid", "SourceNotFound", "SourceAccessDenied"):
            if self.codes.get(name):
                return name
        return self.codes.most_common(1)[0][0] if self.codes else "ManifestInvalid"

    def raise_if_any(self, summary: str) -> None:
        if not self:
            return
        cls = ERRORS_BY_NAME.get(self.error_name(), ManifestInvalid)
        ordered = sorted(self.items, key=lambda p: (p.row is None, p.row or 0))
        raise cls(summary, ordered, total=self.total)


class StepsS3CopyError(Exception):
    """Base of every named error; ``str(exc)`` is the JSON message described above."""

    def __init__(
        self,
        message: str,
        problems: list[Problem] | None = None,
        *,
        total: int | None = None,
    ) -> None:
        self.message = message
        self.problems = list(problems or [])
        self.total = total if total is not None else len(self.problems)
        super().__init__(self._render())

    @property
    def error_name(self) -> str:
        return type(self).__name__

    def _render(self) -> str:
        listed: list[dict[str, Any]] = []
        size = len(self.message) + 100
        for problem in self.problems[:MAX_PROBLEMS_IN_MESSAGE]:
            entry = problem.to_dict()
            size += len(json.dumps(entry, ensure_ascii=False)) + 2
            if size > _MAX_MESSAGE_CHARS:
                break
            listed.append(entry)
        body = {
            "error": self.error_name,
            "message": self.message,
            "problems": listed,
            "moreProblems": max(self.total - len(listed), 0),
        }
        return json.dumps(body, ensure_ascii=False)


class InputInvalid(StepsS3CopyError):
    """The execution input is neither a sidecar event nor the direct input."""


class SidecarInvalid(StepsS3CopyError):
    """The sidecar JSON is malformed, has unknown fields, wrong types or out-of-range values."""


class ManifestNotFound(StepsS3CopyError):
    """The manifest CSV (or the sidecar) does not exist."""


class ManifestAccessDenied(StepsS3CopyError):
    """The manifest CSV (or the sidecar) cannot be read."""


class ManifestInvalid(StepsS3CopyError):
    """Rows of the manifest are wrong; every problem is listed with its row."""


class SourceNotFound(StepsS3CopyError):
    """Source objects or buckets named by the manifest do not exist."""


class SourceAccessDenied(StepsS3CopyError):
    """Source objects named by the manifest cannot be read."""


class SourceArchived(StepsS3CopyError):
    """Sources are archived and the sidecar asks for no restore (or a tier they lack)."""


class RestorePending(StepsS3CopyError):
    """Archived sources of a batch are still being restored (the state machine waits)."""


class RestorePendingExpedited(RestorePending):
    """... with an Expedited restore (minutes)."""


class RestorePendingStandard(RestorePending):
    """... with a Standard restore (hours)."""


class RestorePendingBulk(RestorePending):
    """... with a Bulk restore (up to two days)."""


class DestinationNotWritable(StepsS3CopyError):
    """The destination bucket does not exist or refuses a test write."""


class ReportNotWritable(StepsS3CopyError):
    """The sidecar's reportUri refuses a test write."""


class DuplicateEvent(StepsS3CopyError):
    """The same S3 event was delivered again: its run already started (nothing to do)."""


class JobAlreadyRunning(StepsS3CopyError):
    """Another execution of the same job is still running; this one is refused."""


class RunTooLong(StepsS3CopyError):
    """The plan could take longer than the state machine's execution timeout."""


class PlanNotFound(StepsS3CopyError):
    """The run's batch index (index.csv) cannot be read."""


class RunConfigUnreadable(StepsS3CopyError):
    """The run's ``run.json`` cannot be read or is invalid."""


class PlanUnreadable(StepsS3CopyError):
    """A batch's byte range of ``plan.jsonl`` cannot be read or holds invalid lines."""


class ResultsNotWritable(StepsS3CopyError):
    """A batch's results could not be written to the working area."""


class ResultsUnreadable(StepsS3CopyError):
    """Summarise cannot read a batch's results file (other than it being absent)."""


class BatchIncomplete(StepsS3CopyError):
    """A batch stopped before its end (time ran out, SIGTERM); retrying it skips what is
    done. ``outcome`` is the BatchOutcome of what it did."""

    def __init__(self, message: str, *, outcome: Any = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class PublishFailed(StepsS3CopyError):
    """The completion notice could not be published."""


class ReceiptNotSigned(StepsS3CopyError):
    """The receipt's digest could not be signed with the sidecar's ``receiptSigningKeyId``
    (a problem in the notice; the copy and the unsigned receipt stand)."""


class ReportNotDelivered(StepsS3CopyError):
    """The report files and the receipt could not be delivered into the destination (a
    problem in the notice; the copy stands)."""


ERRORS_BY_NAME: dict[str, type[StepsS3CopyError]] = {
    cls.__name__: cls
    for cls in (
        InputInvalid,
        SidecarInvalid,
        ManifestNotFound,
        ManifestAccessDenied,
        ManifestInvalid,
        SourceNotFound,
        SourceAccessDenied,
        SourceArchived,
        RestorePendingExpedited,
        RestorePendingStandard,
        RestorePendingBulk,
        DestinationNotWritable,
        ReportNotWritable,
        DuplicateEvent,
        JobAlreadyRunning,
        RunTooLong,
        PlanNotFound,
        RunConfigUnreadable,
        PlanUnreadable,
        ResultsNotWritable,
        ResultsUnreadable,
        BatchIncomplete,
        PublishFailed,
        ReceiptNotSigned,
        ReportNotDelivered,
    )
}


def parse_error_message(text: str) -> dict[str, Any] | None:
    """The JSON body of one of our error messages, or None when ``text`` is not one."""
    try:
        body = json.loads(text)
    except (TypeError, ValueError):
        return None
    if isinstance(body, dict) and "problems" in body and "message" in body:
        return body
    return None

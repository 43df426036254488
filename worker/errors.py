"""Named exceptions of the copy engine and the worker.

Only what makes a whole batch impossible is raised; a single object's failure is an
``ObjectResult`` with status FAILED, never an exception.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error the worker raises."""


class ConfigurationError(WorkerError):
    """Arguments, environment or options are invalid (exit code 2)."""


class CredentialsMissingError(ConfigurationError):
    """No AWS credentials could be found by botocore's provider chain."""


class RunConfigUnreadableError(WorkerError):
    """``run.json`` of the working area cannot be read or is invalid."""


class PlanUnreadableError(WorkerError):
    """The batch's byte range of ``plan.jsonl`` cannot be read or holds invalid lines."""


class ResultsNotWritableError(WorkerError):
    """The batch's results could not be written to the working area."""

"""Named exceptions of the copy engine and the worker.

Only what makes a whole batch impossible is raised; a single object's failure is an
``ObjectResult`` with status FAILED, never an exception. A working area that cannot be
read or written raises the steps' own named errors (``steps_s3_copy.errors``:
RunConfigUnreadable, PlanUnreadable, ResultsNotWritable), the same in both lanes.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error the worker raises."""


class ConfigurationError(WorkerError):
    """Arguments, environment or options are invalid (exit code 2)."""


class CredentialsMissingError(ConfigurationError):
    """No AWS credentials could be found by botocore's provider chain."""

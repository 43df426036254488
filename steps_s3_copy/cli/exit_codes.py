"""The exit codes of ``s3copy``: stable, documented in docs/cli.md, and relied on by scripts."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    #: the command did what it was asked; a run ended SUCCEEDED; the manifest is valid
    OK = 0
    #: a run ended FAILED (nothing or not everything could be attempted), or an execution
    #: failed, timed out or was aborted
    FAILED = 1
    #: the command line is wrong (unknown option, missing argument): click's own code
    USAGE = 2
    #: a run ended PARTIAL: some objects failed; they are listed in the report
    PARTIAL = 3
    #: the manifest or the sidecar is invalid (every problem is printed with its row)
    INVALID = 4
    #: AWS or the endpoint answered with an error, or something named does not exist
    AWS_ERROR = 5
    #: gave up waiting (``watch --timeout``, ``local`` waiting for its event)
    TIMEOUT = 6
    #: interrupted with Ctrl-C
    INTERRUPTED = 130


def for_status(status: str) -> ExitCode:
    """The exit code for a run's final status (a notice's or an execution's)."""
    return {
        "SUCCEEDED": ExitCode.OK,
        "PARTIAL": ExitCode.PARTIAL,
    }.get(status.upper(), ExitCode.FAILED)

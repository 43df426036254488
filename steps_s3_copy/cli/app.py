"""``s3copy``: the command line for a deployed stack and for the local pipeline.

This module only assembles the app; each command group has its module:

- ``offline_commands``: ``validate``, ``plan`` (a job checked and priced, no AWS);
- ``policy_command``: ``destination-policy`` (what a destination account applies);
- ``deployed_commands``: ``submit``, ``watch``, ``report`` (a job on a deployed stack);
- ``receipt_command``: ``verify-receipt`` (what the receiving account runs on a receipt);
- ``local_command``: ``local`` (the whole pipeline on this machine);
- ``selftest_command``: ``selftest`` (a deployment, or the emulator, checked end to end);

with the options they share declared once in ``options``. Every command has help
(``s3copy COMMAND --help``), stable exit codes (``ExitCode``, docs/cli.md) and, where a
script would want it, ``--json``.
"""

from __future__ import annotations

import gc

import typer

from steps_s3_copy.cli import (
    deployed_commands,
    local_command,
    offline_commands,
    policy_command,
    receipt_command,
    selftest_command,
)
from steps_s3_copy.cli.options import flatten

app = typer.Typer(
    name="s3copy",
    help=(
        "Copy very large sets of S3 objects between accounts: submit and follow jobs on a "
        "deployed stack, check and price a manifest offline, or run the whole pipeline on "
        "this machine with `s3copy local`."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

# In the order `s3copy --help` lists them.
for command, name in (
    (offline_commands.validate, "validate"),
    (offline_commands.plan, "plan"),
    (policy_command.destination_policy, "destination-policy"),
    (deployed_commands.submit, "submit"),
    (deployed_commands.watch, "watch"),
    (deployed_commands.report, "report"),
    (receipt_command.verify_receipt, "verify-receipt"),
    (local_command.local, "local"),
    (selftest_command.selftest, "selftest"),
):
    app.command(name)(flatten(command))


def main() -> None:
    """The ``s3copy`` console script."""
    # What start-up loaded (modules, botocore's models, pydantic's schemas: about 60,000
    # objects) lives until exit. Frozen, the collector no longer walks it in every full
    # collection of a run that plans and reports millions of rows, nor at exit (0.07-0.11 s
    # of a 10,000-object re-run's wall time, docs/performance.md).
    gc.freeze()
    app()

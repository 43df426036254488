"""The options and arguments several commands share, each declared once.

Single options are ``Annotated`` aliases (``InboxOpt``, ``JsonOpt``...). Options that
always travel together are an option group: a frozen dataclass whose fields are typer
options (:class:`AwsOptions`, :class:`RunTarget`). A command takes the group as one
parameter; :func:`flatten` shows typer the group's fields as ordinary options at that
parameter's place (so ``--help`` lists them where the parameter stands) and hands the
command the group, built from them. Typer has no such feature itself (fastapi/typer
issue #153, "How do I share options or arguments between commands?"); merging
signatures is the way discussed there.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from steps_s3_copy.cli import deployed
from steps_s3_copy.cli.common import Aws, aws, aws_errors, fail
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.inbox import DEFAULT_JOBS_PREFIX, DEFAULT_WORK_PREFIX

R = TypeVar("R")

# ----------------------------------------------------------------------------- single options

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="S3/Step Functions endpoint to use instead of AWS (an S3-compatible server, moto).",
        envvar="S3COPY_ENDPOINT_URL",
    ),
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS named profile.")]
StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack", help="A deployed stack's name: the inbox and state machine from its outputs."
    ),
]
InboxOpt = Annotated[str | None, typer.Option("--inbox", help="The inbox bucket.")]
StateMachineOpt = Annotated[
    str | None, typer.Option("--state-machine-arn", help="The copy state machine's ARN.")
]
ExecutionOpt = Annotated[
    str | None,
    typer.Option("--execution-arn", help="Follow this execution instead of searching for it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
WaitStartOpt = Annotated[
    float,
    typer.Option("--wait-start", min=0, help="Seconds to wait for the execution to appear."),
]
JobsPrefixOpt = Annotated[str, typer.Option("--jobs-prefix", help="Prefix of jobs in the inbox.")]
WorkPrefixOpt = Annotated[
    str, typer.Option("--work-prefix", help="Prefix of the runs' working areas in the inbox.")
]
ManifestArg = Annotated[
    Path,
    typer.Argument(
        help="The manifest CSV (source objects).", exists=True, dir_okay=False, readable=True
    ),
]
SidecarArg = Annotated[
    Path,
    typer.Argument(
        help="The sidecar JSON (destination and options).",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]

# ----------------------------------------------------------------------------- option groups


@dataclasses.dataclass(frozen=True)
class OptionGroup:
    """Base of the option groups: frozen dataclasses whose fields are typer options."""


@dataclasses.dataclass(frozen=True)
class AwsOptions(OptionGroup):
    """``--endpoint-url``, ``--region`` and ``--profile``: how to reach AWS."""

    endpoint_url: EndpointOpt = None
    region: RegionOpt = None
    profile: ProfileOpt = None

    def connect(self) -> Aws:
        """One session (and endpoint) for every client of the command."""
        return aws(self.profile, self.region, self.endpoint_url)


def stack_outputs(session: Aws, stack: str) -> deployed.StackOutputs:
    """A deployed stack's outputs; exit 5 with a one-line error when it cannot be read."""
    with aws_errors(f"reading stack {stack}"):
        try:
            outputs = deployed.resolve_stack(session.client("cloudformation"), stack)
        except deployed.NotFoundError as exc:
            fail(str(exc), ExitCode.AWS_ERROR)
    return outputs


@dataclasses.dataclass(frozen=True)
class RunTarget(OptionGroup):
    """Where a job's runs are: the inbox, the state machine or one execution, named
    directly or taken from a deployed stack's outputs, and the inbox's layout."""

    inbox: InboxOpt = None
    state_machine_arn: StateMachineOpt = None
    execution_arn: ExecutionOpt = None
    stack: StackOpt = None
    jobs_prefix: JobsPrefixOpt = DEFAULT_JOBS_PREFIX
    work_prefix: WorkPrefixOpt = DEFAULT_WORK_PREFIX

    def resolved(self, session: Aws) -> RunTarget:
        """The same target with the inbox and state machine not given taken from --stack."""
        if not self.stack:
            return self
        outputs = stack_outputs(session, self.stack)
        return dataclasses.replace(
            self,
            inbox=self.inbox or outputs.inbox_bucket,
            state_machine_arn=self.state_machine_arn or outputs.state_machine_arn,
        )


def flatten(command: Callable[..., R]) -> Callable[..., R]:
    """``command`` as typer should see it: each parameter typed as an :class:`OptionGroup`
    replaced, in place, by the group's fields; called with those options, the wrapper
    builds the group and calls ``command`` with it."""
    hints = get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, type[OptionGroup]] = {}
    for parameter in inspect.signature(command).parameters.values():
        hint = hints[parameter.name]
        if isinstance(hint, type) and issubclass(hint, OptionGroup):
            groups[parameter.name] = hint
            field_hints = get_type_hints(hint, include_extras=True)
            parameters.extend(
                inspect.Parameter(
                    field.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=field.default,
                    annotation=field_hints[field.name],
                )
                for field in dataclasses.fields(hint)
            )
        else:
            parameters.append(
                parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hint)
            )
    names = [parameter.name for parameter in parameters]
    clashes = {name for name in names if names.count(name) > 1}
    if clashes:
        raise TypeError(f"{command.__name__}: option names used twice: {sorted(clashes)}")

    @functools.wraps(command)
    def with_groups(**options: Any) -> R:
        for name, group in groups.items():
            fields = dataclasses.fields(group)
            options[name] = group(**{field.name: options.pop(field.name) for field in fields})
        return command(**options)

    # typer reads both (inspect.signature stops at __signature__, get_type_hints reads
    # __annotations__, here already resolved).
    with_groups.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_groups.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_groups

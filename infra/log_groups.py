"""The construct's log groups: each keeps its entries ``retention`` long and is deleted with
the stack (the logs of a removed deployment are of no use to anyone)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct


def log_group(
    scope: Construct,
    construct_id: str,
    retention: logs.RetentionDays,
    *,
    name: str | None = None,
) -> logs.LogGroup:
    """A log group in ``scope`` kept ``retention`` long, removed with the stack; named
    ``name`` when given (otherwise CloudFormation names it)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=retention,
        removal_policy=RemovalPolicy.DESTROY,
    )

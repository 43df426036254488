"""The ready CDK app: ``cdk deploy`` from the repository root (``cdk.json`` points here).

Context values (``cdk deploy -c name=value`` or ``cdk.json``); see docs/deploy.md:

- ``stackName``: the CloudFormation stack name (default ``StepsS3Copy``)
- ``sourceBuckets``: comma-separated bucket names the copy may read (required, unless
  ``allowAnyBucketOutsideThisAccount``)
- ``destinationBuckets``: comma-separated bucket names the copy may write (required, unless
  ``allowAnyBucketOutsideThisAccount``)
- ``allowAnyBucketOutsideThisAccount``: ``true`` grants any bucket outside this account
  (and, inside it, only the named ones)
- ``allowWriteToInstalledAccount``: ``true`` lets the copy write the named destinations of
  this account
- ``kmsKeys``: comma-separated KMS key ARNs jobs may name and the copy may use through S3
- ``submitters``: comma-separated IAM role or user ARNs that may start a run (default:
  principals of this account, as their IAM policies allow)
- ``writerRoleName``: a fixed writer role name for destination bucket policies
- ``taskCpu`` / ``taskMemoryMiB``: the Fargate task size (default 1024 / 2048)
- ``laneCutoffBytes``: batches holding an object this large go to Fargate (default 1 GiB)
- ``copyReservedConcurrency``: the CopyBatch function's reserved concurrency (default 25;
  ``none`` reserves nothing)
- ``dashboard`` / ``alarms``: ``false`` leaves out the CloudWatch dashboard / the alarms
  (both on by default)
- ``alarmTopicArn``: an SNS topic the alarms notify (docs/deploy.md, "Runbook")
"""

from __future__ import annotations

import os
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sns as sns
from constructs import Construct

from steps_s3_copy.infra.definition import RESULT_WRITER_V2_FLAG
from steps_s3_copy.infra.props import (
    ANY_BUCKET_CONTEXT,
    ANY_BUCKET_FLAG,
    StepsS3CopyProps,
    buckets_from_names,
)
from steps_s3_copy.infra.stack import StepsS3CopyStack

__all__ = ["RESULT_WRITER_V2_FLAG", "build", "context_values", "main", "props_from_context"]


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _names(value: object) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    names = [str(item).strip() for item in items if str(item).strip()]
    return names or None


def context_values(scope: Construct) -> dict[str, Any]:
    """The app's context values (see the module docstring) as construct arguments, with the
    buckets still as names (``props_from_context`` imports them) and the alarm topic as its
    ARN (``alarm_topic_arn``)."""
    node = scope.node
    args: dict[str, Any] = {}
    for context, arg in (
        ("sourceBuckets", "source_buckets"),
        ("destinationBuckets", "destination_buckets"),
        ("kmsKeys", "kms_keys"),
        ("submitters", "submitters"),
    ):
        names = _names(node.try_get_context(context))
        if names is not None:
            args[arg] = names
    for context, arg in (
        ("allowWriteToInstalledAccount", "allow_write_to_installed_account"),
        (ANY_BUCKET_CONTEXT, ANY_BUCKET_FLAG),
        ("dashboard", "dashboard"),
        ("alarms", "alarms"),
    ):
        flag = node.try_get_context(context)
        if flag is not None:
            args[arg] = _truthy(flag)
    role_name = node.try_get_context("writerRoleName")
    if role_name:
        args["writer_role_name"] = str(role_name)
    topic_arn = node.try_get_context("alarmTopicArn")
    if topic_arn:
        args["alarm_topic_arn"] = str(topic_arn).strip()
    for context, arg in (
        ("taskCpu", "task_cpu"),
        ("taskMemoryMiB", "task_memory_mib"),
        ("laneCutoffBytes", "lane_cutoff_bytes"),
    ):
        value = node.try_get_context(context)
        if value is not None:
            args[arg] = int(value)
    reserved = node.try_get_context("copyReservedConcurrency")
    if reserved is not None:
        text = str(reserved).strip().lower()
        args["copy_reserved_concurrency"] = None if text in ("none", "") else int(text)
    return args


def props_from_context(stack: cdk.Stack) -> StepsS3CopyProps:
    """The construct's props from the context values, buckets and the alarm topic imported
    into ``stack`` (``buckets_from_names``, ``sns.Topic.from_topic_arn``)."""
    args = context_values(stack)
    for arg in ("source_buckets", "destination_buckets"):
        if arg in args:
            args[arg] = buckets_from_names(stack, args[arg])
    topic_arn = args.pop("alarm_topic_arn", None)
    if topic_arn is not None:
        args["alarm_topic"] = sns.Topic.from_topic_arn(stack, "AlarmTopic", topic_arn)
    return StepsS3CopyProps(**args)


def build(app: cdk.App, env: cdk.Environment | None = None) -> StepsS3CopyStack:
    """Add the stack, configured from the app's context, to ``app``."""
    stack_name = str(app.node.try_get_context("stackName") or "StepsS3Copy")
    return StepsS3CopyStack(
        app,
        stack_name,
        env=env,
        description="steps-s3-copy: bulk S3 copy with Step Functions, Lambda and Fargate Spot",
        props=props_from_context,
    )


def main() -> None:
    # cdk.json sets the flag too; this keeps `python -m steps_s3_copy.infra.app` equivalent
    app = cdk.App(context={RESULT_WRITER_V2_FLAG: True})
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    build(app, env)
    app.synth()


if __name__ == "__main__":
    main()

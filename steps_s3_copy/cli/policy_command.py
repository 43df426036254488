"""``s3copy destination-policy``: what a destination account applies so that the stack's
writer role can copy into it (the policies themselves: :mod:`steps_s3_copy.cli.policy`)."""

# Typer commands take their options as parameters: one per option, by design.
# ruff: noqa: PLR0917

from __future__ import annotations

from typing import Annotated

import typer

from steps_s3_copy.cli import policy, render
from steps_s3_copy.cli.common import console, fail, print_json
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.cli.options import (
    AwsOptions,
    EndpointOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    stack_outputs,
)


def destination_policy(
    bucket: Annotated[str, typer.Option("--bucket", help="The destination bucket.")],
    writer_role_arn: Annotated[
        str | None, typer.Option("--writer-role-arn", help="The stack's writer role ARN.")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="The writer role's account id.")
    ] = None,
    role_name: Annotated[
        str | None, typer.Option("--role-name", help="The writer role's name.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Limit writes to this key prefix.")
    ] = None,
    kms_key_arn: Annotated[
        str | None,
        typer.Option("--kms-key-arn", help="The destination's SSE-KMS key: adds a key policy."),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack", help="Take the writer role from this stack's WriterRoleArn output."
        ),
    ] = None,
    # The AWS options, in the order this command has always listed them (region first).
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    bucket_policy_only: Annotated[
        bool,
        typer.Option(
            "--bucket-policy-only",
            help="Print only the bucket policy (for aws s3api put-bucket-policy --policy).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The bucket policy (and KMS key policy statement) a destination account applies.

    Give the writer role as --writer-role-arn (the stack's WriterRoleArn output), --stack,
    or --account and --role-name. Exit 0, 2 when the role, bucket or key is malformed,
    5 when the stack cannot be read.
    """
    if stack and not writer_role_arn:
        session = AwsOptions(endpoint_url=endpoint_url, region=region, profile=profile).connect()
        writer_role_arn = stack_outputs(session, stack).writer_role_arn
        if not writer_role_arn:
            fail(f"stack {stack} has no WriterRoleArn output", ExitCode.AWS_ERROR)
    try:
        if writer_role_arn:
            role = policy.WriterRole.parse(writer_role_arn)
        elif account and role_name:
            role = policy.WriterRole.from_parts(account, role_name)
        else:
            fail("give --writer-role-arn, --stack, or --account and --role-name", ExitCode.USAGE)
        document = policy.destination_policies(role, bucket, prefix=prefix, kms_key_arn=kms_key_arn)
    except policy.PolicyInputError as exc:
        fail(str(exc), ExitCode.USAGE)
    if bucket_policy_only:
        print_json(document["bucketPolicy"])
    elif as_json:
        print_json(document)
    else:
        render.policies(console, document)

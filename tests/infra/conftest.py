"""Infra fixtures: the app is synthesized once per session (a synth takes 5-10 s)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.infra.helpers import ACCOUNT, Synth, synthesize

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

#: the buckets the executed tests (test_executed.py) copy between: the deployment names them
SOURCE_BUCKET = "source-bucket"
DESTINATION_BUCKET = "destination-bucket"
#: what the ready app needs at the least: the buckets it may use (nothing else is granted);
#: names here, imported into the stack (``helpers.named_buckets``)
NAMED: dict[str, Any] = {
    "source_buckets": [SOURCE_BUCKET],
    "destination_buckets": [DESTINATION_BUCKET],
}
#: a key and a submitter of the opt-in deployment
KMS_KEY = (
    f"arn:aws:kms:us-east-1:222222222222:key/{'1' * 8}-{'2' * 4}-{'3' * 4}-{'4' * 4}-{'5' * 12}"
)
SUBMITTER = f"arn:aws:iam::{ACCOUNT}:role/lab-submitter"
OPEN: dict[str, Any] = {
    "allow_any_bucket_outside_this_account": True,
    "source_buckets": ["our-own-runs"],
    "destination_buckets": ["our-own-landing"],
    "allow_write_to_installed_account": True,
    "kms_keys": [KMS_KEY],
    "submitters": [SUBMITTER],
}


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The ready app naming its buckets (the least it needs), checked by cdk-nag during the
    same synth."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), copy_args=NAMED)


@pytest.fixture(scope="session")
def synth_scoped(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app with more named buckets, a fixed writer role name, no Spot and no reserved
    concurrency for CopyBatch.

    Its App sets no context at all (like an app that embeds the construct): the construct
    must still get the ResultWriter flag by itself.
    """
    return synthesize(
        tmp_path_factory.mktemp("cdk.out.scoped"),
        context={"aws:cdk:bundling-stacks": []},
        copy_args={
            "source_buckets": ["source-a", "source-b"],
            "destination_buckets": ["destination-x"],
            "writer_role_name": "steps-s3-copy-writer",
            "allow_write_to_installed_account": True,
            "use_spot": False,
            "task_cpu": 2048,
            "task_memory_mib": 8192,
            "copy_reserved_concurrency": None,
        },
    )


@pytest.fixture(scope="session")
def synth_open(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The opt-in deployment: any bucket outside this account, two of this account's named,
    writes into them allowed, a key and a submitter named; checked by cdk-nag too."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.open"), copy_args=OPEN)

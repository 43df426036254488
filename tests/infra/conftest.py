"""Infra fixtures: the app is synthesized once per session (a synth takes 5-10 s)."""

from __future__ import annotations

import os

import pytest

from tests.infra.helpers import Synth, synthesize

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The ready app with default arguments, checked by cdk-nag during the same synth."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synth_scoped(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app with named buckets, a fixed writer role name and no Spot.

    Its App sets no context at all (like an app that embeds the construct): the construct
    must still get the ResultWriter flag by itself.
    """
    return synthesize(
        tmp_path_factory.mktemp("cdk.out.scoped"),
        context={"aws:cdk:bundling-stacks": []},
        copy_args={
            "source_buckets": ["source-a"],
            "source_bucket_names": ["source-b"],
            "destination_bucket_names": ["destination-x"],
            "writer_role_name": "steps-s3-copy-writer",
            "allow_write_to_installed_account": True,
            "use_spot": False,
            "task_cpu": 2048,
            "task_memory_mib": 8192,
        },
    )

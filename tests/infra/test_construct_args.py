"""Arguments are validated before anything is created; the app maps context to arguments."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from steps_s3_copy.infra.app import build, context_values, props_from_context
from steps_s3_copy.infra.assets import AssetStagingError, build_context_files, stage_image_context
from steps_s3_copy.infra.construct import StepsS3Copy
from tests.infra.conftest import NAMED
from tests.infra.helpers import ACCOUNT, named_buckets


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"task_cpu": 300}, "task_cpu must be one of"),
        ({"task_cpu": 1024, "task_memory_mib": 1024}, "task_memory_mib for task_cpu=1024"),
        ({"task_cpu": 256, "task_memory_mib": 1000}, "task_memory_mib for task_cpu=256"),
        ({"lane_cutoff_bytes": -1}, "lane_cutoff_bytes"),
        ({"jobs_prefix": "jobs"}, "jobs_prefix"),
        ({"jobs_prefix": "/jobs/"}, "jobs_prefix"),
        ({"jobs_prefix": "work/"}, "jobs_prefix"),
        ({"work_expiry_days": 0}, "work_expiry_days"),
        ({"lambda_memory_mib": 64}, "lambda_memory_mib"),
        ({"copy_reserved_concurrency": 0}, "copy_reserved_concurrency"),
        ({"copy_reserved_concurrency": True}, "copy_reserved_concurrency"),
        ({"writer_role_name": "bad name!"}, "writer_role_name"),
        ({**NAMED, "source_buckets": []}, "source_buckets"),
        ({**NAMED, "destination_buckets": []}, "destination_buckets"),
        ({**NAMED, "state_machine_timeout": cdk.Duration.seconds(5)}, "state_machine_timeout"),
        (
            {
                "source_buckets": ["a-bucket"],
                "destination_buckets": ["b-bucket"],
                "state_machine_timeout": cdk.Duration.days(400),
            },
            "state_machine_timeout",
        ),
        ({**NAMED, "kms_keys": ["alias/aws/s3"]}, "kms_keys: not a KMS key ARN"),
        (
            {**NAMED, "submitters": [f"arn:aws:sts::{ACCOUNT}:assumed-role/r/session"]},
            "submitters: not the ARN of an IAM role or user",
        ),
        ({**NAMED, "writer_role_name": "a-name", "writer_role": "role"}, "writer_role_name"),
        ({**NAMED, "alarms": False, "alarm_topic": "topic"}, "alarm_topic and alarm_actions"),
        ({**NAMED, "alarms": False, "alarm_actions": ["action"]}, "alarm_topic and alarm_actions"),
    ],
)
def test_bad_arguments_raise_value_error_before_any_resource(
    args: dict[str, Any], message: str
) -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    args = named_buckets(stack, args)
    if args.get("writer_role") == "role":
        args["writer_role"] = iam.Role.from_role_name(stack, "Theirs", "their-writer")
    if args.get("alarm_topic") == "topic":
        args["alarm_topic"] = sns.Topic.from_topic_arn(stack, "Ops", "arn:aws:sns:us-east-1:1:x")
    with pytest.raises(ValueError, match=message):
        StepsS3Copy(stack, "Copy", image_directory="/nonexistent", **args)
    copy = stack.node.find_child("Copy")
    assert copy.node.children == []


def test_buckets_are_ibuckets_and_names_go_through_the_helper() -> None:
    """A bucket name where an IBucket belongs is an error naming the helper; the helper
    imports names, reuses a name imported twice and refuses what is not a bucket name
    (a name that would widen a grant or split Prepare's comma-separated lists)."""
    stack = cdk.Stack(cdk.App(), "Test")
    with pytest.raises(ValueError, match=r"source_buckets: give s3.IBucket.*buckets_from_names"):
        StepsS3Copy(stack, "Copy", image_directory="/nonexistent", **NAMED)
    assert stack.node.find_child("Copy").node.children == []
    runs, landing, runs_again = StepsS3Copy.buckets_from_names(
        stack, ["our-runs", "our-landing", "our-runs"]
    )
    assert runs.node.path == runs_again.node.path == "Test/Bucket-our-runs"
    assert stack.resolve(landing.bucket_name) == "our-landing"
    for bad in ("*", "a,b", "Upper", "ab", "a..b"):
        with pytest.raises(ValueError, match="not a bucket name"):
            StepsS3Copy.buckets_from_names(stack, [bad])
    with pytest.raises(ValueError, match="a list of bucket names"):
        StepsS3Copy.buckets_from_names(stack, "our-runs")
    # an IBucket whose name is not a bucket name is refused too
    odd = s3.Bucket.from_bucket_attributes(stack, "Odd", bucket_arn="arn:aws:s3:::Odd_Name")
    with pytest.raises(ValueError, match="destination_buckets: not a bucket name"):
        StepsS3Copy(
            cdk.Stack(cdk.App(), "Other"),
            "Copy",
            image_directory="/nonexistent",
            source_buckets=[runs],
            destination_buckets=[odd],
        )


@pytest.mark.parametrize(
    ("args", "named", "missing"),
    [
        ({}, ["source_buckets", "sourceBuckets", "destination_buckets", "destinationBuckets"], []),
        (
            {"source_buckets": ["a-bucket"]},
            ["destination_buckets", "destinationBuckets"],
            ["source_buckets", "sourceBuckets"],
        ),
        (
            {"destination_buckets": ["b-bucket"]},
            ["source_buckets", "sourceBuckets"],
            ["destination_buckets", "destinationBuckets"],
        ),
    ],
)
def test_nothing_named_is_an_error_naming_what_to_pass(
    args: dict[str, Any], named: list[str], missing: list[str]
) -> None:
    """No bucket is granted unless named: the error says which construct arguments and app
    context values to pass, and names the one opt-in."""
    stack = cdk.Stack(cdk.App(), "Test")
    with pytest.raises(ValueError, match="name the buckets the copy may use") as raised:
        StepsS3Copy(stack, "Copy", image_directory="/nonexistent", **named_buckets(stack, args))
    message = str(raised.value)
    for text in [*named, "allow_any_bucket_outside_this_account=True"]:
        assert text in message
    assert "-c allowAnyBucketOutsideThisAccount=true" in message
    for text in missing:
        assert text not in message
    assert stack.node.find_child("Copy").node.children == []


def test_the_ready_app_with_no_context_fails_with_the_same_error() -> None:
    with pytest.raises(ValueError, match=r"-c sourceBuckets=.*-c destinationBuckets="):
        build(cdk.App())


def test_the_opt_in_needs_no_bucket(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = cdk.Stack(cdk.App(), "Test")
    copy = StepsS3Copy(
        stack, "Copy", image_directory=tmp_path, allow_any_bucket_outside_this_account=True
    )
    assert copy.data_scope.any_bucket
    assert copy.data_scope.named == ()


def test_arguments_are_keyword_only() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    with pytest.raises(TypeError):
        StepsS3Copy(stack, "Copy", None)  # type: ignore[call-arg]


def test_context_values_become_construct_arguments() -> None:
    app = cdk.App(
        context={
            "sourceBuckets": "src-a, src-b",
            "destinationBuckets": ["dst"],
            "allowWriteToInstalledAccount": "true",
            "allowAnyBucketOutsideThisAccount": "false",
            "kmsKeys": "arn:aws:kms:us-east-1:111111111111:key/k1",
            "submitters": f"arn:aws:iam::{ACCOUNT}:role/a, arn:aws:iam::{ACCOUNT}:user/b",
            "writerRoleName": "copy-writer",
            "taskCpu": "2048",
            "taskMemoryMiB": 4096,
            "laneCutoffBytes": "1000",
            "copyReservedConcurrency": "40",
            "dashboard": "false",
            "alarms": "true",
            "alarmTopicArn": "arn:aws:sns:us-east-1:111111111111:ops",
        }
    )
    assert context_values(app) == {
        "source_buckets": ["src-a", "src-b"],
        "destination_buckets": ["dst"],
        "allow_write_to_installed_account": True,
        "allow_any_bucket_outside_this_account": False,
        "kms_keys": ["arn:aws:kms:us-east-1:111111111111:key/k1"],
        "submitters": [f"arn:aws:iam::{ACCOUNT}:role/a", f"arn:aws:iam::{ACCOUNT}:user/b"],
        "writer_role_name": "copy-writer",
        "task_cpu": 2048,
        "task_memory_mib": 4096,
        "lane_cutoff_bytes": 1000,
        "copy_reserved_concurrency": 40,
        "dashboard": False,
        "alarms": True,
        "alarm_topic_arn": "arn:aws:sns:us-east-1:111111111111:ops",
    }
    assert context_values(cdk.App()) == {}
    none = cdk.App(context={"copyReservedConcurrency": "none"})
    assert context_values(none) == {"copy_reserved_concurrency": None}
    # the props import the buckets and the topic into the stack
    stack = cdk.Stack(app, "Ready")
    props = props_from_context(stack)
    assert [stack.resolve(b.bucket_name) for b in props.source_buckets or []] == [
        "src-a",
        "src-b",
    ]
    assert [stack.resolve(b.bucket_name) for b in props.destination_buckets or []] == ["dst"]
    assert props.alarm_topic is not None
    assert props.alarm_topic.topic_arn == "arn:aws:sns:us-east-1:111111111111:ops"
    assert (props.dashboard, props.alarms, props.copy_reserved_concurrency) == (False, True, 40)


def test_a_bad_flag_value_is_an_error() -> None:
    for flag in ("allowWriteToInstalledAccount", "allowAnyBucketOutsideThisAccount", "alarms"):
        with pytest.raises(ValueError, match="true or false"):
            context_values(cdk.App(context={flag: "maybe"}))


def _fake_roots(tmp_path: Path) -> dict[str, Path]:
    """A checkout-like tree: top-level worker/ and handlers/ folders mapped into the package."""
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "worker" / "requirements.txt").write_text("boto3\n")
    (tmp_path / "worker" / "__main__.py").write_text("print('worker')\n")
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "prepare.py").write_text("# handler\n")
    package = tmp_path / "steps_s3_copy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (package / "infra").mkdir()  # as in a wheel: never staged
    (package / "infra" / "construct.py").write_text("# cdk\n")
    return {
        "steps_s3_copy": package,
        "steps_s3_copy.worker": tmp_path / "worker",
        "steps_s3_copy.handlers": tmp_path / "handlers",
    }


def test_image_context_maps_the_folders_and_leaves_out_infra(tmp_path: Path) -> None:
    roots = _fake_roots(tmp_path)
    files = dict(build_context_files(roots))
    assert set(files) == {
        "Dockerfile",
        "requirements.txt",
        "steps_s3_copy/__init__.py",
        "steps_s3_copy/worker/Dockerfile",
        "steps_s3_copy/worker/__main__.py",
        "steps_s3_copy/worker/requirements.txt",
        "steps_s3_copy/handlers/prepare.py",
    }
    staged = stage_image_context(tmp_path / "out", roots)
    again = stage_image_context(tmp_path / "out", roots)
    assert staged == again  # same content, same directory: the asset hash is stable
    assert (staged / "steps_s3_copy" / "worker" / "__main__.py").is_file()
    (tmp_path / "worker" / "__main__.py").write_text("print('changed')\n")
    assert stage_image_context(tmp_path / "out", roots) != staged


def test_image_context_from_a_wheel_layout_stages_each_file_once(tmp_path: Path) -> None:
    roots = _fake_roots(tmp_path)
    package = roots["steps_s3_copy"]
    shutil.move(str(tmp_path / "worker"), str(package / "worker"))
    roots["steps_s3_copy.worker"] = package / "worker"
    files = build_context_files(roots)
    names = [name for name, _ in files]
    assert len(names) == len(set(names))
    assert "steps_s3_copy/worker/__main__.py" in names


def test_image_context_needs_the_dockerfile(tmp_path: Path) -> None:
    roots = _fake_roots(tmp_path)
    (tmp_path / "worker" / "Dockerfile").unlink()
    with pytest.raises(AssetStagingError, match="Dockerfile"):
        build_context_files(roots)


def test_the_real_image_context_has_the_runtime_and_not_the_infra() -> None:
    files = dict(build_context_files())
    assert {
        "Dockerfile",
        "requirements.txt",
        "steps_s3_copy/models.py",
        "steps_s3_copy/worker/__main__.py",
        "steps_s3_copy/handlers/prepare.py",
        "steps_s3_copy/handlers/copy_batch.py",
        "steps_s3_copy/handlers/summarise.py",
        "steps_s3_copy/handlers/notify.py",
        "steps_s3_copy/handlers/destination.py",
    } <= set(files)
    assert not [f for f in files if "/infra/" in f or f.endswith((".pyc", ".pyo"))]
    assert not [f for f in files if "__pycache__" in f]

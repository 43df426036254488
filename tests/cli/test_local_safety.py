"""Issue 8's attacker and careless-user cases, through the whole local pipeline (the
emulator's event path, Prepare, CheckDestination, the Map, Summarise, Finish, Notify):
each is refused with a clear error naming its row or field, and nothing is copied."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from steps_s3_copy.local import demo
from steps_s3_copy.local.emulator import Emulator
from steps_s3_copy.local.pipeline import EmbeddedPipeline
from tests.cli.conftest import destination_keys

pytestmark = pytest.mark.slow

SRC = demo.SOURCE_BUCKET
DST = demo.DESTINATION_BUCKET
INBOX = "s3copy-inbox"


@pytest.fixture
def guarded(emulator: Emulator) -> EmbeddedPipeline:
    """A deployment that named its buckets: reads from SRC, writes to DST."""
    pipe = EmbeddedPipeline(
        emulator, source_buckets=frozenset({SRC}), destination_buckets=frozenset({DST})
    )
    demo.seed(pipe.s3)
    pipe.s3.create_bucket(Bucket="attacker-bucket")
    pipe.s3.create_bucket(Bucket="other-team-bucket")
    pipe.s3.put_object(Bucket="other-team-bucket", Key="secret.txt", Body=b"secret")
    return pipe


def _run(pipe: EmbeddedPipeline, manifest: str, sidecar: dict[str, Any]) -> dict[str, Any]:
    pipe.submit("attack", manifest.encode(), json.dumps(sidecar).encode())
    run = pipe.run_next(timeout=15)
    assert run.received is not None, "a FAILED notice is still published"
    return run.notice


def _nothing_copied(pipe: EmbeddedPipeline) -> None:
    assert destination_keys(pipe.s3, prefix="") == []
    assert pipe.s3.list_objects_v2(Bucket="attacker-bucket").get("KeyCount", 0) == 0
    for bucket in (DST, "attacker-bucket"):
        assert pipe.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


CASES = [
    (
        "a row reading another team's job file in the inbox",
        f"{INBOX},jobs/other-team.csv\n",
        {"destinationBucket": DST},
        "ManifestInvalid",
        (1, "bucket"),
    ),
    (
        "a row reading the working area",
        f"s3://{INBOX}/work/other-team/run-1/plan.jsonl\n",
        {"destinationBucket": DST},
        "ManifestInvalid",
        (1, "bucket"),
    ),
    (
        "a prefix row over the whole inbox",
        f"{INBOX},*\n",
        {"destinationBucket": DST},
        "ManifestInvalid",
        (1, "bucket"),
    ),
    (
        "a destination in the inbox (overwriting jobs/)",
        f"{SRC},runs/2024-06/_SUCCESS,../jobs/other-team.csv\n",
        {"destinationBucket": INBOX, "destinationPrefix": "jobs/"},
        "SidecarInvalid",
        (None, "destinationBucket"),
    ),
    (
        "a source bucket the deployment did not name",
        "other-team-bucket,secret.txt\n",
        {"destinationBucket": DST},
        "ManifestInvalid",
        (1, "bucket"),
    ),
    (
        "a destination bucket the deployment did not name",
        f"{SRC},runs/2024-06/_SUCCESS\n",
        {"destinationBucket": "attacker-bucket"},
        "SidecarInvalid",
        (None, "destinationBucket"),
    ),
    (
        "a report sent to an unnamed bucket",
        f"{SRC},runs/2024-06/_SUCCESS\n",
        {"destinationBucket": DST, "reportUri": "s3://attacker-bucket/loot/"},
        "SidecarInvalid",
        (None, "reportUri"),
    ),
    (
        "a report written under the inbox's jobs prefix (would start a run)",
        f"{SRC},runs/2024-06/_SUCCESS\n",
        {"destinationBucket": DST, "reportUri": f"s3://{INBOX}/jobs/"},
        "SidecarInvalid",
        (None, "reportUri"),
    ),
]


@pytest.mark.parametrize(
    ("manifest", "sidecar", "error", "where"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_confused_deputy_is_refused_and_nothing_is_copied(
    guarded: EmbeddedPipeline,
    manifest: str,
    sidecar: dict[str, Any],
    error: str,
    where: tuple[int | None, str],
) -> None:
    jobs_before = sorted(
        o["Key"] for o in guarded.s3.list_objects_v2(Bucket=INBOX).get("Contents", [])
    )
    notice = _run(guarded, manifest, sidecar)
    assert notice["status"] == "FAILED"
    assert notice["error"] == error
    assert where in [(p["row"], p["field"]) for p in notice["problems"]]
    _nothing_copied(guarded)
    # nothing under jobs/ was written but the job's own two files
    jobs_after = [
        o["Key"]
        for o in guarded.s3.list_objects_v2(Bucket=INBOX, Prefix="jobs/").get("Contents", [])
    ]
    assert sorted(jobs_after) == sorted(
        {*[k for k in jobs_before if k.startswith("jobs/")], "jobs/attack.csv", "jobs/attack.json"}
    )


def _state(pipe: EmbeddedPipeline, key: str) -> tuple[bytes, dict[str, Any], list[Any], str]:
    obj = pipe.s3.get_object(Bucket=SRC, Key=key)
    tags = pipe.s3.get_object_tagging(Bucket=SRC, Key=key)["TagSet"]
    head = pipe.s3.head_object(Bucket=SRC, Key=key)
    return obj["Body"].read(), obj["Metadata"], tags, head.get("StorageClass", "STANDARD")


COMBINATIONS = list(
    itertools.product(
        ["if-different", "always", "never"], [True, False], [True, False], [None, "GLACIER"]
    )
)


@pytest.mark.parametrize(
    ("overwrite", "copy_metadata", "copy_tags", "storage_class"),
    COMBINATIONS,
    ids=["-".join(str(v) for v in c) for c in COMBINATIONS],
)
def test_copying_onto_itself_leaves_the_source_untouched(
    emulator: Emulator,
    overwrite: str,
    copy_metadata: bool,
    copy_tags: bool,
    storage_class: str | None,
) -> None:
    pipe = EmbeddedPipeline(emulator)
    demo.seed(pipe.s3)
    key = demo.DEMO_OBJECTS[1].key  # with metadata and tags
    before = _state(pipe, key)
    sidecar: dict[str, Any] = {
        "destinationBucket": SRC,
        "overwrite": overwrite,
        "copyMetadata": copy_metadata,
        "copyTags": copy_tags,
    }
    if storage_class:
        sidecar["storageClass"] = storage_class
    notice = _run(pipe, f"{SRC},{key}\n", sidecar)
    assert notice["status"] == "FAILED"
    assert notice["error"] == "ManifestInvalid"
    assert "onto itself" in notice["problems"][0]["message"]
    assert _state(pipe, key) == before

"""The original system's JSON Lines copy instructions: where each object lands (as the
original computes it), and the same rigour and row numbers as the CSV, through Prepare
and through the offline check alike."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from steps_s3_copy.errors import InputInvalid, ManifestInvalid, SourceNotFound, StepsS3CopyError
from steps_s3_copy.validation import check_job
from tests.core.conftest import DEST, INBOX, SOURCE, World, run_prepare, sidecar_event
from tests.core.test_prepare import all_items


def _job(
    world: World, name: str, lines: list[Any] | str, sidecar: dict[str, Any]
) -> dict[str, Any]:
    text = lines if isinstance(lines, str) else "".join(json.dumps(x) + "\n" for x in lines)
    world.put(INBOX, f"jobs/{name}.jsonl", text)
    world.put(INBOX, f"jobs/{name}.json", json.dumps(sidecar))
    return sidecar_event(INBOX, f"jobs/{name}.json")


def test_where_objects_land_as_the_original_computes_it(world: World) -> None:
    for key in ("abcd/bc/de/file.bam", "runs/r1/a/x.fq", "runs/r1/b/y.fq", "top.txt"):
        world.put(SOURCE, key, b"1")
    instructions = [
        # no folder field: the base name only
        {"sourceBucket": SOURCE, "sourceKey": "top.txt"},
        # a relative destination folder, then the base name
        {
            "sourceBucket": SOURCE,
            "sourceKey": "abcd/bc/de/file.bam",
            "destinationRelativeFolderKey": "sub/more-sub/",
        },
        # the key below a root folder
        {
            "sourceBucket": SOURCE,
            "sourceKey": "abcd/bc/de/file.bam",
            "sourceRootFolderKey": "abcd/bc/",
        },
        # a wildcard: everything below the folder, its folders kept, under the relative folder
        {
            "sourceBucket": SOURCE,
            "sourceKey": "runs/r1/*",
            "destinationRelativeFolderKey": "reads/",
        },
    ]
    # the two instructions for file.bam land on different keys, so both may be given
    event = _job(
        world, "orig", instructions, {"destinationBucket": DEST, "destinationPrefix": "a-folder/"}
    )
    result = run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    landed = sorted(i.destination_key for i in all_items(world, result))
    assert landed == [
        "a-folder/de/file.bam",
        "a-folder/reads/a/x.fq",
        "a-folder/reads/b/y.fq",
        "a-folder/sub/more-sub/file.bam",
        "a-folder/top.txt",
    ]
    assert result.manifest == f"s3://{INBOX}/jobs/orig.jsonl"


GOOD = {"sourceBucket": SOURCE, "sourceKey": "exists.txt"}

#: (id, lines, error, text, (row, field))
JSONL_CASES: list[tuple[str, Any, type[StepsS3CopyError], str, tuple[int | None, str | None]]] = [
    ("empty", "", ManifestInvalid, "has no rows", (None, None)),
    ("not-json", f"{json.dumps(GOOD)}\n{{oops\n", ManifestInvalid, "is not valid JSON", (2, None)),
    (
        "not-an-object",
        f"{json.dumps(GOOD)}\n[1, 2]\n",
        ManifestInvalid,
        "must be a JSON object",
        (2, None),
    ),
    (
        "unknown-field",
        [GOOD, {**GOOD, "colour": "blue"}],
        ManifestInvalid,
        "unknown field 'colour'",
        (2, "colour"),
    ),
    (
        "missing-key",
        [GOOD, {"sourceBucket": SOURCE}],
        ManifestInvalid,
        "'sourceKey' is missing",
        (2, "sourceKey"),
    ),
    (
        "key-not-a-string",
        [{"sourceBucket": SOURCE, "sourceKey": 7}],
        ManifestInvalid,
        "must be a string",
        (1, "sourceKey"),
    ),
    (
        "bad-bucket",
        [{"sourceBucket": "Bad!Bucket", "sourceKey": "k"}],
        ManifestInvalid,
        "not a valid bucket name",
        (1, "sourceBucket"),
    ),
    (
        "nul-in-key",
        [{"sourceBucket": SOURCE, "sourceKey": "a\x00b"}],
        ManifestInvalid,
        "contains U+0000",
        (1, "sourceKey"),
    ),
    (
        "key-too-long",
        [{"sourceBucket": SOURCE, "sourceKey": "k" * 1025}],
        ManifestInvalid,
        "longer than 1024",
        (1, "sourceKey"),
    ),
    (
        "both-folder-fields",
        [{**GOOD, "sourceRootFolderKey": "a/", "destinationRelativeFolderKey": "b/"}],
        ManifestInvalid,
        "not both",
        (1, "sourceRootFolderKey"),
    ),
    (
        "relative-without-slash",
        [{**GOOD, "destinationRelativeFolderKey": "sub"}],
        ManifestInvalid,
        "ending with '/'",
        (1, "destinationRelativeFolderKey"),
    ),
    (
        "relative-climbing",
        [{**GOOD, "destinationRelativeFolderKey": "../up/"}],
        ManifestInvalid,
        "no '..'",
        (1, "destinationRelativeFolderKey"),
    ),
    (
        "root-not-leading",
        [{**GOOD, "sourceRootFolderKey": "other/"}],
        ManifestInvalid,
        "leading folder",
        (1, "sourceRootFolderKey"),
    ),
    (
        "root-with-wildcard",
        [{"sourceBucket": SOURCE, "sourceKey": "d/*", "sourceRootFolderKey": "d/"}],
        ManifestInvalid,
        "leading folder",
        (1, "sourceRootFolderKey"),
    ),
    (
        "no-sign-request",
        [{**GOOD, "sourceNoSignRequest": True}],
        ManifestInvalid,
        "not supported",
        (1, "sourceNoSignRequest"),
    ),
    ("sums", [{**GOOD, "sums": "x"}], ManifestInvalid, "not supported", (1, "sums")),
    (
        "same-destination",
        [GOOD, {"sourceBucket": SOURCE, "sourceKey": "d/exists.txt"}],
        ManifestInvalid,
        "rows 1 and 2 both copy to",
        (2, "destination_key"),
    ),
    (
        "reads-the-inbox",
        [{"sourceBucket": INBOX, "sourceKey": "jobs/x.csv"}],
        ManifestInvalid,
        "the inbox is never a source",
        (1, "bucket"),
    ),
    (
        "missing-source",
        [GOOD, {"sourceBucket": SOURCE, "sourceKey": "nope.txt"}],
        SourceNotFound,
        "does not exist",
        (2, "key"),
    ),
    (
        "every-problem",
        f"{json.dumps(GOOD)}\n\n{{bad\n{json.dumps({'sourceBucket': SOURCE})}\n",
        ManifestInvalid,
        "2 problem(s)",
        (3, None),
    ),
]


@pytest.mark.parametrize(
    ("lines", "error", "says", "where"),
    [c[1:] for c in JSONL_CASES],
    ids=[c[0] for c in JSONL_CASES],
)
def test_bad_jsonl_instructions(
    world: World,
    lines: Any,
    error: type[StepsS3CopyError],
    says: str,
    where: tuple[int | None, str | None],
) -> None:
    world.put(SOURCE, "exists.txt", b"1")
    world.put(SOURCE, "d/exists.txt", b"1")
    event = _job(world, "bad", lines, {"destinationBucket": DEST})
    with pytest.raises(error) as info:
        run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    body = json.loads(str(info.value))
    assert says in str(info.value)
    listed = [(p["row"], p["field"]) for p in body["problems"]] or [(None, None)]
    assert where in listed
    assert world.keys(DEST) == []
    assert world.keys(INBOX, "work/bad/r/") == []
    if error is ManifestInvalid:  # needs no AWS: the offline check says the same
        text = lines if isinstance(lines, str) else "".join(json.dumps(x) + "\n" for x in lines)
        checked = check_job(
            json.dumps({"destinationBucket": DEST}).encode(),
            io.BytesIO(text.encode()),
            where="sidecar",
            boundaries=world.settings.boundaries,
            jsonl=True,
        )
        offline = sorted((p.row or 0, p.field or "", p.message) for p in checked.manifest_problems)
        online = sorted((p["row"] or 0, p["field"] or "", p["message"]) for p in body["problems"])
        assert offline == online or (not online and checked.manifest_problem_total)


def test_a_job_with_both_a_csv_and_a_jsonl_manifest_is_refused(world: World) -> None:
    world.put(SOURCE, "exists.txt", b"1")
    world.put(INBOX, "jobs/two.csv", f"{SOURCE},exists.txt\n")
    event = _job(world, "two", [GOOD], {"destinationBucket": DEST})
    with pytest.raises(ManifestInvalid, match="two manifests"):
        run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)


def test_the_direct_input_may_name_a_jsonl_manifest(world: World) -> None:
    world.put(SOURCE, "exists.txt", b"1")
    world.put(INBOX, "jobs/direct.jsonl", json.dumps(GOOD) + "\n")
    raw = {
        "sourceFilesCsvBucket": INBOX,
        "sourceFilesCsvKey": "jobs/direct.jsonl",
        "destinationBucket": DEST,
    }
    result = run_prepare(raw, run_id="r", s3=world.s3, settings=world.settings)
    assert result.job_name == "direct"
    assert [i.destination_key for i in all_items(world, result)] == ["exists.txt"]


def test_a_job_name_from_a_reserved_jsonl_path_is_refused(world: World) -> None:
    with pytest.raises(InputInvalid, match="reserved"):
        run_prepare(
            {
                "sourceFilesCsvBucket": INBOX,
                "sourceFilesCsvKey": "jobs/results.jsonl",
                "destinationBucket": DEST,
            },
            run_id="r",
            s3=world.s3,
            settings=world.settings,
        )

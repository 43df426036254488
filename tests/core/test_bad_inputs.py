"""A corpus of bad manifests, sidecars and inputs: each raises its own named error, names
the row or field, and nothing is planned or copied."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from steps_s3_copy.errors import (
    InputInvalid,
    ManifestInvalid,
    ManifestNotFound,
    SidecarInvalid,
    SourceNotFound,
    StepsS3CopyError,
)
from tests.core.conftest import DEST, EVENTS, INBOX, SOURCE, World, run_prepare, sidecar_event

OK = {"destinationBucket": DEST}
GOOD_ROW = f"{SOURCE},exists.txt\n"


@dataclass
class Case:
    id: str
    error: type[StepsS3CopyError]
    #: text the error message must contain
    says: str
    csv: str | bytes | None = GOOD_ROW
    sidecar: Any = field(default_factory=lambda: dict(OK))
    #: (row, field) pairs that must be among the problems
    problems: list[tuple[int | None, str | None]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


CASES = [
    # -- the manifest's shape
    Case("empty-file", ManifestInvalid, "has no rows", csv=""),
    Case("only-blank-lines", ManifestInvalid, "has no rows", csv="\n\n  \n"),
    Case("only-a-header", ManifestInvalid, "only a header", csv="bucket,key\n"),
    Case(
        "header-without-bucket",
        ManifestInvalid,
        "no 'bucket' column",
        csv="key,size\nexists.txt,1\n",
        problems=[(1, "bucket")],
    ),
    Case(
        "header-source-and-bucket",
        ManifestInvalid,
        "both 'source' and 'bucket'",
        csv=f"source,bucket,key\ns3://{SOURCE}/exists.txt,{SOURCE},exists.txt\n",
    ),
    Case(
        "uri-without-key",
        ManifestInvalid,
        "must be s3://bucket/key",
        csv=f"{GOOD_ROW}s3://{SOURCE}\n",
        problems=[(2, "source")],
    ),
    Case(
        "uri-with-bad-bucket",
        ManifestInvalid,
        "not a valid bucket name",
        csv="s3://Bad!Bucket/k\n",
        problems=[(1, "bucket")],
    ),
    Case(
        "missing-key-column",
        ManifestInvalid,
        "key is empty",
        csv=f"{GOOD_ROW}{SOURCE}\n",
        problems=[(2, "key")],
    ),
    Case(
        "empty-bucket-cell",
        ManifestInvalid,
        "bucket is empty",
        csv=",exists.txt\n",
        problems=[(1, "bucket")],
    ),
    Case(
        "too-many-columns",
        ManifestInvalid,
        "at most 5 expected",
        csv=f"{SOURCE},a,b,1,crc32:AAAAAA==,extra\n",
        problems=[(1, None)],
    ),
    Case(
        "unclosed-quote",
        ManifestInvalid,
        "not valid CSV",
        csv=f'{GOOD_ROW}{SOURCE},"never closed\n',
    ),
    Case("not-utf8", ManifestInvalid, "not UTF-8", csv=b"src-bucket,caf\xe9\n"),
    Case(
        "key-too-long",
        ManifestInvalid,
        "longer than 1024 bytes",
        csv=f"{SOURCE},{'k' * 1025}\n",
        problems=[(1, "key")],
    ),
    Case(
        "negative-size",
        ManifestInvalid,
        "not a whole number",
        csv=f"{SOURCE},exists.txt,,-5\n",
        problems=[(1, "size")],
    ),
    Case(
        "size-above-5-tib",
        ManifestInvalid,
        "above the S3 limit",
        csv=f"{SOURCE},exists.txt,,{6 * 1024**4}\n",
        problems=[(1, "size")],
    ),
    Case(
        "unknown-checksum-algorithm",
        ManifestInvalid,
        "unknown checksum algorithm 'md5'",
        csv=f"{SOURCE},exists.txt,,,md5:AAAA\n",
        problems=[(1, "checksum")],
    ),
    Case(
        "checksum-wrong-length",
        ManifestInvalid,
        "must decode to 32 bytes",
        csv=f"{SOURCE},exists.txt,,,sha256:AAAAAA==\n",
        problems=[(1, "checksum")],
    ),
    Case(
        "exact-duplicate-rows",
        ManifestInvalid,
        "rows 1 and 3 both copy to",
        csv=f"{GOOD_ROW}{SOURCE},other.txt\n{GOOD_ROW}",
        problems=[(3, "destination_key")],
    ),
    Case(
        "two-sources-one-destination",
        ManifestInvalid,
        "rows 1 and 2 both copy to s3://dst-bucket/same",
        csv=f"{SOURCE},exists.txt,same\n{SOURCE},other.txt,same\n",
        problems=[(2, "destination_key")],
    ),
    Case(
        "prefix-row-with-size",
        ManifestInvalid,
        "cannot have a size",
        csv=f"{SOURCE},dir/*,,10\n",
        problems=[(1, "size")],
    ),
    Case(
        "every-problem-is-reported",
        ManifestInvalid,
        "3 problem(s)",
        csv=f"{GOOD_ROW},nobucket\n{SOURCE},x,,ten\n\n{SOURCE},y,,,sha1:zz\n",
        problems=[(2, "bucket"), (3, "size"), (5, "checksum")],
    ),
    Case(
        "too-many-rows",
        ManifestInvalid,
        "more than 2 rows",
        csv=GOOD_ROW * 3,
        settings={"max_manifest_rows": 2},
    ),
    Case(
        "prefix-expanding-past-the-row-limit",
        ManifestInvalid,
        "expands to more than 1 objects",
        csv=f"{SOURCE},*\n",
        settings={"max_manifest_rows": 1},
        problems=[(1, None)],
    ),
    # -- the sources
    Case(
        "missing-source-object",
        SourceNotFound,
        "s3://src-bucket/nope.txt does not exist",
        csv=f"{GOOD_ROW}{SOURCE},nope.txt\n",
        problems=[(2, "key")],
    ),
    Case(
        "nonexistent-source-bucket",
        SourceNotFound,
        "source bucket 'no-such-source' does not exist",
        csv="no-such-source,a.txt\n",
        problems=[(1, "bucket")],
    ),
    Case(
        "nonexistent-source-bucket-with-sizes-given",
        SourceNotFound,
        "source bucket 'no-such-source' does not exist",
        csv="no-such-source,a.txt,,10\nno-such-source,b.txt,,10\n",
        problems=[(1, "bucket")],
    ),
    Case(
        "prefix-matching-nothing",
        SourceNotFound,
        "matches no objects",
        csv=f"{SOURCE},empty/*\n",
        problems=[(1, "key")],
    ),
    # -- the sidecar
    Case("sidecar-not-json", SidecarInvalid, "is not valid JSON", sidecar="{destinationBucket:"),
    Case("sidecar-not-an-object", SidecarInvalid, "must be a JSON object", sidecar="[]"),
    Case(
        "sidecar-unknown-field",
        SidecarInvalid,
        "unknown field 'colour'",
        sidecar={**OK, "colour": "blue"},
        problems=[(None, "colour")],
    ),
    Case(
        "sidecar-missing-destination",
        SidecarInvalid,
        "required field 'destinationBucket' is missing",
        sidecar={"destinationPrefix": "x/"},
        problems=[(None, "destinationBucket")],
    ),
    Case(
        "negative-batch-size",
        SidecarInvalid,
        "greater than or equal to 1",
        sidecar={**OK, "maxItemsPerBatch": -1},
        problems=[(None, "maxItemsPerBatch")],
    ),
    Case(
        "huge-batch-size",
        SidecarInvalid,
        "less than or equal to 1000",
        sidecar={**OK, "maxItemsPerBatch": 1_000_000},
        problems=[(None, "maxItemsPerBatch")],
    ),
    Case(
        "batch-size-as-string",
        SidecarInvalid,
        "maxItemsPerBatch",
        sidecar={**OK, "maxItemsPerBatch": "10"},
        problems=[(None, "maxItemsPerBatch")],
    ),
    Case(
        "byte-cap-too-small",
        SidecarInvalid,
        "maxBytesPerBatch",
        sidecar={**OK, "maxBytesPerBatch": 10},
        problems=[(None, "maxBytesPerBatch")],
    ),
    Case(
        "zero-concurrency",
        SidecarInvalid,
        "maxConcurrency",
        sidecar={**OK, "maxConcurrency": 0},
        problems=[(None, "maxConcurrency")],
    ),
    Case(
        "bad-storage-class",
        SidecarInvalid,
        "storageClass",
        sidecar={**OK, "storageClass": "COLD"},
        problems=[(None, "storageClass")],
    ),
    Case(
        "bad-destination-account",
        SidecarInvalid,
        "destinationAccount",
        sidecar={**OK, "destinationAccount": "123"},
        problems=[(None, "destinationAccount")],
    ),
    Case(
        "dry-run-not-a-boolean",
        SidecarInvalid,
        "dryRun",
        sidecar={**OK, "dryRun": "yes"},
        problems=[(None, "dryRun")],
    ),
    Case(
        "report-uri-not-s3",
        SidecarInvalid,
        "must be an s3:// URI",
        sidecar={**OK, "reportUri": "https://example.com/r"},
        problems=[(None, "reportUri")],
    ),
    Case(
        "bad-destination-bucket-name",
        SidecarInvalid,
        "not a valid bucket name",
        sidecar={"destinationBucket": "a"},
        problems=[(None, "destinationBucket")],
    ),
    # -- what a job may touch (the confused deputy): the inbox, unlisted buckets, itself
    Case(
        "row-reading-the-inbox",
        ManifestInvalid,
        "the inbox is never a source",
        csv=f"{GOOD_ROW}{INBOX},jobs/other-team.csv\n",
        problems=[(2, "bucket")],
    ),
    Case(
        "prefix-row-reading-the-inbox",
        ManifestInvalid,
        "the inbox is never a source",
        csv=f"{INBOX},work/*\n",
        problems=[(1, "bucket")],
    ),
    Case(
        "uri-row-reading-the-inbox",
        ManifestInvalid,
        "the inbox is never a source",
        csv=f"s3://{INBOX}/reports/x/summary.json\n",
        problems=[(1, "bucket")],
    ),
    Case(
        "destination-is-the-inbox",
        SidecarInvalid,
        "it is never a destination",
        sidecar={"destinationBucket": INBOX},
        problems=[(None, "destinationBucket")],
    ),
    Case(
        "source-bucket-not-listed",
        ManifestInvalid,
        "not one of the buckets this deployment may read (src-bucket)",
        csv=f"{GOOD_ROW}other-team-bucket,secret.txt\n",
        settings={"source_buckets": frozenset({SOURCE})},
        problems=[(2, "bucket")],
    ),
    Case(
        "destination-bucket-not-listed",
        SidecarInvalid,
        "not one of the buckets this deployment may write (dst-bucket)",
        sidecar={"destinationBucket": "attacker-bucket"},
        settings={"destination_buckets": frozenset({DEST})},
        problems=[(None, "destinationBucket")],
    ),
    Case(
        "copy-onto-itself",
        ManifestInvalid,
        "onto itself",
        csv=f"{GOOD_ROW}{SOURCE},other.txt\n",
        sidecar={"destinationBucket": SOURCE, "overwrite": "always", "copyMetadata": False},
        problems=[(1, "destination_key"), (2, "destination_key")],
    ),
    Case(
        "report-uri-in-the-jobs-prefix",
        SidecarInvalid,
        "in the inbox outside reports/",
        sidecar={**OK, "reportUri": f"s3://{INBOX}/jobs/"},
        problems=[(None, "reportUri")],
    ),
    Case(
        "report-uri-in-an-unlisted-bucket",
        SidecarInvalid,
        "nor in a bucket this deployment may write",
        sidecar={**OK, "reportUri": "s3://attacker-bucket/loot/"},
        settings={"destination_buckets": frozenset({DEST})},
        problems=[(None, "reportUri")],
    ),
    Case(
        "kms-key-not-listed",
        SidecarInvalid,
        "not one of the KMS keys this deployment may use",
        sidecar={**OK, "sseKmsKeyId": "arn:aws:kms:us-east-1:999999999999:key/attacker"},
        settings={"kms_keys": frozenset({"arn:aws:kms:us-east-1:111122223333:key/ours"})},
        problems=[(None, "sseKmsKeyId")],
    ),
    # -- the receipt (issue 12): its signing key is one of the deployment's; nothing is
    #    copied under <destinationPrefix>.steps-s3-copy/, where it is delivered
    Case(
        "signing-key-not-a-kms-key",
        SidecarInvalid,
        "must be a KMS key id",
        sidecar={**OK, "receiptSigningKeyId": "key with spaces"},
        problems=[(None, "receiptSigningKeyId")],
    ),
    Case(
        "signing-key-not-listed",
        SidecarInvalid,
        "not one of the KMS keys this deployment may sign receipts with",
        sidecar={**OK, "receiptSigningKeyId": "arn:aws:kms:us-east-1:999999999999:key/attacker"},
        settings={"kms_keys": frozenset({"arn:aws:kms:us-east-1:111122223333:key/ours"})},
        problems=[(None, "receiptSigningKeyId")],
    ),
    Case(
        "signing-key-without-kms-keys",
        SidecarInvalid,
        "this deployment names no KMS keys (kms_keys)",
        sidecar={**OK, "receiptSigningKeyId": "arn:aws:kms:us-east-1:111122223333:key/ours"},
        problems=[(None, "receiptSigningKeyId")],
    ),
    Case(
        "signing-key-with-an-empty-kms-keys",
        SidecarInvalid,
        "this deployment names no KMS keys (kms_keys)",
        sidecar={**OK, "receiptSigningKeyId": "arn:aws:kms:us-east-1:111122223333:key/ours"},
        settings={"kms_keys": frozenset()},
        problems=[(None, "receiptSigningKeyId")],
    ),
    Case(
        "deliver-to-destination-not-a-boolean",
        SidecarInvalid,
        "deliverToDestination",
        sidecar={**OK, "deliverToDestination": "yes"},
        problems=[(None, "deliverToDestination")],
    ),
    Case(
        "destination-key-in-the-reserved-folder",
        ManifestInvalid,
        "which the service keeps for its write checks and the runs' delivered reports",
        csv=f"{GOOD_ROW}{SOURCE},other.txt,.steps-s3-copy/runs/job/r/receipt.jsonl\n",
        problems=[(2, "destination_key")],
    ),
    Case(
        "destination-key-in-the-reserved-folder-under-the-prefix",
        ManifestInvalid,
        "is under 'in/.steps-s3-copy/'",
        csv=f"{SOURCE},exists.txt,.steps-s3-copy/x\n",
        sidecar={**OK, "destinationPrefix": "in/"},
        problems=[(1, "destination_key")],
    ),
    Case(
        "prefix-row-into-the-reserved-folder",
        ManifestInvalid,
        "destination prefix 'in/.steps-s3-copy/copies/' is under",
        csv=f"{SOURCE},some/*,.steps-s3-copy/copies/\n",
        sidecar={**OK, "destinationPrefix": "in/"},
        problems=[(1, "destination_key")],
    ),
    # -- what reaches a request must be what S3 can take
    Case(
        "nul-in-a-key",
        ManifestInvalid,
        "contains U+0000",
        csv=f"{GOOD_ROW}{SOURCE},a\x00b\n",
        problems=[(2, "key")],
    ),
    Case(
        "control-character-in-the-destination-prefix",
        ManifestInvalid,
        "destination key contains U+0007",
        sidecar={**OK, "destinationPrefix": "in\x07/"},
        problems=[(1, "destination_key")],
    ),
    Case(
        "destination-key-too-long",
        ManifestInvalid,
        "destination key is longer than 1024 bytes",
        csv=f"{SOURCE},exists.txt,{'d' * 1025}\n",
        problems=[(1, "destination_key")],
    ),
    Case(
        "crlf-in-the-kms-key",
        SidecarInvalid,
        "must be a KMS key id",
        sidecar={**OK, "sseKmsKeyId": "alias/x\r\nx-amz-acl: public-read"},
        problems=[(None, "sseKmsKeyId")],
    ),
    Case(
        "deeply-nested-sidecar",
        SidecarInvalid,
        "nested too deeply",
        sidecar='{"a":' * 5000 + "1" + "}" * 5000,
    ),
    Case(
        "unknown-header-column",
        ManifestInvalid,
        "unknown column 'notes'",
        csv=f"bucket,key,notes\n{GOOD_ROW}",
        problems=[(1, "notes")],
    ),
    Case(
        "invalid-utf8-names-its-row",
        ManifestInvalid,
        "row 3 is not UTF-8",
        csv=GOOD_ROW.encode() * 2 + b"src-bucket,caf\xe9\n",
        problems=[(3, None)],
    ),
    # -- the manifest and the destination themselves
    Case("missing-csv", ManifestNotFound, "does not exist", csv=None),
]


def _nothing_planned_or_copied(world: World) -> None:
    assert world.keys(DEST) == []
    # only the job's history (its event marker and lock, released by Notify): no plan
    history = {"lock.json", "events"}
    assert [k for k in world.keys(INBOX, "work/") if k.split("/")[2] not in history] == []
    assert world.s3.list_multipart_uploads(Bucket=INBOX).get("Uploads", []) == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_its_named_error(world: World, case: Case) -> None:
    world.put(SOURCE, "exists.txt", b"1")
    world.put(SOURCE, "other.txt", b"2")
    event = world.job("bad", case.csv, case.sidecar)
    settings = replace(world.settings, **case.settings)

    with pytest.raises(case.error) as info:
        run_prepare(event, run_id="r", s3=world.s3, settings=settings)

    message = str(info.value)
    body = json.loads(message)  # the message is the JSON the notice is built from
    assert body["error"] == case.error.__name__
    assert case.says in message
    listed = {(p["row"], p["field"]) for p in body["problems"]}
    for expected in case.problems:
        assert expected in listed, (expected, body["problems"])
    _nothing_planned_or_copied(world)


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 25


def test_input_that_is_neither_event_nor_direct_input(world: World) -> None:
    with pytest.raises(InputInvalid, match="neither"):
        run_prepare({"hello": "world"}, run_id="r", s3=world.s3, settings=world.settings)


def test_event_for_a_non_sidecar_key(world: World) -> None:
    with pytest.raises(InputInvalid, match="not a sidecar"):
        run_prepare(
            sidecar_event(INBOX, "jobs/a.csv"), run_id="r", s3=world.s3, settings=world.settings
        )


def test_direct_input_missing_a_field(world: World) -> None:
    raw = json.loads((EVENTS / "direct_input.json").read_text())
    del raw["sourceFilesCsvKey"]
    with pytest.raises(SidecarInvalid, match="sourceFilesCsvKey"):
        run_prepare(raw, run_id="r", s3=world.s3, settings=world.settings)


def test_direct_input_with_missing_csv(world: World) -> None:
    raw = json.loads((EVENTS / "direct_input.json").read_text())
    with pytest.raises(ManifestNotFound, match=r"key-of-source-files\.csv"):
        run_prepare(raw, run_id="r", s3=world.s3, settings=world.settings)


def test_deleted_sidecar(world: World) -> None:
    with pytest.raises(ManifestNotFound, match="sidecar"):
        run_prepare(
            sidecar_event(INBOX, "jobs/gone.json"), run_id="r", s3=world.s3, settings=world.settings
        )


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("jobs/team/results/x.json", "reserved path segment 'results'"),
        ("jobs/a/events.json", "reserved path segment 'events'"),  # work/a/events/ is job a's
        ("jobs/team/results-2026.json", None),  # only the whole segment is reserved
        ("jobs/a/events/b.json", "reserved path segment 'events'"),
        ("jobs/../work/x.json", "reserved path segment '..'"),
        ("jobs/a//b.json", "empty path segment"),
        ("jobs/tab\tname.json", "control character"),
    ],
)
def test_job_names_that_would_reach_the_service_s_own_files(
    world: World, key: str, says: str | None
) -> None:
    """The writer role may write work/*/results/*: a job named .../results/... would let a
    batch overwrite its own plan. Such names are refused before anything is written."""
    world.put(SOURCE, "exists.txt", b"1")
    world.put(INBOX, key.removesuffix(".json") + ".csv", GOOD_ROW)
    world.put(INBOX, key, json.dumps(OK))
    event = sidecar_event(INBOX, key)
    if says is None:
        assert run_prepare(event, run_id="r", s3=world.s3, settings=world.settings).objects == 1
        return
    with pytest.raises(InputInvalid, match=re.escape(says)):
        run_prepare(event, run_id="r", s3=world.s3, settings=world.settings)
    assert world.keys(INBOX, "work/") == []

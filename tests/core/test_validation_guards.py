"""Tests that guard the validation's guards (issue 8): each one kills mutants of the input
validation (``steps_s3_copy/validation.py``, ``sidecar.py``) that the corpus of bad inputs
let live (``./dev mutate validation sidecar``, docs/testing.md). The messages are the
contract with the user here: a bad input gets a clear, specific error, so they are
compared whole.
"""

from __future__ import annotations

import io
import json

from steps_s3_copy.models import (
    ChecksumAlgorithm,
    CopyOptions,
    OverwritePolicy,
)
from steps_s3_copy.sidecar import parse_sidecar
from steps_s3_copy.validation import Boundaries, JobCheck, check_job

WHERE = "s3://inbox/jobs/job.json"


def test_every_sidecar_setting_reaches_the_copy_options():
    """Each setting differs from its default, so a setting dropped on the way to the
    engine (a destination account no longer checked, tags no longer copied) shows."""
    sidecar = parse_sidecar(
        json.dumps(
            {
                "destinationBucket": "dest-bucket",
                "storageClass": "STANDARD_IA",
                "sseKmsKeyId": "alias/ours",
                "copyTags": False,
                "copyMetadata": False,
                "checksumAlgorithm": "sha256",
                "requesterPays": True,
                "overwrite": "never",
                "destinationAccount": "111122223333",
            }
        ),
        where=WHERE,
    )
    assert sidecar.copy_options() == CopyOptions(
        storage_class="STANDARD_IA",
        sse_kms_key_id="alias/ours",
        copy_tags=False,
        copy_metadata=False,
        checksum_algorithm=ChecksumAlgorithm.SHA256,
        requester_pays=True,
        overwrite=OverwritePolicy.NEVER,
        destination_account="111122223333",
    )
    assert parse_sidecar('{"destinationBucket": "dest-bucket"}', where=WHERE).copy_options() == (
        CopyOptions()
    )


def _check(sidecar: object, manifest: str, *, jsonl: bool = False, **bounds: object) -> JobCheck:
    text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar)
    return check_job(
        text.encode(),
        io.BytesIO(manifest.encode()),
        where=WHERE,
        boundaries=Boundaries(**bounds),  # type: ignore[arg-type]
        jsonl=jsonl,
    )


def _sidecar_messages(check: JobCheck) -> list[tuple[str | None, str]]:
    return [(p.field, p.message) for p in check.sidecar_problems]


def test_a_refused_bucket_message_lists_what_is_allowed_or_says_none():
    listed = _check(
        {"destinationBucket": "elsewhere"},
        "src-bucket,a.txt\n",
        destination_buckets=frozenset({"dest-b", "dest-a"}),
    )
    assert _sidecar_messages(listed) == [
        (
            "destinationBucket",
            "'elsewhere' is not one of the buckets this deployment may write (dest-a, dest-b)",
        )
    ]
    nothing_allowed = _check(
        {"destinationBucket": "elsewhere"}, "src-bucket,a.txt\n", destination_buckets=frozenset()
    )
    assert _sidecar_messages(nothing_allowed) == [
        (
            "destinationBucket",
            "'elsewhere' is not one of the buckets this deployment may write (none)",
        )
    ]


def test_a_report_in_the_inbox_outside_reports_says_why():
    check = _check(
        {"destinationBucket": "dest-bucket", "reportUri": "s3://inbox/jobs/"},
        "src-bucket,a.txt\n",
        inbox_bucket="inbox",
    )
    assert _sidecar_messages(check) == [
        (
            "reportUri",
            "s3://inbox/jobs/ is in the inbox outside reports/: the inbox's jobs/ and work/ "
            "belong to the service (a report there could start or overwrite a job)",
        )
    ]


def test_a_report_anywhere_is_accepted_when_no_destination_is_restricted():
    check = _check(
        {"destinationBucket": "dest-bucket", "reportUri": "s3://team-reports/copies/"},
        "src-bucket,a.txt\n",
        inbox_bucket="inbox",
    )
    assert check.ok, check.to_dict()
    assert [r.key for r in check.rows] == ["a.txt"]


def test_a_sidecar_that_is_not_json_is_one_problem_named_by_its_error():
    check = _check("{not json", "src-bucket,a.txt\n")
    [problem] = check.sidecar_problems
    assert problem.code == "SidecarInvalid"
    assert problem.message.startswith(f"{WHERE} is not valid JSON: ")
    assert not check.ok


def test_without_a_sidecar_the_rows_are_still_read_in_their_own_format():
    """The sidecar is broken, the manifest is still checked: as CSV, or as JSON Lines
    when it is one, each with its problems."""
    csv = _check("[]", "src-bucket,a.txt\nsrc-bucket,\n")
    assert [r.key for r in csv.rows] == ["a.txt"]
    assert [(p.row, p.field) for p in csv.manifest_problems] == [(2, "key")]
    lines = [
        {"sourceBucket": "src-bucket", "sourceKey": "a.txt"},
        {"sourceBucket": "src-bucket"},
    ]
    jsonl = _check("[]", "".join(json.dumps(x) + "\n" for x in lines), jsonl=True)
    assert [r.key for r in jsonl.rows] == ["a.txt"]
    assert [(p.row, p.field) for p in jsonl.manifest_problems] == [(2, "sourceKey")]


def test_a_job_keeps_the_first_thousand_problems_and_counts_them_all():
    manifest = "src-bucket,\n" * 1001
    check = _check({"destinationBucket": "dest-bucket"}, manifest)
    assert check.manifest_problem_total == 1001
    assert len(check.manifest_problems) == 1000
    assert check.to_dict()["manifestProblemTotal"] == 1001

"""Tests that guard the validation's guards (issue 8): each one kills mutants of the input
validation (``steps_s3_copy/validation.py``, ``sidecar.py``) that the corpus of bad inputs
let live (``./dev mutate validation sidecar``, docs/testing.md). The messages are the
contract with the user here: a bad input gets a clear, specific error, so they are
compared whole.
"""

from __future__ import annotations

import io
import json

import pytest

from steps_s3_copy.errors import Problems, SidecarInvalid
from steps_s3_copy.models import (
    ChecksumAlgorithm,
    CopyOptions,
    OverwritePolicy,
)
from steps_s3_copy.sidecar import MAX_SIDECAR_BYTES, parse_sidecar
from steps_s3_copy.validation import (
    Boundaries,
    JobCheck,
    JobChecker,
    check_job,
    checked_rows,
    owned_prefix,
)

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


def _check(
    sidecar: object, manifest: str | bytes, *, jsonl: bool = False, bounds: Boundaries | None = None
) -> JobCheck:
    text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar)
    return check_job(
        text.encode(),
        io.BytesIO(manifest if isinstance(manifest, bytes) else manifest.encode()),
        where=WHERE,
        boundaries=bounds,
        jsonl=jsonl,
    )


def _sidecar_messages(check: JobCheck) -> list[tuple[str | None, str]]:
    return [(p.field, p.message) for p in check.sidecar_problems]


def test_a_refused_bucket_message_lists_what_is_allowed_or_says_none():
    listed = _check(
        {"destinationBucket": "elsewhere"},
        "src-bucket,a.txt\n",
        bounds=Boundaries(destination_buckets=frozenset({"dest-b", "dest-a"})),
    )
    assert _sidecar_messages(listed) == [
        (
            "destinationBucket",
            "'elsewhere' is not one of the buckets this deployment may write (dest-a, dest-b)",
        )
    ]
    nothing_allowed = _check(
        {"destinationBucket": "elsewhere"},
        "src-bucket,a.txt\n",
        bounds=Boundaries(destination_buckets=frozenset()),
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
        bounds=Boundaries(inbox_bucket="inbox"),
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
        bounds=Boundaries(inbox_bucket="inbox"),
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


def _manifest_messages(check: JobCheck) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.field, p.message) for p in check.manifest_problems]


#: a local run sharing one bucket between data and the service's own folder
SHARED = Boundaries(inbox_bucket="shared", inbox_prefix=".steps-s3-copy/")


def test_a_shared_bucket_is_a_source_except_for_the_services_own_folder():
    manifest = (
        "shared,data/*\n"  # a folder of data: fine
        "shared,.steps\n"  # an object whose key merely begins like the folder: fine
        "shared,*\n"  # the whole bucket holds the service's folder: refused
        "shared,.steps-s3-copy/jobs/*\n"  # inside it: refused
        "shared,.steps-s3-copy/jobs/a.json\n"
        "shared,.steps-s3-copy/\n"  # the folder's own marker object
    )
    check = _check({"destinationBucket": "dest-bucket"}, manifest, bounds=SHARED)
    assert [(r.row, r.key) for r in check.rows] == [(1, "data/*"), (2, ".steps")]
    says = (
        "reads from 'shared', this deployment's inbox (its jobs, working files and reports):"
        " the inbox is never a source"
    )
    assert _manifest_messages(check) == [(row, "bucket", says) for row in (3, 4, 5, 6)]


def test_a_destination_in_the_services_own_folder_is_refused_with_its_row():
    # a key that merely begins like the folder is not in it
    beside = _check({"destinationBucket": "shared"}, "src-bucket,.steps\n", bounds=SHARED)
    assert beside.ok, beside.to_dict()
    check = _check(
        {"destinationBucket": "shared", "destinationPrefix": ".steps-s3-copy/"},
        "src-bucket,a.txt\n",
        bounds=SHARED,
    )
    assert _manifest_messages(check) == [
        (
            1,
            "destination_key",
            "copies to s3://shared/.steps-s3-copy/a.txt, in this deployment's own working area"
            " (jobs, working files, reports)",
        )
    ]


def test_a_prefix_rows_destination_is_checked_as_a_key():
    check = _check({"destinationBucket": "dest-bucket"}, "src-bucket,data/*,out\x01/\n")
    assert not check.rows
    assert _manifest_messages(check) == [
        (
            1,
            "destination_key",
            "destination prefix contains U+0001, a control character S3's XML API cannot carry",
        )
    ]


def test_each_source_bucket_remembers_the_first_row_that_reads_it():
    """Prepare shows a bucket-wide problem (access denied, another region) at that row."""
    sidecar = parse_sidecar('{"destinationBucket": "dest-bucket"}', where=WHERE)
    checker = JobChecker(sidecar, Boundaries(), Problems())
    manifest = io.BytesIO(b"bucket-b,x\nbucket-a,y\nbucket-b,z\n")
    assert len(list(checked_rows(manifest, checker))) == 3
    assert checker.first_rows == {"bucket-b": 1, "bucket-a": 2}


def test_problems_without_a_row_come_after_those_with_one():
    check = _check({"destinationBucket": "dest-bucket"}, b"bucket,key\n\xff\n")
    assert [(p.row, p.message) for p in check.manifest_problems] == [
        (2, "row 2 is not UTF-8 text (invalid start byte at byte 1 of the row)"),
        (None, "the manifest has only a header: nothing to copy"),
    ]


def test_without_a_sidecar_a_row_that_is_not_utf8_is_still_reported():
    check = check_job(b"[]", io.BytesIO(b"src-bucket,a.txt\n\xff\n"), where=WHERE)
    assert [r.key for r in check.rows] == ["a.txt"]
    assert [p.row for p in check.manifest_problems] == [2]


def test_the_service_owns_the_folder_its_prefixes_share():
    assert owned_prefix("jobs/", "work/", "reports/") == ""
    assert owned_prefix(".s3c/jobs/", ".s3c/work/", ".s3c/reports/") == ".s3c/"
    assert owned_prefix("a/b/jobs/", "a/b/work/", "a/c/reports/") == "a/"
    # prefixes of different depths share what they have in common
    assert owned_prefix("x/jobs/", "x/y/work/", "x/y/z/reports/") == "x/"
    assert owned_prefix("team/copies/jobs/") == "team/copies/jobs/"
    # a folder and one inside it: the outer one
    assert owned_prefix("x/jobs/", "x/jobs/work/") == "x/jobs/"


def test_the_inbox_is_never_a_destination_and_kms_keys_bind_only_a_named_key():
    inbox = _check(
        {"destinationBucket": "inbox"},
        "src-bucket,a.txt\n",
        bounds=Boundaries(inbox_bucket="inbox"),
    )
    assert _sidecar_messages(inbox) == [
        (
            "destinationBucket",
            "'inbox' is this deployment's inbox (its jobs, working files and reports):"
            " it is never a destination",
        )
    ]
    ours = "arn:aws:kms:us-east-1:111122223333:key/ours"
    keys = Boundaries(kms_keys=frozenset({ours}))
    assert _check({"destinationBucket": "dest-bucket"}, "src-bucket,a.txt\n", bounds=keys).ok
    named = {"destinationBucket": "dest-bucket", "sseKmsKeyId": ours}
    assert _check(named, "src-bucket,a.txt\n", bounds=keys).ok


def test_a_nested_sidecar_field_is_named_by_its_path_and_the_error():
    with pytest.raises(SidecarInvalid) as info:
        parse_sidecar('{"destinationBucket": "dest-bucket", "restore": {"days": 0}}', where=WHERE)
    assert [(p.field, p.code, p.message) for p in info.value.problems] == [
        ("restore.tier", "SidecarInvalid", "required field 'restore.tier' is missing"),
        ("restore.days", "SidecarInvalid", "Input should be greater than or equal to 1"),
    ]


def test_a_sidecar_may_be_64_kib_and_not_a_byte_more():
    head = '{"destinationBucket": "dest-bucket"}'
    exactly = head + " " * (MAX_SIDECAR_BYTES - len(head))
    assert parse_sidecar(exactly, where=WHERE).destination_bucket == "dest-bucket"
    with pytest.raises(SidecarInvalid) as info:
        parse_sidecar(exactly + " ", where=WHERE)
    assert info.value.message == f"{WHERE} is larger than 65536 bytes: not a sidecar"

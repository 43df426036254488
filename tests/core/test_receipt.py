"""The receipt (issue 12, section 3): what Summarise writes for every COPIED and SKIPPED
object, its digest and signature in the notice, and its delivery into the destination by
Finish (the receipt last), through the real steps on the moto server."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from steps_s3_copy import destination, thaw
from steps_s3_copy.errors import RestorePending
from steps_s3_copy.payloads import (
    CheckPayload,
    CopyPayload,
    ExecutionContext,
    FinishPayload,
    Notice,
    PrepareResult,
)
from steps_s3_copy.prepare import PrepareSettings
from steps_s3_copy.receipt import ReceiptSignature, parse_signature
from steps_s3_copy.summarise import summarise
from steps_s3_copy.verify_receipt import check_signature
from steps_s3_copy.workarea import WorkArea
from steps_s3_copy.worker import copy_batch
from tests.conftest import RestoringEndpoint, _SlowHandler, client, relay
from tests.core.conftest import DEST, INBOX, SOURCE, World, run_prepare

NOW = datetime(2026, 11, 25, 18, 2, 30, tzinfo=UTC)
KEYS = ("data/a.txt", "data/b c.bin", "data/ü/+=%.csv")


def _execution(run_id: str) -> ExecutionContext:
    return ExecutionContext(
        id=f"arn:aws:states:us-east-1:123456789012:execution:sm:{run_id}",
        name=run_id,
        start_time="2026-11-25T18:00:00Z",
    )


def _versioned(world: World) -> None:
    for bucket in (SOURCE, DEST):
        world.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def _seed(world: World) -> str:
    for i, key in enumerate(KEYS):
        world.put(SOURCE, key, f"content {i} ".encode() * (i + 3))
    return "".join(f"{SOURCE},{key}\n" for key in KEYS)


def _prepared(
    world: World,
    sidecar: dict[str, Any],
    *,
    run_id: str,
    manifest: str | None = None,
    settings: PrepareSettings | None = None,
) -> PrepareResult:
    event = world.job("team/rcpt", manifest if manifest is not None else _seed(world), sidecar)
    # each run is its own write of the sidecar, so its event has its own sequencer
    event["detail"]["object"]["sequencer"] = f"00617F08299329D1{sum(map(ord, run_id)):04X}"
    return run_prepare(event, run_id=run_id, s3=world.s3, settings=settings or world.settings)


def _copied(world: World, prepared: PrepareResult, *, endpoint: str | None = None) -> None:
    destination.check(CheckPayload(prepared=prepared), s3=world.s3)
    for ref in WorkArea(world.s3, prepared.work).read_index():
        copy_batch.run(
            CopyPayload(batch=ref, work=prepared.work), endpoint_url=endpoint or world.endpoint
        )


def _run(
    world: World,
    sidecar: dict[str, Any],
    *,
    run_id: str = "r1",
    kms: Any = None,
    settings: PrepareSettings | None = None,
    finish_s3: Any = None,
) -> Notice:
    """Prepare, CheckDestination, every batch, Summarise and Finish, as the state machine
    runs them."""
    prepared = _prepared(world, sidecar, run_id=run_id, settings=settings)
    _copied(world, prepared)
    notice = summarise(prepared, _execution(run_id), s3=world.s3, kms=kms, now=NOW)
    return destination.finish(FinishPayload(notice=notice), s3=finish_s3 or world.s3)


def _bytes(world: World, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body: bytes = world.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines()]


def _checksum_of(head: dict[str, Any]) -> str | None:
    for algorithm in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        if head.get(f"Checksum{algorithm}"):
            return f"{algorithm}:{head[f'Checksum{algorithm}']}"
    return None


DELIVERED = ".steps-s3-copy/runs/team/rcpt/"


# -- what the receipt says ----------------------------------------------------------------


def test_the_receipt_has_both_sides_evidence_of_copied_then_skipped_objects(
    world: World,
) -> None:
    _versioned(world)
    sidecar = {"destinationBucket": DEST, "destinationPrefix": "in/", "checksumAlgorithm": "CRC32"}
    first = _run(world, sidecar, run_id="r1")
    assert first.status == "SUCCEEDED"
    assert first.receipt is not None
    header, *objects, end = _lines(_bytes(world, first.receipt.uri))

    assert header == {
        "v": 1,
        "type": "header",
        "service": "steps-s3-copy",
        "job": "team/rcpt",
        "runId": "r1",
        "executionId": _execution("r1").id,
        "manifest": f"s3://{INBOX}/jobs/team/rcpt.csv",
        "destination": f"s3://{DEST}/in/",
        "createdAt": NOW.isoformat(),
    }
    assert [o["source"]["key"] for o in objects] == list(KEYS)  # the manifest's order
    for line, key in zip(objects, KEYS, strict=True):
        assert (line["v"], line["type"], line["status"]) == (1, "object", "COPIED")
        source = world.s3.head_object(Bucket=SOURCE, Key=key)
        copy = world.s3.head_object(Bucket=DEST, Key=f"in/{key}", ChecksumMode="ENABLED")
        assert line["source"] == {
            "bucket": SOURCE,
            "key": key,
            "versionId": source["VersionId"],
            "size": source["ContentLength"],
            "etag": source["ETag"].strip('"'),
            "checksum": line["source"]["checksum"],  # only when a HEAD showed one
        }
        assert line["destination"] == {
            "bucket": DEST,
            "key": f"in/{key}",
            "versionId": copy["VersionId"],
            "size": copy["ContentLength"],
            "etag": copy["ETag"].strip('"'),
            "checksum": _checksum_of(copy),
        }
        assert line["destination"]["checksum"].startswith("CRC32:")
    assert end == {
        "v": 1,
        "type": "end",
        "objects": 3,
        "copied": 3,
        "skipped": 0,
        "failed": 0,
        "status": "SUCCEEDED",
    }
    assert (first.receipt.objects, first.receipt.size) == (3, len(_bytes(world, first.receipt.uri)))

    # the same job again: everything is there already, so everything is SKIPPED, with the
    # evidence the listing gave (no version id, no checksum value in a listing)
    second = _run(world, sidecar, run_id="r2")
    assert (second.counts.copied, second.counts.skipped) == (0, 3)
    assert second.receipt is not None
    _, *skipped, end = _lines(_bytes(world, second.receipt.uri))
    for line, key in zip(skipped, KEYS, strict=True):
        copy = world.s3.head_object(Bucket=DEST, Key=f"in/{key}")
        assert line["status"] == "SKIPPED"
        assert line["destination"]["key"] == f"in/{key}"
        assert line["destination"]["size"] == copy["ContentLength"]
        assert line["destination"]["etag"] == copy["ETag"].strip('"')
        assert (
            line["source"]["size"] == world.s3.head_object(Bucket=SOURCE, Key=key)["ContentLength"]
        )
    assert (end["copied"], end["skipped"], end["objects"]) == (0, 3, 3)
    assert second.receipt.sha256 != first.receipt.sha256


def test_failed_objects_are_not_in_the_receipt_and_the_end_line_counts_them(
    world: World,
) -> None:
    # one object a batch, so that one lost batch is one object of three
    one_each = replace(world.settings, lambda_max_items=1)
    prepared = _prepared(world, {"destinationBucket": DEST}, run_id="r1", settings=one_each)
    _copied(world, prepared)
    assert len(WorkArea(world.s3, prepared.work).read_index()) == 3
    # one object of the plan never got a result: Summarise reports it FAILED (BatchFailed)
    index = WorkArea(world.s3, prepared.work).read_index()
    world.s3.delete_object(Bucket=INBOX, Key=prepared.work.results_key(index[-1].batch_id))
    notice = summarise(prepared, _execution("r1"), s3=world.s3, now=NOW)
    assert notice.status == "PARTIAL"
    assert notice.receipt is not None
    _, *objects, end = _lines(_bytes(world, notice.receipt.uri))
    failed = notice.counts.failed
    assert failed >= 1
    assert len(objects) == notice.counts.copied == 3 - failed
    assert {o["status"] for o in objects} == {"COPIED"}
    assert (end["objects"], end["failed"], end["status"]) == (3 - failed, failed, "PARTIAL")


# -- its digest, its delivery -----------------------------------------------------------------


def test_the_notice_has_the_sha256_of_the_bytes_delivered_into_the_destination(
    world: World,
) -> None:
    notice = _run(world, {"destinationBucket": DEST, "destinationPrefix": "in/"})
    assert notice.receipt is not None
    assert notice.delivered is True
    assert notice.delivery_uri == f"s3://{DEST}/in/{DELIVERED}r1/"
    folder = f"in/{DELIVERED}r1/"
    assert world.keys(DEST, f"in/{DELIVERED}") == [
        f"{folder}receipt.jsonl",
        f"{folder}report.csv",
        f"{folder}report.html",
    ]
    delivered = world.s3.get_object(Bucket=DEST, Key=f"{folder}receipt.jsonl")
    body = delivered["Body"].read()
    assert notice.receipt.sha256 == hashlib.sha256(body).hexdigest()
    assert body == _bytes(world, notice.receipt.uri)
    assert delivered["ContentType"] == "application/x-ndjson"
    assert _bytes(world, f"s3://{DEST}/{folder}report.csv") == _bytes(
        world, notice.report_uri or ""
    )
    # summary.json says where it goes and what its digest is
    summary = json.loads(world.text(INBOX, "reports/team/rcpt/r1/summary.json"))
    assert summary["receipt"]["sha256"] == notice.receipt.sha256
    assert summary["deliveryUri"] == notice.delivery_uri


def test_deliver_to_destination_false_delivers_nothing(world: World) -> None:
    notice = _run(world, {"destinationBucket": DEST, "deliverToDestination": False})
    assert notice.receipt is not None  # still written beside the report
    assert notice.delivery_uri is None
    assert notice.delivered is False
    assert world.keys(DEST, ".steps-s3-copy/") == []
    assert sorted(world.keys(DEST)) == sorted(KEYS)


class _Recording(_SlowHandler):
    """Forwards to moto; remembers every CopyObject (PUT with x-amz-copy-source)."""

    seen: list[str] = []

    def _relay(self) -> None:
        if self.command == "PUT" and "x-amz-copy-source" in self.headers:
            self.seen.append(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        super()._relay()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay  # noqa: N815


@pytest.fixture
def recording(moto_server: str) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    with relay(_Recording, upstream=moto_server, seen=seen) as url:
        yield url, seen


def _signing_key(world: World, spec: str = "ECC_NIST_P256") -> tuple[Any, str]:
    kms = client("kms", world.endpoint)
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    return kms, key


def _allowing(world: World, key: str) -> PrepareSettings:
    return replace(world.settings, kms_keys=frozenset({key}))


def test_the_receipt_is_delivered_last_after_the_reports_and_the_signature(
    world: World, recording: tuple[str, list[str]], kms_digest: None
) -> None:
    endpoint, seen = recording
    kms, key = _signing_key(world)
    notice = _run(
        world,
        {"destinationBucket": DEST, "receiptSigningKeyId": key},
        kms=kms,
        settings=_allowing(world, key),
        finish_s3=client("s3", endpoint),
    )
    assert notice.delivered is True
    assert seen == [
        f"/{DEST}/{DELIVERED}r1/{name}"
        for name in ("report.csv", "report.html", "receipt.sig.json", "receipt.jsonl")
    ]


# -- its signature ----------------------------------------------------------------------------


def _verifies_offline(kms: Any, signature: ReceiptSignature, data: bytes) -> bool:
    """As a recipient with the public key would check it (openssl, cryptography)."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: PLC0415

    public = serialization.load_der_public_key(
        kms.get_public_key(KeyId=signature.key_id)["PublicKey"]
    )
    blob = base64.b64decode(signature.signature)
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(blob, data, ec.ECDSA(hashes.SHA256()))
        else:
            assert isinstance(public, rsa.RSAPublicKey)
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            public.verify(blob, data, pss, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize(
    ("spec", "algorithm"), [("ECC_NIST_P256", "ECDSA_SHA_256"), ("RSA_2048", "RSASSA_PSS_SHA_256")]
)
def test_the_signature_verifies_with_the_key_and_fails_for_a_changed_receipt(
    world: World, kms_digest: None, spec: str, algorithm: str
) -> None:
    kms, key = _signing_key(world, spec)
    notice = _run(
        world,
        {"destinationBucket": DEST, "receiptSigningKeyId": key},
        kms=kms,
        settings=_allowing(world, key),
    )
    assert notice.problems == []
    assert notice.receipt is not None
    assert notice.receipt.signature is not None
    signature = notice.receipt.signature
    assert (signature.key_id, signature.signing_algorithm) == (key, algorithm)
    assert signature.message_type == "DIGEST"
    assert signature.sha256 == notice.receipt.sha256
    # receipt.sig.json (beside the report, and delivered) is the notice's signature
    folder = f"{DELIVERED}r1/"
    written = parse_signature(_bytes(world, notice.receipt.signature_uri or ""))
    assert written == signature
    assert parse_signature(_bytes(world, f"s3://{DEST}/{folder}receipt.sig.json")) == signature
    # report.html names the receipt, its digest, the key that signed it and the delivery
    page = _bytes(world, notice.report_html_uri or "").decode()
    assert f'data-stat="receipt.sha256">{notice.receipt.sha256}<' in page
    assert f"{algorithm} with <code>{key}</code>" in page
    assert f"<code>{notice.delivery_uri}</code>" in page

    receipt = _bytes(world, f"s3://{DEST}/{folder}receipt.jsonl")
    # the signature is of the receipt's bytes, hashed once: the public key checks it
    assert _verifies_offline(kms, signature, receipt)
    assert check_signature(kms, signature, hashlib.sha256(receipt).hexdigest()) == ("valid", None)

    changed = receipt.replace(b'"COPIED"', b'"SKIPPED"', 1)
    assert changed != receipt
    assert not _verifies_offline(kms, signature, changed)
    verdict, why = check_signature(kms, signature, hashlib.sha256(changed).hexdigest())
    assert verdict == "invalid"
    assert "not the one that was signed" in (why or "")
    # a signature file edited to match the changed receipt: KMS itself says no
    forged = signature.model_copy(update={"sha256": hashlib.sha256(changed).hexdigest()})
    assert check_signature(kms, forged, forged.sha256)[0] == "invalid"


def test_a_key_that_cannot_sign_leaves_the_receipt_unsigned_and_says_so(world: World) -> None:
    kms = client("kms", world.endpoint)
    key = kms.create_key()["KeyMetadata"]["Arn"]  # a symmetric ENCRYPT_DECRYPT key
    notice = _run(
        world,
        {"destinationBucket": DEST, "receiptSigningKeyId": key},
        kms=kms,
        settings=_allowing(world, key),
    )
    assert notice.status == "SUCCEEDED"  # the copy stands
    assert notice.receipt is not None
    assert notice.receipt.signature is None
    [problem] = notice.problems
    assert problem["field"] == "receiptSigningKeyId"
    assert "not an asymmetric SIGN_VERIFY key" in problem["message"]
    assert notice.delivered is True
    assert "receipt.sig.json" not in " ".join(world.keys(DEST, DELIVERED))


# -- a destination that refuses it --------------------------------------------------------------


def test_a_refused_delivery_keeps_the_notice_with_a_problem(
    world: World, forbidding_proxy: tuple[str, str]
) -> None:
    endpoint, locked = forbidding_proxy
    world.s3.create_bucket(Bucket=locked)
    # the copy went through (as moto itself); the delivery at the end is refused
    notice = _run(world, {"destinationBucket": locked}, finish_s3=client("s3", endpoint))
    assert notice.status == "SUCCEEDED"
    assert (notice.counts.copied, notice.delivered) == (3, False)
    [problem] = notice.problems
    assert problem["field"] == "deliverToDestination"
    assert f"not delivered to s3://{locked}/{DELIVERED}r1/" in problem["message"]
    assert "copying report.csv failed with AccessDenied" in problem["message"]
    assert world.keys(locked, ".steps-s3-copy/") == []


def test_a_destination_that_is_gone_gets_no_delivery_and_the_notice_says_so(
    world: World,
) -> None:
    prepared = _prepared(world, {"destinationBucket": DEST}, run_id="r1")
    _copied(world, prepared)
    notice = summarise(prepared, _execution("r1"), s3=world.s3, now=NOW)
    for version in world.keys(DEST):
        world.s3.delete_object(Bucket=DEST, Key=version)
    world.s3.delete_bucket(Bucket=DEST)
    finished = destination.finish(FinishPayload(notice=notice), s3=world.s3)
    assert finished.delivered is False
    assert "NoSuchBucket" in finished.problems[0]["message"]


# -- archived sources: how many were restored, and how long it took -----------------------------


def test_the_notice_and_the_report_say_how_many_were_restored_and_how_long_it_took(
    world: World, restoring_endpoint: RestoringEndpoint
) -> None:
    world.s3.put_object(Bucket=SOURCE, Key="cold/a.bam", Body=b"a" * 100, StorageClass="GLACIER")
    world.put(SOURCE, "warm.txt", b"w")
    prepared = _prepared(
        world,
        {"destinationBucket": DEST, "restore": {"tier": "Bulk", "days": 1}},
        run_id="r1",
        manifest=f"{SOURCE},cold/a.bam\n{SOURCE},warm.txt\n",
    )
    s3 = client("s3", restoring_endpoint.url)
    asked = datetime(2026, 11, 25, 18, 0, 5, tzinfo=UTC)
    for ref in WorkArea(world.s3, prepared.work).read_index():
        payload = CopyPayload(batch=ref, work=prepared.work)
        for hour in range(5):
            try:
                thaw.run(payload, s3=s3, now=asked + timedelta(hours=hour))
                break
            except RestorePending:
                continue
        copy_batch.run(payload, endpoint_url=restoring_endpoint.url)
    notice = summarise(prepared, _execution("r1"), s3=world.s3, now=NOW)
    assert notice.status == "SUCCEEDED"
    # asked at 18:00:05, in progress for two answers, seen done on the third hour's try
    assert (notice.objects_restored, notice.restore_wait_seconds) == (1, 3 * 3600.0)
    summary = json.loads(world.text(INBOX, "reports/team/rcpt/r1/summary.json"))
    assert (summary["objectsRestored"], summary["restoreWaitSeconds"]) == (1, 10800.0)
    page = world.text(INBOX, "reports/team/rcpt/r1/report.html")
    assert 'data-stat="objectsRestored">1<' in page
    assert 'data-stat="restoreWaitSeconds" data-value="10800.0"' in page
    # which: the restored object's receipt line says when it was asked for and seen done
    assert notice.receipt is not None
    _, *objects, _ = _lines(_bytes(world, notice.receipt.uri))
    restored = {o["source"]["key"]: o.get("restored") for o in objects}
    assert restored == {
        "cold/a.bam": {
            "requestedAt": asked.isoformat(),
            "readyAt": (asked + timedelta(hours=3)).isoformat(),
        },
        "warm.txt": None,
    }


def test_a_run_without_archived_sources_restored_none(world: World) -> None:
    notice = _run(world, {"destinationBucket": DEST})
    assert (notice.objects_restored, notice.restore_wait_seconds) == (0, None)

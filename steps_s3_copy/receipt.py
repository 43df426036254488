"""The receipt: what a run copied (and found already there), as evidence the recipient can
check without trusting us, and where it is delivered in the destination.

``receipt.jsonl`` is written by Summarise beside ``report.csv``, in the same pass over the
batches' results, streamed (a million objects never sit in memory). It is UTF-8 JSON
Lines, one JSON object per line, each with ``"v": 1`` (the schema's version) and a
``"type"``:

- the first line, ``"type": "header"``: who wrote it and for which run (``service``,
  ``job``, ``runId``, ``executionId``, ``manifest``, ``destination`` as
  ``s3://bucket/prefix``, ``createdAt``);
- one line per COPIED or SKIPPED object, ``"type": "object"``, in the plan's order (batch
  by batch; within a batch, the manifest's order, ``prefix/*`` rows in listing order)::

      {"v": 1, "type": "object", "status": "COPIED",
       "source": {"bucket", "key", "versionId", "size", "etag", "checksum"},
       "destination": {"bucket", "key", "versionId", "size", "etag", "checksum"}}

  ``etag`` without quotes, ``checksum`` as ``<ALGORITHM>:<base64>`` (a composite checksum
  keeps its ``-<parts>``); a value the copy did not learn is ``null`` (a skip decided from
  a listing has no destination version id or checksum); an archived source restored for
  the run adds ``"restored": {"requestedAt", "readyAt"}`` (when RestoreObject was first
  asked, when the restore was first seen done);
- the last line, ``"type": "end"``: ``objects`` (object lines above it), ``copied``,
  ``skipped``, ``failed`` (FAILED objects are not in the receipt: the report lists them)
  and the run's ``status``. A receipt without it was cut short.

Its SHA-256 (of the exact bytes) is in the notice; when the sidecar names
``receiptSigningKeyId`` the digest is signed with that KMS key (:func:`sign_digest`) and
the signature written beside it as ``receipt.sig.json``.

Delivery: at the end of the run the Destination step copies ``report.csv``,
``report.html``, ``receipt.sig.json`` (when signed) and, last of all, ``receipt.jsonl`` to
``<destinationPrefix>.steps-s3-copy/runs/<job>/<run-id>/`` in the destination
(:func:`delivery_location`): the receipt's arrival is the recipient's signal that the run has
ended. ``<destinationPrefix>.steps-s3-copy/`` is the service's own: no manifest row may
copy an object there (validation refuses it).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from steps_s3_copy.errors import ReceiptNotSigned
from steps_s3_copy.models import MiB, Model, RunConfig, Status
from steps_s3_copy.s3uri import S3Uri

#: the schema version of every line (``"v"``)
RECEIPT_VERSION = 1
SERVICE = "steps-s3-copy"
RECEIPT_NAME = "receipt.jsonl"
SIGNATURE_NAME = "receipt.sig.json"
RECEIPT_CONTENT_TYPE = "application/x-ndjson"
#: the folder of the service's own keys under a destination prefix (write checks, receipts)
RESERVED_DIR = ".steps-s3-copy/"
#: where each run's report files and receipt are delivered under the destination prefix
DELIVERY_DIR = f"{RESERVED_DIR}runs/"
#: the report files delivered before the receipt, in this order (the signature follows
#: them when there is one, the receipt comes last)
DELIVERED_REPORTS = ("report.csv", "report.html")
#: what a receipt may include: the objects the destination holds because of the run
RECEIPT_STATUSES = frozenset({Status.COPIED.value, Status.SKIPPED.value})
#: KMS signing algorithms that take a SHA-256 digest, the first one a key offers is used
#: (a DIGEST message must be as long as the algorithm's hash: "Sign", MessageType,
#: https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html)
SHA256_SIGNING_ALGORITHMS = ("ECDSA_SHA_256", "RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256")
#: bytes buffered before they are handed to the writer
_FLUSH_BYTES = MiB


def delivery_location(config: RunConfig) -> S3Uri:
    """Where one run's files are delivered in the destination (a prefix ending in ``/``):
    ``s3://<destinationBucket>/<destinationPrefix>.steps-s3-copy/runs/<job>/<run-id>/``."""
    return S3Uri(
        config.destination_bucket,
        f"{config.destination_prefix}{DELIVERY_DIR}{config.job_name}/{config.run_id}/",
    )


def reserved_prefix(destination_prefix: str) -> str:
    """The destination keys no manifest row may copy to."""
    return f"{destination_prefix}{RESERVED_DIR}"


# -- writing -------------------------------------------------------------------------------


def _side(uri: str, version_id: Any, size: Any, etag: Any, checksum: Any) -> dict[str, Any]:
    """One side's evidence; ``uri`` is the result's ``s3://bucket/key`` (the engine adds
    ``?versionId=<id>`` to a source copied by version)."""
    if version_id and uri.endswith(f"?versionId={version_id}"):
        uri = uri[: -len(f"?versionId={version_id}")]
    location = S3Uri.parse(uri)
    return {
        "bucket": location.bucket,
        "key": location.key,
        "versionId": version_id,
        "size": size,
        "etag": etag,
        "checksum": checksum,
    }


def object_line(result: dict[str, Any], restored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The receipt line of one result (a decoded line of ``results/<batchId>.jsonl``);
    ``restored``: its source's restore (``requestedAt``, ``readyAt``) when the source was
    archived and restored for the run."""
    get = result.get
    line = {
        "v": RECEIPT_VERSION,
        "type": "object",
        "status": result["status"],
        "source": _side(
            result["source"],
            get("sourceVersionId"),
            get("sourceSize"),
            get("sourceEtag"),
            get("sourceChecksum"),
        ),
        "destination": _side(
            result["destination"],
            get("destinationVersionId"),
            get("destinationSize"),
            get("destinationEtag"),
            get("destinationChecksum"),
        ),
    }
    if restored and restored.get("readyAt"):
        line["restored"] = {
            "requestedAt": restored.get("requestedAt"),
            "readyAt": restored["readyAt"],
        }
    return line


def _encode(line: dict[str, Any]) -> bytes:
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class ReceiptWriter:
    """Writes ``receipt.jsonl`` to ``raw`` (anything with ``write(bytes)``, such as a
    :class:`~steps_s3_copy.s3io.MultipartWriter`), hashing the exact bytes as it goes."""

    def __init__(self, raw: Any, header: dict[str, Any]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0
        self.objects = 0
        self._buffer = bytearray()
        self._emit({"v": RECEIPT_VERSION, "type": "header", "service": SERVICE, **header})

    def _emit(self, line: dict[str, Any]) -> None:
        self._buffer += _encode(line)
        if len(self._buffer) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self.hash.update(data)
            self.size += len(data)
            self.raw.write(data)
            self._buffer.clear()

    def add(self, result: dict[str, Any], restored: dict[str, Any] | None = None) -> bool:
        """Add one result's line if it is COPIED or SKIPPED (with its source's restore, when
        it was restored); whether it was added."""
        if result.get("status") not in RECEIPT_STATUSES:
            return False
        self._emit(object_line(result, restored))
        self.objects += 1
        return True

    def end(self, counts: dict[str, int], status: str) -> None:
        """The closing line (the run's counts and status), then everything out."""
        self._emit(
            {
                "v": RECEIPT_VERSION,
                "type": "end",
                "objects": self.objects,
                "copied": counts.get(Status.COPIED.value, 0),
                "skipped": counts.get(Status.SKIPPED.value, 0),
                "failed": counts.get(Status.FAILED.value, 0),
                "status": status,
            }
        )
        self.flush()

    @property
    def sha256(self) -> str:
        return self.hash.hexdigest()


# -- the notice's view of it ------------------------------------------------------------------


class ReceiptSignature(Model):
    """A KMS signature of the receipt's SHA-256 digest (``receipt.sig.json``)."""

    v: int = RECEIPT_VERSION
    #: the receipt's file name, beside this one
    receipt: str = RECEIPT_NAME
    #: hex SHA-256 of the receipt's bytes: the digest that was signed
    sha256: str
    #: the key's ARN, as KMS Sign answered it
    key_id: str
    signing_algorithm: str
    #: always DIGEST: the message signed is the 32-byte SHA-256 digest, not the file
    message_type: str = "DIGEST"
    #: base64 of the signature KMS returned
    signature: str


class ReceiptInfo(Model):
    """Where the run's receipt is and how to check it (a field of the notice)."""

    #: s3:// URI of receipt.jsonl beside report.csv
    uri: str
    #: hex SHA-256 of its exact bytes
    sha256: str
    #: object lines (COPIED and SKIPPED objects)
    objects: int
    #: its size in bytes
    size: int
    #: s3:// URI of receipt.sig.json, and the signature, when the sidecar named a key
    signature_uri: str | None = None
    signature: ReceiptSignature | None = None


def signature_body(signature: ReceiptSignature) -> bytes:
    """``receipt.sig.json``'s bytes."""
    return (json.dumps(_wire(signature), ensure_ascii=False, indent=2) + "\n").encode()


def _wire(model: BaseModel) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    return data


def parse_signature(data: bytes) -> ReceiptSignature:
    """``receipt.sig.json`` as a model; ``ValueError`` when it is not one."""
    try:
        return ReceiptSignature.model_validate_json(data)
    except ValueError as exc:
        raise ValueError(f"not a receipt signature: {exc}") from exc


# -- signing ----------------------------------------------------------------------------------


def signing_algorithm(offered: Iterable[str]) -> str | None:
    """The algorithm to sign a SHA-256 digest with, among those a key offers."""
    available = set(offered)
    return next((a for a in SHA256_SIGNING_ALGORITHMS if a in available), None)


def sign_digest(kms: Any, key_id: str, sha256_hex: str) -> ReceiptSignature:
    """Sign the receipt's SHA-256 digest with KMS key ``key_id``.

    DescribeKey tells the key's usage and signing algorithms
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html); Sign is
    asked with ``MessageType=DIGEST`` so KMS signs the digest as it is, without hashing it
    again (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html): anyone
    with the public key, or ``kms:Verify`` on the key, can check it against the bytes.
    ``ReceiptNotSigned`` when the key cannot sign a SHA-256 digest.
    """
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    if metadata.get("KeyUsage") != "SIGN_VERIFY":
        raise ReceiptNotSigned(
            f"KMS key {key_id} is a {metadata.get('KeyUsage')} key, not an asymmetric "
            "SIGN_VERIFY key: it cannot sign a receipt"
        )
    algorithm = signing_algorithm(metadata.get("SigningAlgorithms") or [])
    if algorithm is None:
        raise ReceiptNotSigned(
            f"KMS key {key_id} ({metadata.get('KeySpec')}) signs with "
            f"{', '.join(metadata.get('SigningAlgorithms') or []) or 'nothing'}: none takes a "
            "SHA-256 digest; use an ECC_NIST_P256 or RSA key"
        )
    answer = kms.sign(
        KeyId=key_id,
        Message=bytes.fromhex(sha256_hex),
        MessageType="DIGEST",
        SigningAlgorithm=algorithm,
    )
    return ReceiptSignature(
        sha256=sha256_hex,
        key_id=str(answer.get("KeyId") or metadata.get("Arn") or key_id),
        signing_algorithm=str(answer.get("SigningAlgorithm") or algorithm),
        signature=base64.b64encode(answer["Signature"]).decode(),
    )

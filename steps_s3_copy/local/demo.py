"""Source objects for ``s3copy local --demo``, matching ``manifests-example/``.

Small objects, a zero-byte one, keys with spaces, unicode and ``+ = %``, objects under a
prefix named by a ``prefix/*`` row, and one 6 MiB object uploaded in two parts, so the
copy engine mirrors its part layout with UploadPartCopy (a multipart source is always
copied in parts, whatever its size). Contents are deterministic, so the example manifest's
sizes and ETags hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from steps_s3_copy.models import MiB

SOURCE_BUCKET = "example-source-bucket"
DESTINATION_BUCKET = "example-destination-bucket"
#: the multipart source: two parts of 5 and 1 MiB (5 MiB is the smallest part but the last)
LARGE_KEY = "runs/2024-06/large/sample-A.bam"
ARCHIVED_KEY = "runs/2023-01/archive/sample-0.cram"
LARGE_PARTS = (5 * MiB, 1 * MiB)


@dataclass(frozen=True)
class DemoObject:
    key: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    #: an archived object (GLACIER) is restored before it is copied
    storage_class: str = "STANDARD"


DEMO_OBJECTS: tuple[DemoObject, ...] = (
    DemoObject("runs/2024-06/README.txt", 1_234, content_type="text/plain"),
    DemoObject(
        "runs/2024-06/sample-A_R1.fastq.gz",
        48_000,
        metadata={"sample": "A", "read": "1"},
        tags={"project": "demo", "kind": "fastq"},
    ),
    DemoObject(
        "runs/2024-06/sample-A_R2.fastq.gz",
        51_000,
        metadata={"sample": "A", "read": "2"},
        tags={"project": "demo", "kind": "fastq"},
    ),
    DemoObject("runs/2024-06/_SUCCESS", 0),
    DemoObject("runs/2024-06/notes/lab notes (final).txt", 2_048, content_type="text/plain"),
    DemoObject("runs/2024-06/notes/résumé-ß-データ.txt", 3_000, content_type="text/plain"),
    DemoObject("runs/2024-06/odd/a+b=c 100%.csv", 512, content_type="text/csv"),
    DemoObject("runs/2024-06/qc/multiqc.html", 20_000, content_type="text/html"),
    DemoObject("runs/2024-06/qc/fastqc_A_R1.zip", 30_000),
    DemoObject("runs/2024-06/qc/fastqc_A_R2.zip", 30_000),
    DemoObject(
        ARCHIVED_KEY,
        24_000,
        metadata={"sample": "0", "note": "archived in 2023"},
        storage_class="GLACIER",
    ),
    DemoObject(
        LARGE_KEY,
        sum(LARGE_PARTS),
        metadata={"sample": "A"},
        tags={"project": "demo", "kind": "bam"},
    ),
)


def content(key: str, size: int) -> bytes:
    """Deterministic bytes for ``key``: a SHA-256 stream, so nothing compresses away."""
    seed = hashlib.sha256(key.encode()).digest()
    blocks = bytearray()
    counter = 0
    while len(blocks) < size:
        blocks += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest() * 64
        counter += 1
    return bytes(blocks[:size])


def _tagging(tags: dict[str, str]) -> str:
    return urlencode(tags)


def seed(s3: Any) -> list[DemoObject]:
    """Create the source and destination buckets and the source objects (idempotent)."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (SOURCE_BUCKET, DESTINATION_BUCKET):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    for obj in DEMO_OBJECTS:
        extra: dict[str, Any] = {
            "ContentType": obj.content_type,
            "Metadata": obj.metadata,
            "StorageClass": obj.storage_class,
        }
        if obj.tags:
            extra["Tagging"] = _tagging(obj.tags)
        body = content(obj.key, obj.size)
        if obj.key == LARGE_KEY:
            _put_multipart(s3, obj.key, body, extra)
        else:
            s3.put_object(Bucket=SOURCE_BUCKET, Key=obj.key, Body=body, **extra)
    return list(DEMO_OBJECTS)


def _put_multipart(s3: Any, key: str, body: bytes, extra: dict[str, Any]) -> None:
    upload = s3.create_multipart_upload(Bucket=SOURCE_BUCKET, Key=key, **extra)
    parts = []
    offset = 0
    for number, size in enumerate(LARGE_PARTS, start=1):
        part = s3.upload_part(
            Bucket=SOURCE_BUCKET,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[offset : offset + size],
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
        offset += size
    s3.complete_multipart_upload(
        Bucket=SOURCE_BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )


def examples_dir() -> Path:
    """``manifests-example/`` of the source tree (the demo's default manifest and sidecar)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "manifests-example"
        if (candidate / "example.csv").is_file():
            return candidate
    raise FileNotFoundError("manifests-example/ not found next to the package")

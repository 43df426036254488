"""Streaming writes to S3: a file-like object that uploads in parts as it is written.

Prepare's plan and Summarise's report are hundreds of MB for a million rows. Writing them
through :class:`MultipartWriter` keeps memory at a few parts and needs no local disk (a
Lambda's /tmp is 512 MB unless configured otherwise). Nothing becomes visible in S3
until :meth:`MultipartWriter.close` completes the upload; :meth:`MultipartWriter.abort`
(or an exception inside ``with``) leaves nothing behind. Content smaller than one part is
written with a single PutObject.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from steps_s3_copy.models import MiB

DEFAULT_PART_BYTES = 8 * MiB


class MultipartWriter:
    """``write()`` bytes; parts of ``part_bytes`` are uploaded in the background."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        content_type: str = "application/octet-stream",
        part_bytes: int = DEFAULT_PART_BYTES,
        uploads_in_flight: int = 4,
    ) -> None:
        if part_bytes < 5 * MiB:
            raise ValueError("S3 parts (but the last) must be at least 5 MiB")
        self.s3 = s3
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.part_bytes = part_bytes
        self.in_flight = uploads_in_flight
        self.buffer = bytearray()
        self.size = 0
        self.upload_id: str | None = None
        self._parts: list[Future[dict[str, Any]]] = []
        self._pool: ThreadPoolExecutor | None = None
        self.closed = False

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= self.part_bytes:
            self._send(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def _send(self, body: bytes) -> None:
        if self.upload_id is None:
            created = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )
            self.upload_id = created["UploadId"]
            self._pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix="part")
        assert self._pool is not None
        number = len(self._parts) + 1
        pending = [f for f in self._parts if not f.done()]
        if len(pending) >= self.in_flight:
            pending[0].result()  # bound the memory held by parts on their way
        self._parts.append(self._pool.submit(self._upload, number, body))

    def _upload(self, number: int, body: bytes) -> dict[str, Any]:
        response = self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def close(self) -> None:
        """Finish: complete the multipart upload (or PutObject what little there is)."""
        if self.closed:
            return
        if self.upload_id is None:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=bytes(self.buffer),
                ContentType=self.content_type,
            )
        else:
            if self.buffer:
                self._send(bytes(self.buffer))
            parts = [f.result() for f in self._parts]
            self.s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )
        self.buffer.clear()
        self._shutdown()
        self.closed = True

    def abort(self) -> None:
        """Give up: nothing is left in S3."""
        if self.closed:
            return
        self.closed = True
        self.buffer.clear()
        for future in self._parts:
            future.cancel()
        self._shutdown()
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

"""``Boto3S3Client``: the engine's S3 operations through an ordinary botocore client.

The reference implementation of ``S3Client``: every engine test runs against it and
against ``LeanS3Client``, so the lean client's shortcuts are checked against what
botocore does. It answers in the same types and the same header text (see
``s3client.py``), and retries with the same ``RetryPolicy`` (botocore's own retries are
off, so both clients try a request the same number of times).

Two things botocore does not do, and this client therefore does not either: correct a
skewed signing clock (boto/boto3#1252; ``RequestTimeTooSkewed`` is final here), and
refuse control characters in header values (it refuses a bare CR or LF through
http.client, but sends an obs-folded ``CR LF SP``); the second is checked here before
each call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote_plus, urlencode

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from botocore.handlers import validate_ascii_metadata

from steps_s3_copy.aws import config
from steps_s3_copy.worker.s3client import (
    CHECKSUM_ALGORITHMS,
    CODE_OF_STATUS,
    NO_ACCESS,
    Access,
    CopyResult,
    Directive,
    HeadResult,
    ListEntry,
    ListPage,
    ObjectParts,
    ObjectRef,
    PartResult,
    RetryCounts,
    RetryPolicy,
    S3Error,
    Upload,
    WriteSettings,
    call_with_retries,
    check_header_value,
    head_result,
)

T = TypeVar("T")
_DEFAULT_WRITE = WriteSettings()


class Boto3S3Client:
    """``S3Client`` over a botocore S3 client (any client made with botocore retries off)."""

    def __init__(self, client: Any, *, retry: RetryPolicy | None = None) -> None:
        self.client = client
        self.retry = retry or RetryPolicy()
        self._header_members: dict[str, frozenset[str]] = {}
        self._requests = 0
        self._retries = RetryCounts()
        self._lock = threading.Lock()
        client.meta.events.register("before-send.s3", self._count)
        # botocore refuses non-ASCII metadata values, citing an older version of
        # "Working with object metadata"; S3 now takes any Unicode value (and answers it
        # RFC 2047-encoded): https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html,
        # boto/botocore#2552. Metadata read from a source is carried as it was read.
        client.meta.events.unregister(
            "before-parameter-build.s3.CreateMultipartUpload", validate_ascii_metadata
        )

    @classmethod
    def from_session(
        cls,
        core: Any,
        *,
        region: str,
        endpoint_url: str | None = None,
        max_connections: int = 32,
        retry: RetryPolicy | None = None,
        addressing_style: str = "auto",
    ) -> Boto3S3Client:
        """A client from a botocore session, with the service's one ``Config`` recipe."""
        client = core.create_client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=config(
                max_pool_connections=max_connections,
                read_timeout=300,
                addressing_style=addressing_style,
            ).merge(
                # One try per call: the retries are this class's, the same as the lean
                # client's. (In a Config, ``max_attempts`` counts *retries*, botocore's
                # args.py; ``total_max_attempts`` counts tries.)
                Config(retries={"mode": "standard", "total_max_attempts": 1})
            ),
        )
        return cls(client, retry=retry)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self._requests += 1

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def retries(self) -> Mapping[str, int]:
        return self._retries.snapshot()

    def close(self) -> None:
        self.client.close()

    def _call(self, operation: str, params: Mapping[str, Any], access: Access) -> Any:
        """One botocore call with ``RetryPolicy``'s retries; errors as ``S3Error``."""
        args = dict(params)
        if access.request_payer:
            args["RequestPayer"] = "requester"
        if access.expected_owner:
            args["ExpectedBucketOwner"] = access.expected_owner
        self._check_headers(operation, args)
        method: Callable[..., Any] = getattr(self.client, operation)

        def attempt() -> Any:
            try:
                return method(**args)
            except ClientError as exc:
                raise _s3_error(exc) from exc
            except (ConnectionError, HTTPClientError) as exc:
                raise S3Error(type(exc).__name__, str(exc), 0) from exc
            except BotoCoreError as exc:
                raise S3Error(type(exc).__name__, str(exc), 0, retryable=False) from exc

        return call_with_retries(self.retry, attempt, self._retries)

    def _check_headers(self, operation: str, params: Mapping[str, Any]) -> None:
        """No control character in a parameter botocore sends as a header.

        (Keys, prefixes and the copy source are URL-encoded by botocore; they may hold any
        character.)
        """
        names = self._header_members.get(operation)
        if names is None:
            model = self.client.meta.service_model.operation_model(
                self.client.meta.method_to_api_mapping[operation]
            )
            names = frozenset(
                name
                for name, shape in model.input_shape.members.items()
                if shape.serialization.get("location") in ("header", "headers")
                and name != "CopySource"
            )
            self._header_members[operation] = names
        for name in names & params.keys():
            value = params[name]
            values = value.items() if isinstance(value, Mapping) else [(name, value)]
            for header, text in values:
                if isinstance(text, str):
                    check_header_value(str(header), text)

    # -- operations ------------------------------------------------------------------

    def head_object(
        self,
        obj: ObjectRef,
        *,
        part_number: int | None = None,
        if_match: str | None = None,
        access: Access = NO_ACCESS,
    ) -> HeadResult | None:
        params: dict[str, Any] = {**_where(obj), "ChecksumMode": "ENABLED"}
        if part_number:
            params["PartNumber"] = part_number
        if if_match:
            params["IfMatch"] = if_match
        try:
            answer = self._call("head_object", params, access)
        except S3Error as exc:
            if exc.status == 404:
                return None
            raise
        # The raw headers, as the lean client reads them: the same header text.
        return head_result(answer["ResponseMetadata"]["HTTPHeaders"])

    def get_object(self, obj: ObjectRef, *, access: Access = NO_ACCESS) -> bytes | None:
        try:
            answer = self._call("get_object", _where(obj), access)
        except S3Error as exc:
            if exc.status == 404:
                return None
            raise
        body: bytes = answer["Body"].read()
        return body

    def list_objects(
        self,
        bucket: str,
        prefix: str,
        *,
        start_after: str | None = None,
        access: Access = NO_ACCESS,
    ) -> Iterator[ListEntry]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
            if token:
                params["ContinuationToken"] = token
            elif start_after:
                params["StartAfter"] = start_after
            page = self._call("list_objects_v2", params, access)
            for item in page.get("Contents", []):
                yield _list_entry(item)
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return

    def list_objects_page(
        self,
        bucket: str,
        prefix: str,
        *,
        start_after: str | None = None,
        max_keys: int = 1000,
        access: Access = NO_ACCESS,
    ) -> ListPage:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if start_after:
            params["StartAfter"] = start_after
        page = self._call("list_objects_v2", params, access)
        return ListPage(
            [_list_entry(item) for item in page.get("Contents", [])],
            truncated=bool(page.get("IsTruncated")),
        )

    def copy_object(
        self,
        source: ObjectRef,
        destination: ObjectRef,
        *,
        if_match: str | None = None,
        metadata_directive: Directive = "COPY",
        content: Mapping[str, str] | None = None,
        tagging_directive: Directive = "COPY",
        settings: WriteSettings = _DEFAULT_WRITE,
        access: Access = NO_ACCESS,
    ) -> CopyResult:
        params: dict[str, Any] = {
            **_where(destination),
            "CopySource": _source(source),
            **_write_params(settings),
        }
        # COPY is both directives' default: sent only when REPLACE (as the lean client)
        if metadata_directive != "COPY":
            params["MetadataDirective"] = metadata_directive
        if tagging_directive != "COPY":
            params["TaggingDirective"] = tagging_directive
        if if_match:
            params["CopySourceIfMatch"] = if_match
        if metadata_directive == "REPLACE" and content:
            params.update(content)
        answer = self._call("copy_object", params, access)
        result = answer.get("CopyObjectResult", {})
        return CopyResult(
            etag=result.get("ETag", ""),
            checksums=_checksums(result),
            checksum_type=result.get("ChecksumType"),
            version_id=answer.get("VersionId"),
            sse=answer.get("ServerSideEncryption"),
            source_version_id=answer.get("CopySourceVersionId"),
        )

    def get_object_tagging(
        self, obj: ObjectRef, *, access: Access = NO_ACCESS
    ) -> list[tuple[str, str]]:
        answer = self._call("get_object_tagging", _where(obj), access)
        return [(tag["Key"], tag["Value"]) for tag in answer.get("TagSet", [])]

    def get_object_parts(self, obj: ObjectRef, *, access: Access = NO_ACCESS) -> ObjectParts:
        sizes: list[int] = []
        marker = 0
        while True:
            params = {
                **_where(obj),
                "ObjectAttributes": ["ETag", "ObjectParts"],
                "MaxParts": 1000,
                "PartNumberMarker": marker,
            }
            answer = self._call("get_object_attributes", params, access)
            object_parts = answer.get("ObjectParts") or {}
            parts = object_parts.get("Parts") or []
            sizes.extend(int(p["Size"]) for p in parts)
            if not object_parts.get("IsTruncated") or not parts:
                return ObjectParts(str(answer.get("ETag") or ""), sizes)
            marker = int(object_parts.get("NextPartNumberMarker") or parts[-1]["PartNumber"])

    def create_multipart_upload(
        self,
        destination: ObjectRef,
        *,
        content: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Sequence[tuple[str, str]] = (),
        settings: WriteSettings = _DEFAULT_WRITE,
        checksum_type: str | None = None,
        access: Access = NO_ACCESS,
    ) -> str:
        params: dict[str, Any] = {
            **_where(destination),
            **(content or {}),
            **_write_params(settings),
        }
        if metadata:
            params["Metadata"] = dict(metadata)
        if tags:
            params["Tagging"] = urlencode(list(tags))
        if checksum_type:
            params["ChecksumType"] = checksum_type
        answer = self._call("create_multipart_upload", params, access)
        return str(answer["UploadId"])

    def upload_part_copy(
        self,
        source: ObjectRef,
        destination: ObjectRef,
        *,
        upload_id: str,
        part_number: int,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
        access: Access = NO_ACCESS,
    ) -> PartResult:
        params: dict[str, Any] = {
            **_where(destination),
            "UploadId": upload_id,
            "PartNumber": part_number,
            "CopySource": _source(source),
        }
        if byte_range is not None:
            params["CopySourceRange"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        if if_match:
            params["CopySourceIfMatch"] = if_match
        result = self._call("upload_part_copy", params, access)["CopyPartResult"]
        return PartResult(
            part_number=part_number, etag=result["ETag"], checksums=_checksums(result)
        )

    def list_parts(
        self, destination: ObjectRef, *, upload_id: str, access: Access = NO_ACCESS
    ) -> list[PartResult]:
        parts: list[PartResult] = []
        marker = 0
        while True:
            params: dict[str, Any] = {**_where(destination), "UploadId": upload_id}
            if marker:
                params["PartNumberMarker"] = marker
            answer = self._call("list_parts", params, access)
            page = answer.get("Parts") or []
            parts.extend(
                PartResult(
                    part_number=int(p["PartNumber"]),
                    etag=p["ETag"],
                    checksums=_checksums(p),
                    size=int(p["Size"]),
                )
                for p in page
            )
            if not answer.get("IsTruncated") or not page:
                return parts
            marker = int(answer.get("NextPartNumberMarker") or page[-1]["PartNumber"])

    def complete_multipart_upload(
        self,
        destination: ObjectRef,
        *,
        upload_id: str,
        parts: Sequence[PartResult],
        access: Access = NO_ACCESS,
    ) -> str:
        completed = [
            {
                "PartNumber": part.part_number,
                "ETag": part.etag,
                **{f"Checksum{a}": v for a, v in part.checksums.items()},
            }
            for part in parts
        ]
        params = {
            **_where(destination),
            "UploadId": upload_id,
            "MultipartUpload": {"Parts": completed},
        }
        answer = self._call("complete_multipart_upload", params, access)
        return str(answer.get("ETag", ""))

    def abort_multipart_upload(
        self, destination: ObjectRef, *, upload_id: str, access: Access = NO_ACCESS
    ) -> None:
        params = {**_where(destination), "UploadId": upload_id}
        self._call("abort_multipart_upload", params, access)

    def list_multipart_uploads(
        self, bucket: str, prefix: str, *, access: Access = NO_ACCESS
    ) -> list[Upload]:
        uploads: list[Upload] = []
        markers: dict[str, str] = {}
        while True:
            # botocore URL-decodes the keys of ListObjects(V2) and ListObjectVersions
            # answers only (handlers.set_list_objects_encoding_type_url): decoded here.
            params = {"Bucket": bucket, "Prefix": prefix, "EncodingType": "url", **markers}
            answer = self._call("list_multipart_uploads", params, access)
            encoded = answer.get("EncodingType") == "url"
            page = answer.get("Uploads") or []
            for upload in page:
                key = str(upload["Key"])
                uploads.append(
                    Upload(unquote_plus(key) if encoded else key, str(upload["UploadId"]))
                )
            key_marker = str(answer.get("NextKeyMarker") or "")
            if not answer.get("IsTruncated") or not page or not key_marker:
                return uploads
            markers = {"KeyMarker": unquote_plus(key_marker) if encoded else key_marker}
            if answer.get("NextUploadIdMarker"):
                markers["UploadIdMarker"] = str(answer["NextUploadIdMarker"])


def _list_entry(item: Mapping[str, Any]) -> ListEntry:
    return ListEntry(
        key=item["Key"],
        size=int(item["Size"]),
        etag=item.get("ETag", ""),
        checksum_algorithms=tuple(item.get("ChecksumAlgorithm", ())),
        checksum_type=item.get("ChecksumType"),
    )


def _where(obj: ObjectRef) -> dict[str, str]:
    where = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id:
        where["VersionId"] = obj.version_id
    return where


def _source(obj: ObjectRef) -> dict[str, str]:
    source = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id:
        source["VersionId"] = obj.version_id
    return source


def _write_params(settings: WriteSettings) -> dict[str, str]:
    params = {}
    if settings.storage_class:
        params["StorageClass"] = settings.storage_class
    if settings.sse_kms_key_id:
        params["ServerSideEncryption"] = "aws:kms"
        params["SSEKMSKeyId"] = settings.sse_kms_key_id
    if settings.checksum_algorithm:
        params["ChecksumAlgorithm"] = settings.checksum_algorithm
    return params


def _checksums(node: Mapping[str, Any]) -> dict[str, str]:
    return {a: str(node["Checksum" + a]) for a in CHECKSUM_ALGORITHMS if node.get("Checksum" + a)}


def _s3_error(exc: ClientError) -> S3Error:
    error = exc.response.get("Error", {})
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    code = str(error.get("Code") or "")
    if not code or code.isdigit():
        # HEAD answers have no body; botocore names the error after the status.
        code = CODE_OF_STATUS.get(status, code or str(status))
    retryable = False if code == "RequestTimeTooSkewed" else None
    return S3Error(code, str(error.get("Message") or ""), status, retryable=retryable)

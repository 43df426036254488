"""One run's working area in S3, with one reader and one writer for each of its artifacts.

The layout is :class:`~steps_s3_copy.models.RunLocation`'s (``run.json``, ``plan.jsonl``,
``index.csv``, ``results/<batchId>.jsonl``); Prepare writes the first three, each batch
its results, Summarise reads them all. Every step reads them through this module, so
there is one parser per artifact and one error name per way of failing to read it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from steps_s3_copy.errors import (
    PlanNotFound,
    PlanUnreadable,
    ResultsNotWritable,
    RunConfigUnreadable,
)
from steps_s3_copy.models import (
    INDEX_COLUMNS,
    BatchRef,
    CopyItem,
    ObjectResult,
    RunConfig,
    RunLocation,
)


def index_csv(batches: Iterable[BatchRef]) -> bytes:
    """index.csv: a header row of INDEX_COLUMNS, then one row per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    writer.writerows(
        (
            b.batch_id,
            b.lane.value,
            b.start,
            b.end,
            b.objects,
            b.bytes,
            b.timeout_seconds,
            b.archived,
        )
        for b in batches
    )
    return buffer.getvalue().encode()


def parse_index(body: bytes) -> list[BatchRef]:
    """The rows of index.csv (Step Functions' CSV reader sees the same header)."""
    return [BatchRef.model_validate(row) for row in csv.DictReader(io.StringIO(body.decode()))]


def results_jsonl(results: Iterable[ObjectResult]) -> bytes:
    return "".join(r.to_json() + "\n" for r in results).encode()


class WorkArea:
    """Reads and writes the artifacts of one run through a boto3 S3 client."""

    def __init__(self, s3: Any, location: RunLocation) -> None:
        self.s3 = s3
        self.location = location

    def _uri(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{key}"

    def _get(self, key: str, **extra: Any) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.location.bucket, Key=key, **extra)[
            "Body"
        ].read()
        return body

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(
            Bucket=self.location.bucket, Key=key, Body=body, ContentType=content_type
        )

    # -- run.json ---------------------------------------------------------------------

    def write_run_config(self, config: RunConfig) -> None:
        self._put(self.location.run_config_key, config.to_json().encode(), "application/json")

    def read_run_config(self) -> RunConfig:
        key = self.location.run_config_key
        try:
            return RunConfig.model_validate_json(self._get(key))
        except (ClientError, BotoCoreError, ValidationError) as exc:
            raise RunConfigUnreadable(f"cannot read {self._uri(key)}: {exc}") from exc

    # -- index.csv --------------------------------------------------------------------

    def write_index(self, batches: Iterable[BatchRef]) -> None:
        self._put(self.location.index_key, index_csv(batches), "text/csv")

    def read_index(self) -> list[BatchRef]:
        key = self.location.index_key
        try:
            return parse_index(self._get(key))
        except (ClientError, BotoCoreError, ValidationError, UnicodeDecodeError) as exc:
            raise PlanNotFound(f"cannot read {self._uri(key)}: {exc}") from exc

    # -- plan.jsonl -------------------------------------------------------------------

    def read_batch(self, ref: BatchRef) -> list[CopyItem]:
        """The CopyItem lines in bytes ``[ref.start, ref.end)`` of ``plan.jsonl``."""
        if ref.end <= ref.start:
            return []
        key = self.location.plan_key
        where = f"batch {ref.batch_id} from {self._uri(key)} [{ref.start}, {ref.end})"
        try:
            body = self._get(key, Range=f"bytes={ref.start}-{ref.end - 1}")
            if len(body) != ref.end - ref.start:
                raise PlanUnreadable(
                    f"cannot read {where}: {len(body)} bytes returned (plan too short?)"
                )
            return [
                CopyItem.model_validate_json(line) for line in body.splitlines() if line.strip()
            ]
        except (ClientError, BotoCoreError, ValidationError, UnicodeDecodeError) as exc:
            raise PlanUnreadable(f"cannot read {where}: {exc}") from exc

    def plan_lines(self) -> Iterator[bytes]:
        """Every line of ``plan.jsonl``, streamed (a million-line plan is never in memory)."""
        key = self.location.plan_key
        try:
            body = self.s3.get_object(Bucket=self.location.bucket, Key=key)["Body"]
            for line in body.iter_lines():
                if line.strip():
                    yield line
        except (ClientError, BotoCoreError) as exc:
            raise PlanUnreadable(f"cannot read {self._uri(key)}: {exc}") from exc

    # -- restores/<batchId>.json ------------------------------------------------------

    def restores_key(self, batch_id: int) -> str:
        return self.location.key(f"restores/{batch_id:08d}.json")

    def read_restores(self, batch_id: int) -> dict[str, dict[str, str]]:
        """When each archived source of a batch was asked to be restored and seen ready,
        by destination key (empty before Thaw first ran)."""
        try:
            data = json.loads(self._get(self.restores_key(batch_id)))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return {}
            raise
        return data if isinstance(data, dict) else {}

    def write_restores(self, batch_id: int, record: dict[str, dict[str, str]]) -> None:
        body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
        self._put(self.restores_key(batch_id), body, "application/json")

    # -- results/<batchId>.jsonl ------------------------------------------------------

    def write_results(self, batch_id: int, results: Iterable[ObjectResult]) -> str:
        key = self.location.results_key(batch_id)
        try:
            self._put(key, results_jsonl(results), "application/x-ndjson")
        except (ClientError, BotoCoreError) as exc:
            raise ResultsNotWritable(f"cannot write {self._uri(key)}: {exc}") from exc
        return key

"""The manifest CSV: one source object (or one ``prefix/*``) per row.

Read as a stream; every problem is collected with its row number (the line number in the
file, as an editor shows it, counting blank lines and the header) instead of stopping at
the first. Forms, per row (see docs/manifest.md):

- ``bucket,key[,destinationKey[,size[,checksum]]]``
- ``s3://bucket/key[,destinationKey[,size[,checksum]]]``
- with a header naming the columns: ``bucket``, ``key``, ``source`` (an s3:// URI),
  ``destination_key`` (or ``destinationKey``, ``destination``), ``size``, ``checksum``.

Keys are taken exactly as written: never stripped, never URL-decoded. A key ending in
``/*`` (or a key that is just ``*``) stands for every object under that prefix.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from steps_s3_copy.errors import Problems
from steps_s3_copy.models import MAX_OBJECT_BYTES
from steps_s3_copy.s3uri import S3Uri
from steps_s3_copy.sidecar import BUCKET_RE

MAX_KEY_BYTES = 1024

#: characters XML 1.0 cannot carry (S3's listings and errors are XML; see "XML related
#: object key constraints" in https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html):
#: C0 controls other than tab, LF and CR, and U+FFFE / U+FFFF
_FORBIDDEN_KEY_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def key_problem(key: str) -> str | None:
    """Why S3 cannot take ``key`` as an object key, or None."""
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"is longer than {MAX_KEY_BYTES} bytes"
    bad = _FORBIDDEN_KEY_CHARS.search(key)
    if bad:
        return f"contains U+{ord(bad.group()):04X}, a control character S3's XML API cannot carry"
    return None


#: recognised header names (lower case) -> column
HEADER_NAMES = {
    "bucket": "bucket",
    "key": "key",
    "source": "source",
    "uri": "source",
    "destination_key": "destination_key",
    "destinationkey": "destination_key",
    "destination": "destination_key",
    "size": "size",
    "expected_size": "size",
    "expectedsize": "size",
    "checksum": "checksum",
    "expected_checksum": "checksum",
    "expectedchecksum": "checksum",
}
#: the columns, by their canonical header names
COLUMNS = ("bucket", "key", "source", "destination_key", "size", "checksum")
_POSITIONAL_BUCKET = ("bucket", "key", "destination_key", "size", "checksum")
_POSITIONAL_URI = ("source", "destination_key", "size", "checksum")

#: checksum column prefixes -> (S3 algorithm name, digest length in bytes)
CHECKSUM_ALGORITHMS = {
    "crc32": ("CRC32", 4),
    "crc32c": ("CRC32C", 4),
    "crc64nvme": ("CRC64NVME", 8),
    "sha1": ("SHA1", 20),
    "sha256": ("SHA256", 32),
}
_ETAG_RE = re.compile(r'^"?([0-9a-fA-F]{32})(-\d{1,5})?"?$')
_PARTS_RE = re.compile(r"^(.*?)(-\d{1,5})?$")


@dataclass(slots=True)
class ManifestRow:
    """One valid row: a source object, or a prefix to expand when ``is_prefix``."""

    row: int
    bucket: str
    key: str
    destination_key: str | None = None
    size: int | None = None
    checksum: dict[str, str] | None = None
    is_prefix: bool = False

    @property
    def prefix(self) -> str:
        """The listing prefix of a ``prefix/*`` row."""
        return self.key[:-1]


def parse_checksum(text: str) -> dict[str, str]:
    """``ALGO:base64`` (crc32, crc32c, crc64nvme, sha1, sha256; ``-N`` for a composite) or
    ``etag:<hex>`` -> the ExpectedChecksum wire dict; ValueError explains what is wrong."""
    algo, sep, value = text.strip().partition(":")
    if not sep or not value:
        raise ValueError("must be ALGORITHM:value, e.g. sha256:<base64> or etag:<hex>")
    algo = algo.lower()
    if algo == "etag":
        match = _ETAG_RE.match(value)
        if not match:
            raise ValueError("an etag must be 32 hex digits, optionally with -<parts>")
        return {"algorithm": "ETAG", "value": match.group(1).lower() + (match.group(2) or "")}
    if algo not in CHECKSUM_ALGORITHMS:
        names = ", ".join([*CHECKSUM_ALGORITHMS, "etag"])
        raise ValueError(f"unknown checksum algorithm {algo!r} (one of {names})")
    name, length = CHECKSUM_ALGORITHMS[algo]
    match = _PARTS_RE.match(value)
    digest = match.group(1) if match else value
    try:
        raw = base64.b64decode(digest, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{algo} value is not base64") from exc
    if len(raw) != length:
        raise ValueError(f"{algo} value must decode to {length} bytes, not {len(raw)}")
    return {"algorithm": name, "value": value}


class ManifestReader:
    """Parses rows from a text stream, yielding valid rows and collecting problems."""

    def __init__(self, problems: Problems, *, max_rows: int | None = None) -> None:
        self.problems = problems
        self.max_rows = max_rows
        self.rows_seen = 0
        self.header: tuple[str, ...] | None = None

    def read(self, lines: Iterable[str]) -> Iterator[ManifestRow]:
        reader = csv.reader(lines, strict=True)
        first = True
        row_no = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.problems.add(f"not valid CSV: {exc}", row=reader.line_num)
                break
            row_no = reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if first:
                first = False
                if self._is_header(cells):
                    self._set_header(cells, row_no)
                    continue
            self.rows_seen += 1
            if self.max_rows is not None and self.rows_seen > self.max_rows:
                self.problems.add(f"the manifest has more than {self.max_rows} rows", row=row_no)
                return
            parsed = self._parse(cells, row_no)
            if parsed is not None:
                yield parsed
        if self.rows_seen == 0:
            what = "only a header" if self.header else "no rows"
            self.problems.add(f"the manifest has {what}: nothing to copy")

    @staticmethod
    def _is_header(cells: list[str]) -> bool:
        """A first row naming only known columns, or naming the required ones (a header
        with an unknown column is still a header: the unknown column is a problem)."""
        names = [HEADER_NAMES.get(c.strip().lower()) for c in cells if c.strip()]
        known = {n for n in names if n}
        if not names:
            return False
        return all(names) or "source" in known or {"bucket", "key"} <= known

    def _set_header(self, cells: list[str], row_no: int) -> None:
        columns = tuple(HEADER_NAMES.get(c.strip().lower(), "") for c in cells)
        for cell, name in zip(cells, columns, strict=True):
            if cell.strip() and not name:
                known = ", ".join(COLUMNS)
                self.problems.add(
                    f"unknown column {cell.strip()!r} in the header (known: {known})",
                    row=row_no,
                    field=cell.strip(),
                )
        seen: set[str] = set()
        for name in columns:
            if name and name in seen:
                self.problems.add(f"header names column {name!r} twice", row=row_no, field=name)
            seen.add(name)
        if "source" in seen and ("bucket" in seen or "key" in seen):
            self.problems.add(
                "header has both 'source' and 'bucket'/'key' columns", row=row_no, field="source"
            )
        elif "source" not in seen and not {"bucket", "key"} <= seen:
            missing = "key" if "bucket" in seen else "bucket"
            self.problems.add(
                f"header has no {missing!r} column (need bucket,key or source)",
                row=row_no,
                field=missing,
            )
        self.header = columns

    def _parse(self, cells: list[str], row_no: int) -> ManifestRow | None:
        if self.header is not None:
            columns: tuple[str, ...] = self.header
        elif cells[0].startswith("s3://"):
            columns = _POSITIONAL_URI
        else:
            columns = _POSITIONAL_BUCKET
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            self.problems.add(
                f"{len(cells)} columns, at most {len(columns)} expected"
                " (quote keys that contain commas)",
                row=row_no,
            )
            return None
        values = {name: cell for name, cell in zip(columns, cells, strict=False) if name and cell}
        item = self._locate(values, "source" in columns, row_no)
        if item is None:
            return None
        ok = self._optional(item, values)
        if not BUCKET_RE.match(item.bucket):
            self.problems.add(
                f"{item.bucket!r} is not a valid bucket name", row=row_no, field="bucket"
            )
            ok = False
        problem = key_problem(item.key)
        if problem:
            self.problems.add(f"key {problem}", row=row_no, field="key")
            ok = False
        return item if ok else None

    def _locate(self, values: dict[str, str], by_uri: bool, row_no: int) -> ManifestRow | None:
        """The row's bucket and key (None when either is missing or malformed)."""
        if by_uri:
            source = values.get("source", "")
            try:
                uri = S3Uri.parse(source, need_key=True)
            except ValueError as exc:
                self.problems.add(f"source {source!r} {exc}", row=row_no, field="source")
                return None
            bucket, key = uri.bucket, uri.key
        else:
            bucket = values.get("bucket", "").strip()
            key = values.get("key", "")
            if not bucket:
                self.problems.add("bucket is empty", row=row_no, field="bucket")
            if not key:
                self.problems.add("key is empty", row=row_no, field="key")
            if not bucket or not key:
                return None
        is_prefix = key == "*" or key.endswith("/*")
        return ManifestRow(row=row_no, bucket=bucket, key=key, is_prefix=is_prefix)

    def _optional(self, item: ManifestRow, values: dict[str, str]) -> bool:
        """Destination key, size and checksum columns; False when one is wrong."""
        ok = True
        row_no = item.row
        destination = values.get("destination_key")
        if destination is not None:
            if item.is_prefix and not destination.endswith("/"):
                self.problems.add(
                    "the destination of a prefix/* row must end with '/'",
                    row=row_no,
                    field="destination_key",
                )
                ok = False
            item.destination_key = destination
        for name in ("size", "checksum"):
            if name in values and item.is_prefix:
                self.problems.add(f"a prefix/* row cannot have a {name}", row=row_no, field=name)
                ok = False
        if "size" in values and not item.is_prefix:
            item.size = _parse_size(values["size"], self.problems, row_no)
            ok = ok and item.size is not None
        if "checksum" in values and not item.is_prefix:
            try:
                item.checksum = parse_checksum(values["checksum"])
            except ValueError as exc:
                self.problems.add(f"checksum {exc}", row=row_no, field="checksum")
                ok = False
        return ok


def _parse_size(text: str, problems: Problems, row_no: int) -> int | None:
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        problems.add(f"size {text!r} is not a whole number of bytes", row=row_no, field="size")
        return None
    size = int(text)
    if size > MAX_OBJECT_BYTES:
        problems.add(f"size {size} is above the S3 limit of 5 TiB", row=row_no, field="size")
        return None
    return size


def _physical_lines(raw: Any, chunk_bytes: int) -> Iterator[bytes]:
    """The ``\\n``-terminated lines of a binary stream (the last may lack its ``\\n``)."""
    pending = b""
    while chunk := raw.read(chunk_bytes):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def decoded_lines(raw: Any, problems: Problems, chunk_bytes: int = 1 << 20) -> Iterator[str]:
    """The lines of a binary stream (anything with ``read(n)``) as text, endings kept for
    ``csv``.

    Each line is decoded on its own, so a line that is not UTF-8 is reported with its
    number (as ``csv.reader`` counts lines) and read as a blank line: the rest of the
    manifest is still checked. A UTF-8 byte-order mark at the start is dropped.
    """
    for number, line in enumerate(_physical_lines(raw, chunk_bytes), 1):
        text = (
            line[len(codecs.BOM_UTF8) :]
            if number == 1 and line.startswith(codecs.BOM_UTF8)
            else line
        )
        try:
            yield text.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte {exc.start + 1} of the row"
            problems.add(f"row {number} is not UTF-8 text ({exc.reason} at {where})", row=number)
            yield "\n"


# -- the original system's JSON Lines copy instructions ----------------------------------

#: the manifest forms, by the manifest key's suffix
JSONL_SUFFIX = ".jsonl"
INSTRUCTION_FIELDS = frozenset(
    {
        "sourceBucket",
        "sourceKey",
        "destinationRelativeFolderKey",
        "sourceRootFolderKey",
        "sourceNoSignRequest",
        "sums",
    }
)


def is_jsonl(key: str) -> bool:
    """Whether a manifest key names a JSON Lines manifest (else it is CSV)."""
    return key.endswith(JSONL_SUFFIX)


class JsonlManifestReader:
    """The original system's copy instructions (umccr/steps-s3-copy): one JSON object per
    line, ``{"sourceBucket", "sourceKey"[, "destinationRelativeFolderKey" |
    "sourceRootFolderKey"]}``, read into the same rows as the CSV, with the same checks
    and row numbers (the line number, as an editor shows it).

    Where an object lands, as the original computes it (docs/manifest.md), under the
    sidecar's ``destinationPrefix`` (the original's ``destinationFolderKey``):

    - neither field: the object's base name (the source's folders are dropped);
    - ``destinationRelativeFolderKey`` (``sub/``): that folder, then the base name;
    - ``sourceRootFolderKey`` (a leading folder of the key): the key below that folder;
    - ``sourceKey`` ending in ``/*``: every object below that folder, with its folders
      below it kept, under ``destinationRelativeFolderKey`` when given.
    """

    def __init__(self, problems: Problems, *, max_rows: int | None = None) -> None:
        self.problems = problems
        self.max_rows = max_rows
        self.rows_seen = 0

    def read(self, lines: Iterable[str]) -> Iterator[ManifestRow]:
        row_no = 0
        for row_no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            self.rows_seen += 1
            if self.max_rows is not None and self.rows_seen > self.max_rows:
                self.problems.add(f"the manifest has more than {self.max_rows} rows", row=row_no)
                return
            parsed = self._parse(line, row_no)
            if parsed is not None:
                yield parsed
        if self.rows_seen == 0:
            self.problems.add("the manifest has no rows: nothing to copy")

    def _problem(self, message: str, row: int, name: str | None = None) -> None:
        self.problems.add(message, row=row, field=name)

    def _parse(self, line: str, row_no: int) -> ManifestRow | None:
        values = self._fields(line, row_no)
        if values is None:
            return None
        bucket, key = values["sourceBucket"], values["sourceKey"]
        problem = None
        if not BUCKET_RE.match(bucket):
            problem = (f"{bucket!r} is not a valid bucket name", "sourceBucket")
        elif key_problem(key):
            problem = (f"sourceKey {key_problem(key)}", "sourceKey")
        if problem:
            self._problem(problem[0], row_no, problem[1])
            return None
        return self._row(bucket, key, values, row_no)

    def _fields(self, line: str, row_no: int) -> dict[str, str] | None:
        """The instruction's string fields, or None (with its problems) when it is wrong."""
        try:
            raw = json.loads(line)
        except RecursionError:
            raw, why = None, "is nested too deeply to be a copy instruction"
        except ValueError as exc:
            raw, why = None, f"is not valid JSON: {exc}"
        else:
            why = "must be a JSON object (a copy instruction)"
        if not isinstance(raw, dict):
            self._problem(why, row_no)
            return None
        before = self.problems.total
        for name in sorted(set(raw) - INSTRUCTION_FIELDS):
            self._problem(f"unknown field {name!r}", row_no, name)
        if raw.get("sourceNoSignRequest"):
            self._problem(
                "sourceNoSignRequest is not supported: sources are read as the writer role",
                row_no,
                "sourceNoSignRequest",
            )
        if raw.get("sums") is not None:
            self._problem(
                "sums is not supported: give an expected checksum in a CSV manifest's "
                "checksum column instead",
                row_no,
                "sums",
            )
        values: dict[str, str] = {}
        for name in (
            "sourceBucket",
            "sourceKey",
            "destinationRelativeFolderKey",
            "sourceRootFolderKey",
        ):
            value = raw.get(name)
            if value is not None and not isinstance(value, str):
                self._problem(f"{name} must be a string", row_no, name)
            elif value is not None:
                values[name] = value
        for name in ("sourceBucket", "sourceKey"):
            if not values.get(name) and not isinstance(
                raw.get(name), bool | int | float | list | dict
            ):
                self._problem(f"required field {name!r} is missing or empty", row_no, name)
        return values if self.problems.total == before else None

    def _row(
        self, bucket: str, key: str, values: dict[str, str], row_no: int
    ) -> ManifestRow | None:
        relative = values.get("destinationRelativeFolderKey")
        root = values.get("sourceRootFolderKey")
        is_prefix = key == "*" or key.endswith("/*")
        if relative is not None and root is not None:
            self._problem(
                "give destinationRelativeFolderKey or sourceRootFolderKey, not both",
                row_no,
                "sourceRootFolderKey",
            )
            return None
        for name, folder in (
            ("destinationRelativeFolderKey", relative),
            ("sourceRootFolderKey", root),
        ):
            if folder is None:
                continue
            if not folder.endswith("/") or folder.startswith("/") or ".." in folder.split("/"):
                self._problem(
                    f"{name} must be a relative folder ending with '/' (no leading '/', no '..')",
                    row_no,
                    name,
                )
                return None
        if root is not None and (is_prefix or not key.startswith(root)):
            self._problem(
                "sourceRootFolderKey must be a leading folder of sourceKey (and sourceKey not a"
                " /* wildcard)",
                row_no,
                "sourceRootFolderKey",
            )
            return None
        folder = relative or ""
        if is_prefix:
            # below the wildcard's folder, the structure is kept
            return ManifestRow(
                row=row_no, bucket=bucket, key=key, destination_key=folder, is_prefix=True
            )
        below = key[len(root) :] if root is not None else key.rsplit("/", 1)[-1]
        if not below:
            self._problem("sourceKey names a folder, not an object", row_no, "sourceKey")
            return None
        return ManifestRow(row=row_no, bucket=bucket, key=key, destination_key=folder + below)

"""``s3://bucket/key`` as one type, parsed in one place.

Keys are kept exactly as written (never stripped or URL-decoded): spaces, unicode, ``+``,
``%`` and ``=`` are part of S3 keys.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEME = "s3://"


@dataclass(frozen=True, slots=True)
class S3Uri:
    """A bucket and a key (or key prefix; ``""`` for the whole bucket)."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, text: str, *, need_key: bool = False) -> S3Uri:
        """``s3://bucket/key`` -> S3Uri; ValueError says what is wrong."""
        if not text.startswith(SCHEME):
            raise ValueError("must start with s3://")
        bucket, _, key = text[len(SCHEME) :].partition("/")
        if not bucket:
            raise ValueError("has no bucket")
        if need_key and not key:
            raise ValueError("must be s3://bucket/key")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def as_prefix(self) -> S3Uri:
        """The same location as a folder: the key ends with ``/`` (or is empty)."""
        if self.key and not self.key.endswith("/"):
            return S3Uri(self.bucket, self.key + "/")
        return self

    def join(self, name: str) -> S3Uri:
        """``s3://b/reports/`` + ``report.csv`` -> ``s3://b/reports/report.csv``."""
        return S3Uri(self.bucket, self.as_prefix().key + name)

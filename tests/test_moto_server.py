"""The shared moto server fixture is really empty for every test and serves S3 on loopback."""

from __future__ import annotations

from typing import Any


def test_server_is_on_loopback(moto_server: str) -> None:
    assert moto_server.startswith("http://127.0.0.1:")


def test_buckets_do_not_leak_between_tests_first(s3: Any) -> None:
    s3.create_bucket(Bucket="leak-check")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["leak-check"]


def test_buckets_do_not_leak_between_tests_second(s3: Any) -> None:
    assert s3.list_buckets()["Buckets"] == []

"""MultipartWriter: parts in order, small content in one PUT, abort leaves nothing."""

from __future__ import annotations

import pytest

from steps_s3_copy.models import MiB
from steps_s3_copy.s3io import MultipartWriter
from tests.core.conftest import INBOX, World


def test_streams_in_parts_and_reassembles_in_order(world: World) -> None:
    chunks = [bytes([n]) * (MiB + n) for n in range(13)]  # about 13 MiB: 3 parts of 5 MiB
    with MultipartWriter(world.s3, INBOX, "big.bin", part_bytes=5 * MiB) as out:
        for chunk in chunks:
            out.write(chunk)
        assert out.upload_id is not None
    body = world.s3.get_object(Bucket=INBOX, Key="big.bin")["Body"].read()
    assert body == b"".join(chunks)


def test_small_content_is_one_put(world: World) -> None:
    with MultipartWriter(world.s3, INBOX, "small.txt", content_type="text/csv") as out:
        out.write(b"a,b\n")
        assert out.upload_id is None
    head = world.s3.head_object(Bucket=INBOX, Key="small.txt")
    assert (head["ContentLength"], head["ContentType"]) == (4, "text/csv")


def _write_then_fail(world: World) -> None:
    with MultipartWriter(world.s3, INBOX, "gone.bin", part_bytes=5 * MiB) as out:
        out.write(b"x" * (6 * MiB))
        raise RuntimeError("boom")


def test_an_error_aborts_and_leaves_nothing(world: World) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(world)
    assert world.keys(INBOX) == []
    assert world.s3.list_multipart_uploads(Bucket=INBOX).get("Uploads", []) == []

"""The CSV parser on its own: forms, headers, quoting, row numbers, checksums."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_s3_copy.errors import Problems
from steps_s3_copy.manifest import ManifestReader, ManifestRow, decoded_lines, parse_checksum


def read(text: str | bytes) -> tuple[list[ManifestRow], Problems]:
    data = text.encode() if isinstance(text, str) else text
    problems = Problems()
    rows = list(ManifestReader(problems).read(decoded_lines(io.BytesIO(data), problems)))
    return rows, problems


def test_keys_are_taken_exactly_as_written() -> None:
    keys = [" lead space", "trail space ", "a,b", 'say "hi"', "ü/ñ/日本", "a+b%20c=d", "new\nline"]
    text = "".join('bk1,"' + k.replace('"', '""') + '"\r\n' for k in keys)
    rows, problems = read(text)
    assert not problems
    assert [r.key for r in rows] == keys


def test_row_numbers_are_file_lines_counting_header_and_blank_lines() -> None:
    rows, problems = read("bucket,key\n\nbk1,k1\n\n\nbk1,k2\n")
    assert not problems
    assert [(r.row, r.key) for r in rows] == [(3, "k1"), (6, "k2")]


def test_bom_and_crlf_are_tolerated() -> None:
    rows, problems = read(b"\xef\xbb\xbfbucket,key\r\nbk1,k1\r\n")
    assert not problems
    assert [(r.bucket, r.key) for r in rows] == [("bk1", "k1")]


def test_uri_and_bucket_forms_can_mix() -> None:
    rows, problems = read("s3://bk1/k1,d1,5\nbk2,k2,d2,6\n")
    assert not problems
    assert [(r.bucket, r.key, r.destination_key, r.size) for r in rows] == [
        ("bk1", "k1", "d1", 5),
        ("bk2", "k2", "d2", 6),
    ]


def test_a_header_with_an_unknown_column_is_a_header_and_the_column_a_problem() -> None:
    # it used to be read as a data row: the object "key" of a bucket named "bucket"
    rows, problems = read("bucket,key,notes\nbk1,k1,some note\n")
    assert [(p.row, p.field) for p in problems.items] == [(1, "notes")]
    assert "unknown column 'notes'" in problems.items[0].message
    assert [(r.bucket, r.key) for r in rows] == [("bk1", "k1")]


def test_a_first_row_naming_no_required_column_is_data() -> None:
    rows, problems = read("bk1,key-1,colour\n")
    assert not problems
    assert [(r.bucket, r.key, r.destination_key) for r in rows] == [("bk1", "key-1", "colour")]


def test_prefix_rows() -> None:
    rows, problems = read("bk1,runs/2026/*\nbk1,*\ns3://bk1/x/*,y/\n")
    assert not problems
    assert [(r.is_prefix, r.prefix) for r in rows] == [
        (True, "runs/2026/"),
        (True, ""),
        (True, "x/"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sha256:" + "A" * 43 + "=", {"algorithm": "SHA256", "value": "A" * 43 + "="}),
        ("CRC32C:AAAAAA==", {"algorithm": "CRC32C", "value": "AAAAAA=="}),
        ("crc64nvme:AAAAAAAAAAA=", {"algorithm": "CRC64NVME", "value": "AAAAAAAAAAA="}),
        ("crc32:AAAAAA==-12", {"algorithm": "CRC32", "value": "AAAAAA==-12"}),
        (
            'etag:"D41D8CD98F00B204E9800998ECF8427E"',
            {"algorithm": "ETAG", "value": "d41d8cd98f00b204e9800998ecf8427e"},
        ),
        (
            "etag:d41d8cd98f00b204e9800998ecf8427e-3",
            {"algorithm": "ETAG", "value": "d41d8cd98f00b204e9800998ecf8427e-3"},
        ),
    ],
)
def test_checksum_column(text: str, expected: dict[str, str]) -> None:
    assert parse_checksum(text) == expected


@pytest.mark.parametrize("text", ["sha256", "md5:AAAA", "sha1:!!", "etag:xyz", "crc32:AAAAAAAA"])
def test_bad_checksums(text: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        parse_checksum(text)


#: what XML 1.0 cannot carry, so neither can an S3 key: C0 controls but tab, LF, CR;
#: U+FFFE and U+FFFF (written out here, independently of the parser's own table)
XML_UNSAFE = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff"]


@settings(max_examples=150, deadline=None)
@given(
    keys=st.lists(
        st.text(
            st.characters(exclude_categories=["Cs"], exclude_characters=XML_UNSAFE),
            min_size=1,
            max_size=60,
        ).filter(lambda k: k != "*" and not k.endswith("/*")),
        min_size=1,
        max_size=20,
    ),
    uri_form=st.booleans(),
)
def test_any_key_written_by_a_csv_writer_reads_back_exactly(
    keys: list[str], uri_form: bool
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for key in keys:
        writer.writerow([f"s3://bk1/{key}"] if uri_form else ["bk1", key])
    rows, problems = read(buffer.getvalue())
    assert not problems
    assert [r.key for r in rows] == keys


@settings(max_examples=60, deadline=None)
@given(
    key=st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(
            st.characters(exclude_categories=["Cs"], exclude_characters=XML_UNSAFE), max_size=8
        ),
        st.sampled_from(XML_UNSAFE),
        st.text(
            st.characters(exclude_categories=["Cs"], exclude_characters=XML_UNSAFE), max_size=8
        ),
    ),
)
def test_a_key_s3_cannot_carry_is_a_problem_with_its_row(key: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["bk1", "fine"])
    writer.writerow(["bk1", key])
    rows, problems = read(buffer.getvalue())
    assert [r.key for r in rows] == ["fine"]
    assert [(p.field, "control character" in p.message) for p in problems.items] == [("key", True)]

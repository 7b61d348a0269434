"""BODY[section] slices and BINARY decoding (RFC 9051 §6.4.5, RFC 3516)."""

from __future__ import annotations

import base64

import pytest

from postroom.mail.parse import parse_message
from postroom.mail.sections import (SectionSpec, UnknownEncoding, common_span, decode_part,
                                    is_common, pack_common_spans, parse_section, section_bytes,
                                    section_span)

from .corpus import TRICKY

RAW = TRICKY["nested_rfc822"]


def body(spec: str, raw: bytes = RAW) -> bytes | None:
    return section_bytes(raw, parse_message(raw).parts, parse_section(spec))


def test_whole_message_header_and_text():
    header, text = RAW.split(b"\r\n\r\n", 1)
    assert body("") == RAW
    assert body("HEADER") == header + b"\r\n\r\n"
    assert body("TEXT") == text


def test_parts_and_their_mime_headers():
    assert body("1") == b"part one"
    assert body("1.MIME") == b"\r\n"
    assert body("2.MIME") == b"Content-Type: message/rfc822\r\n\r\n"
    assert body("2").startswith(b"From: x@y\r\n") and body("2").endswith(b"--b2--\r\n")


def test_enclosed_message_header_text_and_parts():
    assert body("2.HEADER") == (b"From: x@y\r\nSubject: inner\r\nContent-Type: multipart/"
                                b"alternative; boundary=b2\r\n\r\n")
    assert body("2.TEXT").startswith(b"--b2\r\n")
    assert body("2.1") == b"plain"
    assert body("2.2") == b"<b>h</b>"
    assert body("2.2.MIME") == b"Content-Type: text/html\r\n\r\n"
    assert body("2.HEADER.FIELDS (subject)") == b"Subject: inner\r\n\r\n"


def test_missing_sections_are_none():
    assert body("3") is None
    assert body("2.3") is None
    assert body("1.HEADER") is None        # part 1 is not a message/rfc822


def test_part_one_of_a_leaf_is_the_leaf_itself_as_in_dovecot():
    assert body("1.1") == b"part one"
    assert body("2.1.1") == b"plain"


def test_single_part_message_part_one_is_its_body():
    raw = TRICKY["simple"]
    assert body("1", raw) == b"body\r\n"
    assert body("1.MIME", raw) == b"From: a@b.c\r\nSubject: hi\r\n\r\n"
    assert body("2", raw) is None


def test_header_fields_keep_folding_match_case_insensitively_and_end_with_blank_line():
    raw = (b"From: a@b\r\nX-Long: one\r\n two\r\nsubject: s\r\nTo: t@u\r\n\r\nbody")
    assert body("HEADER.FIELDS (SUBJECT x-long)", raw) == \
        b"X-Long: one\r\n two\r\nsubject: s\r\n\r\n"
    assert body("HEADER.FIELDS.NOT (x-long Subject)", raw) == b"From: a@b\r\nTo: t@u\r\n\r\n"
    assert body("HEADER.FIELDS (Nope)", raw) == b"\r\n"


def test_top_level_message_rfc822_numbers_its_enclosed_parts_under_1():
    raw = (b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Type: multipart/mixed;"
           b" boundary=x\r\n\r\n--x\r\n\r\na\r\n--x\r\n\r\nb\r\n--x--\r\n")
    assert body("1.HEADER", raw).startswith(b"Subject: in\r\n")
    assert body("1.1", raw) == b"a" and body("1.2", raw) == b"b"


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_packed_common_spans_agree_with_the_part_tree(name):
    parts = parse_message(TRICKY[name]).parts
    packed = pack_common_spans(parts)
    for text in ("", "HEADER", "TEXT", "HEADER.FIELDS (FROM)", "1", "1.MIME"):
        spec = parse_section(text)
        assert is_common(spec)
        assert common_span(packed, spec) == section_span(parts, spec)
    for text in ("2", "1.TEXT", "1.HEADER", "1.1"):
        assert not is_common(parse_section(text))


def test_decode_part_undoes_transfer_encodings():
    payload = bytes(range(256)) * 3
    raw = (b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
           + base64.encodebytes(payload).replace(b"\n", b"\r\n"))
    m = parse_message(raw)
    assert decode_part(raw, m.parts) == payload
    raw = b"Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc"
    assert decode_part(raw, parse_message(raw).parts) == b"a=bc"
    raw = b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8*!gd29y\r\nbGQ"  # junk, no padding
    assert decode_part(raw, parse_message(raw).parts) == b"hello world"


def test_unknown_encoding_raises_for_unknown_cte():
    raw = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\n"
    with pytest.raises(UnknownEncoding):
        decode_part(raw, parse_message(raw).parts)


@pytest.mark.parametrize("text,spec", [
    ("", SectionSpec()),
    ("1.2.3", SectionSpec((1, 2, 3))),
    ("4.TEXT", SectionSpec((4,), "TEXT")),
    ("1.MIME", SectionSpec((1,), "MIME")),
    ("header.fields.not (A b)", SectionSpec((), "HEADER.FIELDS.NOT", ("A", "B"))),
])
def test_parse_section(text, spec):
    assert parse_section(text) == spec


@pytest.mark.parametrize("text", ["MIME", "0", "1.", "1..2", "HEADER.FIELDS", "TEXT (a)",
                                  "FOO", "1.FOO", "HEADER.FIELDS ()"])
def test_parse_section_rejects(text):
    with pytest.raises(ValueError):
        parse_section(text)

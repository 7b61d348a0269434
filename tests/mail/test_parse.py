"""parse_message: exact ENVELOPE/BODYSTRUCTURE for tricky messages (these strings were checked
against Dovecot 2.3 where it agrees with the RFC) and the decoded index fields."""

from __future__ import annotations

import pytest

from postroom.mail.parse import parse_message

from .corpus import TRICKY


def test_plain_message_defaults_sender_and_reply_to_to_from():
    m = parse_message(TRICKY["simple"])
    assert m.envelope == (b'(NIL "hi" ((NIL NIL "a" "b.c")) ((NIL NIL "a" "b.c")) '
                          b'((NIL NIL "a" "b.c")) NIL NIL NIL NIL NIL)')
    assert m.bodystructure == (b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 '
                               b'NIL NIL NIL NIL)')
    assert m.body == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1)'


def test_message_rfc822_inside_multipart_has_envelope_body_and_lines():
    m = parse_message(TRICKY["nested_rfc822"])
    assert m.bodystructure == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL NIL)'
        b'("message" "rfc822" NIL NIL NIL "7bit" 171 (NIL "inner" ((NIL NIL "x" "y")) '
        b'((NIL NIL "x" "y")) ((NIL NIL "x" "y")) NIL NIL NIL NIL NIL) '
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL NIL) '
        b'"alternative" ("boundary" "b2") NIL NIL NIL) 13 NIL NIL NIL NIL) '
        b'"mixed" ("boundary" "b1") NIL NIL NIL)')
    assert m.body == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 0)'
        b'("message" "rfc822" NIL NIL NIL "7bit" 171 (NIL "inner" ((NIL NIL "x" "y")) '
        b'((NIL NIL "x" "y")) ((NIL NIL "x" "y")) NIL NIL NIL NIL NIL) '
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0)'
        b'("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 8 0) "alternative") 13) "mixed")')
    assert m.has_attachments
    assert [c.number for c in m.parts.children] == ["1", "2"]
    inner = m.parts.children[1].message
    assert [c.number for c in inner.children] == ["2.1", "2.2"]
    assert "plain" in m.body_text and "part one" in m.body_text


def test_all_single_part_fields_are_kept_as_written():
    m = parse_message(TRICKY["params_case_and_fields"])
    assert m.bodystructure == (
        b'("Text" "HTML" ("CharSet" "UTF-8" "Foo" "Bar") "<x@y>" "desc \\"q\\"" '
        b'"Quoted-Printable" 12 1 "abc" ("Inline" ("FileName" "a b.txt")) ("en" "de") '
        b'"http://x/y")')
    assert m.parts.content_type == "text/html" and m.parts.encoding == "quoted-printable"
    assert m.parts.charset == "utf-8" and m.parts.filename == "a b.txt"


def test_rfc2231_continuations_are_merged_and_filenames_decoded():
    m = parse_message(TRICKY["rfc2231"])
    assert m.bodystructure == (
        b'("application" "octet-stream" ("name*" "utf-8\'\'J%C3%B6rg.txt" "title" "a b") NIL NIL '
        b'"7bit" 3 NIL ("attachment" ("filename*" "utf-8\'en\'%E2%82%AC.txt")) NIL NIL)')
    assert m.parts.filename == "\u20ac.txt"
    assert m.has_attachments


def test_groups_and_comments_in_address_lists():
    m = parse_message(TRICKY["groups"])
    assert m.envelope == (
        b'(NIL "groups" (("Joe Q. Public" NIL "john.q.public" "example.com")) '
        b'(("Joe Q. Public" NIL "john.q.public" "example.com")) '
        b'(("Joe Q. Public" NIL "john.q.public" "example.com")) '
        b'((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")'
        b'("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL)("Mary" NIL "m" "x")) '
        b'((NIL NIL "Undisclosed recipients" NIL)(NIL NIL NIL NIL)) '
        b'(("his host" NIL "pete" "silly.test")) NIL NIL)')
    assert m.sort_to == "c" and m.display_to == "ed jones"


def test_envelope_keeps_encoded_words_and_marks_missing_parts():
    m = parse_message(TRICKY["odd_addresses"])
    assert m.envelope == (
        b'(NIL NIL (("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.de")) '
        b'(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.de")) '
        b'(("a b c" NIL "x" "y")("a b" NIL "x" "y")("x" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")) '
        b'((NIL NIL "user" "MISSING_DOMAIN")(NIL NIL "MISSING_MAILBOX" "host")'
        b'(NIL "@route,@r2" "a" "b")) '
        b'((NIL NIL "a" "b")(NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL "c" "d")) '
        b'NIL NIL NIL)')
    assert m.display_from == "jörg" and m.from_text == "Jörg <j@x.de>"


def test_envelope_strings_unfolded_last_field_wins_and_8bit_is_a_literal():
    m = parse_message(TRICKY["envelope_fields"])
    assert m.envelope == (
        b'("Mon, 1 Jan 2024  10:00:00 +0000" "second" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) '
        b'((NIL NIL "r" "s")) NIL NIL NIL "<x@y> <z@w>" "<a@b> (c)")')
    m = parse_message(TRICKY["eight_bit_subject_two_froms"])
    assert m.envelope.startswith(b'(NIL {11}\r\ncaf\xc3\xa9 "q" \\ ((NIL NIL "a" "b")'
                                 b'(NIL NIL "c" "d"))')
    assert m.subject == 'café "q" \\'
    assert parse_message(TRICKY["empty_fields"]).envelope == \
        b'("" "" NIL NIL NIL NIL NIL NIL NIL "")'


def test_missing_content_type_and_bad_boundary():
    m = parse_message(TRICKY["missing_content_type_in_parts"])
    assert m.bodystructure == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "base64" 8 0 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 13 0 NIL NIL NIL '
        b'NIL) "alternative" ("boundary" "=_x") NIL NIL NIL)')
    assert m.preview == "hello"          # the plain alternative, base64-decoded
    m = parse_message(TRICKY["bad_boundary_in_body"])
    assert m.body == (b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0) "mixed")')
    m = parse_message(TRICKY["multipart_no_boundary"])
    assert m.body == b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")'
    m = parse_message(TRICKY["multipart_unterminated"])
    assert m.body == b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 1) "mixed")'


def test_nested_boundaries_sharing_a_prefix():
    m = parse_message(TRICKY["prefix_boundaries"])
    assert m.body == (b'((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0) "mixed") '
                      b'"mixed")')


def test_multipart_extension_data_and_digest_default_type():
    m = parse_message(TRICKY["multipart_extension"])
    assert m.bodystructure.endswith(b' "mixed" ("boundary" "b") ("inline" NIL) ("en") "loc")')
    m = parse_message(TRICKY["digest"])
    assert m.body.startswith(b'(("message" "rfc822" NIL NIL NIL "7bit" 18 (NIL NIL ((NIL NIL '
                             b'"a" "b"))')


def test_message_global_is_encapsulated_like_rfc822():
    # RFC 9051 §7.5.2 (Dovecot 2.3 shows a leaf here)
    m = parse_message(TRICKY["message_global"])
    assert m.body == (b'("message" "global" NIL NIL NIL "7bit" 16 (NIL NIL ((NIL NIL "a" "b")) '
                      b'((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL) '
                      b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1) 3)')


def test_sort_keys_ids_and_date():
    m = parse_message(TRICKY["encoded_subject_sort"])
    assert m.subject == "Re: [list] Fwd: Résumé (fwd)"
    assert m.sort_subject == "résumé"
    assert (m.sort_from, m.sort_to, m.display_from, m.display_to) == ("zed", "bob", "zed", "bob")
    assert (m.message_id, m.in_reply_to, m.references) == ("id1@x", "id0@x", ["r1@x", "id0@x"])
    assert m.sent_date == 1704186000
    assert "Subject: Re: [list] Fwd: Résumé (fwd)" in m.headers_text


@pytest.mark.parametrize("subject,base", [
    ("Re: hello", "hello"),
    ("RE: Re: re:hello", "hello"),
    ("Fwd: FW: hello (fwd)", "hello"),
    ("[list] Re: hello", "hello"),
    ("Re[2]: hello", "hello"),
    ("[Fwd: Re: hello]", "hello"),
    ("[blob]", "[blob]"),
    ("  Hello   World  ", "hello world"),
    ("Re: ", ""),
])
def test_rfc5256_base_subject(subject, base):
    from postroom.mail.sortkeys import base_subject
    assert base_subject(subject) == base


def test_html_only_message_is_indexed_as_text():
    raw = (b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{}</style>"
           b"</head><body><p>Hello&nbsp;<b>World</b></p><p>caf\xc3\xa9</p></body></html>")
    m = parse_message(raw)
    assert m.body_text == "Hello World\ncafé"
    assert m.preview == "Hello World café"


def test_charsets_decode_and_bad_charsets_fall_back():
    raw = (b"Content-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =\r\nsoft")
    assert parse_message(raw).body_text == "café soft"
    raw = b"Content-Type: text/plain; charset=x-nonsense\r\n\r\ncaf\xe9"
    assert parse_message(raw).body_text == "café"
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nbad \xff\xfe utf8"
    assert "bad" in parse_message(raw).body_text


def test_preview_is_at_most_200_characters_with_whitespace_collapsed():
    raw = b"Subject: x\r\n\r\n" + b"word   \r\n\t" * 100
    p = parse_message(raw).preview
    assert len(p) == 200 and "  " not in p and p.startswith("word word")


def test_bare_lf_input_gives_offsets_into_the_bytes_given():
    raw = TRICKY["lf_multipart"]
    m = parse_message(raw)
    one, two = m.parts.children
    assert raw[one.body_start:one.end] == b"hello"
    assert raw[two.header_start:two.body_start] == b"Content-Type: text/html\n\n"
    assert m.sort_subject == "lf mime"


def test_hostile_nesting_depth_is_bounded():
    depth = 2000
    raw = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                   for i in range(depth)) + b"\r\nleaf\r\n"
    m = parse_message(raw)
    d, p = 0, m.parts
    while p.children:
        p, d = p.children[0], d + 1
    assert d <= 51
    raw = b"Content-Type: message/rfc822\r\n\r\n" * depth + b"\r\nx"
    assert parse_message(raw).size == len(raw)


def test_unparsable_date_is_none():
    assert parse_message(b"Date: yesterday-ish\r\n\r\n").sent_date is None
    assert parse_message(b"Date: Mon, 1 Jan 99999 10:00 +0000\r\n\r\n").sent_date is None

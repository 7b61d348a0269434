"""RFC 5322 §3.4 address lists for ENVELOPE, SMTP and the submission sender check."""

from __future__ import annotations

import pytest

from postroom.mail.address import Address, Group, normalize_address, parse_address_groups, \
    parse_address_list
from postroom.mail.imapquote import nstring, quote_string


@pytest.mark.parametrize("value,expected", [
    ('"Joe Q. Public" <john.q.public@example.com>',
     [Address("Joe Q. Public", "john.q.public", "example.com")]),
    ("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
     [Address("Mary Smith", "mary", "x.test"), Address(None, "jdoe", "example.org"),
      Address("Who?", "one", "y.test")]),
    ("pete(his account)@silly.test(his host)", [Address("his host", "pete", "silly.test")]),
    ("=?utf-8?q?J=C3=B6rg?= <j@x.de>", [Address("Jörg", "j", "x.de")]),
    ('"a\\"b" <a@b>', [Address('a"b', "a", "b")]),
    ("<@r1,@r2:a@b>", [Address(None, "a", "b", "@r1,@r2")]),
    ("a @ b . c", [Address(None, "a", "b.c")]),
    ("user", [Address(None, "user", None)]),
    ('"quoted local"@x', [Address(None, "quoted local", "x")]),
    ("", []),
])
def test_parse_address_list(value, expected):
    assert parse_address_list(value) == expected


def test_groups_keep_their_members_and_names():
    items = parse_address_groups("A Group:Ed <c@a.test>,joe@w.test;, Mary <m@x>, Empty:;")
    assert items == [Group("A Group", [Address("Ed", "c", "a.test"),
                                       Address(None, "joe", "w.test")]),
                     Address("Mary", "m", "x"), Group("Empty", [])]
    assert [a.mailbox for a in parse_address_list("G: a@b, c@d;")] == ["a", "c"]


def test_normalize_address_lowercases_only_the_domain():
    assert normalize_address(Address(None, "John.Doe", "Example.COM")) == "John.Doe@example.com"
    assert normalize_address("Someone <Me@EXAMPLE.org>") == "Me@example.org"


def test_imap_quoting():
    assert quote_string(b"plain") == b'"plain"'
    assert quote_string(b'a"b\\c') == b'"a\\"b\\\\c"'
    assert quote_string(b"two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert quote_string("café".encode()) == b"{5}\r\ncaf\xc3\xa9"
    assert nstring(None) == b"NIL" and nstring("x") == b'"x"'

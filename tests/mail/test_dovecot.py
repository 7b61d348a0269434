"""ENVELOPE, BODYSTRUCTURE, BODY and BODY[section] compared with a private Dovecot's answers
for the same messages (skips when dovecot is not installed or cannot start as root).

Values are compared as parsed IMAP data, since Dovecot sends a literal for any string with a
quote, backslash, tab or folded line where RFC 9051 §4.3 allows a quoted string; the number of
byte-identical answers is printed.
"""

from __future__ import annotations

import pytest

from postroom.mail.parse import parse_message
from postroom.mail.sections import parse_section, section_bytes

from .checks import parse_sexp
from .corpus import DOVECOT_DIFFERS, DOVECOT_SECTIONS_DIFFER, TRICKY, cpython_email_corpus
from .dovecot_helper import Dovecot

pytestmark = pytest.mark.interop


def _messages() -> list[tuple[str, bytes]]:
    items = list(TRICKY.items())
    for p in cpython_email_corpus():
        # on the wire a message has CRLF line ends; Dovecot's sizes assume them
        items.append((p.name, p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")))
    return [(n, raw) for n, raw in items if raw]


@pytest.fixture(scope="module")
def dovecot():
    d = Dovecot.start()
    if d is None:
        pytest.skip("dovecot not available")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def appended(dovecot):
    return {name: (dovecot.append(raw), raw) for name, raw in _messages()}


def test_envelope_and_bodystructure_match_dovecot(dovecot, appended, capsys):
    exact = compared = 0
    mismatches = []
    for name, (seq, raw) in appended.items():
        if name in DOVECOT_DIFFERS:
            continue
        m = parse_message(raw)
        for item, mine in ((b"ENVELOPE", m.envelope), (b"BODYSTRUCTURE", m.bodystructure),
                           (b"BODY", m.body)):
            theirs = dovecot.fetch(seq, item)
            compared += 1
            exact += theirs == mine
            if parse_sexp(theirs) != parse_sexp(mine):
                mismatches.append((name, item, theirs, mine))
    with capsys.disabled():
        print(f"\nDovecot comparison: {compared} items, {exact} byte-identical, "
              f"{compared - len(mismatches)} equal as IMAP data, "
              f"{len(DOVECOT_DIFFERS)} messages skipped as known RFC-vs-Dovecot differences")
    assert not mismatches, mismatches[:3]


def _numbers(p, out: list[str]) -> list[str]:
    for c in p.children:
        out.append(c.number)
        out.append(c.number + ".MIME")
        _numbers(c, out)
    if p.message is not None and p.number:
        out += [p.number + ".HEADER", p.number + ".TEXT"]
        _numbers(p.message, out)
    return out


def test_body_sections_match_dovecot(dovecot, appended):
    mismatches = []
    for name, (seq, raw) in appended.items():
        if name in DOVECOT_DIFFERS:
            continue
        m = parse_message(raw)
        specs = ["HEADER", "TEXT", "1", "1.MIME", "HEADER.FIELDS (From Subject)",
                 "HEADER.FIELDS.NOT (From Subject)", "3", "2.1"] + _numbers(m.parts, [])
        for spec in dict.fromkeys(specs):
            if (name, spec) in DOVECOT_SECTIONS_DIFFER:
                continue
            mine = section_bytes(raw, m.parts, parse_section(spec)) or b""
            theirs = dovecot.fetch_section(seq, spec) or b""
            if mine != theirs:
                mismatches.append((name, spec, theirs[:200], mine[:200]))
    assert not mismatches, mismatches[:3]

"""Invariants every parse must keep, whatever the input (used by corpus and fuzz tests)."""

from __future__ import annotations

import re

from postroom.mail.message import ParsedMessage, Part
from postroom.mail.parse import MAX_TEXT, _parse, parse_message
from postroom.mail.sections import SectionSpec, section_bytes

_TOKEN = re.compile(rb'\s*(?:(\()|(\))|(NIL)|(\d+)|"((?:[^"\\]|\\.)*)"|\{(\d+)\}\r\n)', re.S)


def parse_sexp(data: bytes) -> object:
    """An IMAP parenthesized list (ENVELOPE/BODYSTRUCTURE) as nested Python lists; strings as
    bytes, NIL as None, numbers as int. Raises ValueError when ``data`` is not well formed."""
    stack: list[list] = [[]]
    pos = 0
    while pos < len(data):
        m = _TOKEN.match(data, pos)
        if not m:
            raise ValueError(f"bad IMAP syntax at {pos}: {data[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1):
            stack.append([])
        elif m.group(2):
            if len(stack) < 2:
                raise ValueError("unbalanced )")
            done = stack.pop()
            stack[-1].append(done)
        elif m.group(3):
            stack[-1].append(None)
        elif m.group(4):
            stack[-1].append(int(m.group(4)))
        elif m.group(5) is not None:
            stack[-1].append(re.sub(rb"\\(.)", rb"\1", m.group(5)))
        else:
            n = int(m.group(6))
            if pos + n > len(data):
                raise ValueError("short literal")
            stack[-1].append(data[pos:pos + n])
            pos += n
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError("unbalanced (")
    return stack[0][0]


def check_part(p: Part, lo: int, hi: int) -> None:
    assert lo <= p.header_start <= p.body_start <= p.end <= hi, (p.number, lo, hi, p)
    for i, c in enumerate(p.children, 1):
        assert c.number == (f"{p.number}.{i}" if p.number else str(i)), (p.number, c.number)
        check_part(c, p.body_start, p.end)
    if p.message is not None:
        assert p.message.header_start == p.body_start
        check_part(p.message, p.body_start, p.end)


def check_parsed(raw: bytes, m: ParsedMessage | None = None) -> ParsedMessage:
    """Parse ``raw`` and check the structure is self-consistent and well-formed IMAP."""
    if m is None:
        # the inner parser, so that a bug is not hidden by parse_message's last-resort fallback
        try:
            m = _parse(raw, MAX_TEXT)
        except RecursionError:
            m = parse_message(raw)
    assert m.size == len(raw)
    check_part(m.parts, 0, len(raw))
    assert m.parts.number == ""
    env = parse_sexp(m.envelope)
    assert isinstance(env, list) and len(env) == 10
    bs = parse_sexp(m.bodystructure)
    body = parse_sexp(m.body)
    assert isinstance(bs, list) and isinstance(body, list)
    assert section_bytes(raw, m.parts, SectionSpec()) == raw
    header = section_bytes(raw, m.parts, SectionSpec((), "HEADER")) or b""
    text = section_bytes(raw, m.parts, SectionSpec((), "TEXT")) or b""
    assert raw.startswith(header) and raw.endswith(text)
    assert len(m.preview) <= 200
    assert Part.from_json(m.parts.to_json()) == m.parts
    return m

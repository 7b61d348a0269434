"""FETCH BODY[section] and BINARY[section] as byte slices of the stored message (RFC 9051 §6.4.5,
RFC 3516). Pure functions over the raw bytes and the :class:`Part` tree saved at parse time, so
the IMAP door serves any section without parsing the message again.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from postroom.mail.message import Part
from postroom.mail.transfer import UnknownEncoding, decode_transfer

__all__ = ["SectionSpec", "parse_section", "section_span", "section_bytes", "binary_bytes",
           "decode_part", "UnknownEncoding", "filter_header", "pack_common_spans",
           "is_common", "common_span"]

KINDS = ("", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A section-spec: ``part`` numbers (``()`` for the whole message), the ``kind`` of text
    (one of :data:`KINDS`) and, for HEADER.FIELDS[.NOT], the field names (upper-cased)."""
    part: tuple[int, ...] = ()
    kind: str = ""
    fields: tuple[str, ...] = ()
    # The part as IMAP writes it ("1.2"), made once: FETCH looks it up for every message.
    number: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "number", ".".join(str(n) for n in self.part))


_NUM = re.compile(r"([1-9][0-9]*)(?:\.|$)")


def parse_section(text: str) -> SectionSpec:
    """The text between the brackets of BODY[...] as a :class:`SectionSpec`
    (RFC 9051 §9 section-spec). Raises ValueError for a malformed spec (the door answers BAD)."""
    spec = text.strip()
    names: str | None = None
    paren = spec.find("(")
    if paren >= 0:
        if not spec.endswith(")"):
            raise ValueError(f"bad section {text!r}")
        names = spec[paren + 1:-1]
        spec = spec[:paren].rstrip()
    part: list[int] = []
    pos = 0
    while (m := _NUM.match(spec, pos)) is not None:
        part.append(int(m.group(1)))
        pos = m.end()
    if pos and pos == len(spec) and spec.endswith("."):
        raise ValueError(f"bad section {text!r}")
    kind = spec[pos:].upper()
    if kind not in KINDS:
        raise ValueError(f"bad section {text!r}")
    if (names is not None) != kind.startswith("HEADER.FIELDS"):
        raise ValueError(f"bad section {text!r}")
    if kind == "MIME" and not part:
        raise ValueError("MIME needs a part number")  # RFC 9051 §6.4.5
    fields = tuple(f.strip('"').upper() for f in names.split()) if names else ()
    if kind.startswith("HEADER.FIELDS") and not fields:
        raise ValueError("empty header field list")
    return SectionSpec(tuple(part), kind, fields)


def _line_end(block: bytes) -> bytes:
    nl = block.find(b"\n")
    return b"\r\n" if nl <= 0 or block[nl - 1] == 13 else b"\n"


def filter_header(block: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    """The fields of a header block whose names are (``exclude``: are not) in ``names``,
    compared case-insensitively, with their original lines and folding, followed by the blank
    line when the block has one (RFC 9051 §6.4.5: "the blank line is always included in header
    data, except in the case of a message which has no body and no blank line")."""
    wanted = {n.upper() for n in names}
    eol = _line_end(block)
    out: list[bytes] = []
    keep = False
    blank = False
    for line in block.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        if line in (b"\r\n", b"\n"):
            blank = True
            break
        # A line without a colon is kept as a field of its own (a name no one asks for), so
        # HEADER.FIELDS.NOT still returns it, as Dovecot does.
        c = line.find(b":")
        name = (line[:c] if c > 0 else line).strip().decode("latin-1").upper()
        keep = (name in wanted) != exclude
        if keep:
            out.append(line)
    if out and not out[-1].endswith(b"\n"):
        out[-1] += eol
    if blank:
        out.append(eol)
    return b"".join(out)


def section_span(parts: Part, spec: SectionSpec) -> tuple[int, int] | None:
    """Where BODY[spec] lies in the raw message, as (start, end) offsets; for
    HEADER.FIELDS[.NOT], the header block that is filtered. None when the message has no such
    section. A door reads just these bytes of the stored message."""
    if spec.part:
        node = parts.find(spec.number)
        if node is None:
            return None
        if spec.kind == "":
            return node.body_start, node.end
        if spec.kind == "MIME":
            return node.header_start, node.body_start
        # HEADER, TEXT and HEADER.FIELDS after a part number name the message in a
        # message/rfc822 part.
        msg = node.message
        if msg is None:
            return None
    else:
        if spec.kind == "":
            return 0, parts.end
        if spec.kind == "MIME":
            return None
        msg = parts
    if spec.kind == "TEXT":
        return msg.body_start, msg.end
    return msg.header_start, msg.body_start


# BODY[], BODY[HEADER], BODY[TEXT], BODY[HEADER.FIELDS (...)], BODY[1] and BODY[1.MIME] are
# what mail clients ask of nearly every message. Their offsets are saved packed beside the part
# tree (the message's body start and end, part 1's header start, body start and end), so FETCH
# cuts them with one struct unpack and never decodes the tree.
_COMMON = struct.Struct("<5Q")


def pack_common_spans(parts: Part) -> bytes:
    """The offsets :func:`common_span` reads."""
    one = parts.find("1")
    assert one is not None          # every message has a part 1 (RFC 9051 §6.4.5)
    return _COMMON.pack(parts.body_start, parts.end, one.header_start, one.body_start, one.end)


def is_common(spec: SectionSpec) -> bool:
    """Whether :func:`common_span` answers ``spec``."""
    if not spec.part:
        return spec.kind != "MIME"
    return spec.part == (1,) and spec.kind in ("", "MIME")


def common_span(packed: bytes, spec: SectionSpec) -> tuple[int, int]:
    """:func:`section_span` of a section for which :func:`is_common` holds, from the packed
    offsets."""
    body, end, one_header, one_body, one_end = _COMMON.unpack(packed)
    if spec.part:
        return (one_body, one_end) if spec.kind == "" else (one_header, one_body)
    if spec.kind == "":
        return 0, end
    if spec.kind == "TEXT":
        return body, end
    return 0, body


def section_bytes(raw: bytes, parts: Part | None, spec: SectionSpec, base: int = 0,
                  span: tuple[int, int] | None = None) -> bytes | None:
    """The bytes of BODY[spec]; None when the section does not exist in this message (the
    door then answers with an empty string, RFC 9051 §6.4.5). ``raw`` holds the message from
    offset ``base`` on (all of it by default; at least the :func:`section_span`, which a
    caller that has it already passes as ``span``, and then ``parts`` may be None)."""
    if span is None:
        assert parts is not None
        span = section_span(parts, spec)
    if span is None:
        return None
    data = raw[span[0] - base:span[1] - base]
    if spec.kind.startswith("HEADER.FIELDS"):
        return filter_header(data, spec.fields, spec.kind == "HEADER.FIELDS.NOT")
    return data


def decode_part(raw: bytes, part: Part) -> bytes:
    """The body of ``part`` with its Content-Transfer-Encoding removed (BINARY[], RFC 3516).
    Raises :class:`UnknownEncoding` for an encoding we cannot undo (IMAP: UNKNOWN-CTE)."""
    return decode_transfer(raw[part.body_start:part.end], part.encoding)


def binary_bytes(raw: bytes, parts: Part, spec: SectionSpec, base: int = 0) -> bytes | None:
    """The bytes of BINARY[spec] (RFC 3516 §4.2): the whole message as it is, or a leaf part
    with its Content-Transfer-Encoding removed. None when the part does not exist or is a
    multipart (which has no single content to decode). ``raw`` and ``base`` as in
    :func:`section_bytes`. Raises :class:`UnknownEncoding`."""
    if not spec.part:
        return section_bytes(raw, parts, spec, base)
    node = parts.find(spec.number)
    if node is None or node.children:
        return None
    return decode_transfer(raw[node.body_start - base:node.end - base], node.encoding)

"""WBXML 1.3 as ActiveSync uses it (MS-ASWBXML §2.1.2; WAP-192-WBXML), sans-I/O.

:func:`decode` turns request bytes into an :class:`Element` tree and :func:`encode` turns a tree
into bytes; neither touches a socket. EAS WBXML has no attributes, no entities and (in what the
server sends) no string table: the header is always version 1.3, public id 1 (unknown), UTF-8,
and an empty string table, as Exchange writes it. A client's string table is still honoured on
input. Anything malformed raises :class:`WBXMLError`, which the HTTP layer answers with the
command's protocol-error Status, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from postroom.eas.codepages import NAMESPACES, PAGES, TAGS, TOKENS

# Global tokens (WBXML 1.3 §7.1)
SWITCH_PAGE = 0x00
END = 0x01
ENTITY = 0x02
STR_I = 0x03
LITERAL = 0x04
EXT_I_0, EXT_I_1, EXT_I_2 = 0x40, 0x41, 0x42
PI = 0x43
LITERAL_C = 0x44
EXT_T_0, EXT_T_1, EXT_T_2 = 0x80, 0x81, 0x82
STR_T = 0x83
LITERAL_A = 0x84
EXT_0, EXT_1, EXT_2 = 0xC0, 0xC1, 0xC2
OPAQUE = 0xC3
LITERAL_AC = 0xC4

HAS_CONTENT = 0x40
HAS_ATTRIBUTES = 0x80

HEADER = bytes([0x03, 0x01, 0x6A, 0x00])   # version 1.3, public id 1, UTF-8 (MIBenum 106), no strtbl

# Bounds that keep a hostile body from costing more than its size.
MAX_DEPTH = 64
MAX_MB_INT_BYTES = 5


class WBXMLError(ValueError):
    """The body is not WBXML that ActiveSync can carry."""


@dataclass(slots=True)
class Element:
    """One element: ``tag`` is "Namespace:Name"; ``text`` is a str (inline string) or bytes
    (opaque data) or None; elements carry either text or children, as EAS does."""
    tag: str
    children: list["Element"] = field(default_factory=list)
    text: str | bytes | None = None

    @property
    def name(self) -> str:
        """The local name, without the namespace."""
        return self.tag.partition(":")[2]

    def find(self, path: str) -> "Element | None":
        """The first descendant along ``path`` ("AirSync:Collections/AirSync:Collection")."""
        node: Element | None = self
        for step in path.split("/"):
            node = next((c for c in node.children if c.tag == step), None)
            if node is None:
                return None
        return node

    def findall(self, tag: str) -> list["Element"]:
        """Direct children with this tag."""
        return [c for c in self.children if c.tag == tag]

    def findtext(self, path: str, default: str | None = None) -> str | None:
        node = self.find(path)
        if node is None or node.text is None:
            return default if node is None else ("" if default is None else default)
        if isinstance(node.text, bytes):
            return node.text.decode("utf-8", "replace")
        return node.text

    def iter(self) -> Iterator["Element"]:
        yield self
        for c in self.children:
            yield from c.iter()

    def to_xml(self, indent: str = "") -> str:
        """Readable form for logs and test failures (not for the wire)."""
        if self.children:
            inner = "".join(c.to_xml(indent + "  ") for c in self.children)
            return f"{indent}<{self.tag}>\n{inner}{indent}</{self.tag}>\n"
        if self.text is None:
            return f"{indent}<{self.tag}/>\n"
        text = self.text if isinstance(self.text, str) else f"[{len(self.text)} bytes]"
        return f"{indent}<{self.tag}>{text}</{self.tag}>\n"


def E(tag: str, *content: "Element | str | bytes | int | None") -> Element:
    """Builds an element: ``E("AirSync:Status", 1)``, ``E("AirSync:Sync", child, child)``.
    None children are skipped, so optional elements read inline."""
    el = Element(tag)
    for c in content:
        if c is None:
            continue
        if isinstance(c, Element):
            el.children.append(c)
        elif isinstance(c, (list, tuple)):
            el.children.extend(x for x in c if x is not None)
        elif isinstance(c, bytes):
            el.text = c
        else:
            el.text = str(c) if not isinstance(c, bool) else ("1" if c else "0")
    return el


# --- encoder ------------------------------------------------------------------------------------

def _mb_u_int32(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode(root: Element) -> bytes:
    """The WBXML bytes of ``root``. KeyError names a tag no code page has (a server bug)."""
    out = bytearray(HEADER)
    page = [0]

    def write(el: Element) -> None:
        try:
            p, token = TOKENS[el.tag]
        except KeyError:
            raise KeyError(f"no WBXML code page has the tag {el.tag!r}") from None
        if p != page[0]:
            out.extend((SWITCH_PAGE, p))
            page[0] = p
        has_content = bool(el.children) or (el.text is not None and el.text != "")
        out.append(token | (HAS_CONTENT if has_content else 0))
        if not has_content:
            return
        if isinstance(el.text, bytes):
            out.append(OPAQUE)
            out.extend(_mb_u_int32(len(el.text)))
            out.extend(el.text)
        elif el.text is not None:
            # NUL ends an inline string: a value that holds one cannot go inline.
            data = el.text.encode("utf-8")
            if b"\x00" in data:
                out.append(OPAQUE)
                out.extend(_mb_u_int32(len(data)))
                out.extend(data)
            else:
                out.append(STR_I)
                out.extend(data)
                out.append(0)
        for c in el.children:
            write(c)
        out.append(END)

    write(root)
    return bytes(out)


# --- decoder ------------------------------------------------------------------------------------

class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise WBXMLError("unexpected end of WBXML")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def mb_u_int32(self) -> int:
        value = 0
        for _ in range(MAX_MB_INT_BYTES):
            b = self.byte()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                if value > 0xFFFFFFFF:
                    raise WBXMLError("multi-byte integer out of range")
                return value
        raise WBXMLError("multi-byte integer too long")

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise WBXMLError("opaque data runs past the end")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def cstring(self) -> bytes:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise WBXMLError("unterminated inline string")
        s = self.data[self.pos:end]
        self.pos = end + 1
        return s


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WBXMLError("inline string is not UTF-8") from None


def decode(data: bytes) -> Element:
    """The element tree of an EAS WBXML document. WBXMLError for anything else."""
    r = _Reader(data)
    version = r.byte()
    if version not in (0x01, 0x02, 0x03):
        raise WBXMLError(f"unsupported WBXML version {version:#x}")
    public_id = r.mb_u_int32()
    if public_id == 0:
        r.mb_u_int32()   # public id given as a string-table index: ignored, EAS has one DTD
    charset = r.mb_u_int32()
    if charset not in (0x6A, 0):   # 0: unknown, taken as UTF-8 as every EAS client writes it
        raise WBXMLError(f"unsupported charset {charset}")
    strtbl = r.take(r.mb_u_int32())

    page = 0
    stack: list[Element] = []
    root: Element | None = None
    while r.pos < len(data):
        tok = r.byte()
        if tok == SWITCH_PAGE:
            page = r.byte()
            if page not in NAMESPACES:
                raise WBXMLError(f"unknown code page {page}")
            continue
        if tok == END:
            if not stack:
                raise WBXMLError("END without an open element")
            stack.pop()
            if not stack:
                break
            continue
        if tok in (STR_I, STR_T, OPAQUE, ENTITY):
            if not stack:
                raise WBXMLError("content outside the root element")
            if tok == STR_I:
                value: str | bytes = _utf8(r.cstring())
            elif tok == STR_T:
                offset = r.mb_u_int32()
                if offset >= len(strtbl):
                    raise WBXMLError("string table reference out of range")
                end = strtbl.find(b"\x00", offset)
                value = _utf8(strtbl[offset:end if end >= 0 else len(strtbl)])
            elif tok == OPAQUE:
                value = r.take(r.mb_u_int32())
            else:
                value = chr(_entity(r.mb_u_int32()))
            _append_text(stack[-1], value)
            continue
        if tok in (PI, LITERAL, LITERAL_A, LITERAL_C, LITERAL_AC, EXT_I_0, EXT_I_1, EXT_I_2,
                   EXT_T_0, EXT_T_1, EXT_T_2, EXT_0, EXT_1, EXT_2):
            raise WBXMLError(f"WBXML token {tok:#x} is not used by ActiveSync")
        if tok & HAS_ATTRIBUTES:
            raise WBXMLError("ActiveSync elements have no attributes")
        name = TAGS.get((page, tok & 0x3F))
        if name is None:
            raise WBXMLError(f"unknown tag {tok & 0x3F:#x} on code page {page}")
        el = Element(name)
        if stack:
            if stack[-1].text is not None:
                raise WBXMLError("mixed content")
            stack[-1].children.append(el)
        elif root is None:
            root = el
        else:
            raise WBXMLError("more than one root element")
        if tok & HAS_CONTENT:
            if len(stack) >= MAX_DEPTH:
                raise WBXMLError("elements nested too deeply")
            stack.append(el)
        elif not stack:
            break
    if root is None:
        raise WBXMLError("no root element")
    if stack:
        raise WBXMLError("unexpected end of WBXML (unclosed elements)")
    if r.pos != len(data):
        raise WBXMLError("bytes after the root element")
    return root


def _entity(code: int) -> int:
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise WBXMLError("invalid character entity")
    return code


def _append_text(el: Element, value: str | bytes) -> None:
    if el.children:
        raise WBXMLError("mixed content")
    if el.text is None:
        el.text = value
    elif isinstance(el.text, str) and isinstance(value, str):
        el.text += value
    else:
        a = el.text.encode() if isinstance(el.text, str) else el.text
        b = value.encode() if isinstance(value, str) else value
        el.text = a + b


def namespace_page(namespace: str) -> int:
    return PAGES[namespace]

"""Parse a message once: raw bytes to :class:`ParsedMessage` (DESIGN.md "Messages").

Produces the RFC 9051 §7.5.2 ENVELOPE, BODYSTRUCTURE and BODY (output compatible with Dovecot's,
see tests/mail/test_dovecot.py), MIME part byte offsets (RFC 9051 §6.4.5 numbering), sort keys
(RFC 5256), decoded search text and an RFC 8970 preview. The MIME scanner is hand-written: the
stdlib ``email`` package gives no byte offsets and is ~10x slower. Never raises for any input.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field

from postroom.mail.address import Address, Group, parse_address_groups
from postroom.mail.encoded import decode_bytes, decode_header, decode_rfc2231, decode_words, \
    header_text
from postroom.mail.htmltext import html_to_text
from postroom.mail.imapquote import nstring, quote_string
from postroom.mail.message import ParsedMessage, Part, wire_ready
from postroom.mail.sortkeys import base_subject, display_key, sort_address_key
from postroom.mail.transfer import UnknownEncoding, decode_transfer

MAX_DEPTH = 50            # MIME nesting beyond this is read as an opaque leaf (hostile input)
MAX_TEXT = 1 << 20        # characters of decoded body text kept for search
PREVIEW_LENGTH = 200      # RFC 8970 §3.1: at most 200 characters

_ENVELOPE_SINGLE = ("date", "subject", "in-reply-to", "message-id")
_ENVELOPE_ADDRESSES = ("from", "sender", "reply-to", "to", "cc", "bcc")
_ENVELOPE_FIELDS = frozenset(_ENVELOPE_SINGLE + _ENVELOPE_ADDRESSES)
_MIME_FIELDS = frozenset(("content-type", "content-transfer-encoding", "content-id",
                          "content-description", "content-md5", "content-disposition",
                          "content-language", "content-location"))
_IDENTITY_ENCODINGS = frozenset(("7bit", "8bit", "binary", ""))


# --- header fields ------------------------------------------------------------------------------

_BLANK_LINE = re.compile(rb"\n\r?\n")


def header_bounds(raw: bytes, start: int) -> tuple[int, int]:
    """(end of the header fields, start of the body) for a header beginning at ``start``.
    The header ends at the first empty line (RFC 5322 §2.1); CRLF and bare LF are both
    accepted. Without an empty line everything is header."""
    n = len(raw)
    if start >= n:
        return n, n
    if raw[start] == 10:
        return start, start + 1
    if raw.startswith(b"\r\n", start):
        return start, start + 2
    m = _BLANK_LINE.search(raw, start)
    if m is None:
        return n, n
    return m.start() + 1, m.end()


def header_fields(block: bytes) -> list[tuple[str, bytes, bytes]]:
    """(lower-case name, name as written, raw value with its folding) of each field in a header
    block. Lines that are neither a field nor a continuation are skipped, as servers do."""
    fields: list[tuple[str, bytes, bytes]] = []
    name = b""
    chunks: list[bytes] = []
    for line in block.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if chunks:
                chunks.append(line)
            continue
        if chunks:
            fields.append((name.strip().lower().decode("latin-1"), name, b"\n".join(chunks)))
            chunks = []
        c = line.find(b":")
        if c > 0:
            name = line[:c]
            chunks.append(line[c + 1:])
    if chunks:
        fields.append((name.strip().lower().decode("latin-1"), name, b"\n".join(chunks)))
    return fields


def _unfold(value: bytes) -> bytes:
    """A header value as ENVELOPE/BODYSTRUCTURE show it: line breaks removed, tabs to spaces,
    trimmed; NUL (never legal in IMAP strings) to U+FFFD, as Dovecot does."""
    if b"\n" in value or b"\r" in value:
        value = value.replace(b"\r", b"").replace(b"\n", b"")
    if b"\t" in value:
        value = value.replace(b"\t", b" ")
    if b"\x00" in value:
        value = value.replace(b"\x00", "\ufffd".encode())
    return value.strip(b" ")


# --- Content-Type and friends -------------------------------------------------------------------

_TYPE = re.compile(r"[ \t]*([^\s/;]*)[ \t]*(?:/[ \t]*([^\s;]*))?")
_PARAM = re.compile(r'\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))', re.S)
_SECTION = re.compile(r"^(.*?)\*(\d+)(\*?)$")
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


def _params(text: str) -> list[tuple[str, str]]:
    """Parameters after the first ";" (RFC 2045 §5.1), names and values as written. RFC 2231 §3
    parameters (``name*``, ``name*0``...) are merged into one still-encoded value, named
    ``name*`` when extended, and listed after the plain ones sorted by name (as Dovecot does)."""
    out: list[tuple[str, str]] = []
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    names: dict[str, str] = {}
    for m in _PARAM.finditer(text):
        name = m.group(1)
        if m.group(2) is not None:
            value = _QUOTED_PAIR.sub(r"\1", m.group(2))
        else:
            value = (m.group(3) or "").strip()
        if "*" not in name:
            out.append((name, value))
            continue
        sm = _SECTION.match(name)
        if sm:
            base, index, extended = sm.group(1), int(sm.group(2)), bool(sm.group(3))
        else:
            base, index, extended = name.rstrip("*"), 0, name.endswith("*")
        key = base.lower()
        names.setdefault(key, base)
        sections.setdefault(key, []).append((index, extended, value))
    for key in sorted(sections):
        segs = sorted(sections[key], key=lambda seg: seg[0])
        name = names[key] + ("*" if segs[0][1] else "")
        out.append((name, "".join(seg[2] for seg in segs)))
    return out


def _split_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    semi = value.find(";")
    if semi < 0:
        return value.strip(), []
    return value[:semi].strip(), _params(value[semi + 1:])


def _param_get(params: list[tuple[str, str]], name: str) -> str | None:
    """A parameter decoded to text (RFC 2231 ``name*`` preferred, RFC 2047 tolerated)."""
    plain = None
    for k, v in params:
        lk = k.lower()
        if lk == name + "*":
            return decode_rfc2231(v)
        if lk == name and plain is None:
            plain = v
    if plain is None:
        return None
    if not plain.isascii():
        plain = header_text(plain.encode("latin-1", "replace"))
    return decode_words(plain)


def _params_sexp(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(quote_string(k.encode("latin-1", "replace")) + b" " +
                            quote_string(v.encode("latin-1", "replace"))
                            for k, v in params) + b")"


def _s(value: str) -> bytes:
    return quote_string(value.encode("latin-1", "replace"))


# --- the MIME tree ------------------------------------------------------------------------------

@dataclass(slots=True)
class _Node:
    part: Part
    mtype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    fields: dict[str, bytes] = field(default_factory=dict)
    encoding_raw: bytes = b"7bit"
    children: list["_Node"] = field(default_factory=list)
    message: "_Node | None" = None
    envelope: bytes | None = None
    lines: int = 0
    all_fields: list[tuple[str, bytes, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class _Hit:
    """A boundary line: where it starts, where the CRLF before it starts (the CRLF belongs to
    the delimiter, RFC 2046 §5.1.1), which boundary, whether it closes, where the next line is."""
    line: int
    crlf: int
    index: int
    close: bool
    next: int


def _next_boundary(raw: bytes, pos: int, stack: list[bytes], stop: int = -1) -> _Hit | None:
    """The next line at or after ``pos`` (and starting before ``stop``, when given) that starts
    with "--" and one of ``stack``'s boundaries. Like Dovecot, a line only has to begin with the
    boundary; the longest match wins, and among equal ones the innermost (RFC 2046 §5.1.1 forbids
    a nested multipart to reuse its parent's boundary, but mailers do)."""
    if not stack:
        return None
    n = len(raw)
    limit = n if stop < 0 else stop
    if pos >= limit:
        return None
    if pos == 0 or raw[pos - 1] == 10:
        q = pos
    else:
        q = raw.find(b"\n--", pos, limit)
        q = q + 1 if q >= 0 else -1
    while q >= 0:
        if raw.startswith(b"--", q):
            best, blen = -1, -1
            for idx in range(len(stack) - 1, -1, -1):
                b = stack[idx]
                if len(b) > blen and raw.startswith(b, q + 2):
                    best, blen = idx, len(b)
            if best >= 0:
                after = q + 2 + blen
                close = raw.startswith(b"--", after)
                nl = raw.find(b"\n", after)
                nxt = nl + 1 if nl >= 0 else n
                crlf = q
                if q > 0 and raw[q - 1] == 10:
                    crlf = q - 1
                    if crlf > 0 and raw[crlf - 1] == 13:
                        crlf -= 1
                return _Hit(q, crlf, best, close, nxt)
        f = raw.find(b"\n--", q + 1, limit)
        q = f + 1 if f >= 0 else -1
    return None


class _Parser:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def entity(self, start: int, number: str, depth: int, digest: bool,
               stack: list[bytes], root: bool) -> tuple[_Node, _Hit | None]:
        raw = self.raw
        hend, body_start = header_bounds(raw, start)
        early = _next_boundary(raw, start, stack, body_start - 1) if stack else None
        if early is not None:
            # A boundary inside what looked like the header: the part has no body.
            hend = body_start = max(early.crlf, start)
        all_fields = header_fields(raw[start:hend]) if hend > start else []
        fields: dict[str, bytes] = {}
        wanted = _MIME_FIELDS | _ENVELOPE_FIELDS if root else _MIME_FIELDS
        for lname, _, value in all_fields:
            if lname in wanted:
                if lname in _ENVELOPE_ADDRESSES and lname in fields:
                    # Dovecot reads every From/To/... field as one list; others: last one wins.
                    fields[lname] = fields[lname] + b"," + value
                else:
                    fields[lname] = value
        ct = fields.get("content-type")
        if ct is not None:
            ctext = ct.decode("latin-1")
            m = _TYPE.match(ctext)
            assert m is not None
            mtype, subtype = m.group(1), m.group(2) or ""
            semi = ctext.find(";")
            params = _params(ctext[semi + 1:]) if semi >= 0 else []
            if not mtype or not subtype:
                # RFC 2045 §5.2: a syntactically invalid Content-Type means the default.
                mtype, subtype = ("message", "rfc822") if digest else ("text", "plain")
        elif digest:
            mtype, subtype, params = "message", "rfc822", []
        else:
            mtype, subtype, params = "text", "plain", []
        cte = fields.get("content-transfer-encoding")
        encoding_raw = _unfold(cte) if cte is not None else b"7bit"
        if not encoding_raw:
            encoding_raw = b"7bit"
        encoding = encoding_raw.decode("latin-1").lower()
        lmtype, lsub = mtype.lower(), subtype.lower()
        charset = _param_get(params, "charset") if lmtype == "text" else None
        if lmtype == "text" and not any(k.lower() == "charset" for k, _ in params):
            # RFC 2045 §5.2 default, shown explicitly as servers do
            params = params + [("charset", "us-ascii")]
            charset = charset or "us-ascii"
        disposition = None
        filename = None
        cd = fields.get("content-disposition")
        if cd is not None:
            dval, dparams = _split_params(cd.decode("latin-1"))
            disposition = dval.lower() or None
            filename = _param_get(dparams, "filename")
        if filename is None:
            filename = _param_get(params, "name")
        part = Part(number, start, body_start, body_start, f"{lmtype}/{lsub}", encoding,
                    charset.strip().lower() if charset else None, filename, disposition)
        node = _Node(part, mtype, subtype, params, fields, encoding_raw, all_fields=all_fields)

        if early is not None:
            hit: _Hit | None = early
            part.end = body_start
        elif lmtype == "multipart" and depth < MAX_DEPTH:
            hit = self.multipart(node, body_start, depth, stack, lsub == "digest")
        elif lmtype == "message" and lsub in ("rfc822", "global") and depth < MAX_DEPTH:
            hit = self.message(node, body_start, depth, stack)
        else:
            hit = _next_boundary(raw, body_start, stack) if stack else None
            part.end = max(hit.crlf, body_start) if hit else len(raw)
            if hit is not None and hit.line == body_start and hit.crlf >= hend:
                # An empty body: the line break before the boundary belongs to the boundary
                # (RFC 2046 §5.1.1), so the header has no blank line of its own (as Dovecot).
                part.body_start = part.end = hit.crlf
        if lmtype == "text" or node.message is not None:
            node.lines = raw.count(b"\n", part.body_start, part.end)
        return node, hit

    def multipart(self, node: _Node, body_start: int, depth: int, stack: list[bytes],
                  digest: bool) -> _Hit | None:
        raw = self.raw
        part = node.part
        boundary = _param_get(node.params, "boundary")
        bbytes = boundary.encode("utf-8", "replace") if boundary else b""
        own = len(stack)
        inner = stack + [bbytes] if bbytes else stack
        hit = _next_boundary(raw, body_start, inner) if inner else None
        prefix = part.number + "." if part.number else ""
        tail = body_start
        if bbytes:
            while hit is not None and hit.index == own and not hit.close:
                tail = hit.next   # an empty last part may end exactly where it starts
                child, hit = self.entity(hit.next, prefix + str(len(node.children) + 1),
                                         depth + 1, digest, inner, False)
                node.children.append(child)
            if hit is not None and hit.index == own:
                # The close delimiter; the epilogue runs to a parent's boundary or the end.
                # The close line's own line break stays in this part (Dovecot agrees).
                tail = hit.next
                hit = _next_boundary(raw, tail, stack) if stack else None
        part.end = max(hit.crlf, tail) if hit else len(raw)
        if not node.children:
            # RFC 2046 requires at least one body part; like Dovecot, show an empty text/plain
            # one rather than an unparseable BODYSTRUCTURE.
            empty = Part(prefix + "1", body_start, body_start, body_start, "text/plain", "7bit",
                         "us-ascii")
            node.children.append(_Node(empty, params=[("charset", "us-ascii")]))
        part.children = [c.part for c in node.children]
        return hit

    def message(self, node: _Node, body_start: int, depth: int,
                stack: list[bytes]) -> _Hit | None:
        part = node.part
        if part.encoding not in _IDENTITY_ENCODINGS:
            # RFC 2046 §5.2.1 forbids encoding message/rfc822; such a body is not read as a
            # message (Dovecot shows an empty envelope and an empty text/plain body).
            hit = _next_boundary(self.raw, body_start, stack) if stack else None
            part.end = max(hit.crlf, body_start) if hit else len(self.raw)
            empty = Part(part.number or "1", body_start, body_start, body_start, "text/plain",
                         "7bit", "us-ascii")
            node.message = _Node(empty, params=[("charset", "us-ascii")],
                                 envelope=b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
            part.message = empty
            return hit
        inner, hit = self.entity(body_start, part.number or "1", depth + 1, False, stack, True)
        inner.envelope = envelope(inner.fields)
        node.message = inner
        part.message = inner.part
        part.end = inner.part.end
        return hit


# --- ENVELOPE -----------------------------------------------------------------------------------

def _address_sexp(a: Address) -> bytes:
    name = a.name.encode("latin-1", "replace") if a.name else None
    route = a.route.encode("latin-1", "replace") if a.route else None
    # Dovecot's placeholders for what the header lacks; clients expect a string here.
    mailbox = a.mailbox.encode("latin-1", "replace") if a.mailbox else b"MISSING_MAILBOX"
    host = a.host.encode("latin-1", "replace") if a.host else b"MISSING_DOMAIN"
    return b"(" + nstring(name) + b" " + nstring(route) + b" " + quote_string(mailbox) + \
        b" " + quote_string(host) + b")"


def _addresses_sexp(value: bytes | None) -> bytes:
    if value is None:
        return b"NIL"
    items = parse_address_groups(_unfold(value).decode("latin-1"), decode=False)
    out: list[bytes] = []
    for item in items:
        if isinstance(item, Group):
            # RFC 9051 §7.5.2: group start (NIL NIL name NIL), group end (NIL NIL NIL NIL)
            out.append(b"(NIL NIL " + _s(item.name) + b" NIL)")
            out.extend(_address_sexp(a) for a in item.members)
            out.append(b"(NIL NIL NIL NIL)")
        else:
            out.append(_address_sexp(item))
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def envelope(fields: dict[str, bytes]) -> bytes:
    """The RFC 9051 §7.5.2 ENVELOPE of a header: raw (still RFC 2047-encoded) values."""
    def single(name: str) -> bytes:
        v = fields.get(name)
        return b"NIL" if v is None else quote_string(_unfold(v))

    from_ = _addresses_sexp(fields.get("from"))
    sender = _addresses_sexp(fields.get("sender"))
    reply_to = _addresses_sexp(fields.get("reply-to"))
    # RFC 9051 §7.5.2: an absent or empty Sender/Reply-To is given the From value.
    if sender == b"NIL":
        sender = from_
    if reply_to == b"NIL":
        reply_to = from_
    return b"(" + b" ".join((
        single("date"), single("subject"), from_, sender, reply_to,
        _addresses_sexp(fields.get("to")), _addresses_sexp(fields.get("cc")),
        _addresses_sexp(fields.get("bcc")), single("in-reply-to"), single("message-id"),
    )) + b")"


# --- BODYSTRUCTURE / BODY -----------------------------------------------------------------------

def _fld(node: _Node, name: str) -> bytes:
    v = node.fields.get(name)
    return b"NIL" if v is None else quote_string(_unfold(v))


def _dsp(node: _Node) -> bytes:
    v = node.fields.get("content-disposition")
    if v is None:
        return b"NIL"
    dval, dparams = _split_params(_unfold(v).decode("latin-1"))
    return b"(" + _s(dval) + b" " + _params_sexp(dparams) + b")"


def _lang(node: _Node) -> bytes:
    v = node.fields.get("content-language")
    if v is None:
        return b"NIL"
    langs = [x.strip() for x in _unfold(v).decode("latin-1").split(",") if x.strip()]
    if not langs:
        return b"NIL"
    return b"(" + b" ".join(_s(x) for x in langs) + b")"


def bodystructure(node: _Node, extended: bool) -> bytes:
    """RFC 9051 §7.5.2 BODYSTRUCTURE (``extended``) or BODY of a parsed node."""
    if node.children:
        out = b"".join(bodystructure(c, extended) for c in node.children) + b" " + \
            _s(node.subtype)
        if extended:
            out += b" " + _params_sexp(node.params) + b" " + _dsp(node) + b" " + _lang(node) + \
                b" " + _fld(node, "content-location")
        return b"(" + out + b")"
    part = node.part
    fields = [_s(node.mtype), _s(node.subtype), _params_sexp(node.params),
              _fld(node, "content-id"), _fld(node, "content-description"),
              quote_string(node.encoding_raw), b"%d" % (part.end - part.body_start)]
    if node.message is not None:
        # Dovecot writes this type in lower case whatever the header said; so do we.
        fields[0] = b'"message"'
        fields[1] = _s(node.subtype.lower())
        inner = node.message
        fields += [inner.envelope or b"NIL", bodystructure(inner, extended), b"%d" % node.lines]
    elif node.mtype.lower() == "text":
        fields.append(b"%d" % node.lines)
    if extended:
        fields += [_fld(node, "content-md5"), _dsp(node), _lang(node),
                   _fld(node, "content-location")]
    return b"(" + b" ".join(fields) + b")"


# --- text for search and preview ----------------------------------------------------------------

def _is_attachment(node: _Node) -> bool:
    p = node.part
    if p.disposition == "attachment":
        return True
    if p.content_type in ("message/rfc822", "message/global"):
        return True
    return bool(p.filename) and p.disposition != "inline" and not p.content_type.startswith(
        "text/")


def _part_text(raw: bytes, node: _Node, budget: int) -> str:
    p = node.part
    # Only as many bytes as can make ``budget`` characters (base64 4:3, UTF-8 up to 4:1), so a
    # huge text part costs no more than the text we keep.
    data = raw[p.body_start:min(p.end, p.body_start + budget * 6 + 8)]
    try:
        data = decode_transfer(data, p.encoding)
    except UnknownEncoding:
        pass
    text = decode_bytes(data, p.charset if p.charset != "us-ascii" else None)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if p.content_type == "text/html":
        text = html_to_text(text)
    return text


def _texts(raw: bytes, node: _Node, out: list[str], budget: list[int]) -> None:
    """The readable text of ``node`` in order; in multipart/alternative only the best
    alternative (RFC 2046 §5.1.4: the last one the reader can show, plain text preferred)."""
    if budget[0] <= 0:
        return
    ct = node.part.content_type
    if node.children:
        kids = node.children
        if ct == "multipart/alternative":
            plain = [c for c in kids if c.part.content_type == "text/plain"]
            html = [c for c in kids if c.part.content_type == "text/html"]
            kids = plain[:1] or html[:1] or kids[-1:]
        for c in kids:
            _texts(raw, c, out, budget)
        return
    if node.message is not None:
        # a forwarded message's text is searchable too (IMAP SEARCH BODY finds it)
        _texts(raw, node.message, out, budget)
        return
    if ct in ("text/plain", "text/html", "text/enriched") and not (
            node.part.disposition == "attachment"):
        t = _part_text(raw, node, budget[0])
        t = t[:budget[0]]
        budget[0] -= len(t)
        out.append(t)


def _any_attachment(node: _Node) -> bool:
    if node.children:
        return any(_any_attachment(c) for c in node.children)
    return _is_attachment(node)


_ID = re.compile(r"<([^<>]*)>")


def _ids(value: bytes | None) -> list[str]:
    if value is None:
        return []
    text = header_text(value)
    ids = [i.strip() for i in _ID.findall(text) if i.strip()]
    if not ids:
        ids = [w for w in text.split() if "@" in w]
    return ids


def _sent_date(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        t = email.utils.parsedate_tz(header_text(value).strip())
        if t is None or not (1 <= t[0] <= 9999):
            return None
        return int(email.utils.mktime_tz(t))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def _decoded_addresses(value: bytes | None) -> list[Address]:
    if value is None:
        return []
    out: list[Address] = []
    for item in parse_address_groups(" ".join(header_text(value).split())):
        if isinstance(item, Group):
            out.extend(item.members)
        else:
            out.append(item)
    return out


# --- the entry point ----------------------------------------------------------------------------

def parse_message(raw: bytes, *, max_text: int = MAX_TEXT) -> ParsedMessage:
    """Parse ``raw`` once for the index (see :class:`ParsedMessage` for every field).

    Offsets are into ``raw`` exactly as given (bare-LF input included). Any input is accepted;
    a message that cannot be read at all still yields a text/plain structure."""
    raw = bytes(raw)
    try:
        parsed = _parse(raw, max_text)
    except RecursionError:
        parsed = _fallback(raw)
    except Exception:  # pragma: no cover - a bug must not lose a message; index it plainly
        parsed = _fallback(raw)
    parsed.wire_ready = wire_ready(raw)
    return parsed


def _fallback(raw: bytes) -> ParsedMessage:
    hend, body = header_bounds(raw, 0)
    part = Part("", 0, body, len(raw), "text/plain", "7bit", "us-ascii")
    lines = raw.count(b"\n", body)
    bs = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d' % (len(raw) - body, lines)
    return ParsedMessage(
        size=len(raw), envelope=b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure=bs + b" NIL NIL NIL NIL)", body=bs + b")", parts=part, sent_date=None,
        subject="", sort_subject="", sort_from="", sort_to="", sort_cc="", display_from="",
        display_to="", message_id=None, in_reply_to=None, references=[], preview="",
        from_text="", to_text="", cc_text="", bcc_text="", headers_text="",
        body_text=decode_bytes(raw[body:body + MAX_TEXT]))


def _parse(raw: bytes, max_text: int) -> ParsedMessage:
    root, _ = _Parser(raw).entity(0, "", 0, False, [], True)
    f = root.fields
    texts: list[str] = []
    _texts(raw, root, texts, [max_text])
    body_text = "\n".join(t for t in texts if t)
    subject = decode_header(f["subject"]) if "subject" in f else ""
    from_ = _decoded_addresses(f.get("from"))
    to = _decoded_addresses(f.get("to"))
    cc = _decoded_addresses(f.get("cc"))
    message_ids = _ids(f.get("message-id"))
    in_reply_to = _ids(f.get("in-reply-to"))
    refs_value = None
    for lname, _, value in root.all_fields:
        if lname == "references":
            refs_value = value
    headers_text = "\n".join(
        f"{name.decode('latin-1').strip()}: {decode_header(value)}"
        for _, name, value in root.all_fields)
    return ParsedMessage(
        size=len(raw),
        envelope=envelope(f),
        bodystructure=bodystructure(root, True),
        body=bodystructure(root, False),
        parts=root.part,
        sent_date=_sent_date(f.get("date")),
        subject=subject,
        sort_subject=base_subject(subject),
        sort_from=sort_address_key(from_),
        sort_to=sort_address_key(to),
        sort_cc=sort_address_key(cc),
        display_from=display_key(from_),
        display_to=display_key(to),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_ids(refs_value),
        preview=" ".join(body_text[:PREVIEW_LENGTH * 8].split())[:PREVIEW_LENGTH],
        from_text=decode_header(f["from"]) if "from" in f else "",
        to_text=decode_header(f["to"]) if "to" in f else "",
        cc_text=decode_header(f["cc"]) if "cc" in f else "",
        bcc_text=decode_header(f["bcc"]) if "bcc" in f else "",
        headers_text=headers_text,
        body_text=body_text,
        has_attachments=_any_attachment(root),
    )

"""Mail as EAS sees it (MS-ASEMAIL §2.2.2, MS-ASAIRS §2.2.2 Body and Attachments).

Builds an Email ApplicationData element from a stored message (headers read from the blob, the
body cut from the saved MIME part offsets, so nothing is re-parsed), and turns a client's Change
(Read, Flag, Categories) into store flag operations. The body is chosen by the client's
BodyPreference as MS-ASAIRS §3.2.5.1 says: plain, HTML or the whole MIME message, truncated to
TruncationSize with EstimatedDataSize telling the full size.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from postroom.eas.protocol import eas_date, parse_date
from postroom.eas.wbxml import E, Element
from postroom.mail.encoded import decode_bytes, decode_header
from postroom.mail.htmltext import html_to_text
from postroom.mail.message import Part
from postroom.mail.parse import header_bounds, header_fields
from postroom.mail.sections import UnknownEncoding, decode_part
from postroom.store.api import ANSWERED, DRAFT, FLAGGED, SEEN, MessageRow

BODY_PLAIN = 1
BODY_HTML = 2
BODY_RTF = 3
BODY_MIME = 4

# IMAP keywords that are flags of their own, never shown as categories.
_NOT_CATEGORIES = {"$forwarded", "$mdnsent", "$junk", "$notjunk", "$phishing", "$important",
                   "nonjunk", "junk", "$submitpending", "$submitted"}
FORWARDED = "$Forwarded"


@dataclass
class BodyPreference:
    type: int
    truncation: int | None = None
    all_or_none: bool = False
    preview: int = 0


@dataclass
class Options:
    """A collection's Sync Options (MS-ASCMD §2.2.3.124.5), remembered between requests."""
    filter_type: int = 0
    body: list[BodyPreference] = field(default_factory=list)
    mime_support: int = 0
    mime_truncation: int | None = None
    conflict: int = 1   # 1: the server's object wins (the default, MS-ASCMD §2.2.3.35)

    def to_json(self) -> dict:
        return {"filter": self.filter_type, "mime": self.mime_support,
                "mimetrunc": self.mime_truncation, "conflict": self.conflict,
                "body": [[b.type, b.truncation, b.all_or_none, b.preview] for b in self.body]}

    @classmethod
    def from_json(cls, data: dict | None) -> "Options":
        if not data:
            return cls()
        return cls(data.get("filter", 0), [BodyPreference(*b) for b in data.get("body", [])],
                   data.get("mime", 0), data.get("mimetrunc"), data.get("conflict", 1))


# MS-ASCMD §2.2.3.74.3 MIMETruncation codes -> bytes
_MIME_TRUNCATION = {0: 0, 1: 4096, 2: 5120, 3: 7168, 4: 10240, 5: 20480, 6: 51200, 7: 102400}


def _int(text: str | None, default: int | None = None) -> int | None:
    try:
        return int(text) if text is not None and text != "" else default
    except ValueError:
        return default


def parse_options(el: Element | None, previous: Options | None = None) -> Options:
    if el is None:
        return previous or Options()
    opts = Options()
    opts.filter_type = _int(el.findtext("AirSync:FilterType"), 0) or 0
    opts.mime_support = _int(el.findtext("AirSync:MIMESupport"), 0) or 0
    # Conflict (MS-ASCMD §2.2.3.35): 0 the client's change wins, 1 (the default) the server's
    opts.conflict = 0 if el.findtext("AirSync:Conflict") == "0" else 1
    code = _int(el.findtext("AirSync:MIMETruncation"))
    opts.mime_truncation = _MIME_TRUNCATION.get(code) if code is not None else None
    for bp in el.findall("AirSyncBase:BodyPreference"):
        t = _int(bp.findtext("AirSyncBase:Type"))
        if t is None:
            continue
        opts.body.append(BodyPreference(t, _int(bp.findtext("AirSyncBase:TruncationSize")),
                                        bp.findtext("AirSyncBase:AllOrNone") == "1",
                                        _int(bp.findtext("AirSyncBase:Preview"), 0) or 0))
    # 12.x clients may still send the old Truncation codes instead of a BodyPreference.
    if not opts.body and el.find("AirSync:Truncation") is not None:
        opts.body.append(BodyPreference(BODY_PLAIN, _MIME_TRUNCATION.get(
            _int(el.findtext("AirSync:Truncation"), 9) or 0)))
    return opts


# FilterType (MS-ASCMD §2.2.3.67.2) -> days back
FILTER_DAYS = {1: 1, 2: 3, 3: 7, 4: 14, 5: 31, 6: 93, 7: 186}


# --- reading a stored message -------------------------------------------------------------------

@dataclass
class MessageView:
    """What EAS needs of one message, read once from its blob."""
    raw: bytes
    headers: dict[str, str]       # lower-case name -> decoded value (first occurrence)
    parts: Part
    plain: Part | None
    html: Part | None
    attachments: list[Part]


def _walk(part: Part, out: list[Part]) -> None:
    if part.children:
        for c in part.children:
            _walk(c, out)
    else:
        out.append(part)


def headers_of(raw: bytes) -> dict[str, str]:
    """The message's header fields, decoded: lower-case name -> first value."""
    end, _ = header_bounds(raw, 0)
    headers: dict[str, str] = {}
    for name, _, value in header_fields(raw[:end]):
        headers.setdefault(name, decode_header(value.replace(b"\r", b"").replace(b"\n", b"")))
    return headers


def view(raw: bytes, parts_json: str) -> MessageView:
    headers = headers_of(raw)
    root = Part.from_json(parts_json)
    leaves: list[Part] = []
    _walk(root, leaves)
    plain = html_part = None
    attachments: list[Part] = []
    for p in leaves:
        is_attachment = p.disposition == "attachment" or (
            p.filename is not None and p.content_type not in ("text/plain", "text/html"))
        if not is_attachment and p.content_type == "text/plain" and plain is None:
            plain = p
        elif not is_attachment and p.content_type == "text/html" and html_part is None:
            html_part = p
        elif is_attachment or not p.content_type.startswith("text/") or p.filename:
            attachments.append(p)
    return MessageView(raw, headers, root, plain, html_part, attachments)


def part_text(v: MessageView, part: Part) -> str:
    try:
        data = decode_part(v.raw, part)
    except UnknownEncoding:
        data = v.raw[part.body_start:part.end]
    return decode_bytes(data, part.charset)


def body_text(v: MessageView, want: int) -> tuple[str, int]:
    """The body as ``want`` (plain or HTML), converting when the message lacks that form.
    Returns (text, native type)."""
    native = BODY_HTML if v.html is not None and v.plain is None else BODY_PLAIN
    if want == BODY_HTML:
        if v.html is not None:
            return part_text(v, v.html), native
        text = part_text(v, v.plain) if v.plain is not None else ""
        return "<html><body><pre>" + html.escape(text) + "</pre></body></html>", native
    if v.plain is not None:
        return part_text(v, v.plain), native
    if v.html is not None:
        return html_to_text(part_text(v, v.html)), native
    return "", native


def truncate_utf8(data: bytes, size: int | None) -> tuple[bytes, bool]:
    """At most ``size`` bytes, never cutting a UTF-8 sequence."""
    if size is None or len(data) <= size:
        return data, False
    cut = data[:size]
    while cut and (cut[-1] & 0xC0) == 0x80:
        cut = cut[:-1]
    if cut and cut[-1] >= 0xC0:
        cut = cut[:-1]
    return cut, True


def choose_body(opts: Options, smime: bool = False) -> BodyPreference:
    prefs = {p.type: p for p in opts.body}
    if BODY_MIME in prefs and (opts.mime_support == 2 or (opts.mime_support == 1 and smime)
                               or len(prefs) == 1):
        return prefs[BODY_MIME]
    for t in (BODY_HTML, BODY_PLAIN):
        if t in prefs:
            return prefs[t]
    if opts.mime_support == 2:
        return BodyPreference(BODY_MIME, opts.mime_truncation)
    return BodyPreference(BODY_PLAIN, None)


def body_element(v: MessageView, pref: BodyPreference, *, include_data: bool = True
                 ) -> tuple[Element, int]:
    """AirSyncBase:Body and the NativeBodyType."""
    if pref.type == BODY_MIME:
        data, native = v.raw, (BODY_HTML if v.html is not None and v.plain is None
                               else BODY_PLAIN)
    else:
        text, native = body_text(v, pref.type)
        data = text.encode("utf-8")
    cut, truncated = truncate_utf8(data, pref.truncation)
    if truncated and pref.all_or_none:
        cut = b""
    children = [E("AirSyncBase:Type", pref.type),
                E("AirSyncBase:EstimatedDataSize", len(data)),
                E("AirSyncBase:Truncated", 1) if truncated else None]
    if include_data:
        try:
            children.append(E("AirSyncBase:Data", cut.decode("utf-8")))
        except UnicodeDecodeError:   # 8-bit MIME that is not UTF-8 goes as opaque data
            children.append(E("AirSyncBase:Data", cut))
    if pref.preview:
        plain, _ = body_text(v, BODY_PLAIN)
        children.append(E("AirSyncBase:Preview", " ".join(plain.split())[:pref.preview]))
    return E("AirSyncBase:Body", *children), native


def attachment_elements(v: MessageView, file_ref_prefix: str) -> Element | None:
    if not v.attachments:
        return None
    items = []
    for p in v.attachments:
        size = p.end - p.body_start
        if p.encoding == "base64":
            size = size * 3 // 4
        inline = p.disposition == "inline"
        cid = None
        if inline or p.content_type.startswith("image/"):
            end, _ = header_bounds(v.raw, p.header_start)
            for name, _, value in header_fields(v.raw[p.header_start:end]):
                if name == "content-id":
                    cid = value.decode("latin-1").strip().strip("<>")
        items.append(E("AirSyncBase:Attachment",
                       E("AirSyncBase:DisplayName", p.filename or f"part{p.number}"),
                       E("AirSyncBase:FileReference", f"{file_ref_prefix}:{p.number}"),
                       E("AirSyncBase:Method", 1),
                       E("AirSyncBase:EstimatedDataSize", size),
                       E("AirSyncBase:ContentId", cid) if cid else None,
                       E("AirSyncBase:IsInline", 1) if inline else None))
    return E("AirSyncBase:Attachments", *items)


def categories(flags: tuple[str, ...]) -> list[str]:
    return [f for f in flags if not f.startswith("\\") and f.lower() not in _NOT_CATEGORIES]


# A follow-up Flag's children (MS-ASEMAIL §2.2.2.27), in the order they are sent: the Email
# page's own and those borrowed from the Tasks page. Dates among them must parse.
FLAG_FIELDS = ("Tasks:Subject", "Email:Status", "Email:FlagType", "Tasks:DateCompleted",
               "Email:CompleteTime", "Tasks:StartDate", "Tasks:DueDate", "Tasks:UtcStartDate",
               "Tasks:UtcDueDate", "Tasks:ReminderSet", "Tasks:ReminderTime",
               "Tasks:OrdinalDate", "Tasks:SubOrdinalDate")
_FLAG_DATES = {"Tasks:DateCompleted", "Email:CompleteTime", "Tasks:StartDate", "Tasks:DueDate",
               "Tasks:UtcStartDate", "Tasks:UtcDueDate", "Tasks:ReminderTime",
               "Tasks:OrdinalDate"}
_COMPLETION = ("Tasks:DateCompleted", "Email:CompleteTime")
FLAG_CLEARED, FLAG_COMPLETE, FLAG_ACTIVE = "0", "1", "2"


def flag_element(row: MessageRow, follow_up: dict[str, str] | None,
                 version: tuple[int, int]) -> Element:
    """The Flag as every door sees it: \\Flagged is an active flag, whatever the stored record
    says (an IMAP client may have set or cleared it since); the record adds the dates, and
    keeps a completed flag, which IMAP shows as not flagged."""
    rec = dict(follow_up or {})
    if FLAGGED in row.flags:
        for tag in _COMPLETION:
            rec.pop(tag, None)
        rec["Email:Status"] = FLAG_ACTIVE
        rec.setdefault("Email:FlagType", "Flag for follow up")
    elif rec.get("Email:Status") != FLAG_COMPLETE:
        return E("Email:Flag")
    if version < (14, 0):
        rec.pop("Tasks:Subject", None)
    return E("Email:Flag", *[E(tag, rec[tag]) for tag in FLAG_FIELDS if tag in rec])


def flag_elements(row: MessageRow, version: tuple[int, int],
                  follow_up: dict[str, str] | None = None) -> list[Element]:
    """Read, Flag, Categories: what changes on a message after delivery."""
    cats = categories(row.flags)
    return [E("Email:Read", 1 if SEEN in row.flags else 0),
            flag_element(row, follow_up, version),
            E("Email:Categories", *[E("Email:Category", c) for c in cats])]


def _importance(headers: dict[str, str]) -> int:
    imp = headers.get("importance", "").strip().lower()
    if imp in ("high", "low"):
        return 2 if imp == "high" else 0
    prio = headers.get("x-priority", "").strip()[:1]
    if prio in ("1", "2"):
        return 2
    if prio in ("4", "5"):
        return 0
    return 1


def application_data(row: MessageRow, v: MessageView, opts: Options, version: tuple[int, int],
                     file_ref_prefix: str, *, is_drafts: bool = False,
                     follow_up: dict[str, str] | None = None) -> Element:
    h = v.headers
    to = h.get("to", "")
    pref = choose_body(opts, smime="smime" in (v.parts.content_type or "")
                       or v.parts.content_type == "multipart/signed")
    body, native = body_element(v, pref)
    flags = flag_elements(row, version, follow_up)
    verb = None
    if version >= (14, 0):
        if ANSWERED in row.flags:
            verb = 1
        elif any(f.lower() == FORWARDED.lower() for f in row.flags):
            verb = 3
    children = [
        E("Email:To", to) if to else None,
        E("Email:Cc", h["cc"]) if h.get("cc") else None,
        E("Email:From", h.get("from", "")) if h.get("from") else None,
        E("Email:Subject", h.get("subject", "")),
        E("Email:ReplyTo", h["reply-to"]) if h.get("reply-to") else None,
        E("Email:DateReceived", eas_date(row.internal_date)),
        E("Email:DisplayTo", to) if to else None,
        E("Email:ThreadTopic", h.get("thread-topic") or h.get("subject", "")),
        E("Email:Importance", _importance(h)),
        flags[0],
        attachment_elements(v, file_ref_prefix),
        body,
        E("Email:MessageClass", "IPM.Note.SMIME" if pref.type == BODY_MIME
          and "signed" in v.parts.content_type else "IPM.Note"),
        E("Email:InternetCPID", 65001),
        flags[1],
        E("Email:ContentClass", "urn:content-classes:message"),
        E("AirSyncBase:NativeBodyType", native),
    ]
    from postroom.eas.meeting import meeting_request   # meeting -> pimfields -> this module
    meeting = meeting_request(v.raw, v.parts, version)
    if meeting is not None:
        at = next(i for i, c in enumerate(children) if c is not None
                  and c.tag == "Email:MessageClass")
        children[at] = E("Email:MessageClass", meeting[0])
        children.insert(at + 1, meeting[1][0])
    if version >= (14, 0):
        children.append(E("Email2:ConversationId", row.thread_id.to_bytes(16, "big")))
        if verb:
            children.append(E("Email2:LastVerbExecuted", verb))
    if version >= (16, 0) and (is_drafts or DRAFT in row.flags):
        children.append(E("Email2:IsDraft", 1))
        if h.get("bcc"):
            children.append(E("Email2:Bcc", h["bcc"]))
    if meeting is not None:
        children.extend(meeting[1][1:])
    children.append(flags[2])
    return E("AirSync:ApplicationData", *children)


def change_data(row: MessageRow, version: tuple[int, int],
                follow_up: dict[str, str] | None = None) -> Element:
    """A server Change of a message: only what can change (16.x ghosting, MS-ASCMD §2.2.3.7.2)."""
    return E("AirSync:ApplicationData", *flag_elements(row, version, follow_up))


class BadFlag(ValueError):
    """A Flag the store cannot keep (an unknown Status, a date that does not parse)."""


@dataclass
class FlagOps:
    add: set[str] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)
    categories: list[str] | None = None
    follow_up: dict[str, str] | None = None   # the record to keep, when a Flag was sent
    flag_sent: bool = False


def follow_up_of(flag: Element) -> dict[str, str] | None:
    """The record a client's Flag asks to keep (None: the flag is cleared)."""
    rec = {}
    for tag in FLAG_FIELDS:
        text = flag.findtext(tag)
        if text is None or text == "":
            continue
        if tag in _FLAG_DATES and parse_date(text) is None:
            raise BadFlag(f"{tag} is not a date")
        rec[tag] = text.strip()
    status = rec.get("Email:Status")
    if status not in (None, FLAG_CLEARED, FLAG_COMPLETE, FLAG_ACTIVE):
        raise BadFlag("unknown flag Status")
    if rec.get("Tasks:ReminderSet") not in (None, "0", "1"):
        raise BadFlag("ReminderSet is 0 or 1")
    return rec if status in (FLAG_COMPLETE, FLAG_ACTIVE) else None


def client_change(data: Element) -> FlagOps:
    """The store changes a client's Email Change asks for (BadFlag when it cannot be kept)."""
    ops = FlagOps()
    read = data.findtext("Email:Read")
    if read in ("0", "1"):
        (ops.add if read == "1" else ops.remove).add(SEEN)
    flag = data.find("Email:Flag")
    if flag is not None:
        ops.flag_sent = True
        ops.follow_up = follow_up_of(flag)
        active = ops.follow_up is not None and ops.follow_up["Email:Status"] == FLAG_ACTIVE
        (ops.add if active else ops.remove).add(FLAGGED)
    cats = data.find("Email:Categories")
    if cats is not None:
        ops.categories = [c.text for c in cats.findall("Email:Category")
                          if isinstance(c.text, str) and c.text and " " not in c.text
                          and not c.text.startswith("\\")]
    return ops


# What a 16.x draft is made of on the wire (MS-ASEMAIL §2.2.2.20 and §3.1.5.3), and the header
# each sets.
_DRAFT_HEADERS = (("Email:To", "To"), ("Email:Cc", "Cc"), ("Email2:Bcc", "Bcc"),
                  ("Email:Subject", "Subject"))


def draft_content_sent(data: Element) -> bool:
    """A Change that rewrites the draft, not only its Read, Flag or Categories."""
    return any(data.find(tag) is not None for tag, _ in _DRAFT_HEADERS) or \
        data.find("AirSyncBase:Body") is not None or data.find("Email:Importance") is not None


def mime_of_draft(data: Element, sender: str, base: MessageView | None = None) -> bytes:
    """A 16.x client's draft (MS-ASEMAIL §3.1.5.3) as an RFC 5322 message. With ``base`` (a
    Change of a stored draft) what the device did not send is kept from it (16.x ghosting,
    MS-ASCMD §2.2.3.7.2): headers, and the body with its type."""
    import email.message
    import email.policy
    import email.utils
    old = base.headers if base is not None else {}
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = old.get("from") or sender
    for tag, header in _DRAFT_HEADERS:
        el = data.find(tag)
        value = (el.text if isinstance(el.text, str) else "") if el is not None \
            else old.get(header.lower(), "")
        if value:
            msg[header] = value
    importance = data.findtext("Email:Importance")
    if importance in ("0", "2"):
        msg["Importance"] = "high" if importance == "2" else "low"
    elif importance is None and old.get("importance"):
        msg["Importance"] = old["importance"]
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or None)
    body = data.find("AirSyncBase:Body")
    if body is None and base is not None:
        html_body = base.html is not None and base.plain is None
        text = part_text(base, base.html if html_body else base.plain) \
            if (base.html if html_body else base.plain) is not None else ""
    else:
        html_body = body is not None and body.findtext("AirSyncBase:Type", "1") == "2"
        text = body.findtext("AirSyncBase:Data", "") if body is not None else ""
    msg.set_content(text or "", subtype="html" if html_body else "plain")
    return msg.as_bytes()

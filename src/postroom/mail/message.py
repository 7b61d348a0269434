"""What parsing a message once produces (DESIGN.md, "Messages: parse once, serve many times").

``mail.parse.parse_message`` fills a :class:`ParsedMessage`; the store keeps it as the index row.
The ENVELOPE and BODYSTRUCTURE are serialized in RFC 9051 §7.5.2 syntax here, below the doors,
so FETCH never re-parses: the store treats them as opaque bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(slots=True)
class Part:
    """One MIME part, by byte offsets into the raw message.

    ``number`` is the IMAP part specifier ("" for the whole message, "1", "1.2", ...).
    ``header_start``..``body_start`` is the part's MIME header (with its blank line);
    ``body_start``..``end`` its body. For a message/rfc822 part, ``message`` describes the
    enclosed message (whose own header/body offsets serve BODY[n.HEADER] and BODY[n.TEXT]).
    """
    number: str
    header_start: int
    body_start: int
    end: int
    content_type: str            # lower-case "type/subtype"
    encoding: str                # lower-case Content-Transfer-Encoding, "7bit" by default
    charset: str | None = None
    filename: str | None = None
    disposition: str | None = None
    children: list["Part"] = field(default_factory=list)
    message: "Part | None" = None

    def to_json_obj(self) -> list:
        return [self.number, self.header_start, self.body_start, self.end, self.content_type,
                self.encoding, self.charset, self.filename, self.disposition,
                [c.to_json_obj() for c in self.children],
                self.message.to_json_obj() if self.message else None]

    @classmethod
    def from_json_obj(cls, o: list) -> "Part":
        return cls(o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8],
                   [cls.from_json_obj(c) for c in o[9]],
                   cls.from_json_obj(o[10]) if o[10] else None)

    def to_json(self) -> str:
        return json.dumps(self.to_json_obj(), separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> "Part":
        return cls.from_json_obj(json.loads(s))

    def find(self, number: str) -> "Part | None":
        """The part named by an IMAP section number ("1.2"); None when there is none.
        Follows RFC 9051 §6.4.5: for a non-multipart message, part 1 is its body; a number
        under a message/rfc822 part addresses the enclosed message's parts."""
        node: Part = self
        for piece in number.split("."):
            if not piece.isdigit() or int(piece) < 1:
                return None
            n = int(piece)
            if node.message is not None and node.number != "":
                node = node.message
            if node.children:
                if n > len(node.children):
                    return None
                node = node.children[n - 1]
            elif n == 1:
                # A single-part entity: part 1 is itself (its body).
                node = node if node.number else Part("1", node.header_start, node.body_start,
                                                     node.end, node.content_type, node.encoding,
                                                     node.charset, node.filename,
                                                     node.disposition, [], node.message)
            else:
                return None
        return node


@dataclass(slots=True)
class ParsedMessage:
    size: int
    envelope: bytes               # RFC 9051 ENVELOPE, e.g. b'("Mon, 1 Jan ..." "subj" ((...)) ...)'
    bodystructure: bytes          # extensible form, e.g. b'("text" "plain" ("charset" "utf-8") ...)'
    body: bytes                   # non-extensible BODY form
    parts: Part                   # the tree of part offsets, root number ""
    sent_date: int | None         # Date: header as seconds since the epoch, UTC; None if unparsable
    subject: str                  # decoded (RFC 2047) subject, "" when absent
    sort_subject: str             # RFC 5256 §2.1 base subject
    sort_from: str                # RFC 5256 SORT FROM: first From mailbox local-part, lower-case
    sort_to: str
    sort_cc: str
    display_from: str             # RFC 5957: display name or else the address, lower-case
    display_to: str
    message_id: str | None        # Message-ID without <>
    in_reply_to: str | None       # first id of In-Reply-To without <>
    references: list[str]         # ids of References without <>, in order
    preview: str                  # RFC 8970: up to 200 characters of the decoded text
    from_text: str                # decoded From/To/Cc/Bcc/Subject for indexed search
    to_text: str
    cc_text: str
    bcc_text: str
    headers_text: str             # all header fields, unfolded and decoded, "Name: value" lines
    body_text: str                # decoded text of the text parts (HTML converted to text)
    has_attachments: bool = False
    wire_ready: bool = False      # see :func:`wire_ready`


def wire_ready(raw: bytes) -> bool:
    """Whether the message goes on a dot-terminated wire (POP3 RETR, RFC 1939 §3; SMTP DATA,
    RFC 5321 §4.5.2) as it is: every line ends in CRLF, the last one too, and none starts with
    "." (no dot-stuffing). Most mail is so, and is then sent with no pass over its bytes."""
    return (raw.endswith(b"\r\n") and not raw.startswith(b".") and b"\n." not in raw
            and raw.count(b"\n") == raw.count(b"\r\n"))

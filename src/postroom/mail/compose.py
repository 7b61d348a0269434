"""Composing on the server what a client sent in part: envelope recipients and Bcc removal for a
finished message, and replies and forwards completed with the original (EAS SmartReply and
SmartForward, MS-ASCMD §2.2.1.19-20; a web app's reply). Pure: bytes in, bytes out.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import re

from postroom.mail.address import normalize_address, parse_address_list
from postroom.mail.encoded import decode_header
from postroom.mail.parse import header_bounds, header_fields

_BCC_FIELD = re.compile(rb"(?im)^bcc:.*(?:\r?\n[ \t].*)*\r?\n")


def envelope_recipients(raw: bytes) -> list[str]:
    """Addresses of To, Cc and Bcc, each once, in order."""
    end, _ = header_bounds(raw, 0)
    out: list[str] = []
    for name, _, value in header_fields(raw[:end]):
        if name in ("to", "cc", "bcc"):
            text = decode_header(value.replace(b"\r", b"").replace(b"\n", b""))
            for addr in parse_address_list(text):
                a = normalize_address(addr)
                if a and "@" in a and a not in out:
                    out.append(a)
    return out


def strip_bcc(raw: bytes) -> bytes:
    """The message without its Bcc field (RFC 5322 §3.6.3: recipients must not see it)."""
    end, body_start = header_bounds(raw, 0)
    return _BCC_FIELD.sub(b"", raw[:end]) + raw[end:]


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.parser.BytesParser(policy=email.policy.SMTP).parsebytes(raw)


def _original_text(original: email.message.EmailMessage) -> str:
    part = original.get_body(("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, ValueError):
        return ""
    if part.get_content_type() == "text/html":
        from postroom.mail.htmltext import html_to_text
        text = html_to_text(text)
    return text


def _thread(msg: email.message.EmailMessage, original: email.message.EmailMessage) -> None:
    mid = original.get("Message-ID")
    if mid and "In-Reply-To" not in msg:
        msg["In-Reply-To"] = mid
        refs = original.get("References", "")
        msg["References"] = f"{refs} {mid}".strip()


def reply(new: bytes, original: bytes) -> bytes:
    """The client's reply with the original quoted below its text part."""
    msg, orig = _parse(new), _parse(original)
    _thread(msg, orig)
    quoted = "\r\n".join("> " + line for line in _original_text(orig).splitlines())
    header = f"\r\n\r\n{orig.get('From', '')} wrote:\r\n"
    body = msg.get_body(("plain",)) if msg.is_multipart() else msg
    if body is not None and body.get_content_type() == "text/plain":
        try:
            body.set_content(body.get_content() + header + quoted,
                             charset="utf-8")
        except (LookupError, ValueError, KeyError):
            pass
    return msg.as_bytes()


def forward(new: bytes, original: bytes) -> bytes:
    """The client's text with the original attached as message/rfc822."""
    msg = _parse(new)
    if not msg.is_multipart():
        # Give the text an explicit Content-Type, so make_mixed() moves it into a part.
        try:
            msg.set_content(msg.get_content(), subtype=msg.get_content_subtype())
        except (LookupError, ValueError, KeyError):
            pass
    if msg.get_content_type() != "multipart/mixed":
        msg.make_mixed()
    attached = email.message.EmailMessage(policy=email.policy.SMTP)
    attached.set_content(_parse(original))
    attached.replace_header("Content-Type", "message/rfc822")
    msg.attach(attached)
    return msg.as_bytes()

"""What the SMTP door's aiosmtpd handlers share: the connection's peer and TLS state, the
Received trace field (RFC 5321 §4.4, with-protocols of RFC 3848), and the checks every listener
makes on a message's bytes (bare LF, RFC 5321 §2.3.8; the header size limit).
"""

from __future__ import annotations

import email.utils
import logging
import uuid

from aiosmtpd.smtp import SMTP, Envelope, Session

from postroom.context import ServerContext
from postroom.submission import split_header, to_crlf

log = logging.getLogger("postroom.smtp")


def peer_ip(session: Session) -> str:
    """The client's address; "" on a Unix socket (LMTP from a local MTA)."""
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return ""


def tls_active(server: SMTP) -> bool:
    """True after STARTTLS and on an implicit-TLS listener alike."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def reverse_path(envelope: Envelope) -> str:
    """MAIL FROM as an address, "" for the null reverse-path (aiosmtpd keeps it as "<>")."""
    addr = envelope.mail_from or ""
    return "" if addr == "<>" else addr


def is_address(address: str) -> bool:
    """A mailbox with a local part and a dotted-or-literal domain (RFC 5321 §4.1.2)."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(address) > 254:
        return False
    if not local.startswith('"') and any(c.isspace() or c in '<>()[]\\,;:@"' for c in local):
        return False
    if domain.startswith("[") and domain.endswith("]"):
        return True
    return all(label and not label.startswith("-") and not label.endswith("-")
               for label in domain.split("."))


def received_field(*, helo: str, ip: str, hostname: str, protocol: str, queue_id: str,
                   recipients: list[str]) -> bytes:
    # The "for" clause names a recipient only when there is one, so a message to several
    # people does not tell each the others' envelope addresses (RFC 5321 §7.2).
    ip_part = f" ([{ip}])" if ip else ""
    rcpt = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
    return (f"Received: from {helo or 'unknown'}{ip_part}\r\n\tby {hostname} (Postroom) "
            f"with {protocol} id {queue_id}{rcpt};\r\n\t"
            f"{email.utils.formatdate(usegmt=True)}\r\n").encode("utf-8", "surrogateescape")


def protocol_name(server: SMTP, session: Session, *, lmtp: bool = False) -> str:
    """RFC 3848: ESMTP, then S for TLS and A for an authenticated client."""
    base = "LMTP" if lmtp else ("ESMTP" if session.extended_smtp else "SMTP")
    if base == "SMTP":
        return base
    return base + ("S" if tls_active(server) else "") + ("A" if session.authenticated else "")


def new_queue_id() -> str:
    return uuid.uuid4().hex[:16].upper()


class BaseHandler:
    """Hooks common to the MX, LMTP and submission listeners."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.config = ctx.config

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default reply quotes the exception to the client; a transient reply
        # tells it to retry and keeps internals private.
        log.exception("SMTP session error")
        return "451 4.3.0 Local error in processing, try again later"

    @staticmethod
    def ehlo_lines(responses: list[str], auth_mechanisms: list[str]) -> list[str]:
        """aiosmtpd's EHLO reply without its AUTH line, with PIPELINING (RFC 2920: aiosmtpd
        reads commands one by one from the stream, so a client may send a group unanswered)
        and with AUTH only when ``auth_mechanisms`` are offered."""
        lines = [r for r in responses[:-1] if not r[4:].upper().startswith("AUTH")]
        lines.append("250-PIPELINING")
        if auth_mechanisms:
            lines.append("250-AUTH " + " ".join(auth_mechanisms))
        return lines + responses[-1:]

    def message_bytes(self, envelope: Envelope) -> tuple[bytes, str | None]:
        """The received message with CRLF line ends, or the reply refusing it.

        aiosmtpd ends DATA only at CRLF.CRLF, so a bare LF cannot end it early (the "SMTP
        smuggling" attack); a bare LF inside the text is accepted and normalized to CRLF, as
        RFC 5321 §2.3.8 leaves to the server and as Postfix does, because refusing it would
        bounce mail from the many scripts that write LF-only messages."""
        content = envelope.original_content or b""
        raw = to_crlf(content)
        header, _ = split_header(raw)
        if len(header) > self.config.smtp.max_header_bytes:
            return b"", "552 5.3.4 Message header too large"
        return raw, None

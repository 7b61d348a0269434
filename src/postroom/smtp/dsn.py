"""Delivery status notifications: the bounce sent back to a message's envelope sender when
delivery failed for good (RFC 3464 message/delivery-status inside an RFC 6522 multipart/report,
with the original header as text/rfc822-headers).
"""

from __future__ import annotations

import email.utils
import re
import uuid
from dataclasses import dataclass

from postroom.submission import split_header


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str
    status: str              # RFC 3463, "5.1.1"
    diagnostic: str          # the remote server's reply, e.g. "550 5.1.1 no such user"
    remote_mta: str = ""     # the host that gave it, when one did


_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def status_of(code: int, message: str) -> str:
    """The RFC 3463 status of an SMTP reply: its enhanced code when it has one (RFC 2034),
    else the class of the basic code."""
    m = _ENHANCED.search(message[:20])
    if m and m.group(1) == str(code)[0]:
        return m.group(0)
    return f"{str(code)[0]}.0.0" if code else "4.4.1"


def _field_text(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def build_dsn(*, reporting_mta: str, sender: str, original: bytes,
              failures: list[FailedRecipient], arrival_date: int,
              action: str = "failed") -> bytes:
    """The bounce for ``failures`` of ``original``, addressed to ``sender``. ``action`` is
    "failed", or "delayed" for a warning (RFC 3464 §2.3.3)."""
    boundary = f"=_postroom_{uuid.uuid4().hex}"
    header, _ = split_header(original)
    subject = ("Undelivered Mail Returned to Sender" if action == "failed"
               else "Delayed Mail (still being retried)")
    human = [
        f"This is the mail system at {reporting_mta}.",
        "",
        ("Your message could not be delivered to one or more recipients."
         if action == "failed" else
         "Your message has not been delivered yet to one or more recipients; "
         "delivery is still being attempted."),
        "",
    ]
    for f in failures:
        human.append(f"<{f.address}>: {_field_text(f.diagnostic)}")
    per_message = [
        f"Reporting-MTA: dns; {reporting_mta}",
        f"Arrival-Date: {email.utils.formatdate(arrival_date, usegmt=True)}",
    ]
    per_recipient: list[str] = []
    for f in failures:
        per_recipient += ["", f"Final-Recipient: rfc822; {f.address}", f"Action: {action}",
                          f"Status: {f.status}"]
        if f.remote_mta:
            per_recipient.append(f"Remote-MTA: dns; {f.remote_mta}")
        if f.diagnostic:
            per_recipient.append(f"Diagnostic-Code: smtp; {_field_text(f.diagnostic)}")
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{sender}>",
        f"Subject: {subject}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        f"Message-ID: <{uuid.uuid4().hex}@{reporting_mta}>",
        # RFC 3834 §5: an automatic reply, so that no other robot answers it.
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        *human,
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        *per_message,
        *per_recipient,
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    text = "\r\n".join(lines).encode("utf-8") + b"\r\n"
    return text + header + b"\r\n" + f"--{boundary}--\r\n".encode()

"""An iMIP reply arriving by SMTP updates the organizer's calendar (RFC 6047, RFC 5546 §3.2.3),
as Exchange does: the mail is delivered and the attendee's answer is in the event at once."""

from __future__ import annotations

import aiosmtplib
import icalendar

from postroom.pim.model import index_text
from postroom.store.api import ROLE_INBOX

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:plan-42\r
DTSTAMP:20300101T000000Z\r
DTSTART:20300105T100000Z\r
DTEND:20300105T110000Z\r
SUMMARY:Planning\r
ORGANIZER:mailto:alice@example.test\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.test\r
ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:dan@other.test\r
END:VEVENT\r
END:VCALENDAR\r
"""

REPLY = """From: dan@other.test\r
To: alice@example.test\r
Subject: Accepted: Planning\r
MIME-Version: 1.0\r
Content-Type: text/calendar; method=REPLY; charset=utf-8\r
\r
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//other//EN\r
METHOD:REPLY\r
BEGIN:VEVENT\r
UID:plan-42\r
DTSTAMP:20300102T000000Z\r
DTSTART:20300105T100000Z\r
DTEND:20300105T110000Z\r
ORGANIZER:mailto:alice@example.test\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:dan@other.test\r
END:VEVENT\r
END:VCALENDAR\r
"""


def partstat(text: str, who: str) -> str:
    ev = next(iter(icalendar.Calendar.from_ical(text).walk("VEVENT")))
    atts = ev.get("ATTENDEE")
    for a in atts if isinstance(atts, list) else [atts]:
        if str(a).lower() == f"mailto:{who}":
            return str(a.params.get("PARTSTAT"))
    raise AssertionError(who)


async def test_imip_reply_by_smtp_updates_the_organizers_event(smtp):
    alice = smtp.accounts["alice"]
    calendar = next(c for c in await smtp.store.list_collections(alice.id, "calendar"))
    await smtp.store.put_item(alice.id, calendar.id, "plan-42.ics", EVENT,
                              index_text(EVENT, "calendar"))
    errors, _ = await aiosmtplib.send(REPLY.encode(), sender="dan@other.test",
                                      recipients=["alice@example.test"], hostname="127.0.0.1",
                                      port=smtp.mx_port, start_tls=False)
    assert errors == {}
    item = await smtp.store.get_item(alice.id, calendar.id, "plan-42.ics")
    assert partstat(item.text, "dan@other.test") == "ACCEPTED"
    inbox = await smtp.store.get_mailbox_by_role(alice.id, ROLE_INBOX)
    assert len(await smtp.store.uids(alice.id, inbox.id)) == 1   # and the mail is there too

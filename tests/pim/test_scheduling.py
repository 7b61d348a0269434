"""Scheduling like Exchange: invitations to local attendees land in their calendar, replies
update the organizer, cancellations propagate; outside attendees are reached by iMIP through
the outbound queue and their iMIP replies are applied; free/busy over the schedule outbox."""

from __future__ import annotations

import email
import email.policy

import icalendar

from postroom.pim import itip
from postroom.store.api import ROLE_INBOX
from tests.dav.client import request
from tests.dav.env import ALICE, BOB, running_dav, with_smtp
from tests.helpers import eventually
from tests.smtp.dnsserver import TestDNS

ALICE_HOME = "/dav/alice@example.test/"
BOB_HOME = "/dav/bob@example.test/"


def meeting(attendees: list[str], partstats: dict | None = None, summary: str = "Review",
            uid: str = "meet-1", seq: int = 0, start: str = "20300105T100000Z") -> str:
    partstats = partstats or {}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20240101T000000Z", f"DTSTART:{start}", "DTEND:20300105T110000Z",
             f"SUMMARY:{summary}", f"SEQUENCE:{seq}",
             "ORGANIZER;CN=Alice:mailto:alice@example.test",
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.test"]
    for a in attendees:
        lines.append(f"ATTENDEE;RSVP=TRUE;PARTSTAT={partstats.get(a, 'NEEDS-ACTION')}:mailto:{a}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def partstat_of(text: str, who: str) -> str:
    cal = icalendar.Calendar.from_ical(text)
    ev = next(iter(cal.walk("VEVENT")))
    atts = ev.get("ATTENDEE")
    atts = atts if isinstance(atts, list) else [atts]
    for a in atts:
        if str(a).lower() == f"mailto:{who}":
            return str(a.params.get("PARTSTAT"))
    raise AssertionError(f"{who} not an attendee")


async def bob_copy(dav) -> str:
    items = await dav.store.find_items_by_uid(dav.accounts[BOB].id, "meet-1")
    assert items, "no invitation in bob's calendar"
    return items[0].text


async def test_local_attendee_gets_invitation_and_reply_updates_organizer(dav):
    r = await request(dav, "PUT", ALICE_HOME + "calendar/meet-1.ics", meeting([BOB]))
    assert r.status == 201
    text = await bob_copy(dav)
    assert partstat_of(text, BOB) == "NEEDS-ACTION" and "SUMMARY:Review" in text
    # The invitation is in bob's schedule inbox, and a notification mail in his INBOX.
    inbox = await dav.store.get_collection_by_role(dav.accounts[BOB].id, "schedule-inbox")
    assert len(await dav.store.list_items(dav.accounts[BOB].id, inbox.id)) == 1
    mail_inbox = await dav.store.get_mailbox_by_role(dav.accounts[BOB].id, ROLE_INBOX)
    uids = await dav.store.uids(dav.accounts[BOB].id, mail_inbox.id)
    if uids:  # submission delivers locally (when the SMTP issue's path is present)
        [row] = await dav.store.fetch(dav.accounts[BOB].id, mail_inbox.id, uids[-1:])
        raw = await dav.store.read_blob(row.blob)
        assert b"text/calendar" in raw and b"METHOD:REQUEST" in raw

    # Bob accepts in his client: a PUT of his copy with PARTSTAT=ACCEPTED.
    [item] = await dav.store.find_items_by_uid(dav.accounts[BOB].id, "meet-1")
    accepted = item.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    r = await request(dav, "PUT", BOB_HOME + f"calendar/{item.name}", accepted, user=BOB,
                      headers={"If-Match": f'"{item.modseq}"'})
    assert r.status == 204
    r = await request(dav, "GET", ALICE_HOME + "calendar/meet-1.ics")
    assert partstat_of(r.text, BOB) == "ACCEPTED"


async def test_update_propagates_and_delete_cancels(dav):
    await request(dav, "PUT", ALICE_HOME + "calendar/meet-1.ics", meeting([BOB]))
    await request(dav, "PUT", ALICE_HOME + "calendar/meet-1.ics",
                  meeting([BOB], summary="Review (new room)", seq=1))
    assert "Review (new room)" in await bob_copy(dav)
    r = await request(dav, "DELETE", ALICE_HOME + "calendar/meet-1.ics")
    assert r.status == 204
    assert "STATUS:CANCELLED" in await bob_copy(dav)


async def test_attendee_deleting_the_event_declines_it(dav):
    await request(dav, "PUT", ALICE_HOME + "calendar/meet-1.ics", meeting([BOB]))
    [item] = await dav.store.find_items_by_uid(dav.accounts[BOB].id, "meet-1")
    r = await request(dav, "DELETE", BOB_HOME + f"calendar/{item.name}", user=BOB)
    assert r.status == 204
    r = await request(dav, "GET", ALICE_HOME + "calendar/meet-1.ics")
    assert partstat_of(r.text, BOB) == "DECLINED"


async def test_reply_api_for_other_doors_and_delegate(dav):
    await request(dav, "PUT", ALICE_HOME + "calendar/meet-1.ics", meeting([BOB]))
    assert await itip.reply(dav.ctx, dav.accounts[BOB], "meet-1", "tentative")
    r = await request(dav, "GET", ALICE_HOME + "calendar/meet-1.ics")
    assert partstat_of(r.text, BOB) == "TENTATIVE"


async def test_external_attendee_on_another_postroom_by_smtp(tmp_path):
    """Organizer on example.test, attendee on other.test, each server with its SMTP door: the
    REQUEST leaves through A's queue by SMTP, B applies it on delivery, dan's answer travels
    back the same way and alice's copy says ACCEPTED."""
    dns = TestDNS().start()
    try:
        async with running_dav(tmp_path / "a") as a, \
                running_dav(tmp_path / "b", users=("dan@other.test",), domain="other.test") as b, \
                with_smtp(a, dns.server) as a_smtp, with_smtp(b, dns.server) as b_smtp:
            a.config.smtp.routes["other.test"] = f"127.0.0.1:{b_smtp.ports['smtp']}"
            b.config.smtp.routes["example.test"] = f"127.0.0.1:{a_smtp.ports['smtp']}"
            dan = b.accounts["dan@other.test"]
            r = await request(a, "PUT", ALICE_HOME + "calendar/meet-1.ics",
                              meeting(["dan@other.test"]))
            assert r.status == 201

            [copy] = await eventually(lambda: b.store.find_items_by_uid(dan.id, "meet-1"))
            assert partstat_of(copy.text, "dan@other.test") == "NEEDS-ACTION"
            inbox = await b.store.get_mailbox_by_role(dan.id, ROLE_INBOX)
            [invitation] = await b.store.fetch(dan.id, inbox.id,
                                               await b.store.uids(dan.id, inbox.id))
            msg = email.message_from_bytes(await b.store.read_blob(invitation.blob),
                                           policy=email.policy.default)
            assert any(p.get_content_type() == "text/calendar" for p in msg.walk())

            # dan answers through his CalDAV client: his copy's PARTSTAT changes.
            dan_path = f"/dav/dan@other.test/calendar/{copy.name}"
            r = await request(b, "PUT", dan_path,
                              copy.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"),
                              {"If-Match": f'"{copy.modseq}"'}, user="dan@other.test")
            assert r.status == 204, r.text

            async def alice_sees_accepted() -> bool:
                r = await request(a, "GET", ALICE_HOME + "calendar/meet-1.ics")
                return partstat_of(r.text, "dan@other.test") == "ACCEPTED"
            await eventually(alice_sees_accepted)
            await eventually(lambda: _queues_empty(a, b))
    finally:
        dns.stop()


async def _queues_empty(*envs) -> bool:
    return not any([await env.store.queue_list() for env in envs])


async def test_forged_imip_reply_changes_nothing(dav):
    """An iMIP REPLY whose From is not the attendee it speaks for is ignored (RFC 6047 §3.1)."""
    await request(dav, "PUT", ALICE_HOME + "calendar/meet-1.ics", meeting(["dan@other.test"]))
    forged = (b"From: eve@evil.test\r\nTo: alice@example.test\r\nSubject: Declined\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY\r\n\r\n"
              + meeting(["dan@other.test"], {"dan@other.test": "DECLINED"}).replace(
                  "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REPLY").encode())
    assert not await itip.handle_incoming_imip(dav.store, dav.accounts[ALICE], forged)
    r = await request(dav, "GET", ALICE_HOME + "calendar/meet-1.ics")
    assert partstat_of(r.text, "dan@other.test") == "NEEDS-ACTION"


async def test_free_busy_through_the_schedule_outbox(dav):
    await request(dav, "PUT", BOB_HOME + "calendar/busy.ics", meeting(
        [], uid="busy", summary="Busy").replace("ORGANIZER;CN=Alice:mailto:alice@example.test\r\n"
                                                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:"
                                                "alice@example.test\r\n", ""), user=BOB)
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\n"
            "UID:fb1\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20300105T000000Z\r\n"
            "DTEND:20300106T000000Z\r\nORGANIZER:mailto:alice@example.test\r\n"
            "ATTENDEE:mailto:bob@example.test\r\nATTENDEE:mailto:nobody@example.test\r\n"
            "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    r = await request(dav, "POST", ALICE_HOME + "outbox/", body,
                      {"Content-Type": "text/calendar; charset=utf-8"})
    assert r.status == 200
    assert b"FBTYPE=BUSY" in r.body and b":20300105T100000Z/20300105T110000Z" in r.body
    assert b"3.7" in r.body


async def test_delegate_with_write_access_accepts_on_the_owners_behalf(dav):
    from postroom.store.api import ACL_COLLECTION, RIGHTS_READ_WRITE
    carol_home = "/dav/carol@example.test/"
    invite = meeting([ALICE]).replace("mailto:alice@example.test\r\nATTENDEE;PARTSTAT=ACCEPTED:"
                                      "mailto:alice@example.test",
                                      "mailto:carol@example.test\r\nATTENDEE;PARTSTAT=ACCEPTED:"
                                      "mailto:carol@example.test").replace("CN=Alice", "CN=Carol")
    r = await request(dav, "PUT", carol_home + "calendar/meet-1.ics", invite,
                      user="carol@example.test")
    assert r.status == 201
    alice = dav.accounts[ALICE]
    [item] = await dav.store.find_items_by_uid(alice.id, "meet-1")
    await dav.store.set_rights(alice.id, ACL_COLLECTION, item.collection_id,
                               dav.accounts[BOB].id, RIGHTS_READ_WRITE)
    shared = f"{BOB_HOME}shared-{alice.id}-{item.collection_id}/{item.name}"
    accepted = item.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    r = await request(dav, "PUT", shared, accepted, user=BOB)
    assert r.status == 204
    r = await request(dav, "GET", carol_home + "calendar/meet-1.ics", user="carol@example.test")
    assert partstat_of(r.text, ALICE) == "ACCEPTED"
    assert "SENT-BY" not in r.text or "bob@example.test" in r.text

"""Invitations on the phone: an iMIP REQUEST in the Inbox shows as a meeting request
(MS-ASEMAIL MeetingRequest), and MeetingResponse (MS-ASCMD §2.2.1.11) answers it, updating the
organizer's calendar through iTIP."""

from __future__ import annotations

import base64

import icalendar
import pytest

from postroom.eas.wbxml import E, encode
from postroom.pim import itip
from postroom.pim.model import index_text

from ..helpers import eventually
from .client import collection
from .wbxml_tool import WBXML2XML, libwbxml_tree, our_tree

ALICE, BOB = "alice@example.test", "bob@example.test"

INVITE = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
          "UID:review-7\r\nDTSTAMP:20260101T000000Z\r\n"
          "DTSTART;TZID=Europe/Berlin:20260310T140000\r\n"
          "DTEND;TZID=Europe/Berlin:20260310T150000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
          "SUMMARY:Design review\r\nLOCATION:Room 2\r\n"
          f"ORGANIZER;CN=Bob:mailto:{BOB}\r\n"
          f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{BOB}\r\n"
          f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{ALICE}\r\n"
          "END:VEVENT\r\nEND:VCALENDAR\r\n")


async def _bob_invites_alice(eas):
    """Bob saves a meeting in his calendar as a CalDAV client would (the DAV door's PUT)."""
    bob = eas.accounts[BOB]
    cal = await eas.store.get_collection_by_role(bob.id, "calendar")
    item = await eas.store.put_item(bob.id, cal.id, "review-7.ics", INVITE,
                                    index_text(INVITE, "calendar"))
    await itip.after_put(eas.ctx, bob, cal, None, item)
    return bob, cal


async def _bobs_view_of_alice(eas) -> str:
    bob, cal = eas.accounts[BOB], await eas.store.get_collection_by_role(
        eas.accounts[BOB].id, "calendar")
    item = await eas.store.get_item(bob.id, cal.id, "review-7.ics")
    ev = icalendar.Calendar.from_ical(item.text).walk("VEVENT")[0]
    (me,) = [a for a in ev["ATTENDEE"] if ALICE in str(a).lower()]
    return str(me.params["PARTSTAT"])


async def _inbox_invitation(phone) -> tuple[str, str, E]:
    inbox = (await phone.folders())["Inbox"][0]
    key = collection(await phone.sync(inbox, "0")).findtext("AirSync:SyncKey")
    coll = collection(await phone.sync(inbox, key))
    for add in coll.find("AirSync:Commands").findall("AirSync:Add"):
        data = add.find("AirSync:ApplicationData")
        if data.findtext("Email:MessageClass") == "IPM.Schedule.Meeting.Request":
            return inbox, add.findtext("AirSync:ServerId"), data
    raise AssertionError(coll.to_xml())


def _response(collection_id: str, request_id: str, user_response: int, *send) -> E:
    """A MeetingResponse request; ``send``: the SendResponse element, when there is one."""
    return E("MeetingResponse:MeetingResponse", E(
        "MeetingResponse:Request", E("MeetingResponse:UserResponse", user_response),
        E("MeetingResponse:CollectionId", collection_id),
        E("MeetingResponse:RequestId", request_id), *send))


def _proposal(start: str, end: str) -> E:
    return E("MeetingResponse:SendResponse", E("MeetingResponse:ProposedStartTime", start),
             E("MeetingResponse:ProposedEndTime", end))


@pytest.mark.parametrize("version", ["16.1", "14.1", "12.1"])
async def test_invitation_mail_shows_as_a_meeting_request(eas, phone, version):
    phone.version = version
    await _bob_invites_alice(eas)
    _, _, data = await _inbox_invitation(phone)
    req = data.find("Email:MeetingRequest")
    assert req.findtext("Email:StartTime") == "2026-03-10T13:00:00.000Z"
    assert req.findtext("Email:EndTime") == "2026-03-10T14:00:00.000Z"
    assert req.findtext("Email:Organizer") == BOB
    assert req.findtext("Email:InstanceType") == "1"
    assert req.find("Email:Recurrences/Email:Recurrence/Email:Occurrences").text == "4"
    goid = base64.b64decode(req.findtext("Email:GlobalObjId"))
    assert goid.endswith(b"vCal-Uid\x01\x00\x00\x00review-7\x00")
    assert len(base64.b64decode(req.findtext("Email:TimeZone"))) == 172
    if version >= "14.1":
        assert data.findtext("Email2:MeetingMessageType") == "1"


async def test_meeting_accepted_on_the_device_updates_the_organizers_calendar(eas, phone):
    await _bob_invites_alice(eas)
    inbox, server_id, _ = await _inbox_invitation(phone)
    a = await phone.post("MeetingResponse", _response(inbox, server_id, 1,
                                                      E("MeetingResponse:SendResponse")))
    result = a.element.find("MeetingResponse:Result")
    assert result.findtext("MeetingResponse:Status") == "1"
    calendar_id = result.findtext("MeetingResponse:CalendarId")
    assert calendar_id and calendar_id.startswith((await phone.folders())["Calendar"][0])
    assert await _bobs_view_of_alice(eas) == "ACCEPTED"
    # Alice's own copy says so too, and the request left the Inbox.
    acc = eas.accounts[ALICE]
    (mine,) = [i for i in await eas.store.find_items_by_uid(acc.id, "review-7")
               if i.index.organizer]
    assert "PARTSTAT=ACCEPTED" in mine.text.replace("\r\n ", "")
    mbox = await eas.store.get_mailbox(acc.id, "INBOX")
    assert not await eas.store.entries(acc.id, mbox.id, [int(server_id.split(":")[1])])


async def test_meeting_declined_from_the_calendar_item(eas, phone):
    await _bob_invites_alice(eas)
    folder = (await phone.folders())["Calendar"][0]
    acc = eas.accounts[ALICE]
    (mine,) = [i for i in await eas.store.find_items_by_uid(acc.id, "review-7")
               if i.index.organizer]
    a = await phone.post("MeetingResponse", E("MeetingResponse:MeetingResponse", E(
        "MeetingResponse:Request", E("MeetingResponse:UserResponse", 3),
        E("MeetingResponse:CollectionId", folder),
        E("MeetingResponse:RequestId", f"{folder}:{mine.name}"),
        E("MeetingResponse:SendResponse"))))
    assert a.element.findtext("MeetingResponse:Result/MeetingResponse:Status") == "1"
    assert await _bobs_view_of_alice(eas) == "DECLINED"


async def test_bad_meeting_responses_get_status_2(eas, phone):
    folder = (await phone.folders())["Calendar"][0]
    a = await phone.post("MeetingResponse", E("MeetingResponse:MeetingResponse",
        E("MeetingResponse:Request", E("MeetingResponse:UserResponse", 9),
          E("MeetingResponse:CollectionId", folder),
          E("MeetingResponse:RequestId", f"{folder}:nope.ics")),
        E("MeetingResponse:Request", E("MeetingResponse:UserResponse", 1),
          E("MeetingResponse:CollectionId", "c999"),
          E("MeetingResponse:RequestId", "c999:x"))))
    statuses = [r.findtext("MeetingResponse:Status")
                for r in a.element.findall("MeetingResponse:Result")]
    assert statuses == ["2", "2"]


async def test_16_response_without_send_response_updates_only_our_copy(eas, phone):
    await _bob_invites_alice(eas)
    inbox, server_id, _ = await _inbox_invitation(phone)
    a = await phone.post("MeetingResponse", _response(inbox, server_id, 2))
    assert a.element.findtext("MeetingResponse:Result/MeetingResponse:Status") == "1"
    acc = eas.accounts[ALICE]
    (mine,) = [i for i in await eas.store.find_items_by_uid(acc.id, "review-7")
               if i.index.organizer]
    assert "PARTSTAT=TENTATIVE" in mine.text.replace("\r\n ", "")
    assert await _bobs_view_of_alice(eas) == "NEEDS-ACTION"


async def test_16_new_time_proposal_reaches_the_organizer_as_counter(eas, phone):
    await _bob_invites_alice(eas)
    inbox, server_id, _ = await _inbox_invitation(phone)
    request = _response(inbox, server_id, 2, _proposal("20260310T150000Z", "20260310T160000Z"))
    if WBXML2XML:
        # libwbxml has no names for the 16.x tokens 0x10/0x11 of page 8, but reads them in place.
        expected = str(our_tree(request)).replace("ProposedStartTime", "unknown").replace(
            "ProposedEndTime", "unknown")
        assert str(libwbxml_tree(encode(request))) == expected
    a = await phone.post("MeetingResponse", request)
    assert a.element.findtext("MeetingResponse:Result/MeetingResponse:Status") == "1"
    assert await _bobs_view_of_alice(eas) == "TENTATIVE"
    bob = eas.accounts[BOB]
    bob_inbox = await eas.store.get_mailbox(bob.id, "INBOX")

    async def counter_mail():
        for row in await eas.store.fetch(bob.id, bob_inbox.id,
                                         await eas.store.uids(bob.id, bob_inbox.id), []):
            raw = await eas.store.read_blob(row.blob)
            if b"METHOD:COUNTER" in raw:
                return raw
    raw = await eventually(counter_mail)
    cal = icalendar.Calendar.from_ical(itip.calendar_part(raw)[1].to_ical())
    (ev,) = cal.walk("VEVENT")
    assert ev["DTSTART"].dt.isoformat() == "2026-03-10T15:00:00+00:00"
    assert ev["DTEND"].dt.isoformat() == "2026-03-10T16:00:00+00:00"
    assert ALICE in str(ev["ATTENDEE"]).lower()


async def test_proposal_with_end_before_start_gets_status_2(eas, phone):
    await _bob_invites_alice(eas)
    inbox, server_id, _ = await _inbox_invitation(phone)
    a = await phone.post("MeetingResponse", _response(
        inbox, server_id, 2, _proposal("20260310T150000Z", "20260310T140000Z")))
    assert a.element.findtext("MeetingResponse:Result/MeetingResponse:Status") == "2"

"""16.x Sync of calendars and contacts (MS-ASCMD §2.2.3.7.2 ghosting, §2.2.3.35 Conflict,
MS-ASCAL instances through a top-level InstanceId): what a device does not send stays, one
occurrence of a series is changed or cancelled alone, and the Conflict option decides who wins."""

from __future__ import annotations

import icalendar

from postroom.eas.wbxml import E

from .client import collection
from .test_calendar import WEEKLY, _calendar_folder, _initial, _only_item, _put
from .test_contacts_tasks import CARD, _folder
from .test_contacts_tasks import _put as _put_item

ALICE = "alice@example.test"


async def _held_calendar(eas, phone) -> tuple[str, str]:
    await _put(eas, WEEKLY, "weekly-1.ics")
    sid = await _calendar_folder(phone)
    coll = collection(await phone.sync(sid, await _initial(phone, sid)))
    return sid, coll.findtext("AirSync:SyncKey")


async def test_16_change_of_one_calendar_property_keeps_the_others(eas, phone):
    sid, key = await _held_calendar(eas, phone)
    a = await phone.sync(sid, key, commands=[E("AirSync:Change",
                         E("AirSync:ServerId", f"{sid}:weekly-1.ics"),
                         E("AirSync:ApplicationData", E("Calendar:Subject", "Standup (v2)")))])
    assert collection(a).find("AirSync:Responses") is None, a.element.to_xml()
    (item,) = await _only_item(eas)
    master, moved = icalendar.Calendar.from_ical(item.text).walk("VEVENT")
    assert str(master["SUMMARY"]) == "Standup (v2)"
    assert str(master["LOCATION"]) == "Room 1" and str(master["DESCRIPTION"]) == "Daily sync"
    assert master["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert "RRULE" in master and master.walk("VALARM")
    assert str(moved["SUMMARY"]) == "Standup moved"


async def test_16_change_of_one_contact_property_keeps_the_others(eas, phone):
    acc, col = await _put_item(eas, "contacts", "ann-1.vcf", CARD)
    sid, key = await _folder(phone, "Contacts")
    key = collection(await phone.sync(sid, key)).findtext("AirSync:SyncKey")
    a = await phone.sync(sid, key, commands=[E("AirSync:Change",
                         E("AirSync:ServerId", f"{sid}:ann-1.vcf"),
                         E("AirSync:ApplicationData", E("Contacts:JobTitle", "CEO")))])
    assert collection(a).find("AirSync:Responses") is None, a.element.to_xml()
    text = (await eas.store.get_item(acc.id, col.id, "ann-1.vcf")).text
    assert "TITLE:CEO" in text and "Head of Sales" not in text
    for kept in ("TEL;TYPE=CELL:+49 170 1", "ann@example.org", "NOTE:Met at the fair",
                 "PHOTO", "CATEGORIES:Work,VIP", "BDAY:1980-05-04"):
        assert kept in text, kept

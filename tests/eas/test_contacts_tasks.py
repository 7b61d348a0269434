"""Contacts (MS-ASCNTC) and Tasks (MS-ASTASK) over ActiveSync against the vCards and VTODOs
that CardDAV/CalDAV serve, both ways, in 16.1, 14.1 and 12.1."""

from __future__ import annotations

import base64

import icalendar
import pytest

from postroom.eas.wbxml import E, encode
from postroom.pim import contact
from postroom.pim.model import index_text

from ..dav.client import request
from .client import collection
from .wbxml_tool import libwbxml_tree, needs_libwbxml, our_tree

ALICE = "alice@example.test"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"

CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann-1\r\nFN:Ann Example\r\nN:Example;Ann;Q;Dr.;\r\n"
        "EMAIL;TYPE=INTERNET:ann@example.org\r\nEMAIL:ann@work.example\r\n"
        "EMAIL:third@example.org\r\nEMAIL:fourth@example.org\r\n"
        "TEL;TYPE=CELL:+49 170 1\r\nTEL;TYPE=WORK,VOICE:+49 30 2\r\nTEL;TYPE=HOME,FAX:+49 30 3\r\n"
        "ADR;TYPE=WORK:;;Main St 1;Berlin;;10115;Germany\r\nORG:Example GmbH;Sales\r\n"
        "TITLE:Head of Sales\r\nBDAY:1980-05-04\r\nNOTE:Met at the fair\\, 2025\r\n"
        "CATEGORIES:Work,VIP\r\nURL:https://example.org/\r\nX-ABUID:keep-me\r\n"
        f"PHOTO;ENCODING=b;TYPE=JPEG:{base64.b64encode(JPEG).decode()}\r\nEND:VCARD\r\n")

TODO = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:todo-1\r\n"
        "DTSTAMP:20260101T000000Z\r\nSUMMARY:File taxes\r\nDESCRIPTION:Before May\r\n"
        "DTSTART;TZID=Europe/Berlin:20260401T090000\r\nDUE;TZID=Europe/Berlin:20260430T170000\r\n"
        "PRIORITY:1\r\nCATEGORIES:Home\r\nRRULE:FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=30\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;VALUE=DATE-TIME:20260430T080000Z\r\n"
        "DESCRIPTION:x\r\nEND:VALARM\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")


async def _folder(phone, name: str) -> tuple[str, str]:
    sid = (await phone.folders())[name][0]
    return sid, collection(await phone.sync(sid, "0")).findtext("AirSync:SyncKey")


async def _put(eas, role: str, name: str, text: str):
    acc = eas.accounts[ALICE]
    col = await eas.store.get_collection_by_role(acc.id, role)
    kind = "addressbook" if role == "contacts" else "calendar"
    await eas.store.put_item(acc.id, col.id, name, text, index_text(text, kind))
    return acc, col


@pytest.mark.parametrize("version", ["16.1", "14.1", "12.1"])
async def test_vcard_reaches_the_device_with_every_field(eas, phone, version):
    phone.version = version
    await _put(eas, "contacts", "ann-1.vcf", CARD)
    sid, key = await _folder(phone, "Contacts")
    data = collection(await phone.sync(sid, key)).find(
        "AirSync:Commands/AirSync:Add/AirSync:ApplicationData")
    expect = {"FileAs": "Ann Example", "FirstName": "Ann", "LastName": "Example",
              "MiddleName": "Q", "Title": "Dr.", "Email1Address": "ann@example.org",
              "Email2Address": "ann@work.example", "Email3Address": "third@example.org",
              "MobilePhoneNumber": "+49 170 1", "BusinessPhoneNumber": "+49 30 2",
              "HomeFaxNumber": "+49 30 3", "BusinessAddressStreet": "Main St 1",
              "BusinessAddressCity": "Berlin", "BusinessAddressPostalCode": "10115",
              "BusinessAddressCountry": "Germany", "CompanyName": "Example GmbH",
              "Department": "Sales", "JobTitle": "Head of Sales",
              "Birthday": "1980-05-04T00:00:00.000Z", "WebPage": "https://example.org/"}
    for tag, value in expect.items():
        assert data.findtext(f"Contacts:{tag}") == value, tag
    assert base64.b64decode(data.findtext("Contacts:Picture")) == JPEG
    assert data.findtext("AirSyncBase:Body/AirSyncBase:Data") == "Met at the fair, 2025"
    cats = [c.text for c in data.find("Contacts:Categories").children]
    assert cats == ["Work", "VIP"]


async def test_contact_changed_on_the_device_keeps_what_it_cannot_show(eas, phone):
    phone.version = "14.1"            # a whole-item Change: what is missing was removed
    acc, col = await _put(eas, "contacts", "ann-1.vcf", CARD)
    sid, key = await _folder(phone, "Contacts")
    coll = collection(await phone.sync(sid, key))
    data = coll.find("AirSync:Commands/AirSync:Add/AirSync:ApplicationData")
    data.children = [c for c in data.children if c.tag != "Contacts:HomeFaxNumber"]
    for c in data.children:
        if c.tag == "Contacts:MobilePhoneNumber":
            c.text = "+49 170 999"
    a = await phone.sync(sid, coll.findtext("AirSync:SyncKey"), commands=[
        E("AirSync:Change", E("AirSync:ServerId", f"{sid}:ann-1.vcf"), data)])
    assert collection(a).find("AirSync:Responses") is None, a.element.to_xml()
    r = await request(eas, "GET", f"/dav/{ALICE}/contacts/ann-1.vcf")
    text = r.text
    assert "TEL;TYPE=CELL:+49 170 999" in text and "+49 30 3" not in text
    assert "X-ABUID:keep-me" in text and "fourth@example.org" in text
    assert "ADR;TYPE=WORK:;;Main St 1;Berlin;;10115;Germany" in text
    assert contact.read(text).slots["photo"] == JPEG


@pytest.mark.parametrize("version", ["16.1", "12.1"])
async def test_contact_added_on_the_device_is_a_vcard_for_carddav(eas, phone, version):
    phone.version = version
    sid, key = await _folder(phone, "Contacts")
    data = E("AirSync:ApplicationData", E("Contacts:FirstName", "Bo"),
             E("Contacts:LastName", "Builder"), E("Contacts:FileAs", "Builder, Bo"),
             E("Contacts:Email1Address", '"Bo Builder" <bo@example.org>'),
             E("Contacts:HomePhoneNumber", "+1 555 0100"),
             E("Contacts:HomeAddressStreet", "1 Elm St"),
             E("Contacts:HomeAddressCity", "Springfield"),
             E("Contacts:Birthday", "1990-01-01T23:00:00.000Z"),
             E("Contacts:Picture", base64.b64encode(JPEG).decode()),
             E("Contacts:Categories", E("Contacts:Category", "Friends")))
    a = await phone.sync(sid, key, commands=[E("AirSync:Add", E("AirSync:ClientId", "1"),
                                               data)])
    resp = collection(a).find("AirSync:Responses/AirSync:Add")
    assert resp.findtext("AirSync:Status") == "1"
    name = resp.findtext("AirSync:ServerId").split(":", 1)[1]
    r = await request(eas, "GET", f"/dav/{ALICE}/contacts/{name}")
    assert r.status == 200
    slots = contact.read(r.text).slots
    assert slots["n"][:2] == ("Builder", "Bo") and slots["fn"] == "Builder, Bo"
    assert slots["email1"] == "bo@example.org" and slots["tel.home"] == "+1 555 0100"
    assert slots["adr.home"][2:4] == ("1 Elm St", "Springfield")
    assert str(slots["bday"]) == "1990-01-02"      # local midnight east of UTC
    assert slots["photo"] == JPEG and slots["categories"] == ["Friends"]


@pytest.mark.parametrize("version", ["16.1", "14.1", "12.1"])
async def test_vtodo_reaches_the_device_with_dates_priority_reminder_and_recurrence(
        eas, phone, version):
    phone.version = version
    await _put(eas, "tasks", "todo-1.ics", TODO)
    sid, key = await _folder(phone, "Tasks")
    data = collection(await phone.sync(sid, key)).find(
        "AirSync:Commands/AirSync:Add/AirSync:ApplicationData")
    assert data.findtext("Tasks:Subject") == "File taxes"
    assert data.findtext("Tasks:UtcDueDate") == "2026-04-30T15:00:00.000Z"
    assert data.findtext("Tasks:DueDate") == "2026-04-30T17:00:00.000Z"    # local wall clock
    assert data.findtext("Tasks:UtcStartDate") == "2026-04-01T07:00:00.000Z"
    assert data.findtext("Tasks:Importance") == "2"
    assert data.findtext("Tasks:ReminderSet") == "1"
    assert data.findtext("Tasks:ReminderTime") == "2026-04-30T08:00:00.000Z"
    assert data.findtext("Tasks:Complete") == "0"
    rec = data.find("Tasks:Recurrence")
    assert rec.findtext("Tasks:Type") == "5" and rec.findtext("Tasks:MonthOfYear") == "4"
    assert rec.findtext("Tasks:DayOfMonth") == "30"
    assert data.findtext("AirSyncBase:Body/AirSyncBase:Data") == "Before May"


async def test_task_completed_on_the_device_is_completed_for_caldav(eas, phone):
    acc, col = await _put(eas, "tasks", "todo-1.ics", TODO)
    sid, key = await _folder(phone, "Tasks")
    coll = collection(await phone.sync(sid, key))
    a = await phone.sync(sid, coll.findtext("AirSync:SyncKey"), commands=[
        E("AirSync:Change", E("AirSync:ServerId", f"{sid}:todo-1.ics"), E(
            "AirSync:ApplicationData", E("Tasks:Complete", 1),
            E("Tasks:DateCompleted", "2026-04-20T10:00:00.000Z")))])
    assert collection(a).find("AirSync:Responses") is None
    item = await eas.store.get_item(acc.id, col.id, "todo-1.ics")
    todo = icalendar.Calendar.from_ical(item.text).walk("VTODO")[0]
    assert str(todo["STATUS"]) == "COMPLETED"
    assert todo["COMPLETED"].to_ical() == b"20260420T100000Z"
    assert todo["DUE"].params["TZID"] == "Europe/Berlin"      # untouched
    assert todo["RRULE"] == {"FREQ": ["YEARLY"], "BYMONTH": [4], "BYMONTHDAY": [30]}
    assert item.index.completed is not None


@pytest.mark.parametrize("version", ["16.1", "12.1"])
async def test_task_added_on_the_device_is_a_vtodo(eas, phone, version):
    phone.version = version
    sid, key = await _folder(phone, "Tasks")
    data = E("AirSync:ApplicationData", E("Tasks:Subject", "Call mum"),
             E("Tasks:Importance", 0), E("Tasks:UtcDueDate", "2026-05-09T22:00:00.000Z"),
             E("Tasks:DueDate", "2026-05-10T00:00:00.000Z"), E("Tasks:Complete", 0),
             E("Tasks:ReminderSet", 1), E("Tasks:ReminderTime", "2026-05-10T07:00:00.000Z"),
             E("Tasks:Recurrence", E("Tasks:Type", 1), E("Tasks:Start",
                                                          "2026-05-10T00:00:00.000Z"),
               E("Tasks:Interval", 2), E("Tasks:DayOfWeek", 1)))
    a = await phone.sync(sid, key, commands=[E("AirSync:Add", E("AirSync:ClientId", "1"),
                                               data)])
    resp = collection(a).find("AirSync:Responses/AirSync:Add")
    assert resp.findtext("AirSync:Status") == "1", a.element.to_xml()
    name = resp.findtext("AirSync:ServerId").split(":", 1)[1]
    r = await request(eas, "GET", f"/dav/{ALICE}/tasks/{name}")
    todo = icalendar.Calendar.from_ical(r.text).walk("VTODO")[0]
    assert todo["DUE"].to_ical() == b"20260510" and int(todo["PRIORITY"]) == 9
    assert todo["RRULE"].to_ical() == b"FREQ=WEEKLY;INTERVAL=2;BYDAY=SU"
    assert todo.walk("VALARM")[0]["TRIGGER"].to_ical() == b"20260510T070000Z"


@needs_libwbxml
async def test_contacts_and_tasks_answers_read_the_same_in_libwbxml(eas, phone):
    await _put(eas, "contacts", "ann-1.vcf", CARD)
    await _put(eas, "tasks", "todo-1.ics", TODO)
    for name in ("Contacts", "Tasks"):
        sid, key = await _folder(phone, name)
        a = await phone.sync(sid, key)
        assert libwbxml_tree(a.body) == our_tree(a.element)
    request_body = E("AirSync:Sync", E("AirSync:Collections", E(
        "AirSync:Collection", E("AirSync:SyncKey", "1"), E("AirSync:CollectionId", "c3"),
        E("AirSync:Commands", E("AirSync:Add", E("AirSync:ClientId", "1"), E(
            "AirSync:ApplicationData", E("Contacts:FirstName", "Bo"),
            E("Contacts2:NickName", "B"), E("Tasks:Subject", "x")))))))
    assert libwbxml_tree(encode(request_body)) == our_tree(request_body)

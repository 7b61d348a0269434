"""calendar-data as a REPORT asks for it (RFC 4791 §9.6): some components and properties only,
only the overrides that touch a range, or the expansion; and what clients ask of principals
through the expand-property REPORT (RFC 3253 §3.8)."""

from __future__ import annotations

import icalendar

from .client import request

CAL = "/dav/alice@example.test/calendar/"
SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s\r\n"
          "DTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\nDTEND:20240101T110000Z\r\n"
          "RRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:Weekly\r\nDESCRIPTION:Long notes\r\n"
          "ATTENDEE;CN=Bob:mailto:bob@example.test\r\n"
          "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
          "END:VEVENT\r\n"
          "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:20240108T100000Z\r\n"
          "DTSTART:20240108T120000Z\r\nDTEND:20240108T130000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n"
          "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:20240219T100000Z\r\n"
          "DTSTART:20240219T120000Z\r\nDTEND:20240219T130000Z\r\nSUMMARY:Late\r\nEND:VEVENT\r\n"
          "END:VCALENDAR\r\n")
MULTIGET = """<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop>{data}</D:prop><D:href>/dav/alice@example.test/calendar/s.ics</D:href>
</C:calendar-multiget>"""


async def calendar_data(dav, data: str) -> icalendar.Calendar:
    r = await request(dav, "REPORT", CAL, MULTIGET.format(data=data), {"Depth": "1"})
    assert r.status == 207, r.text
    text = r.xml().findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
    return icalendar.Calendar.from_ical(text)


async def test_comp_and_prop_select_what_is_returned(dav):
    await request(dav, "PUT", CAL + "s.ics", SERIES)
    cal = await calendar_data(dav, """<C:calendar-data><C:comp name="VCALENDAR">
      <C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="UID"/>
      <C:prop name="SUMMARY"/><C:prop name="RECURRENCE-ID"/>
      <C:prop name="ATTENDEE" novalue="yes"/></C:comp></C:comp></C:calendar-data>""")
    assert "PRODID" not in cal and str(cal["VERSION"]) == "2.0"
    master, *overrides = cal.subcomponents
    assert set(master.keys()) == {"UID", "SUMMARY", "ATTENDEE"}
    assert str(master["ATTENDEE"]) == "" and master["ATTENDEE"].params["CN"] == "Bob"
    assert not master.subcomponents                  # no VALARM asked for
    assert [str(o["SUMMARY"]) for o in overrides] == ["Moved", "Late"]


async def test_limit_recurrence_set_keeps_the_master_and_overrides_in_range(dav):
    await request(dav, "PUT", CAL + "s.ics", SERIES)
    cal = await calendar_data(dav, """<C:calendar-data><C:limit-recurrence-set
      start="20240105T000000Z" end="20240201T000000Z"/></C:calendar-data>""")
    assert [str(c["SUMMARY"]) for c in cal.walk("VEVENT")] == ["Weekly", "Moved"]
    assert cal.walk("VEVENT")[0].get("RRULE") is not None


async def test_bad_calendar_data_requests_are_refused(dav):
    await request(dav, "PUT", CAL + "s.ics", SERIES)
    for data, status in (
            ('<C:calendar-data><C:comp name="VEVENT"/></C:calendar-data>', 400),
            ('<C:calendar-data><C:expand start="20240101T000000Z" end="20250101T000000Z"/>'
             '<C:limit-recurrence-set start="20240101T000000Z" end="20250101T000000Z"/>'
             '</C:calendar-data>', 400),
            ('<C:calendar-data><C:expand start="2024-01-01" end="x"/></C:calendar-data>', 400),
            ('<C:calendar-data content-type="application/json"/>', 403)):
        r = await request(dav, "REPORT", CAL, MULTIGET.format(data=data), {"Depth": "1"})
        assert r.status == status and b"<D:error" in r.body, data


EXPAND_PROPERTY = """<D:expand-property xmlns:D="DAV:">
  <D:property name="calendar-proxy-write-for" namespace="http://calendarserver.org/ns/">
    <D:property name="displayname"/></D:property>
  <D:property name="current-user-principal">
    <D:property name="displayname"/>
    <D:property name="calendar-home-set" namespace="urn:ietf:params:xml:ns:caldav"/>
    <D:property name="calendar-user-address-set" namespace="urn:ietf:params:xml:ns:caldav"/>
  </D:property>
  <D:property name="no-such-thing" namespace="urn:x"/>
</D:expand-property>"""


async def test_expand_property_report_on_a_principal(dav):
    principal = "/dav/principals/alice@example.test/"
    r = await request(dav, "REPORT", principal, EXPAND_PROPERTY, {"Depth": "0"})
    assert r.status == 207, r.text
    root = r.xml()
    [outer] = root.findall("{DAV:}response")
    assert outer.findtext("{DAV:}href") == principal
    me = outer.find(".//{DAV:}current-user-principal/{DAV:}response")
    assert me.findtext("{DAV:}href") == principal
    assert me.findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-home-set/{DAV:}href") == \
        "/dav/alice@example.test/"
    addresses = [h.text for h in me.iter("{DAV:}href")]
    assert "mailto:alice@example.test" in addresses
    assert outer.find(".//{http://calendarserver.org/ns/}calendar-proxy-write-for") is not None
    statuses = [s.text for s in outer.findall("{DAV:}propstat/{DAV:}status")]
    assert any("404" in s for s in statuses)               # the unknown property

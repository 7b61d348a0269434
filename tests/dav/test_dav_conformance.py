"""What the caldav-server-tester probes, one behaviour each: text-match collations (RFC 4791
§9.7.5), alarm time ranges (§9.9), journals beside events (§5.2.3), 404 for a missing calendar,
principal-property-search (RFC 3744 §9.4-9.5) and Schedule-Tag (RFC 6638 §3.2-3.3)."""

from __future__ import annotations

from .client import hrefs, request
from .env import BOB

HOME = "/dav/alice@example.test/"
CAL = HOME + "calendar/"
C = "urn:ietf:params:xml:ns:caldav"

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20240101T000000Z\r\nDTSTART:20240110T080000Z\r\nDTEND:20240110T090000Z\r\n"
         "SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")
ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:{trigger}\r\nEND:VALARM\r\n"
QUERY = """<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">
<C:comp-filter name="VEVENT">{inner}</C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


def event(uid: str, summary: str = "simple event", extra: str = "") -> str:
    return EVENT.format(uid=uid, summary=summary, extra=extra)


async def query(dav, inner: str, status: int = 207) -> list[str]:
    r = await request(dav, "REPORT", CAL, QUERY.format(inner=inner), {"Depth": "1"})
    assert r.status == status, r.text
    return sorted(h.rsplit("/", 1)[1] for h in hrefs(r)) if status == 207 else [r.text]


def summary_match(text: str, collation: str | None = None) -> str:
    attr = f' collation="{collation}"' if collation else ""
    return f'<C:prop-filter name="SUMMARY"><C:text-match{attr}>{text}</C:text-match>' \
           '</C:prop-filter>'


async def test_octet_collation_is_case_sensitive_and_the_default_is_not(dav):
    await request(dav, "PUT", CAL + "a.ics", event("a", "simple event"))
    assert await query(dav, summary_match("Simple", "i;octet")) == []
    assert await query(dav, summary_match("simple", "i;octet")) == ["a.ics"]
    assert await query(dav, summary_match("SIMPLE", "i;ascii-casemap")) == ["a.ics"]
    assert await query(dav, summary_match("SIMPLE")) == ["a.ics"]


async def test_unknown_collation_is_refused_with_supported_collation(dav):
    (body,) = await query(dav, summary_match("x", "i;klingon"), status=403)
    assert "supported-collation" in body


async def test_alarm_time_range_matches_when_the_alarm_fires(dav):
    await request(dav, "PUT", CAL + "a.ics", event("a", extra=ALARM.format(trigger="-PT15M")))
    await request(dav, "PUT", CAL + "b.ics", event("b"))
    await request(dav, "PUT", CAL + "c.ics", event(
        "c", extra=ALARM.format(trigger="VALUE=DATE-TIME:20240109T120000Z").replace(
            "TRIGGER:VALUE=DATE-TIME:", "TRIGGER;VALUE=DATE-TIME:")))

    def alarm_range(start: str, end: str) -> str:
        return f'<C:comp-filter name="VALARM"><C:time-range start="{start}" end="{end}"/>' \
               '</C:comp-filter>'
    assert await query(dav, alarm_range("20240110T074000Z", "20240110T075500Z")) == ["a.ics"]
    assert await query(dav, alarm_range("20240110T080000Z", "20240110T081500Z")) == []
    assert await query(dav, alarm_range("20240109T000000Z", "20240110T000000Z")) == ["c.ics"]


async def test_alarm_of_a_later_instance_of_a_series_matches(dav):
    await request(dav, "PUT", CAL + "s.ics", event(
        "s", extra="RRULE:FREQ=DAILY;COUNT=5\r\n" + ALARM.format(trigger="-PT1H")))
    inner = '<C:comp-filter name="VALARM"><C:time-range start="20240113T065900Z" ' \
            'end="20240113T070100Z"/></C:comp-filter>'
    assert await query(dav, inner) == ["s.ics"]


async def test_a_calendar_made_without_a_component_set_takes_journals(dav):
    r = await request(dav, "MKCALENDAR", HOME + "mixed/")
    assert r.status == 201
    journal = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VJOURNAL\r\nUID:j\r\n"
               "DTSTAMP:20240101T000000Z\r\nDTSTART;VALUE=DATE:20240111\r\nSUMMARY:notes\r\n"
               "END:VJOURNAL\r\nEND:VCALENDAR\r\n")
    assert (await request(dav, "PUT", HOME + "mixed/j.ics", journal)).status == 201
    assert (await request(dav, "PUT", HOME + "mixed/e.ics", event("e"))).status == 201


async def test_a_missing_calendar_is_404_for_every_method(dav):
    for method in ("PROPFIND", "REPORT", "PROPPATCH", "GET", "DELETE"):
        body = QUERY.format(inner="") if method == "REPORT" else ""
        r = await request(dav, method, HOME + "no-such-calendar/", body, {"Depth": "1"})
        assert r.status == 404, method
    # Another user's home answers the same, whether the calendar exists or not.
    for seg in ("calendar/", "no-such-calendar/"):
        r = await request(dav, "REPORT", f"/dav/{BOB}/{seg}", QUERY.format(inner=""))
        assert r.status == 404


PRINCIPAL_SEARCH = """<D:principal-property-search xmlns:D="DAV:"
  xmlns:C="urn:ietf:params:xml:ns:caldav">{searches}
  <D:prop><D:displayname/><C:calendar-home-set/></D:prop>
  <D:apply-to-principal-collection-set/></D:principal-property-search>"""


def property_search(prop: str, match: str) -> str:
    return f"<D:property-search><D:prop>{prop}</D:prop><D:match>{match}</D:match>" \
           "</D:property-search>"


async def principal_search(dav, searches: str, user: str | None = None) -> list[str]:
    kw = {"user": user} if user else {}
    r = await request(dav, "REPORT", "/dav/principals/",
                      PRINCIPAL_SEARCH.format(searches=searches), {"Depth": "0"}, **kw)
    assert r.status == 207, r.text
    return sorted(h.text for h in r.xml().findall("{DAV:}response/{DAV:}href"))


async def test_principal_property_search_by_name_and_address(dav):
    assert await principal_search(dav, property_search("<D:displayname/>", "BOB")) == \
        ["/dav/principals/bob@example.test/"]
    assert await principal_search(
        dav, property_search("<C:calendar-user-address-set/>", "mailto:carol@")) == \
        ["/dav/principals/carol@example.test/"]
    assert await principal_search(dav, property_search("<D:displayname/>", "nobody")) == []


async def test_principal_property_search_without_a_filter_lists_the_domain(dav):
    await dav.store.add_domain("other.test")
    await dav.add_user("mallory@other.test")
    found = await principal_search(dav, "")
    assert found == [f"/dav/principals/{u}@example.test/" for u in ("alice", "bob", "carol")]
    assert await principal_search(dav, "", user="mallory@other.test") == \
        ["/dav/principals/mallory@other.test/"]


async def test_principal_search_property_set_names_what_can_be_searched(dav):
    r = await request(dav, "REPORT", "/dav/principals/",
                      '<D:principal-search-property-set xmlns:D="DAV:"/>', {"Depth": "0"})
    assert r.status == 200
    assert b"displayname" in r.body and b"calendar-user-address-set" in r.body


async def test_calendarserver_principal_search_finds_an_attendee_while_typing(dav):
    body = """<CS:calendarserver-principal-search xmlns:D="DAV:"
      xmlns:CS="http://calendarserver.org/ns/" context="attendee">
      <CS:search-token>caro</CS:search-token><CS:limit><CS:nresults>5</CS:nresults></CS:limit>
      <D:prop><D:displayname/></D:prop></CS:calendarserver-principal-search>"""
    r = await request(dav, "REPORT", "/dav/principals/", body, {"Depth": "0"})
    assert r.status == 207 and hrefs(r) == ["/dav/principals/carol@example.test/"]

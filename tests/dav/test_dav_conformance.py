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


MEETING = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m1\r\n"
           "DTSTAMP:20240101T000000Z\r\nDTSTART:20300110T100000Z\r\nDTEND:20300110T110000Z\r\n"
           "SUMMARY:{summary}\r\nORGANIZER:mailto:alice@example.test\r\n"
           "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.test\r\n"
           "ATTENDEE;PARTSTAT={bob}:mailto:bob@example.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
SCHEDULE_TAG_PROPFIND = """<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:schedule-tag/></D:prop></D:propfind>"""


def meeting(summary: str = "Plan", bob: str = "NEEDS-ACTION") -> str:
    return MEETING.format(summary=summary, bob=bob)


async def tags(dav, path: str, user: str | None = None) -> tuple[str, str]:
    """(ETag, Schedule-Tag) of a resource, the tag checked to be the same by GET and PROPFIND."""
    kw = {"user": user} if user else {}
    r = await request(dav, "GET", path, **kw)
    assert r.status == 200
    p = await request(dav, "PROPFIND", path, SCHEDULE_TAG_PROPFIND, {"Depth": "0"}, **kw)
    assert p.xml().findtext(f".//{{{C}}}schedule-tag") == r.headers["schedule-tag"]
    return r.headers["etag"], r.headers["schedule-tag"]


async def test_schedule_tag_stays_when_a_reply_is_merged_and_moves_for_the_organizer(dav):
    r = await request(dav, "PUT", CAL + "m1.ics", meeting())
    assert r.status == 201 and r.headers["schedule-tag"]
    etag, tag = await tags(dav, CAL + "m1.ics")
    assert tag == r.headers["schedule-tag"]
    bob_copy = f"/dav/{BOB}/calendar/m1.ics"
    _, bob_tag = await tags(dav, bob_copy, user=BOB)

    # Bob accepts in his own copy: neither his tag nor the organizer's moves, her ETag does.
    r = await request(dav, "PUT", bob_copy, meeting(bob="ACCEPTED"), user=BOB)
    assert r.status == 204
    assert (await tags(dav, bob_copy, user=BOB))[1] == bob_tag
    etag2, tag2 = await tags(dav, CAL + "m1.ics")
    assert etag2 != etag and tag2 == tag
    assert "PARTSTAT=ACCEPTED:mailto:bob" in (await request(dav, "GET", CAL + "m1.ics")).text

    # The organizer edits her stale copy under the tag: Bob's answer is kept, the tag moves,
    # and Bob's copy gets a new tag with the update.
    r = await request(dav, "PUT", CAL + "m1.ics", meeting("Plan B"),
                      {"If-Schedule-Tag-Match": tag})
    assert r.status == 204 and r.headers["schedule-tag"] != tag
    text = (await request(dav, "GET", CAL + "m1.ics")).text
    assert "Plan B" in text and "PARTSTAT=ACCEPTED:mailto:bob" in text
    assert (await tags(dav, bob_copy, user=BOB))[1] != bob_tag


async def test_a_stale_schedule_tag_is_412_on_put_and_delete(dav):
    await request(dav, "PUT", CAL + "m1.ics", meeting())
    _, tag = await tags(dav, CAL + "m1.ics")
    await request(dav, "PUT", CAL + "m1.ics", meeting("Moved"))
    r = await request(dav, "PUT", CAL + "m1.ics", meeting("Mine"), {"If-Schedule-Tag-Match": tag})
    assert r.status == 412
    r = await request(dav, "DELETE", CAL + "m1.ics", headers={"If-Schedule-Tag-Match": tag})
    assert r.status == 412
    _, now = await tags(dav, CAL + "m1.ics")
    r = await request(dav, "DELETE", CAL + "m1.ics", headers={"If-Schedule-Tag-Match": now})
    assert r.status == 204


async def test_an_event_without_organizer_has_no_schedule_tag(dav):
    r = await request(dav, "PUT", CAL + "a.ics", event("a"))
    assert "schedule-tag" not in r.headers
    assert "schedule-tag" not in (await request(dav, "GET", CAL + "a.ics")).headers

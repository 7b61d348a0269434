"""CalDAV with the PyPI ``caldav`` library as the client: discovery, calendars, events, recurring
events with exceptions, all-day events, time-range queries with expansion, sync tokens, tasks,
free/busy, and another user's shared calendars."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

caldav = pytest.importorskip("caldav")

from .env import ALICE, PASSWORD  # noqa: E402

UTC = dt.timezone.utc

RECURRING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:standup
DTSTAMP:20240101T000000Z
DTSTART;TZID=Europe/Berlin:20240101T100000
DTEND;TZID=Europe/Berlin:20240101T101500
RRULE:FREQ=DAILY;COUNT=10
EXDATE;TZID=Europe/Berlin:20240103T100000
SUMMARY:Stand-up
END:VEVENT
BEGIN:VEVENT
UID:standup
DTSTAMP:20240101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20240102T100000
DTSTART;TZID=Europe/Berlin:20240102T140000
DTEND;TZID=Europe/Berlin:20240102T141500
SUMMARY:Stand-up (moved)
END:VEVENT
END:VCALENDAR
"""

ALLDAY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:holiday
DTSTAMP:20240101T000000Z
DTSTART;VALUE=DATE:20240501
DTEND;VALUE=DATE:20240502
SUMMARY:Holiday
END:VEVENT
END:VCALENDAR
"""


def client(env, user=ALICE):
    return caldav.DAVClient(url=env.url + "/.well-known/caldav", username=user, password=PASSWORD)


async def off_loop(fn, *args):
    return await asyncio.to_thread(fn, *args)


async def test_discovery_through_well_known_finds_principal_and_default_calendars(dav):
    def work():
        p = client(dav).principal()
        assert str(p.url).endswith("/dav/principals/alice@example.test/")
        names = sorted(c.get_display_name() for c in p.calendars())
        assert names == ["Calendar", "Tasks"]
        assert "/dav/alice" in str(p.calendar_home_set.url)
    await off_loop(work)


async def test_event_create_read_update_delete(dav):
    def work():
        p = client(dav).principal()
        cal = p.make_calendar(name="Work", cal_id="work")
        assert "Work" in [c.get_display_name() for c in p.calendars()]
        ev = cal.save_event(dtstart=dt.datetime(2024, 2, 1, 9, tzinfo=UTC),
                            dtend=dt.datetime(2024, 2, 1, 10, tzinfo=UTC),
                            summary="Planning", uid="plan-1")
        got = cal.event_by_uid("plan-1")
        assert str(got.icalendar_component["SUMMARY"]) == "Planning"
        got.icalendar_component["SUMMARY"] = "Planning v2"
        got.save()
        assert str(cal.event_by_uid("plan-1").icalendar_component["SUMMARY"]) == "Planning v2"
        ev = cal.event_by_uid("plan-1")
        ev.delete()
        with pytest.raises(caldav.lib.error.NotFoundError):
            cal.event_by_uid("plan-1")
        return cal
    await off_loop(work)


async def test_recurring_event_with_exceptions_expands_in_time_range(dav):
    def work():
        cal = client(dav).principal().calendar(name="Calendar")
        cal.save_event(RECURRING)
        found = cal.search(start=dt.datetime(2024, 1, 1, tzinfo=UTC),
                           end=dt.datetime(2024, 1, 6, tzinfo=UTC), event=True, expand=True)
        starts = sorted(e.icalendar_component["DTSTART"].dt.astimezone(UTC) for e in found)
        # Jan 1, 2 (moved to 14:00 Berlin), 4, 5; Jan 3 is excluded.
        assert starts == [dt.datetime(2024, 1, 1, 9, tzinfo=UTC),
                          dt.datetime(2024, 1, 2, 13, tzinfo=UTC),
                          dt.datetime(2024, 1, 4, 9, tzinfo=UTC),
                          dt.datetime(2024, 1, 5, 9, tzinfo=UTC)]
        # A range after the last instance finds nothing.
        assert cal.search(start=dt.datetime(2024, 2, 1, tzinfo=UTC),
                          end=dt.datetime(2024, 3, 1, tzinfo=UTC), event=True) == []
    await off_loop(work)


async def test_all_day_event_matches_its_day_only(dav):
    def work():
        cal = client(dav).principal().calendar(name="Calendar")
        cal.save_event(ALLDAY)
        hit = cal.search(start=dt.datetime(2024, 5, 1, 12, tzinfo=UTC),
                         end=dt.datetime(2024, 5, 1, 13, tzinfo=UTC), event=True)
        assert [str(e.icalendar_component["UID"]) for e in hit] == ["holiday"]
        assert cal.search(start=dt.datetime(2024, 5, 2, 1, tzinfo=UTC),
                          end=dt.datetime(2024, 5, 3, tzinfo=UTC), event=True) == []
        ev = cal.event_by_uid("holiday")
        assert ev.icalendar_component["DTSTART"].dt == dt.date(2024, 5, 1)
    await off_loop(work)


async def test_sync_token_reports_changes_and_deletions(dav):
    def work():
        cal = client(dav).principal().calendar(name="Calendar")
        for i in range(3):
            cal.save_event(dtstart=dt.datetime(2024, 3, i + 1, 9, tzinfo=UTC),
                           dtend=dt.datetime(2024, 3, i + 1, 10, tzinfo=UTC),
                           summary=f"e{i}", uid=f"sync-{i}")
        first = cal.objects_by_sync_token(load_objects=False)
        assert len(list(first)) == 3
        token = first.sync_token
        cal.save_event(dtstart=dt.datetime(2024, 3, 9, 9, tzinfo=UTC),
                       dtend=dt.datetime(2024, 3, 9, 10, tzinfo=UTC), summary="new",
                       uid="sync-new")
        cal.event_by_uid("sync-0").delete()
        changed = cal.objects_by_sync_token(sync_token=token, load_objects=False)
        urls = sorted(str(o.url).rsplit("/", 1)[1] for o in changed)
        assert urls == ["sync-0.ics", "sync-new.ics"]
        assert changed.sync_token != token
        again = cal.objects_by_sync_token(sync_token=changed.sync_token, load_objects=False)
        assert list(again) == []
    await off_loop(work)


async def test_tasks_in_the_task_list(dav):
    def work():
        tasks = client(dav).principal().calendar(name="Tasks")
        tasks.save_todo(summary="Write report", uid="todo-1",
                        due=dt.datetime(2024, 6, 1, 17, tzinfo=UTC))
        todos = tasks.todos()
        assert [str(t.icalendar_component["SUMMARY"]) for t in todos] == ["Write report"]
        todos[0].complete()
        assert tasks.todos() == []
        assert len(tasks.todos(include_completed=True)) == 1
    await off_loop(work)


async def test_freebusy_request_on_calendar(dav):
    def work():
        cal = client(dav).principal().calendar(name="Calendar")
        cal.save_event(dtstart=dt.datetime(2024, 4, 1, 9, tzinfo=UTC),
                       dtend=dt.datetime(2024, 4, 1, 10, tzinfo=UTC), summary="busy",
                       uid="fb-1")
        cal.save_event("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                       "UID:fb-2\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240401T120000Z\r\n"
                       "DTEND:20240401T130000Z\r\nTRANSP:TRANSPARENT\r\nSUMMARY:free\r\n"
                       "END:VEVENT\r\nEND:VCALENDAR\r\n")
        fb = cal.freebusy_request(dt.datetime(2024, 4, 1, tzinfo=UTC),
                                  dt.datetime(2024, 4, 2, tzinfo=UTC))
        periods = fb.icalendar_instance.walk("VFREEBUSY")[0].get("FREEBUSY")
        periods = periods if isinstance(periods, list) else [periods]
        assert len(periods) == 1
        assert periods[0].dt[0] == dt.datetime(2024, 4, 1, 9, tzinfo=UTC)
    await off_loop(work)


SHARE = """<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:set><D:href>mailto:{who}</D:href>{access}</CS:set></CS:share>"""


async def test_sharee_works_with_shared_calendars(dav):
    """bob, through the caldav library: alice's read-only and read-write calendars are in his
    calendar list; he reads, queries and syncs both, and may write only to the second."""
    from .client import request
    from .env import BOB

    def as_alice():
        p = client(dav).principal()
        p.make_calendar(name="Team", cal_id="team")
        p.calendar(name="Calendar").save_event(RECURRING)
    await off_loop(as_alice)
    for path, access in (("calendar/", ""), ("team/", "<CS:read-write/>")):
        r = await request(dav, "POST", f"/dav/{ALICE}/{path}", SHARE.format(who=BOB, access=access),
                          {"Content-Type": "application/xml"})
        assert r.status == 200

    def as_bob():
        p = client(dav, BOB).principal()
        calendars = {c.get_display_name(): c for c in p.calendars()}
        assert {"Calendar (alice@example.test)", "Team (alice@example.test)"} <= set(calendars)
        shared = calendars["Calendar (alice@example.test)"]
        found = shared.search(start=dt.datetime(2024, 1, 1, tzinfo=UTC),
                              end=dt.datetime(2024, 1, 6, tzinfo=UTC), event=True, expand=True)
        assert len(found) == 4
        token = shared.objects_by_sync_token(load_objects=False).sync_token
        with pytest.raises(caldav.lib.error.AuthorizationError):      # 403
            shared.save_event(ALLDAY)
        ev = shared.event_by_uid("standup")
        ev.icalendar_component["SUMMARY"] = "bob was here"
        with pytest.raises(caldav.lib.error.AuthorizationError):      # 403
            ev.save()

        team = calendars["Team (alice@example.test)"]
        team.save_event(ALLDAY)
        assert [str(e.icalendar_component["UID"]) for e in team.events()] == ["holiday"]
        return token
    token = await off_loop(as_bob)

    def alice_sees_bobs_event_and_bobs_token_still_works():
        team = client(dav).principal().calendar(name="Team")
        assert str(team.event_by_uid("holiday").icalendar_component["SUMMARY"]) == "Holiday"
        shared = client(dav, BOB).principal().calendar(name="Calendar (alice@example.test)")
        assert list(shared.objects_by_sync_token(sync_token=token, load_objects=False)) == []
    await off_loop(alice_sees_bobs_event_and_bobs_token_still_works)

"""Recurrence expansion (RFC 4791 §9.6.5, §9.9) as pim.recurrence serves it to the DAV door."""

from __future__ import annotations

import datetime as dt

import icalendar

from postroom.pim import recurrence

UTC = dt.timezone.utc
YEAR = (dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC))

BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
          "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
          "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\n"
          "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
          "END:DAYLIGHT\r\nEND:VTIMEZONE\r\n")

WEEKLY = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + BERLIN +
          "BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20240101T000000Z\r\n"
          "DTSTART;TZID=Europe/Berlin:20240301T090000\r\nDURATION:PT1H\r\n"
          "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20240308T090000\r\n"
          "SUMMARY:Standup\r\nSEQUENCE:2\r\n"
          "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:soon\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
          "END:VEVENT\r\n"
          "BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20240101T000000Z\r\n"
          "RECURRENCE-ID;TZID=Europe/Berlin:20240315T090000\r\n"
          "DTSTART;TZID=Europe/Berlin:20240315T140000\r\nDTEND;TZID=Europe/Berlin:20240315T150000\r\n"
          "SUMMARY:Moved standup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _expanded(text: str, start: dt.datetime, end: dt.datetime) -> list:
    cal = icalendar.Calendar.from_ical(recurrence.expand(text, start, end))
    assert not cal.walk("VTIMEZONE")
    return sorted(cal.walk("VEVENT"), key=lambda c: c["DTSTART"].dt)


def test_expansion_gives_utc_instances_with_exdate_override_and_dst():
    events = _expanded(WEEKLY, *YEAR)
    starts = [e["DTSTART"].to_ical().decode() for e in events]
    # 8 March is excluded; 15 March moved to the afternoon; 29 March is the last in CET (UTC+1),
    # 5 April the first in CEST (UTC+2).
    assert starts == ["20240301T080000Z", "20240315T130000Z", "20240322T080000Z",
                      "20240329T080000Z", "20240405T070000Z"]
    moved = events[1]
    assert str(moved["SUMMARY"]) == "Moved standup"
    assert moved["RECURRENCE-ID"].to_ical() == b"20240315T080000Z"
    for e in events:
        assert "RRULE" not in e and "EXDATE" not in e and "DURATION" not in e
        assert e["DTEND"].dt - e["DTSTART"].dt == dt.timedelta(hours=1)
    assert events[0]["RECURRENCE-ID"].to_ical() == b"20240301T080000Z"
    assert int(events[0]["SEQUENCE"]) == 2 and events[0].walk("VALARM")


def test_all_day_instances_stay_dates():
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a\r\n"
            "DTSTAMP:20240101T000000Z\r\nDTSTART;VALUE=DATE:20240110\r\n"
            "RRULE:FREQ=MONTHLY;COUNT=3\r\nSUMMARY:Rent\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    events = _expanded(text, *YEAR)
    assert [e["DTSTART"].dt for e in events] == [dt.date(2024, m, 10) for m in (1, 2, 3)]
    assert all(e["RECURRENCE-ID"].to_ical().decode() == e["DTSTART"].to_ical().decode()
               for e in events)


def test_a_changed_item_is_never_answered_from_the_cache():
    first = _expanded(WEEKLY, *YEAR)
    changed = WEEKLY.replace("COUNT=6", "COUNT=2")
    # 1 March, 8 March excluded, and the override that stays an instance of its own.
    assert len(_expanded(changed, *YEAR)) == 2
    assert len(_expanded(WEEKLY, *YEAR)) == len(first)


def test_has_instance_looks_at_instances_not_the_span():
    # A series spanning the range, with no instance inside it.
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:y\r\n"
            "DTSTAMP:20240101T000000Z\r\nDTSTART:20230101T100000Z\r\nDTEND:20230101T110000Z\r\n"
            "RRULE:FREQ=YEARLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    june = (dt.datetime(2024, 6, 1, tzinfo=UTC), dt.datetime(2024, 7, 1, tzinfo=UTC))
    assert not recurrence.has_instance(text, *june)
    assert recurrence.has_instance(text, *YEAR)
    assert recurrence.has_instance(text, june[0], None)      # open-ended: 2025

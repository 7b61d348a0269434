"""A time zone as one year's rules: standard and daylight offsets and the yearly "nth weekday of
a month" changes between them - the form Windows (TIME_ZONE_INFORMATION, MS-ASDTYPE §2.7) and a
VTIMEZONE with yearly RRULEs (RFC 5545 §3.6.5) both take.

:func:`rules_of` reads the rules off any tzinfo (an IANA zone or one icalendar built from a
VTIMEZONE) for a given year; :func:`zone_of` goes back, preferring the IANA zone with the same
rules (so a device's zone becomes "Europe/Berlin", not an anonymous offset) and otherwise building
a VTIMEZONE from the rules.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

UTC = dt.timezone.utc
_OLSON_TO_WINDOWS = {v: k for k, v in WINDOWS_TO_OLSON.items()}
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")


@dataclass(frozen=True, slots=True)
class Change:
    """A yearly change, as Windows SYSTEMTIME day-in-month form: the ``week``-th (5: last)
    ``weekday`` (0 Sunday) of ``month``, at local wall-clock ``hour``:``minute`` before it."""
    month: int
    weekday: int
    week: int
    hour: int
    minute: int


@dataclass(frozen=True, slots=True)
class ZoneRules:
    std_offset: int                  # minutes east of UTC
    dst_offset: int                  # = std_offset when the zone has no daylight time
    to_std: Change | None = None
    to_dst: Change | None = None
    std_name: str = ""
    dst_name: str = ""

    @property
    def key(self) -> tuple:
        """What makes two zones the same for a year (names aside)."""
        return (self.std_offset, self.dst_offset, self.to_std, self.to_dst)


def _offset(tz: dt.tzinfo, t: dt.datetime) -> int:
    off = t.astimezone(tz).utcoffset()
    return int(off.total_seconds() // 60) if off is not None else 0


def _transitions(tz: dt.tzinfo, year: int) -> list[tuple[dt.datetime, int, int]]:
    """(UTC instant, offset before, offset after) of every change within the year."""
    marks = [dt.datetime(year, m, 1, tzinfo=UTC) for m in range(1, 13)]
    marks.append(dt.datetime(year + 1, 1, 1, tzinfo=UTC))
    out = []
    for a, b in zip(marks, marks[1:]):
        before, after = _offset(tz, a), _offset(tz, b)
        if before == after:
            continue
        lo, hi = a, b
        while hi - lo > dt.timedelta(minutes=1):
            mid = lo + (hi - lo) / 2
            if _offset(tz, mid) == before:
                lo = mid
            else:
                hi = mid
        out.append((hi.replace(second=0, microsecond=0), before, after))
    return out


def _change(instant: dt.datetime, offset_before: int) -> Change:
    local = instant + dt.timedelta(minutes=offset_before)
    last = calendar.monthrange(local.year, local.month)[1]
    week = 5 if local.day + 7 > last else (local.day - 1) // 7 + 1
    return Change(local.month, (local.weekday() + 1) % 7, week, local.hour, local.minute)


def rules_of(tz: dt.tzinfo | None, year: int) -> ZoneRules:
    """The zone's rules in ``year``; UTC for None."""
    if tz is None:
        return ZoneRules(0, 0, std_name="UTC", dst_name="UTC")
    changes = _transitions(tz, year)
    name = getattr(tz, "key", None) or ""
    windows = _OLSON_TO_WINDOWS.get(name, "")
    if len(changes) != 2:
        # No daylight time (or a zone that changed its rules this year): its offset mid-year.
        off = _offset(tz, dt.datetime(year, 7, 1, tzinfo=UTC)) if not changes else changes[-1][2]
        std_name = windows or tz.tzname(dt.datetime(year, 7, 1)) or ""
        return ZoneRules(off, off, std_name=std_name, dst_name=std_name)
    (t1, b1, a1), (t2, b2, a2) = changes
    if a1 > b1:      # northern hemisphere: daylight time starts first
        to_dst, to_std, std, dst = _change(t1, b1), _change(t2, b2), b1, a1
    else:
        to_std, to_dst, std, dst = _change(t1, b1), _change(t2, b2), a1, b1
    std_t = t1 if a1 == std else t2
    dst_t = t1 if a1 == dst else t2
    std_name = windows or tz.tzname(std_t.astimezone(tz).replace(tzinfo=None)) or ""
    dst_name = windows.replace("Standard", "Daylight") if windows else (
        tz.tzname(dst_t.astimezone(tz).replace(tzinfo=None)) or "")
    return ZoneRules(std, dst, to_std, to_dst, std_name, dst_name)


@functools.lru_cache(maxsize=16)
def _zones_by_rules(year: int) -> dict[tuple, str]:
    """Rules -> IANA zone name for ``year``; zones Windows names first, so a match is a zone
    that other calendar programs know too."""
    names = list(dict.fromkeys([*WINDOWS_TO_OLSON.values(),
                                *sorted(zoneinfo.available_timezones())]))
    out: dict[tuple, str] = {}
    for name in names:
        if name.startswith(("Etc/", "SystemV/")) or "/" not in name:
            continue
        try:
            tz = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
        out.setdefault(rules_of(tz, year).key, name)
    return out


def iana_zone(rules: ZoneRules, year: int) -> str | None:
    """The IANA zone with these rules in ``year``: the one its Windows name names when that
    fits, else the first that does; UTC for a zero offset without daylight time."""
    if rules.std_offset == rules.dst_offset == 0 and rules.to_dst is None:
        return "UTC"
    named = WINDOWS_TO_OLSON.get(rules.std_name)
    if named and rules_of(zoneinfo.ZoneInfo(named), year).key == rules.key:
        return named
    return _zones_by_rules(year).get(rules.key)


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def vtimezone(rules: ZoneRules, tzid: str | None = None) -> icalendar.Timezone:
    """A VTIMEZONE with yearly rules for ``rules`` (a zone no IANA name fits)."""
    tz = icalendar.Timezone()
    tz.add("TZID", tzid or rules.std_name or f"UTC{_offset_text(rules.std_offset)}")
    parts = [("STANDARD", rules.std_offset, rules.dst_offset, rules.to_std, rules.std_name)]
    if rules.to_dst is not None and rules.to_std is not None:
        parts.append(("DAYLIGHT", rules.dst_offset, rules.std_offset, rules.to_dst,
                      rules.dst_name))
    for kind, to, frm, change, name in parts:
        sub = icalendar.cal.TimezoneStandard() if kind == "STANDARD" else \
            icalendar.cal.TimezoneDaylight()
        if change is None:
            sub.add("DTSTART", dt.datetime(1601, 1, 1))
            frm = to
        else:
            sub.add("DTSTART", dt.datetime(1601, 1, 1, change.hour, change.minute))
            sub.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": change.month,
                              "BYDAY": f"{-1 if change.week == 5 else change.week}"
                                       f"{_DAYS[change.weekday]}"})
        sub.add("TZOFFSETFROM", dt.timedelta(minutes=frm))
        sub.add("TZOFFSETTO", dt.timedelta(minutes=to))
        if name:
            sub.add("TZNAME", name)
        tz.add_component(sub)
    return tz


def zone_of(rules: ZoneRules, year: int) -> tuple[dt.tzinfo, icalendar.Timezone | None]:
    """A tzinfo for ``rules``: an IANA zone (no VTIMEZONE needed beyond the standard one) or
    one made from a VTIMEZONE built from the rules, returned with it."""
    name = iana_zone(rules, year)
    if name == "UTC":
        return UTC, None
    if name is not None:
        return zoneinfo.ZoneInfo(name), None
    comp = vtimezone(rules)
    return comp.to_tz(), comp

"""What the Calendar, Tasks and Contacts classes share on the wire: the AirSyncBase Body of a
PIM item (MS-ASAIRS §2.2.2.9, plain text here, as iCalendar DESCRIPTION and vCard NOTE are) and
the Recurrence element (MS-ASCAL §2.2.2.39, MS-ASTASK §2.2.2.18) as an RRULE (RFC 5545
§3.3.10).
"""

from __future__ import annotations

import datetime as dt

from postroom.eas import email as mail
from postroom.eas.protocol import compact_date, eas_date, parse_date
from postroom.eas.wbxml import E, Element
from postroom.mail.htmltext import html_to_text

# Recurrence Type (MS-ASCAL §2.2.2.43)
DAILY, WEEKLY, MONTHLY, MONTHLY_NTH, YEARLY, YEARLY_NTH = 0, 1, 2, 3, 5, 6
DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")     # DayOfWeek bit 1 << index
LAST_DAY_OF_MONTH = 127                              # all days, week 5: the month's last day


def body(text: str | None, opts: mail.Options) -> Element | None:
    """AirSyncBase:Body of plain text, truncated as the collection's BodyPreference asks."""
    if not text:
        return None
    pref = next((p for p in opts.body if p.type == mail.BODY_PLAIN), None)
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    cut, truncated = mail.truncate_utf8(data, pref.truncation if pref else None)
    return E("AirSyncBase:Body", E("AirSyncBase:Type", mail.BODY_PLAIN),
             E("AirSyncBase:EstimatedDataSize", len(data)),
             E("AirSyncBase:Truncated", 1) if truncated else None,
             E("AirSyncBase:Data", cut.decode("utf-8")))


def body_of(data: Element, legacy_tag: str | None = None) -> str | None:
    """The text of a client's Body (HTML made plain); None when it sent none, "" to clear."""
    el = data.find("AirSyncBase:Body")
    if el is None:
        return data.findtext(legacy_tag) if legacy_tag else None
    text = el.findtext("AirSyncBase:Data") or ""
    if el.findtext("AirSyncBase:Type") == str(mail.BODY_HTML):
        text = html_to_text(text)
    return text.replace("\r\n", "\n")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _days(byday: list[str]) -> tuple[int, int | None]:
    """(DayOfWeek mask, the week number that prefixes them, if any) of BYDAY values."""
    mask, week = 0, None
    for value in byday:
        value = str(value).upper()
        day, n = value[-2:], value[:-2]
        if day in DAYS:
            mask |= 1 << DAYS.index(day)
        if n and n.lstrip("+-").isdigit():
            week = int(n)
    return mask, week


def recurrence(rrule: dict, start: dt.datetime | dt.date, ns: str, version: tuple[int, int],
               *, until_utc) -> Element | None:
    """The Recurrence element (``ns`` "Calendar" or "Tasks") closest to an RRULE; None when
    the rule has no counterpart at all (hourly and finer)."""
    def one(name: str):
        v = rrule.get(name)
        v = v if isinstance(v, list) else ([v] if v is not None else [])
        return v
    freq = str((one("FREQ") or [""])[0]).upper()
    interval = _int(str((one("INTERVAL") or [1])[0])) or 1
    mask, week = _days(one("BYDAY"))
    if one("BYSETPOS"):
        week = _int(str(one("BYSETPOS")[0]))
    monthday = _int(str(one("BYMONTHDAY")[0])) if one("BYMONTHDAY") else None
    month = _int(str(one("BYMONTH")[0])) if one("BYMONTH") else None
    weekday_bit = 1 << ((start.weekday() + 1) % 7)
    kind = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY, "YEARLY": YEARLY}.get(freq)
    if kind is None:
        return None
    if kind == WEEKLY and not mask:
        mask = weekday_bit
    if kind == MONTHLY and monthday == -1:
        kind, week, mask = MONTHLY_NTH, 5, LAST_DAY_OF_MONTH
    elif kind in (MONTHLY, YEARLY) and mask:
        kind = MONTHLY_NTH if kind == MONTHLY else YEARLY_NTH
        week = 5 if week is None or week < 0 else min(week, 5)
    if kind in (MONTHLY, YEARLY):
        monthday = monthday or start.day
    if kind in (YEARLY, YEARLY_NTH):
        month = month or start.month
    count = one("COUNT")
    until = one("UNTIL")
    wkst = one("WKST")
    t = f"{ns}:"
    return E(f"{t}Recurrence",
             E(f"{t}Type", kind),
             E(f"{t}Occurrences", int(str(count[0]))) if count else None,
             E(f"{t}Interval", interval),
             E(f"{t}WeekOfMonth", week) if kind in (MONTHLY_NTH, YEARLY_NTH) else None,
             E(f"{t}DayOfWeek", mask) if mask and kind != MONTHLY and kind != YEARLY else None,
             E(f"{t}MonthOfYear", month) if kind in (YEARLY, YEARLY_NTH) else None,
             E(f"{t}Until", until_utc(until[0])) if until and not count else None,
             E(f"{t}DayOfMonth", monthday) if kind in (MONTHLY, YEARLY) else None,
             E(f"{t}FirstDayOfWeek", DAYS.index(str(wkst[0]).upper()))
             if wkst and version >= (14, 1) and str(wkst[0]).upper() in DAYS else None)


def rrule_of(el: Element, ns: str, *, until) -> dict | None:
    """The RRULE of a client's Recurrence element; ``until`` turns its Until (a UTC datetime)
    into the UNTIL value (a date for all-day items). None when the element is unusable."""
    t = f"{ns}:"
    kind = _int(el.findtext(f"{t}Type"))
    interval = _int(el.findtext(f"{t}Interval")) or 1
    mask = _int(el.findtext(f"{t}DayOfWeek")) or 0
    week = _int(el.findtext(f"{t}WeekOfMonth"))
    monthday = _int(el.findtext(f"{t}DayOfMonth"))
    month = _int(el.findtext(f"{t}MonthOfYear"))
    days = [d for i, d in enumerate(DAYS) if mask & (1 << i)]
    rule: dict = {}
    if kind == DAILY:
        rule = {"FREQ": "DAILY"}
        if days and len(days) < 7:
            rule["BYDAY"] = days
    elif kind == WEEKLY:
        rule = {"FREQ": "WEEKLY", "BYDAY": days} if days else {"FREQ": "WEEKLY"}
    elif kind in (MONTHLY, YEARLY):
        rule = {"FREQ": "MONTHLY" if kind == MONTHLY else "YEARLY"}
        if monthday:
            rule["BYMONTHDAY"] = monthday
    elif kind in (MONTHLY_NTH, YEARLY_NTH):
        rule = {"FREQ": "MONTHLY" if kind == MONTHLY_NTH else "YEARLY"}
        n = -1 if week is None or week >= 5 else max(week, 1)
        if mask == LAST_DAY_OF_MONTH:
            rule["BYMONTHDAY"] = n
        elif len(days) == 1:
            rule["BYDAY"] = [f"{n}{days[0]}"]
        elif days:
            rule["BYDAY"] = days
            rule["BYSETPOS"] = n
    else:
        return None
    if kind in (YEARLY, YEARLY_NTH) and month:
        rule["BYMONTH"] = month
    if interval > 1:
        rule["INTERVAL"] = interval
    count = _int(el.findtext(f"{t}Occurrences"))
    end = parse_date(el.findtext(f"{t}Until"))
    if count:
        rule["COUNT"] = count
    elif end is not None:
        rule["UNTIL"] = until(end)
    first = _int(el.findtext(f"{t}FirstDayOfWeek"))
    if first is not None and 0 <= first < 7:
        rule["WKST"] = DAYS[first]
    return rule


def utc_of(value, tz: dt.tzinfo | None) -> dt.datetime:
    """A DATE-TIME (floating: in ``tz``) or DATE (midnight in ``tz``) as UTC."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz or dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def compact(value, tz: dt.tzinfo | None) -> str:
    return compact_date(utc_of(value, tz).timestamp())


def iso(value, tz: dt.tzinfo | None) -> str:
    return eas_date(utc_of(value, tz).timestamp())

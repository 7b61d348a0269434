"""The TimeZone element of Calendar, Email and Tasks (MS-ASDTYPE §2.7; MS-ASCAL §2.2.2.46): a
base64 TIME_ZONE_INFORMATION structure of 172 bytes - Bias, StandardName (32 WCHAR),
StandardDate (SYSTEMTIME), StandardBias, DaylightName, DaylightDate, DaylightBias - converted to
and from :class:`postroom.pim.tzrules.ZoneRules`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import struct

from postroom.pim.tzrules import Change, ZoneRules, rules_of, zone_of

_LAYOUT = struct.Struct("<i64s8Hi64s8Hi")
assert _LAYOUT.size == 172


def _systemtime(change: Change | None) -> tuple[int, ...]:
    if change is None:
        return (0,) * 8
    # wYear 0: the "day-in-month" form, wDay being the week of the month (5: last).
    return (0, change.month, change.weekday, change.week, change.hour, change.minute, 0, 0)


def _name(text: str) -> bytes:
    return text[:31].encode("utf-16-le").ljust(64, b"\0")


def pack(rules: ZoneRules) -> str:
    dst_bias = rules.std_offset - rules.dst_offset
    data = _LAYOUT.pack(-rules.std_offset, _name(rules.std_name), *_systemtime(rules.to_std), 0,
                        _name(rules.dst_name), *_systemtime(rules.to_dst), dst_bias)
    return base64.b64encode(data).decode("ascii")


def _change(fields: tuple[int, ...]) -> Change | None:
    year, month, weekday, day, hour, minute = fields[:6]
    if not month:
        return None
    if year:
        # An absolute date (one year only): its weekday and week of the month.
        try:
            when = dt.date(year, month, day)
        except ValueError:
            return None
        return Change(month, (when.weekday() + 1) % 7, min(5, (day - 1) // 7 + 1), hour, minute)
    return Change(month, weekday % 7, min(max(day, 1), 5), hour, minute)


def unpack(text: str | bytes | None) -> ZoneRules | None:
    """The rules of a TimeZone value; None when it is not one."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _LAYOUT.size:
        return None
    f = _LAYOUT.unpack(raw)
    bias, std_name, std_date, std_bias = f[0], f[1], f[2:10], f[10]
    dst_name, dst_date, dst_bias = f[11], f[12:20], f[20]

    def name(b: bytes) -> str:
        return b.decode("utf-16-le", "replace").split("\0", 1)[0]
    to_std, to_dst = _change(std_date), _change(dst_date)
    std = -(bias + std_bias)
    if to_std is None or to_dst is None:
        return ZoneRules(std, std, std_name=name(std_name), dst_name=name(dst_name))
    return ZoneRules(std, -(bias + dst_bias), to_std, to_dst, name(std_name), name(dst_name))


def of_tzinfo(tz: dt.tzinfo | None, year: int) -> str:
    return pack(rules_of(tz, year))


def to_tzinfo(text: str | bytes | None, year: int):
    """(tzinfo, VTIMEZONE or None) for a device's TimeZone; UTC when absent or unreadable."""
    rules = unpack(text)
    if rules is None:
        return dt.timezone.utc, None
    return zone_of(rules, year)

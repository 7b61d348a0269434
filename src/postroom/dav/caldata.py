"""What a REPORT asks of calendar-data and address-data (RFC 4791 §9.6, RFC 6352 §10.4): the
text as stored, or its expansion over a range (§9.6.5). The request element is read once per
REPORT, then applied to each item.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.resources import DavError
from postroom.pim.model import UTC
from postroom.pim.recurrence import expand
from postroom.store.api import Item

T = X.tag


def parse_utc(value: str | None) -> dt.datetime | None:
    """An RFC 4791 §9.9 time-range bound: a UTC DATE-TIME like 20240101T000000Z."""
    if not value:
        return None
    try:
        return dt.datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise DavError(400, body=X.error(X.CALDAV, "valid-filter")) from None


class DataRequest:
    """A calendar-data or address-data element of a REPORT's DAV:prop."""

    def __init__(self, el: ET.Element) -> None:
        self.expand: tuple[dt.datetime, dt.datetime] | None = None
        exp = el.find(T(X.CALDAV, "expand"))
        if exp is not None:
            start, end = parse_utc(exp.get("start")), parse_utc(exp.get("end"))
            if start is None or end is None or end <= start:
                raise DavError(400, body=X.error(X.CALDAV, "valid-filter"))
            self.expand = (start, end)

    def element(self, item: Item) -> dict[str, ET.Element]:
        """The property for one item, as an override for propfind.build."""
        if item.text is None:
            return {}
        if item.index.component == "VCARD":
            return {P.ADDRESS_DATA: X.el(P.ADDRESS_DATA, item.text)}
        text = item.text
        # A single instance already in UTC (or floating, or all-day) is its own expansion.
        if self.expand is not None and (item.index.recurring or "TZID" in text):
            text = expand(text, *self.expand)
        return {P.CALENDAR_DATA: X.el(P.CALENDAR_DATA, text)}

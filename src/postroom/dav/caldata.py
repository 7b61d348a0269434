"""What a REPORT asks of calendar-data and address-data (RFC 4791 §9.6, RFC 6352 §10.4): the
text as stored, its expansion over a range (§9.6.5), only the overrides that touch a range
(limit-recurrence-set, §9.6.6), and only some components and properties (comp/prop, §9.6.1-4).
The request element is read once per REPORT, then applied to each item.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import icalendar

from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.resources import DavError
from postroom.pim.model import UTC, component_span
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


def _bad_request() -> DavError:
    return DavError(400, body=X.error(X.CALDAV, "valid-calendar-data"))


def _range(el: ET.Element) -> tuple[dt.datetime, dt.datetime]:
    start, end = parse_utc(el.get("start")), parse_utc(el.get("end"))
    if start is None or end is None or end <= start:
        raise DavError(400, body=X.error(X.CALDAV, "valid-filter"))
    return start, end


@dataclass
class CompSelection:
    """A CALDAV:comp element: which properties and subcomponents of a component to return
    (name -> novalue for properties). An empty comp element returns the component whole, as
    RFC 4791's examples ask for VTIMEZONE."""
    name: str
    all_props: bool = True
    props: dict[str, bool] = field(default_factory=dict)
    all_comps: bool = True
    comps: dict[str, "CompSelection"] = field(default_factory=dict)

    @classmethod
    def parse(cls, el: ET.Element) -> "CompSelection":
        name = (el.get("name") or "").upper()
        if not name:
            raise _bad_request()
        sel = cls(name)
        props = el.findall(T(X.CALDAV, "prop"))
        comps = el.findall(T(X.CALDAV, "comp"))
        if len(el):
            sel.all_props = el.find(T(X.CALDAV, "allprop")) is not None
            sel.all_comps = el.find(T(X.CALDAV, "allcomp")) is not None
        for p in props:
            if not p.get("name"):
                raise _bad_request()
            sel.props[p.get("name").upper()] = p.get("novalue", "no") == "yes"
        for c in comps:
            child = cls.parse(c)
            sel.comps[child.name] = child
        return sel

    def apply(self, comp):
        out = icalendar.cal.Component()
        out.name = comp.name
        for key, value in comp.property_items(recursive=False, sorted=False):
            if key in ("BEGIN", "END"):
                continue
            if self.all_props:
                out.add(key, value, encode=0)
            elif key in self.props:
                # novalue="yes": the property is named, its value left out (§9.6.4).
                out.add(key, icalendar.vText("", params=getattr(value, "params", None))
                        if self.props[key] else value, encode=0)
        for sub in comp.subcomponents:
            if self.all_comps:
                out.add_component(sub)
            elif sub.name in self.comps:
                out.add_component(self.comps[sub.name].apply(sub))
        return out


class DataRequest:
    """A calendar-data or address-data element of a REPORT's DAV:prop."""

    def __init__(self, el: ET.Element) -> None:
        if el.tag == P.CALENDAR_DATA and (el.get("content-type", "text/calendar") != "text/calendar"
                                          or el.get("version", "2.0") != "2.0"):
            raise DavError(403, body=X.error(X.CALDAV, "supported-calendar-data"))
        exp = el.find(T(X.CALDAV, "expand"))
        limit = el.find(T(X.CALDAV, "limit-recurrence-set"))
        if exp is not None and limit is not None:
            raise _bad_request()
        self.expand = _range(exp) if exp is not None else None
        self.limit_recurrence = _range(limit) if limit is not None else None
        fb = el.find(T(X.CALDAV, "limit-freebusy-set"))
        if fb is not None:
            _range(fb)      # validated; no stored object carries VFREEBUSY to limit
        comp = el.find(T(X.CALDAV, "comp"))
        self.selection = CompSelection.parse(comp) if comp is not None else None
        if self.selection is not None and self.selection.name != "VCALENDAR":
            raise _bad_request()

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
        if self.limit_recurrence is not None or self.selection is not None:
            text = self._reduce(text)
        return {P.CALENDAR_DATA: X.el(P.CALENDAR_DATA, text)}

    def _reduce(self, text: str) -> str:
        try:
            cal = icalendar.Calendar.from_ical(text)
        except ValueError:
            return text            # stored text was validated; leave anything odd whole
        if self.limit_recurrence is not None:
            start, end = self.limit_recurrence
            cal.subcomponents = [c for c in cal.subcomponents
                                 if c.get("RECURRENCE-ID") is None
                                 or _touches(c, start, end)]
        if self.selection is not None:
            cal = self.selection.apply(cal)
        return cal.to_ical().decode("utf-8")


def _touches(override, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether an overridden instance affects [start, end): it was, or now is, inside it."""
    rid = override["RECURRENCE-ID"].dt
    rid = rid if isinstance(rid, dt.datetime) else dt.datetime(rid.year, rid.month, rid.day)
    rid = rid.astimezone(UTC) if rid.tzinfo else rid.replace(tzinfo=UTC)
    s, e = component_span(override)
    return start <= rid < end or (s is not None and s < end and (e or s) >= start)

"""WebDAV XML: safe parsing (no DTDs, no entity expansion: defusedxml) and the multistatus
answers of RFC 4918 §13, with the namespaces of CalDAV (RFC 4791), CardDAV (RFC 6352),
CalendarServer and Apple's iCal extensions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Iterable

from defusedxml import ElementTree as SafeET

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"

PREFIXES = {DAV: "D", CALDAV: "C", CARDDAV: "CR", CS: "CS", ICAL: "ICAL"}
for _ns, _prefix in PREFIXES.items():
    ET.register_namespace(_prefix, _ns)

MAX_BODY = 4 * 1024 * 1024


class BadXML(ValueError):
    pass


def tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def parse(body: bytes) -> ET.Element | None:
    """The request body's root element, or None for an empty body. BadXML when malformed or
    when it declares a DTD or entities."""
    if not body.strip():
        return None
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except Exception as e:
        raise BadXML(str(e)) from None


def el(tag_: str, text: str | None = None, children: Iterable[ET.Element] = (),
       **attrs: str) -> ET.Element:
    e = ET.Element(tag_, attrs)
    if text is not None:
        e.text = text
    for c in children:
        e.append(c)
    return e


def href(path: str) -> ET.Element:
    return el(tag(DAV, "href"), path)


def serialize(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def status_line(code: int) -> str:
    from http import HTTPStatus
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {code} {phrase}"


def response(path: str, found: list[ET.Element], missing: list[str] = (),
             forbidden: list[str] = ()) -> ET.Element:
    """One <D:response> with a 200 propstat for ``found`` and 404/403 ones for the rest."""
    r = el(tag(DAV, "response"), children=[href(path)])
    for code, props in ((200, found), (404, [ET.Element(n) for n in missing]),
                        (403, [ET.Element(n) for n in forbidden])):
        if props:
            r.append(el(tag(DAV, "propstat"), children=[
                el(tag(DAV, "prop"), children=props), el(tag(DAV, "status"), status_line(code))]))
    return r


def status_response(path: str, code: int) -> ET.Element:
    return el(tag(DAV, "response"), children=[href(path),
                                              el(tag(DAV, "status"), status_line(code))])


def multistatus(responses: Iterable[ET.Element], sync_token: str | None = None) -> ET.Element:
    ms = el(tag(DAV, "multistatus"), children=responses)
    if sync_token is not None:
        ms.append(el(tag(DAV, "sync-token"), sync_token))
    return ms


def error(ns: str, condition: str, *children: ET.Element) -> bytes:
    """An RFC 4918 §16 precondition/postcondition error body."""
    return serialize(el(tag(DAV, "error"), children=[el(tag(ns, condition), children=children)]))

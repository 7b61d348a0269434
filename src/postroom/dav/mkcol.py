"""MKCALENDAR (RFC 4791 §5.3.1) and extended MKCOL (RFC 5689): a new calendar, task list or
address book in one's own home, with its initial properties."""

from __future__ import annotations

from starlette.responses import Response

from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest
from postroom.dav.resources import RESERVED_NAMES, SHARED, DavError
from postroom.pim.model import CALENDAR_COMPONENTS
from postroom.store.api import COLLECTION_ADDRESSBOOK, COLLECTION_CALENDAR

T = X.tag


def initial_properties(root) -> dict:
    props = {}
    if root is None:
        return props
    for prop in root.iter(T(X.DAV, "prop")):
        for p in prop:
            props[p.tag] = p
    return props


async def handle(req: DavRequest) -> Response:
    target = req.target
    if target.kind != "collection" or target.home is None or target.home.id != req.account.id:
        raise DavError(403)
    if target.collection is not None:
        raise DavError(405)
    if target.segment in RESERVED_NAMES or target.segment.startswith(SHARED):
        raise DavError(403)
    root = X.parse(req.body)
    props = initial_properties(root)
    kind = COLLECTION_CALENDAR if req.method.upper() == "MKCALENDAR" else None
    rt = props.pop(T(X.DAV, "resourcetype"), None)
    if rt is not None:
        if rt.find(T(X.CALDAV, "calendar")) is not None:
            kind = COLLECTION_CALENDAR
        elif rt.find(T(X.CARDDAV, "addressbook")) is not None:
            kind = COLLECTION_ADDRESSBOOK
    if kind is None:
        # Plain collections have no place in a home of calendars and address books.
        raise DavError(403, body=X.error(X.DAV, "valid-resourcetype"))
    fields: dict = {}
    dead: dict = {}
    components: list[str] = []
    for name, el in props.items():
        if name == T(X.CALDAV, "supported-calendar-component-set"):
            components = [c.get("name", "").upper() for c in el if c.get("name")]
        elif name in P.WRITABLE_LIVE:
            fields[P.WRITABLE_LIVE[name]] = el.text or ""
        else:
            from xml.etree.ElementTree import tostring
            dead[name] = tostring(el, encoding="unicode")
    if kind == COLLECTION_CALENDAR and not components:
        # RFC 4791 §5.2.3: a calendar created without a component set accepts every
        # component type, journals included (jtx Board and the caldav library put VJOURNAL
        # beside events and tasks).
        components = list(CALENDAR_COMPONENTS)
    await req.store.create_collection(
        req.account.id, kind, target.segment, components=components, properties=dead, **fields)
    return Response(b"", status_code=201)

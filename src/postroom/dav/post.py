"""POST to the schedule outbox (RFC 6638 §5): a VFREEBUSY request answered with every local
recipient's busy time in a schedule-response."""

from __future__ import annotations

from starlette.responses import Response

from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest, xml_response
from postroom.dav.resources import DavError, is_inbox
from postroom.pim import freebusy
from postroom.pim.model import InvalidData, parse_calendar
from postroom.store.api import ACL_COLLECTION, RIGHTS_READ, RIGHTS_READ_WRITE

T = X.tag


async def share(req: DavRequest) -> Response:
    """CalendarServer sharing (caldav-sharing, as Apple Calendar sends it): CS:set grants read
    or read-write to a user of this server, CS:remove takes it back. Accepted at once."""
    target = req.target
    c = target.collection
    if c is None or c.account_id != req.account.id or is_inbox(c):
        raise DavError(403)
    root = X.parse(req.body)
    if root is None or root.tag != T(X.CS, "share"):
        raise DavError(400)
    for op in root:
        h = op.find(T(X.DAV, "href"))
        address = (h.text or "").strip().lower().removeprefix("mailto:") if h is not None else ""
        who = await req.store.resolve_recipient(address) if address else None
        if who is None or who.id == req.account.id:
            raise DavError(403, body=X.error(X.CS, "valid-sharee"))
        if op.tag == T(X.CS, "set"):
            rights = RIGHTS_READ_WRITE if op.find(T(X.CS, "read-write")) is not None \
                else RIGHTS_READ
        elif op.tag == T(X.CS, "remove"):
            rights = ""
        else:
            continue
        await req.store.set_rights(req.account.id, ACL_COLLECTION, c.id, who.id, rights)
    return Response(b"", status_code=200)


async def handle(req: DavRequest) -> Response:
    target = req.target
    if target.kind == "collection" and target.collection is not None:
        return await share(req)
    if target.kind != "outbox" or target.home.id != req.account.id:
        raise DavError(405)
    try:
        obj = parse_calendar(req.body, allow_methods=True)
    except InvalidData:
        obj = None
    if obj is None:
        import icalendar
        try:
            cal = icalendar.Calendar.from_ical(req.body.decode("utf-8"))
        except Exception:
            raise DavError(400, body=X.error(X.CALDAV, "valid-calendar-data")) from None
    else:
        cal = obj.calendar
    fbs = [c for c in cal.subcomponents if c.name == "VFREEBUSY"]
    if not fbs or str(cal.get("METHOD", "")).upper() != "REQUEST":
        raise DavError(403, body=X.error(X.CALDAV, "valid-scheduling-message"))
    fb = fbs[0]
    start, end = fb["DTSTART"].dt, fb["DTEND"].dt
    attendees = fb.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    responses = []
    for a in attendees:
        addr = str(a)
        email = addr.lower().removeprefix("mailto:")
        who = await req.store.resolve_recipient(email)
        if who is None:
            status, data = "3.7;Invalid calendar user", None
        else:
            periods = await freebusy.busy_periods(req.store, who, start, end)
            status = "2.0;Success"
            data = freebusy.vfreebusy(periods, start, end, organizer=req.account.email,
                                      attendee=email, uid=str(fb.get("UID", "")),
                                      method="REPLY")
        children = [X.el(T(X.CALDAV, "recipient"), children=[X.href(addr)]),
                    X.el(T(X.CALDAV, "request-status"), status)]
        if data is not None:
            children.append(X.el(T(X.CALDAV, "calendar-data"), data))
        responses.append(X.el(T(X.CALDAV, "response"), children=children))
    return xml_response(X.el(T(X.CALDAV, "schedule-response"), children=responses), status=200)

"""POST to the schedule outbox (RFC 6638 §5): a VFREEBUSY request answered with every local
recipient's busy time in a schedule-response."""

from __future__ import annotations

from starlette.responses import Response

from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest, xml_response
from postroom.dav.resources import DavError
from postroom.pim import freebusy
from postroom.pim.model import InvalidData, parse_calendar

T = X.tag


async def handle(req: DavRequest) -> Response:
    target = req.target
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

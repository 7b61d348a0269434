"""MeetingResponse (MS-ASCMD §2.2.1.11): accept, tentatively accept or decline an invitation,
named by its mail in a mail folder or by the event in a calendar. The attendee's copy gets the
PARTSTAT and the organizer hears of it through ``pim.itip.reply`` (directly when local, by
iMIP otherwise); the invitation mail then goes to Deleted Items, as Exchange does.

In 16.x the organizer is told only when the request has a SendResponse (MS-ASCMD §2.2.3.163),
and its ProposedStartTime/ProposedEndTime go to the organizer as an iTIP COUNTER.
"""

from __future__ import annotations

from postroom.eas import hierarchy
from postroom.eas.hierarchy import CLASS_CALENDAR, item_id, split_item_id
from postroom.eas.protocol import CommandError, Request, parse_date
from postroom.eas.wbxml import E, Element
from postroom.pim import itip
from postroom.store.api import EAS_SOURCE_MAILBOX, ROLE_TRASH, NotFound

# MeetingResponse Status (MS-ASCMD §2.2.3.177.8)
SUCCESS = 1
INVALID_REQUEST = 2
MAILBOX_ERROR = 3
SERVER_ERROR = 4
PARTSTATS = {"1": "ACCEPTED", "2": "TENTATIVE", "3": "DECLINED"}


async def handle_meeting_response(req: Request) -> Element:
    if req.body is None or req.body.tag != "MeetingResponse:MeetingResponse":
        raise CommandError(INVALID_REQUEST)
    requests = req.body.findall("MeetingResponse:Request")
    if not requests:
        raise CommandError(INVALID_REQUEST)
    return E("MeetingResponse:MeetingResponse", *[await _respond(req, r) for r in requests])


async def _uid_of(req: Request, folder, key: str) -> tuple[str | None, object]:
    """The UID the request names, and the invitation's iCalendar when it is a mail."""
    store, acc = req.store, req.account
    if folder.source == EAS_SOURCE_MAILBOX:
        if not key.isdigit():
            return None, None
        rows = await store.fetch(acc.id, folder.source_id, [int(key)], [])
        if not rows:
            return None, None
        found = itip.calendar_part(await store.read_blob(rows[0].blob))
        if found is None or found[0] != "REQUEST":
            return None, None
        event = next(iter(found[1].walk("VEVENT")), None)
        return (str(event.get("UID")) if event is not None else None), found[1]
    if folder.cls != CLASS_CALENDAR:
        return None, None
    item = await store.get_item(acc.id, folder.source_id, key)
    return (item.index.uid if item is not None else None), None


async def _respond(req: Request, r: Element) -> Element:
    request_id = r.findtext("MeetingResponse:RequestId") or ""

    def result(status: int, calendar_id: str | None = None) -> Element:
        return E("MeetingResponse:Result", E("MeetingResponse:RequestId", request_id),
                 E("MeetingResponse:Status", status),
                 E("MeetingResponse:CalendarId", calendar_id) if calendar_id else None)

    partstat = PARTSTATS.get(r.findtext("MeetingResponse:UserResponse") or "")
    folder = await hierarchy.resolve(req.store, req.account,
                                     r.findtext("MeetingResponse:CollectionId"))
    parts = split_item_id(request_id)
    if partstat is None or folder is None or parts is None or parts[0] != folder.server_id:
        return result(INVALID_REQUEST)
    uid, invitation = await _uid_of(req, folder, parts[1])
    if not uid:
        return result(INVALID_REQUEST)
    send = r.find("MeetingResponse:SendResponse") if req.v >= (16, 0) else None
    notify = send is not None or req.v < (16, 0)
    proposed = _proposal(send) if send is not None else None
    if proposed is False:
        return result(INVALID_REQUEST)
    store, acc = req.store, req.account
    if not await store.find_items_by_uid(acc.id, uid) and invitation is not None:
        # An invitation that never reached the calendar (delivered before it existed, say).
        await itip.deliver_request(store, acc, invitation)
    if not await itip.reply(req.ctx, acc, uid, partstat, notify=notify):
        return result(INVALID_REQUEST)
    if proposed:
        await itip.counter(req.ctx, acc, uid, *proposed)
    if folder.source == EAS_SOURCE_MAILBOX:
        trash = await store.get_mailbox_by_role(acc.id, ROLE_TRASH)
        if trash is not None and trash.id != folder.source_id:
            try:
                await store.move(acc.id, folder.source_id, [int(parts[1])], trash.id)
            except NotFound:
                pass
    items = [i for i in await store.find_items_by_uid(acc.id, uid) if i.index.organizer]
    calendar_id = item_id(f"c{items[0].collection_id}", items[0].name) \
        if items and partstat != "DECLINED" else None
    return result(SUCCESS, calendar_id)


def _proposal(send: Element) -> tuple | None | bool:
    """The new time a SendResponse proposes: (start, end), None for none, False when bad."""
    start_text = send.findtext("MeetingResponse:ProposedStartTime")
    end_text = send.findtext("MeetingResponse:ProposedEndTime")
    if start_text is None and end_text is None:
        return None
    start, end = parse_date(start_text), parse_date(end_text)
    if start is None or end is None or end < start:
        return False
    return start, end

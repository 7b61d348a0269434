"""DELETE (RFC 4918 §9.6): an item (with If-Match), an own collection, or one's view of a
shared collection (which ends the share for the viewer). Deleting an event one organizes
cancels it for the attendees (RFC 6638 §3.2.2.1)."""

from __future__ import annotations

from starlette.responses import Response

from postroom.dav.app import DavRequest
from postroom.dav.put import check_schedule_tag, parse_if_match
from postroom.dav.resources import SHARED, DavError, is_calendar, is_inbox
from postroom.pim import itip
from postroom.store.api import ACL_COLLECTION


async def handle(req: DavRequest) -> Response:
    target = req.target
    store = req.store
    if target.kind == "item":
        c = target.collection
        target.require("t")
        item = await store.get_item(c.account_id, c.id, target.item)
        if item is None:
            raise DavError(404)
        if_match = parse_if_match(req.header("if-match"))
        if if_match is not None and if_match != item.modseq:
            raise DavError(412)
        check_schedule_tag(req, item)
        await store.delete_item(c.account_id, c.id, target.item, if_match=item.modseq)
        if is_calendar(c) and not is_inbox(c):
            await itip.after_delete(req.ctx, req.account, c, item)
        return Response(b"", status_code=204)
    if target.kind == "collection":
        c = target.collection
        if c is None:
            raise DavError(404)
        if target.segment.startswith(SHARED):
            await store.set_rights(c.account_id, ACL_COLLECTION, c.id, req.account.id, "")
            return Response(b"", status_code=204)
        if c.account_id != req.account.id or is_inbox(c):
            raise DavError(403)
        await store.delete_collection(c.account_id, c.id)
        return Response(b"", status_code=204)
    raise DavError(403)

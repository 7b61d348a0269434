"""PUT (RFC 4918 §9.7, RFC 4791 §5.3.2, RFC 6352 §6.3.2): store one calendar object resource
or vCard after validating it, honouring If-Match / If-None-Match and If-Schedule-Tag-Match
(RFC 6638 §3.2.10); an event with attendees is then scheduled (RFC 6638 §3.2, pim/itip.py)."""

from __future__ import annotations

from starlette.responses import Response

from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest
from postroom.dav.resources import DavError, is_addressbook, is_inbox
from postroom.pim import itip
from postroom.pim.model import index_calendar, index_vcard, parse_calendar, parse_vcard
from postroom.store.api import Item, UidConflict


def parse_if_match(value: str) -> int | None:
    """The modseq named by an If-Match ETag; -1 for "*" (any existing item)."""
    value = value.strip()
    if not value:
        return None
    if value == "*":
        return -1
    first = value.split(",")[0].strip()
    if first.startswith("W/"):
        first = first[2:]
    try:
        return int(first.strip('"'))
    except ValueError:
        return -2          # matches nothing


def check_schedule_tag(req: DavRequest, old: Item | None) -> bool:
    """RFC 6638 §3.2.10: If-Schedule-Tag-Match must name the current Schedule-Tag of an
    existing scheduling object resource, else 412. True when the header was given."""
    wanted = req.header("if-schedule-tag-match").strip()
    if not wanted:
        return False
    if P.schedule_tag_of(old) != wanted:
        raise DavError(412)
    return True


async def handle(req: DavRequest) -> Response:
    target = req.target
    if target.kind != "item":
        raise DavError(405 if target.kind != "gal-item" else 403)
    c = target.collection
    store = req.store
    if is_inbox(c):
        raise DavError(403)
    if len(req.body) > P.MAX_RESOURCE_SIZE:
        ns = X.CARDDAV if is_addressbook(c) else X.CALDAV
        raise DavError(403, body=X.error(ns, "max-resource-size"))
    old = await store.get_item(c.account_id, c.id, target.item)
    target.require("w" if old is not None else "i")
    if_match = parse_if_match(req.header("if-match"))
    if_none_match = req.header("if-none-match").strip() == "*"
    if if_match is not None and (old is None or (if_match >= 0 and if_match != old.modseq)):
        raise DavError(412)
    if if_none_match and old is not None:
        raise DavError(412)
    schedule_matched = check_schedule_tag(req, old)

    try:
        text = req.body.decode("utf-8") if req.body else ""
    except UnicodeDecodeError:
        # RFC 4791 §5.3.2.1 / RFC 6352 §6.3.2.1: data the server cannot take is a precondition
        # failure, not a server error.
        ns, condition = (X.CARDDAV, "supported-address-data") if is_addressbook(c) else \
            (X.CALDAV, "supported-calendar-data")
        raise DavError(403, body=X.error(ns, condition)) from None
    if is_addressbook(c):
        card = parse_vcard(text, default_uid=target.item.rsplit(".", 1)[0])
        index = index_vcard(card)
    else:
        obj = parse_calendar(text)
        if obj.component not in c.components:
            raise DavError(403, body=X.error(X.CALDAV, "supported-calendar-component"))
        index = index_calendar(obj)
        if schedule_matched:
            own = await itip.own_addresses(store, target.owner or req.account)
            if index.organizer in own:
                # Written against a copy that replies may have changed since without moving
                # the tag: their answers stay.
                text = itip.keep_replies(old.text, text, own)
                index = index_calendar(parse_calendar(text))
    try:
        item = await store.put_item(c.account_id, c.id, target.item, text, index,
                                    if_match=old.modseq if old is not None else None,
                                    if_none_match=old is None)
    except UidConflict as e:
        raise DavError(403, body=X.error(X.CALDAV if not is_addressbook(c) else X.CARDDAV,
                                         "no-uid-conflict",
                                         X.href(target.path.rsplit("/", 1)[0] + "/" + e.name)))
    if not is_addressbook(c):
        await itip.after_put(req.ctx, req.account, c, old, item)
    headers = {"ETag": P.etag(item.modseq)}
    if itip.is_scheduling_object(index):
        headers["Schedule-Tag"] = itip.schedule_tag(text) or ""
    return Response(b"", status_code=204 if old is not None else 201, headers=headers)

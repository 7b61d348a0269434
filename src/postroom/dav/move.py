"""MOVE and COPY of items (RFC 4918 §9.8, §9.9) between collections one may write, with
Destination and Overwrite. Collections are not moved (renaming is PROPPATCH displayname)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import Response

from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest
from postroom.dav.resources import DavError, is_addressbook, is_inbox
from postroom.store.api import UidConflict


async def handle(req: DavRequest) -> Response:
    target = req.target
    if target.kind != "item":
        raise DavError(403)
    dest_header = req.header("destination")
    if not dest_header:
        raise DavError(400)
    dest = await req.resolve(urlsplit(dest_header).path)
    if dest.kind != "item":
        raise DavError(403)
    src_c, dst_c = target.collection, dest.collection
    if src_c.account_id != dst_c.account_id or is_addressbook(src_c) != is_addressbook(dst_c) \
            or is_inbox(dst_c):
        raise DavError(403 if is_inbox(dst_c) else 502)
    copying = req.method.upper() == "COPY"
    target.require("r")
    if not copying:
        target.require("t")
    dest.require("i")
    overwrite = req.header("overwrite", "T").strip().upper() != "F"
    existed = await req.store.get_item(dst_c.account_id, dst_c.id, dest.item) is not None
    if existed and not overwrite:
        raise DavError(412)
    if existed:
        await req.store.delete_item(dst_c.account_id, dst_c.id, dest.item)
    try:
        await req.store.move_item(src_c.account_id, src_c.id, target.item, dst_c.id, dest.item,
                                  copy=copying, overwrite=overwrite)
    except UidConflict as e:
        raise DavError(403, body=X.error(X.CARDDAV if is_addressbook(dst_c) else X.CALDAV,
                                         "no-uid-conflict", X.href(dest.path.rsplit("/", 1)[0]
                                                                   + "/" + e.name))) from None
    return Response(b"", status_code=204 if existed else 201)

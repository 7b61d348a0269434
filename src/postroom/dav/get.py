"""GET and HEAD (RFC 4918 §9.4): an item's stored text with its ETag, and the Schedule-Tag of a
scheduling object resource (RFC 6638 §3.2.10)."""

from __future__ import annotations

from starlette.responses import Response

from postroom.dav import props as P
from postroom.dav.app import DavRequest
from postroom.dav.propfind import load_item
from postroom.dav.resources import DavError


async def handle(req: DavRequest) -> Response:
    target = req.target
    if target.kind not in ("item", "gal-item"):
        # Collections have no body; say so plainly (some clients GET them to probe).
        return Response(b"", status_code=200 if target.can("r") else 403,
                        media_type="text/plain")
    target.require("r")
    item = await load_item(req, target)
    if item is None:
        raise DavError(404)
    tag = P.etag(item.modseq)
    headers = {"ETag": tag}
    schedule_tag = P.schedule_tag_of(item)
    if schedule_tag:
        headers["Schedule-Tag"] = schedule_tag
    if req.header("if-none-match").strip() in (tag, "*"):
        return Response(b"", status_code=304, headers=headers)
    media = "text/vcard" if item.index.component == "VCARD" else "text/calendar"
    return Response(item.text.encode("utf-8"), headers=headers,
                    media_type=f"{media}; charset=utf-8")

"""PROPPATCH (RFC 4918 §9.2): display name, description, colour and time zone of a collection
as live properties, anything else kept as a dead property. All or nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest, xml_response
from postroom.dav.resources import DavError

T = X.tag


async def handle(req: DavRequest):
    target = req.target
    c = target.collection
    if target.kind != "collection" or c is None:
        raise DavError(403 if target.kind != "collection" else 404)
    if c.account_id != req.account.id:
        # A sharee's view has the owner's properties; changing them is the owner's right.
        target.require("a", "write-properties")
    root = X.parse(req.body)
    if root is None or root.tag != T(X.DAV, "propertyupdate"):
        raise X.BadXML("expected DAV:propertyupdate")
    fields: dict = {}
    dead: dict = {}
    names: list[str] = []
    refused: list[str] = []
    for op in root:
        setting = op.tag == T(X.DAV, "set")
        for prop in op.iter(T(X.DAV, "prop")):
            for p in prop:
                names.append(p.tag)
                if p.tag in P.WRITABLE_LIVE:
                    fields[P.WRITABLE_LIVE[p.tag]] = (p.text or "") if setting else ""
                elif p.tag in P.PROTECTED:
                    refused.append(p.tag)
                else:
                    dead[p.tag] = ET.tostring(p, encoding="unicode") if setting else None
    if refused:
        r = X.el(T(X.DAV, "response"), children=[X.href(target.path)])
        for code, group in ((403, refused), (424, [n for n in names if n not in refused])):
            if group:
                r.append(X.el(T(X.DAV, "propstat"), children=[
                    X.el(T(X.DAV, "prop"), children=[ET.Element(n) for n in group]),
                    X.el(T(X.DAV, "status"), X.status_line(code))]))
        return xml_response(X.multistatus([r]))
    await req.store.update_collection(c.account_id, c.id, properties=dead, **fields)
    return xml_response(X.multistatus([X.response(target.path, [ET.Element(n) for n in names])]))

"""The expand-property REPORT (RFC 3253 §3.8), as Apple Calendar and others send it to a
principal: the asked properties of the target, and in place of each DAV:href inside a property
that names nested DAV:property elements, a DAV:response with those properties of the resource it
points to (e.g. calendar-proxy-write-for -> each principal's displayname and address set).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from starlette.responses import Response

from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest, xml_response
from postroom.dav.propfind import prop_context
from postroom.dav.resources import PREFIX, DavError, Target

T = X.tag
HREF = T(X.DAV, "href")
# Nesting a client may ask for; deeper levels are answered as plain hrefs.
MAX_DEPTH = 3


async def handle(req: DavRequest, root: ET.Element) -> Response:
    return xml_response(X.multistatus([await _response(req, req.target, root, 0)]))


async def _response(req: DavRequest, target: Target, spec: ET.Element, depth: int
                    ) -> ET.Element:
    pc = await prop_context(req, target)
    found, missing = [], []
    for p in spec.findall(T(X.DAV, "property")):
        name = p.get("name")
        if not name:
            raise DavError(400, body=X.error(X.DAV, "valid-property"))
        tag_ = T(p.get("namespace") or X.DAV, name)
        value = P.value(tag_, target, pc)
        if value is None:
            missing.append(tag_)
            continue
        if len(p) and depth < MAX_DEPTH:
            value = await _expanded(req, value, p, depth)
        found.append(value)
    return X.response(target.path, found, missing)


async def _expanded(req: DavRequest, value: ET.Element, spec: ET.Element, depth: int
                    ) -> ET.Element:
    out = X.el(value.tag)
    for child in value:
        path = urlsplit((child.text or "").strip()).path if child.tag == HREF else ""
        if not path.startswith(PREFIX + "/"):
            out.append(child)            # not one of ours (mailto:, another server): as is
            continue
        try:
            target = await req.resolve(path)
        except DavError:
            out.append(X.status_response(path, 404))
            continue
        if not target.can("r"):
            out.append(X.status_response(path, 403))
            continue
        out.append(await _response(req, target, spec, depth + 1))
    return out

"""CalDAV (RFC 4791) and CardDAV (RFC 6352) door, mounted on the one ASGI app (``http.py``)."""

from __future__ import annotations

from postroom.context import ServerContext


def make_app(ctx: ServerContext):
    from postroom.dav.app import DavApp
    return DavApp(ctx)

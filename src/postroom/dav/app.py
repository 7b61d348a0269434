"""The CalDAV/CardDAV door as an ASGI app (RFC 4918, RFC 4791, RFC 6352, RFC 6578, RFC 6638).

Each request: authenticate (HTTP Basic over TLS or loopback, RFC 7617), resolve the path to a
target (dav/resources.py), hand it to the module of its method (one per method, as in Radicale),
answer. Store errors become their HTTP status here, once.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from postroom.auth.authenticator import AuthFailed
from postroom.context import ServerContext
from postroom.dav import xmlutil
from postroom.dav.resources import DavError, Target, resolve
from postroom.pim.model import InvalidData
from postroom.store.api import (
    Account, AlreadyExists, InvalidName, NotFound, PreconditionFailed, QuotaExceeded, Store,
)

log = logging.getLogger("postroom.dav")

DAV_HEADER = "1, 2, 3, access-control, calendar-access, addressbook, extended-mkcol, " \
             "calendar-auto-schedule, calendar-schedule, calendarserver-sharing, " \
             "calendarserver-principal-search"
ALLOW = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, REPORT, " \
        "MOVE, COPY, POST"
# The methods that may name a collection that does not exist yet.
CREATING_METHODS = ("MKCOL", "MKCALENDAR")
# RFC 4791 §5.2.5 max-resource-size, also the request body limit for item PUTs.
MAX_RESOURCE_SIZE = 2 * 1024 * 1024


@dataclass
class DavRequest:
    ctx: ServerContext
    http: Request
    account: Account
    target: Target
    body: bytes

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def method(self) -> str:
        return self.http.method

    def header(self, name: str, default: str = "") -> str:
        return self.http.headers.get(name, default)

    @property
    def depth(self) -> str:
        return self.header("depth", "infinity").strip().lower()

    async def resolve(self, path: str) -> Target:
        return await resolve(self.store, self.account, path)


Handler = Callable[[DavRequest], Awaitable[Response]]


def xml_response(root, status: int = 207, headers: dict | None = None) -> Response:
    return Response(xmlutil.serialize(root), status_code=status, headers=headers,
                    media_type="application/xml; charset=utf-8")


def _handlers() -> dict[str, Handler]:
    from postroom.dav import delete, get, mkcol, move, post, propfind, proppatch, put, report
    return {
        "GET": get.handle, "HEAD": get.handle, "PUT": put.handle, "DELETE": delete.handle,
        "PROPFIND": propfind.handle, "PROPPATCH": proppatch.handle, "MKCOL": mkcol.handle,
        "MKCALENDAR": mkcol.handle, "REPORT": report.handle, "MOVE": move.handle,
        "COPY": move.handle, "POST": post.handle,
    }


class DavApp:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.handlers = _handlers()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except DavError as e:
            response = Response(e.body or b"", status_code=e.status, headers=e.headers,
                                media_type="application/xml; charset=utf-8" if e.body else None)
        except Exception:
            log.exception("DAV %s %s failed", request.method, request.url.path)
            response = Response(b"internal error", status_code=500)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        method = request.method.upper()
        if method == "OPTIONS":
            return Response(b"", headers={"DAV": DAV_HEADER, "Allow": ALLOW})
        handler = self.handlers.get(method)
        if handler is None:
            return Response(b"", status_code=405, headers={"Allow": ALLOW})
        account = await self.authenticate(request)
        body = await self.read_body(request)
        target = await resolve(self.ctx.store, account, request.url.path)
        if target.kind == "collection" and target.collection is None \
                and method not in CREATING_METHODS:
            # A missing calendar in one's own home is simply not there (RFC 4918 §9: 404), for
            # REPORT and PROPPATCH as much as for PROPFIND; only the methods that create a
            # collection get past this.
            return Response(b"", status_code=404)
        req = DavRequest(self.ctx, request, account, target, body)
        try:
            return await handler(req)
        except xmlutil.BadXML as e:
            log.info("bad XML from %s: %s", account.email, e)
            return Response(b"malformed XML", status_code=400)
        except InvalidData as e:
            ns = xmlutil.CARDDAV if "address" in e.condition else xmlutil.CALDAV
            return Response(xmlutil.error(ns, e.condition), status_code=403,
                            media_type="application/xml; charset=utf-8")
        except PreconditionFailed:
            return Response(b"", status_code=412)
        except QuotaExceeded:
            return Response(xmlutil.error(xmlutil.DAV, "quota-not-exceeded"), status_code=507,
                            media_type="application/xml; charset=utf-8")
        except AlreadyExists:
            return Response(b"", status_code=405)
        except InvalidName:
            return Response(b"invalid name", status_code=403)
        except NotFound:
            return Response(b"", status_code=404)

    async def authenticate(self, request: Request) -> Account:
        challenge = {"WWW-Authenticate": 'Basic realm="Postroom", charset="UTF-8"'}
        scope = request.scope
        tls = bool(scope.get("postroom.tls")) or scope.get("scheme") == "https"
        peer_ip = (scope.get("client") or ("", 0))[0]
        auth = self.ctx.auth
        if not auth.plaintext_allowed(tls=tls, peer_ip=peer_ip):
            raise DavError(403, "Basic authentication needs TLS")
        value = request.headers.get("authorization", "")
        scheme, _, data = value.partition(" ")
        if scheme.lower() != "basic":
            raise DavError(401, headers=challenge)
        try:
            decoded = base64.b64decode(data.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise DavError(401, headers=challenge) from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise DavError(401, headers=challenge)
        try:
            return await auth.login(user, password, peer_ip=peer_ip, tls=tls)
        except AuthFailed:
            raise DavError(401, headers=challenge) from None

    async def read_body(self, request: Request) -> bytes:
        limit = max(MAX_RESOURCE_SIZE, xmlutil.MAX_BODY) + 1
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise DavError(413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise DavError(413)
            chunks.append(chunk)
        return b"".join(chunks)

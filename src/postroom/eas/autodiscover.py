"""Autodiscover for ActiveSync clients: ``POST /autodiscover/autodiscover.xml`` with the
mobilesync request schema (MS-ASCMD §2.2.1.1, Autodiscover), answered after Basic
authentication with the user's name and address and the EAS URL; and ``GET
/autodiscover/autodiscover.json?Email=...&Protocol=ActiveSync`` (also
``/autodiscover/autodiscover.json/v1.0/<email>``) as Outlook mobile asks, answered with
``{"Protocol": "ActiveSync", "Url": ...}``. Bad input gets the schema's error, never a 500.
"""

from __future__ import annotations

import json
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from postroom.auth.sasl import AuthFailed
from postroom.context import ServerContext
from postroom.eas.app import REALM, basic_credentials, read_body, reply

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
OUTER_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
EAS_PATH = "/Microsoft-Server-ActiveSync"
MAX_REQUEST = 64 * 1024


def _eas_url(scope, headers: dict[str, str]) -> str:
    host = headers.get("host") or scope.get("server", ("localhost", 443))[0]
    tls = bool(scope.get("postroom.tls")) or scope.get("scheme") == "https"
    return f"{'https' if tls else 'http'}://{host}{EAS_PATH}"


def _xml(inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\r\n<Autodiscover xmlns="{OUTER_NS}">'
            f'<Response xmlns="{RESPONSE_NS}"><Culture>en:us</Culture>{inner}</Response>'
            "</Autodiscover>").encode("utf-8")


def _error(code: int, message: str) -> bytes:
    # ErrorCode 600: invalid request; 601: the requested schema is not provided.
    return _xml(f"<Action><Error><Status>{code}</Status><Message>{escape(message)}</Message>"
                f"<DebugData>{escape(message)}</DebugData></Error></Action>")


class Autodiscover:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        path = scope.get("path", "").lower()
        method = scope.get("method", "GET")
        if path.startswith("/autodiscover/autodiscover.json") and method == "GET":
            await self._json(scope, headers, path, send)
        elif path == "/autodiscover/autodiscover.xml" and method == "POST":
            await self._mobilesync(scope, headers, receive, send)
        else:
            await reply(send, 404)

    async def _json(self, scope, headers, path: str, send) -> None:
        query = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        query = {k.lower(): v for k, v in query.items()}
        if query.get("protocol", "").lower() != "activesync":
            body = {"ErrorCode": "InvalidProtocol",
                    "ErrorMessage": "The given protocol value is invalid. Supported values "
                                    "are 'ActiveSync'."}
            await reply(send, 400, [("Content-Type", "application/json")],
                         json.dumps(body).encode())
            return
        body = {"Protocol": "ActiveSync", "Url": _eas_url(scope, headers)}
        await reply(send, 200, [("Content-Type", "application/json")], json.dumps(body).encode())

    async def _mobilesync(self, scope, headers, receive, send) -> None:
        credentials = basic_credentials(headers)
        peer_ip = (scope.get("client") or ("", 0))[0]
        tls = bool(scope.get("postroom.tls")) or scope.get("scheme") == "https"
        account = None
        if credentials is not None:
            try:
                account = await self.ctx.auth.login(*credentials, peer_ip=peer_ip, tls=tls)
            except AuthFailed as e:
                if e.temporary:
                    await reply(send, 503, [("Retry-After", "60")])
                    return
        if account is None:
            await reply(send, 401, [("WWW-Authenticate", REALM)])
            return
        raw = await read_body(receive, MAX_REQUEST)
        try:
            root = ET.fromstring(raw or b"")
            address = (root.findtext(f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}EMailAddress")
                       or "").strip().lower()
            schema = (root.findtext(
                f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}AcceptableResponseSchema") or "")
        except ET.ParseError:
            address, schema = "", ""
        xml_type = [("Content-Type", "text/xml; charset=utf-8")]
        if schema.strip() != RESPONSE_NS:
            await reply(send, 200, xml_type, _error(601, "Provider is not available."))
            return
        own = {a.lower() for a in await self.ctx.store.addresses_of(account.id)}
        if address and address != account.email and address not in own:
            await reply(send, 200, xml_type, _error(600, "Invalid Request"))
            return
        name = account.settings.get("display_name") or account.email.split("@")[0]
        url = escape(_eas_url(scope, headers))
        await reply(send, 200, xml_type, _xml(
            f"<User><DisplayName>{escape(name)}</DisplayName>"
            f"<EMailAddress>{escape(account.email)}</EMailAddress></User>"
            f"<Action><Settings><Server><Type>MobileSync</Type><Url>{url}</Url>"
            f"<Name>{url}</Name></Server></Settings></Action>"))


def make_app(ctx: ServerContext):
    """The ASGI app ``postroom.http`` mounts at ``/autodiscover``."""
    from postroom.eas.app import not_enabled
    return Autodiscover(ctx) if ctx.config.eas.enabled else not_enabled

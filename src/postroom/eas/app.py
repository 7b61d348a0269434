"""The ActiveSync HTTP layer (MS-ASHTTP): one ASGI app at ``/Microsoft-Server-ActiveSync``.

It reads the plain and the base64-encoded query forms (§2.2.1.1.1), answers OPTIONS with the
versions and commands (§2.2.4), checks Basic credentials, the device's access and policy key,
decodes the WBXML body and hands a :class:`~postroom.eas.protocol.Request` to the command's
handler. Every failure has its HTTP status: 401 with ``WWW-Authenticate: Basic``, 403 (plain HTTP
refused, device blocked), 449 (12.1: provision first), 413, 501, 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import struct
import urllib.parse
from collections import defaultdict

from postroom.auth.sasl import AuthFailed
from postroom.context import ServerContext
from postroom.eas import commands
from postroom.eas.protocol import (
    STATUS_INVALID_POLICY_KEY, STATUS_INVALID_WBXML,
    STATUS_NOT_PROVISIONED, STATUS_REMOTE_WIPE, STATUS_SERVER_ERROR, SUPPORTED_VERSIONS,
    CommandError, Request, Response, status_only,
)
from postroom.eas.wbxml import Element, WBXMLError, decode, encode
from postroom.store.api import (ACCESS_BLOCKED, POLICY_PROVISIONED, WIPE_ACCOUNT_REQUESTED,
                                WIPE_REQUESTED, Account, StoreError)

log = logging.getLogger("postroom.eas")

PATH = "/Microsoft-Server-ActiveSync"
WBXML_TYPE = "application/vnd.ms-sync.wbxml"
SERVER_VERSION = "16.1"
REALM = 'Basic realm="Postroom ActiveSync", charset="UTF-8"'

# MS-ASHTTP §2.2.1.1.1.1.2: command codes of the base64 query form.
COMMAND_CODES = {
    0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
    9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate",
    13: "MoveItems", 14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search",
    17: "Settings", 18: "Ping", 19: "ItemOperations", 20: "Provision",
    21: "ResolveRecipients", 22: "ValidateCert", 23: "Find",
}
# §2.2.1.1.1.1.3: command parameter tags.
PARAMETER_TAGS = {0: "AttachmentName", 1: "CollectionId", 2: "CollectionName", 3: "ItemId",
                  4: "LongId", 5: "ParentId", 6: "Occurrence", 7: "Options", 8: "User"}

# Commands a device may send before it holds a policy key (MS-ASPROV §3.2.5.1).
PROVISIONING_EXEMPT = {"Provision", "Settings"}


class QueryError(ValueError):
    pass


def parse_query(query: str) -> dict[str, str]:
    """The request's parameters from either query form, with ``_version`` and ``_policy_key``
    taken from the base64 form (where they replace the headers)."""
    if not query:
        raise QueryError("no query")
    if "Cmd=" in query or "&" in query:
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if "Cmd" not in params:
            raise QueryError("no Cmd")
        return params
    try:
        raw = base64.b64decode(urllib.parse.unquote(query) + "==", validate=False)
    except (binascii.Error, ValueError):
        raise QueryError("bad base64 query") from None
    try:
        pos = 0
        version, code = raw[0], raw[1]
        pos = 4  # locale (uint16 LE) is not used
        n = raw[pos]
        device_id = raw[pos + 1:pos + 1 + n]
        pos += 1 + n
        n = raw[pos]
        policy_key = struct.unpack("<I", raw[pos + 1:pos + 5])[0] if n == 4 else None
        pos += 1 + n
        n = raw[pos]
        device_type = raw[pos + 1:pos + 1 + n]
        pos += 1 + n
        if len(device_id) == 0 or pos > len(raw):
            raise IndexError
        params: dict[str, str] = {
            "Cmd": COMMAND_CODES[code],
            "DeviceId": (device_id.decode("ascii") if device_id.isascii()
                         and device_id.decode("ascii").isalnum() else device_id.hex().upper()),
            "DeviceType": device_type.decode("ascii", "replace"),
            "_version": f"{version // 10}.{version % 10}",
        }
        if policy_key is not None:
            params["_policy_key"] = str(policy_key)
        while pos < len(raw):
            tag, n = raw[pos], raw[pos + 1]
            value = raw[pos + 2:pos + 2 + n]
            if len(value) != n:
                raise IndexError
            pos += 2 + n
            name = PARAMETER_TAGS.get(tag)
            if name == "Options":
                bits = value[0] if value else 0
                if bits & 0x01:
                    params["SaveInSent"] = "T"
                if bits & 0x02:
                    params["AcceptMultiPart"] = "T"
            elif name:
                params[name] = value.decode("utf-8", "replace")
        return params
    except (IndexError, KeyError, struct.error):
        raise QueryError("malformed base64 query") from None


class EasApp:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.active = 0
        # (account id, device id) -> events that end the device's waiting Pings, oldest first
        self.waiters: dict[tuple[int, str], list[asyncio.Event]] = defaultdict(list)

    # --- long polls -----------------------------------------------------------------------------

    def begin_wait(self, account_id: int, device_id: str) -> asyncio.Event:
        """Registers a Ping or Sync Wait; ends the oldest beyond ``max_pings_per_device``."""
        key = (account_id, device_id)
        waiting = self.waiters[key]
        while len(waiting) >= max(1, self.ctx.config.eas.max_pings_per_device):
            waiting.pop(0).set()
        ev = asyncio.Event()
        waiting.append(ev)
        return ev

    def end_wait(self, account_id: int, device_id: str, ev: asyncio.Event) -> None:
        waiting = self.waiters.get((account_id, device_id))
        if waiting and ev in waiting:
            waiting.remove(ev)
        if not waiting:
            self.waiters.pop((account_id, device_id), None)

    # --- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        settings = self.ctx.config.eas
        if self.active >= settings.max_concurrent_requests:
            await reply(send, 503, [("Retry-After", "30")])
            return
        self.active += 1
        try:
            await self._handle(scope, receive, send)
        finally:
            self.active -= 1

    async def _handle(self, scope, receive, send) -> None:
        method = scope.get("method", "GET")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        tls = bool(scope.get("postroom.tls")) or scope.get("scheme") == "https"
        peer_ip = (scope.get("client") or ("", 0))[0]
        if method not in ("OPTIONS", "POST"):
            await reply(send, 405, [("Allow", "OPTIONS, POST")])
            return
        if not tls and not (self.ctx.config.eas.allow_plain_http_loopback
                            and self.ctx.auth.is_secure(tls=False, peer_ip=peer_ip)):
            await reply(send, 403, body=b"ActiveSync needs HTTPS")
            return
        account = await self._authenticate(headers, peer_ip, tls, send)
        if account is None:
            return
        if method == "OPTIONS":
            await reply(send, 200, [
                ("MS-Server-ActiveSync", SERVER_VERSION),
                ("MS-ASProtocolVersions", ",".join(SUPPORTED_VERSIONS)),
                ("MS-ASProtocolCommands", ",".join(commands.names())),
                ("Allow", "OPTIONS,POST"), ("Public", "OPTIONS,POST")])
            return

        try:
            params = parse_query(scope.get("query_string", b"").decode("latin-1"))
        except QueryError as e:
            await reply(send, 400, body=str(e).encode())
            return
        command = params["Cmd"]
        version = params.get("_version") or headers.get("ms-asprotocolversion", "")
        if version not in SUPPORTED_VERSIONS:
            await reply(send, 400, [("MS-ASProtocolVersions", ",".join(SUPPORTED_VERSIONS))],
                         b"unsupported MS-ASProtocolVersion")
            return
        handler = commands.handler(command)
        if handler is None:
            await reply(send, 501, body=b"command not implemented")
            return
        device_id = params.get("DeviceId", "")
        if not device_id or len(device_id) > 128:
            await reply(send, 400, body=b"missing DeviceId")
            return

        body = await read_body(receive, self.ctx.config.eas.max_request_bytes)
        if body is None:
            await reply(send, 413)
            return

        device = await self.ctx.store.eas_touch_device(
            account.id, device_id, params.get("DeviceType", ""), headers.get("user-agent", ""))
        old = version < "14.0"
        if device.access == ACCESS_BLOCKED:
            await reply(send, 403, body=b"device blocked")
            return
        policy_key = params.get("_policy_key") or headers.get("x-ms-policykey", "")
        problem = self._policy_problem(command, device, policy_key)
        if problem:
            if old:
                await reply(send, 449)
            else:
                await self._send_element(send, status_only(command, problem), version)
            return

        element: Element | None = None
        # 12.x SendMail/SmartReply/SmartForward post the MIME message itself.
        if body and not headers.get("content-type", "").lower().startswith("message/rfc822"):
            try:
                element = decode(body)
            except WBXMLError as e:
                log.info("eas %s from %s/%s: %s", command, account.email, device_id, e)
                if old:
                    await reply(send, 400, body=b"malformed WBXML")
                else:
                    await self._send_element(send, status_only(command, STATUS_INVALID_WBXML),
                                             version)
                return
        req = Request(self.ctx, account, device, command, version, element, body, params,
                      peer_ip, tls, headers,
                      accept_multipart=(params.get("AcceptMultiPart") == "T"
                                        or headers.get("ms-asacceptmultipart", "").upper() == "T"),
                      app=self)
        try:
            result = await handler(req)
        except CommandError as e:
            if old and e.http_status:
                await reply(send, e.http_status)
                return
            result = status_only(command, e.status)
        except StoreError as e:
            log.warning("eas %s for %s: store refused: %s", command, account.email, e)
            result = status_only(command, STATUS_SERVER_ERROR if not old else 5)
        except Exception:
            log.exception("eas %s for %s/%s failed", command, account.email, device_id)
            await reply(send, 500)
            return
        if isinstance(result, Response):
            hdrs = list(result.headers)
            if result.content_type:
                hdrs.append(("Content-Type", result.content_type))
            await reply(send, result.status, hdrs, result.body)
        else:
            await self._send_element(send, result, version)

    def _policy_problem(self, command: str, device, policy_key: str) -> int | None:
        """The MS-ASPROV status that stops this request, or None."""
        if command in PROVISIONING_EXEMPT:
            return None
        if device.wipe in (WIPE_REQUESTED, WIPE_ACCOUNT_REQUESTED):
            return STATUS_REMOTE_WIPE
        if not self.ctx.config.eas.require_provisioning:
            return None
        if device.policy_state != POLICY_PROVISIONED or policy_key in ("", "0"):
            return STATUS_NOT_PROVISIONED
        if policy_key != str(device.policy_key):
            return STATUS_INVALID_POLICY_KEY
        return None

    async def _authenticate(self, headers: dict[str, str], peer_ip: str, tls: bool,
                            send) -> Account | None:
        credentials = basic_credentials(headers)
        if credentials is None:
            await reply(send, 401, [("WWW-Authenticate", REALM)])
            return None
        user, password = credentials
        try:
            return await self.ctx.auth.login(user, password, peer_ip=peer_ip, tls=tls)
        except AuthFailed as e:
            if e.temporary:
                await reply(send, 503, [("Retry-After", "60")])
            else:
                await reply(send, 401, [("WWW-Authenticate", REALM)])
            return None

    async def _send_element(self, send, element: Element, version: str) -> None:
        await reply(send, 200, [("Content-Type", WBXML_TYPE)], encode(element))


def basic_credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    """(user, password) of an Authorization: Basic header (RFC 7617), else None."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True) \
            .decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if "\\" in user:  # DOMAIN\user, as Windows-minded clients write it
        user = user.rpartition("\\")[2]
    return user, password


async def read_body(receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def reply(send, status: int, headers: list[tuple[str, str]] = (), body: bytes = b""
                 ) -> None:
    raw = [(b"content-length", str(len(body)).encode()),
           (b"ms-server-activesync", SERVER_VERSION.encode()),
           (b"cache-control", b"private")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def not_enabled(scope, receive, send) -> None:
    """What the mount answers when ``[eas] enabled = false``."""
    if scope["type"] == "http":
        await reply(send, 404)

"""What every EAS command handler is given and may raise (MS-ASHTTP §2.2.1, MS-ASCMD §2.2.2).

A handler is ``async def handle(req: Request) -> Element | Response``. It raises
:class:`CommandError` with an MS-ASCMD Status to answer with only that Status; the HTTP layer
(``eas/app.py``) wraps it in the command's root element. Versions are compared as tuples.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from postroom.eas.wbxml import E, Element
from postroom.store.api import Account, EasDevice

if TYPE_CHECKING:
    from postroom.context import ServerContext

SUPPORTED_VERSIONS = ("12.1", "14.0", "14.1", "16.0", "16.1")

# MS-ASCMD §2.2.2 common Status values (14.0 and later; 12.1 gets HTTP codes instead).
STATUS_INVALID_CONTENT = 101
STATUS_INVALID_WBXML = 102
STATUS_INVALID_XML = 103
STATUS_SERVER_ERROR = 110
STATUS_SERVER_ERROR_RETRY = 111
STATUS_ITEM_NOT_FOUND = 150
STATUS_DEVICE_BLOCKED = 129
STATUS_REMOTE_WIPE = 140
STATUS_NOT_PROVISIONED = 142
STATUS_POLICY_REFRESH = 143
STATUS_INVALID_POLICY_KEY = 144
STATUS_COMMAND_NOT_SUPPORTED = 137
STATUS_MAXIMUM_DEVICES = 177

# Each command's root element and the element its top-level Status goes in.
ROOTS: dict[str, tuple[str, str]] = {
    "Sync": ("AirSync:Sync", "AirSync:Status"),
    "FolderSync": ("FolderHierarchy:FolderSync", "FolderHierarchy:Status"),
    "FolderCreate": ("FolderHierarchy:FolderCreate", "FolderHierarchy:Status"),
    "FolderUpdate": ("FolderHierarchy:FolderUpdate", "FolderHierarchy:Status"),
    "FolderDelete": ("FolderHierarchy:FolderDelete", "FolderHierarchy:Status"),
    "Ping": ("Ping:Ping", "Ping:Status"),
    "Provision": ("Provision:Provision", "Provision:Status"),
    "GetItemEstimate": ("GetItemEstimate:GetItemEstimate", "GetItemEstimate:Status"),
    "ItemOperations": ("ItemOperations:ItemOperations", "ItemOperations:Status"),
    "MoveItems": ("Move:MoveItems", "Move:Status"),
    "SendMail": ("ComposeMail:SendMail", "ComposeMail:Status"),
    "SmartReply": ("ComposeMail:SmartReply", "ComposeMail:Status"),
    "SmartForward": ("ComposeMail:SmartForward", "ComposeMail:Status"),
    "Search": ("Search:Search", "Search:Status"),
    "Find": ("Find:Find", "Find:Status"),
    "Settings": ("Settings:Settings", "Settings:Status"),
    "ResolveRecipients": ("ResolveRecipients:ResolveRecipients", "ResolveRecipients:Status"),
    "MeetingResponse": ("MeetingResponse:MeetingResponse", "MeetingResponse:Status"),
    "ValidateCert": ("ValidateCert:ValidateCert", "ValidateCert:Status"),
}


class CommandError(Exception):
    """Answer the command with this Status only (``http_status`` for 12.1 clients where the
    spec has an HTTP code instead)."""

    def __init__(self, status: int, reason: str = "", *, http_status: int | None = None) -> None:
        super().__init__(reason or f"status {status}")
        self.status = status
        self.http_status = http_status


@dataclass
class Response:
    """A non-WBXML answer (ItemOperations multipart, GetAttachment bytes, an empty 200)."""
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Request:
    ctx: "ServerContext"
    account: Account
    device: EasDevice
    command: str
    version: str                        # "16.1"
    body: Element | None                # decoded WBXML (None for an empty body)
    raw_body: bytes
    params: dict[str, str]              # CollectionId, ItemId, LongId, SaveInSent, ...
    peer_ip: str
    tls: bool
    headers: dict[str, str]
    accept_multipart: bool = False
    app: Any = None                     # the EasApp: ping registry, limits

    @property
    def v(self) -> tuple[int, int]:
        major, _, minor = self.version.partition(".")
        return int(major), int(minor or 0)

    @property
    def store(self):
        return self.ctx.store

    @property
    def settings(self):
        return self.ctx.config.eas


def status_only(command: str, status: int) -> Element:
    root, status_tag = ROOTS.get(command, ("AirSync:Sync", "AirSync:Status"))
    return E(root, E(status_tag, status))


def eas_date(epoch: int | float | None) -> str:
    """MS-ASDTYPE §2.3: 2026-05-01T12:00:00.000Z."""
    t = dt.datetime.fromtimestamp(epoch or 0, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def compact_date(epoch: int | float) -> str:
    """The basic form Calendar uses (MS-ASCAL §2.2.2.14: 20260501T120000Z)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def parse_date(text: str | None) -> dt.datetime | None:
    """Either date form, as UTC; None for anything else."""
    if not text:
        return None
    text = text.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ",
                "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
    return None

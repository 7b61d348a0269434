"""EAS commands, one module per family (MS-ASCMD §2.2.1): the table of which module answers
which ``Cmd``. Each module's ``handle_<command>`` reads top to bottom: check the request, call
the store, build the answer."""

from __future__ import annotations

import importlib
from typing import Awaitable, Callable

from postroom.eas.protocol import Request

Handler = Callable[[Request], Awaitable[object]]

# Cmd -> (module, function)
TABLE: dict[str, tuple[str, str]] = {
    "Provision": ("provision", "handle_provision"),
    "FolderSync": ("folders", "handle_folder_sync"),
    "FolderCreate": ("folders", "handle_folder_create"),
    "FolderUpdate": ("folders", "handle_folder_update"),
    "FolderDelete": ("folders", "handle_folder_delete"),
    "Sync": ("sync", "handle_sync"),
    "GetItemEstimate": ("estimate", "handle_get_item_estimate"),
    "Ping": ("ping", "handle_ping"),
    "ItemOperations": ("itemops", "handle_item_operations"),
    "GetAttachment": ("itemops", "handle_get_attachment"),
    "MoveItems": ("move", "handle_move_items"),
    "SendMail": ("compose", "handle_send_mail"),
    "SmartReply": ("compose", "handle_smart_reply"),
    "SmartForward": ("compose", "handle_smart_forward"),
    "Search": ("search", "handle_search"),
    "Find": ("search", "handle_find"),
    "Settings": ("settings", "handle_settings"),
    "ResolveRecipients": ("resolve", "handle_resolve_recipients"),
    "MeetingResponse": ("meeting", "handle_meeting_response"),
}

_cache: dict[str, Handler] = {}


def handler(command: str) -> Handler | None:
    if command in _cache:
        return _cache[command]
    entry = TABLE.get(command)
    if entry is None:
        return None
    try:
        module = importlib.import_module(f"postroom.eas.commands.{entry[0]}")
    except ModuleNotFoundError:
        return None
    fn = getattr(module, entry[1], None)
    if fn is not None:
        _cache[command] = fn
    return fn


def names() -> list[str]:
    """Commands announced in OPTIONS: those with a handler."""
    return [c for c in TABLE if handler(c) is not None]

"""FolderSync, FolderCreate, FolderUpdate, FolderDelete (MS-ASCMD §2.2.1.3-2.2.1.5, 2.2.1.6).

The hierarchy a device was last sent is kept in the store with its SyncKey; FolderSync sends
the difference to the account's folders now. SyncKey 0 sends everything again and keeps the
per-folder Sync state (some clients repeat it on every start). The previous key is accepted too:
the device did not get our last answer.
"""

from __future__ import annotations

import uuid

from postroom.eas import hierarchy
from postroom.eas.hierarchy import (TYPE_USER_CALENDAR, TYPE_USER_CONTACTS, TYPE_USER_MAIL,
                                    TYPE_USER_TASKS, Folder)
from postroom.eas.protocol import CommandError, Request
from postroom.eas.wbxml import E, Element
from postroom.store.api import (COLLECTION_ADDRESSBOOK, COLLECTION_CALENDAR, EAS_SOURCE_MAILBOX,
                                SEPARATOR, AlreadyExists, Conflict, InvalidName, NotFound)

# FolderHierarchy Status values (MS-ASCMD §2.2.3.177.1-.5)
OK = 1
EXISTS = 2
SPECIAL_FOLDER = 3
NOT_FOUND = 4
PARENT_NOT_FOUND = 5
SERVER_ERROR = 6
BAD_SYNC_KEY = 9
MALFORMED = 10


def _folder_element(tag: str, server_id: str, wire: list) -> Element:
    parent, name, ftype = wire
    return E(tag, E("FolderHierarchy:ServerId", server_id), E("FolderHierarchy:ParentId", parent),
             E("FolderHierarchy:DisplayName", name), E("FolderHierarchy:Type", ftype))


def hierarchy_changes(held: dict[str, list], now: dict[str, list]) -> list[Element]:
    """Adds (parents first), updates, then deletes."""
    out: list[Element] = []
    for sid, wire in now.items():
        if sid not in held:
            out.append(_folder_element("FolderHierarchy:Add", sid, wire))
        elif list(held[sid]) != list(wire):
            out.append(_folder_element("FolderHierarchy:Update", sid, wire))
    out += [E("FolderHierarchy:Delete", E("FolderHierarchy:ServerId", sid))
            for sid in held if sid not in now]
    return out


async def handle_folder_sync(req: Request) -> Element:
    key_text = req.body.findtext("FolderHierarchy:SyncKey") if req.body is not None else None
    if req.body is None or req.body.tag != "FolderHierarchy:FolderSync" or key_text is None:
        raise CommandError(MALFORMED)
    store, account, device_id = req.store, req.account, req.device.device_id
    state = await store.eas_hierarchy(account.id, device_id)
    folders = await hierarchy.current(store, account)
    now = {f.server_id: f.wire() for f in folders}
    if key_text == "0":
        held: dict[str, list] = {}
    elif state is not None and key_text == str(state.sync_key):
        held = state.folders
    elif state is not None and key_text == str(state.previous_key) and state.previous_key:
        held = state.previous_folders
    else:
        raise CommandError(BAD_SYNC_KEY)
    changes = hierarchy_changes(held, now)
    if changes or state is None or key_text != str(state.sync_key):
        new_key = await store.eas_save_hierarchy(account.id, device_id, now)
        gone = [sid for sid in held if sid not in now]
        if gone:
            await store.eas_sync_forget(account.id, device_id, gone)
    else:
        new_key = state.sync_key
    return E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", OK),
             E("FolderHierarchy:SyncKey", new_key),
             E("FolderHierarchy:Changes", E("FolderHierarchy:Count", len(changes)), *changes))


async def _check_key(req: Request, root: str) -> dict[str, list]:
    """The hierarchy the device holds, if its SyncKey is current (Status 9 otherwise)."""
    if req.body is None or req.body.tag != root:
        raise CommandError(MALFORMED)
    state = await req.store.eas_hierarchy(req.account.id, req.device.device_id)
    if state is None or req.body.findtext("FolderHierarchy:SyncKey") != str(state.sync_key):
        raise CommandError(BAD_SYNC_KEY)
    return state.folders


async def _commit(req: Request, held: dict[str, list], folder: Folder | None,
                  removed: str | None = None) -> int:
    """The device now also holds ``folder`` (or no longer ``removed``): a new SyncKey, so the
    next FolderSync does not send back what the device did itself."""
    held = dict(held)
    if folder is not None:
        held[folder.server_id] = folder.wire()
    if removed is not None:
        held.pop(removed, None)
    return await req.store.eas_save_hierarchy(req.account.id, req.device.device_id, held)


async def _mail_parent_path(req: Request, parent_id: str) -> str | None:
    """"" for the top, the parent mailbox's name, or None when there is no such mail folder."""
    if parent_id in ("0", ""):
        return ""
    parent = await hierarchy.resolve(req.store, req.account, parent_id)
    if parent is None or parent.source != EAS_SOURCE_MAILBOX:
        return None
    return parent.path


def _valid_display_name(name: str | None) -> str:
    if not name or SEPARATOR in name or len(name) > 256:
        raise CommandError(MALFORMED)
    return name


async def handle_folder_create(req: Request) -> Element:
    held = await _check_key(req, "FolderHierarchy:FolderCreate")
    name = _valid_display_name(req.body.findtext("FolderHierarchy:DisplayName"))
    parent_id = req.body.findtext("FolderHierarchy:ParentId", "0")
    try:
        ftype = int(req.body.findtext("FolderHierarchy:Type", ""))
    except ValueError:
        raise CommandError(MALFORMED) from None
    store, account = req.store, req.account
    try:
        if ftype in (TYPE_USER_MAIL, 1):
            parent = await _mail_parent_path(req, parent_id)
            if parent is None:
                raise CommandError(PARENT_NOT_FOUND)
            mb = await store.create_mailbox(account.id, f"{parent}{SEPARATOR}{name}"
                                            if parent else name)
            server_id = hierarchy.mailbox_folder_id(mb.id)
        elif ftype in (TYPE_USER_CALENDAR, TYPE_USER_TASKS, TYPE_USER_CONTACTS):
            if any(f.name == name and f.type == ftype
                   for f in await hierarchy.current(store, account)):
                raise CommandError(EXISTS)
            kind = COLLECTION_ADDRESSBOOK if ftype == TYPE_USER_CONTACTS else COLLECTION_CALENDAR
            components = {TYPE_USER_CALENDAR: ("VEVENT",), TYPE_USER_TASKS: ("VTODO",)}
            col = await store.create_collection(account.id, kind, uuid.uuid4().hex,
                                                display_name=name,
                                                components=components.get(ftype, ()))
            server_id = f"c{col.id}"
        else:
            raise CommandError(MALFORMED)
    except AlreadyExists:
        raise CommandError(EXISTS) from None
    except InvalidName:
        raise CommandError(MALFORMED) from None
    folder = await hierarchy.resolve(store, account, server_id)
    key = await _commit(req, held, folder)
    return E("FolderHierarchy:FolderCreate", E("FolderHierarchy:Status", OK),
             E("FolderHierarchy:SyncKey", key), E("FolderHierarchy:ServerId", server_id))


async def _user_folder(req: Request, root: str) -> tuple[dict[str, list], Folder]:
    """The held hierarchy and the folder named by ServerId, which must be user-created
    (MS-ASCMD: the default folders cannot be renamed or deleted, Status 3)."""
    held = await _check_key(req, root)
    folder = await hierarchy.resolve(req.store, req.account,
                                     req.body.findtext("FolderHierarchy:ServerId"))
    if folder is None:
        raise CommandError(NOT_FOUND)
    if folder.type in hierarchy.DEFAULT_TYPES:
        raise CommandError(SPECIAL_FOLDER)
    return held, folder


async def handle_folder_update(req: Request) -> Element:
    held, folder = await _user_folder(req, "FolderHierarchy:FolderUpdate")
    store, account = req.store, req.account
    name = _valid_display_name(req.body.findtext("FolderHierarchy:DisplayName"))
    parent_id = req.body.findtext("FolderHierarchy:ParentId", "0")
    try:
        if folder.source == EAS_SOURCE_MAILBOX:
            parent = await _mail_parent_path(req, parent_id)
            if parent is None:
                raise CommandError(PARENT_NOT_FOUND)
            await store.rename_mailbox(account.id, folder.source_id,
                                       f"{parent}{SEPARATOR}{name}" if parent else name)
        else:
            await store.update_collection(account.id, folder.source_id, display_name=name)
    except AlreadyExists:
        raise CommandError(EXISTS) from None
    except (InvalidName, Conflict):
        raise CommandError(MALFORMED) from None
    except NotFound:
        raise CommandError(NOT_FOUND) from None
    key = await _commit(req, held, await hierarchy.resolve(store, account, folder.server_id))
    return E("FolderHierarchy:FolderUpdate", E("FolderHierarchy:Status", OK),
             E("FolderHierarchy:SyncKey", key))


async def handle_folder_delete(req: Request) -> Element:
    held, folder = await _user_folder(req, "FolderHierarchy:FolderDelete")
    store, account = req.store, req.account
    try:
        if folder.source == EAS_SOURCE_MAILBOX:
            await store.delete_mailbox(account.id, folder.source_id)
        else:
            await store.delete_collection(account.id, folder.source_id)
    except NotFound:
        raise CommandError(NOT_FOUND) from None
    except Conflict:
        raise CommandError(SPECIAL_FOLDER) from None
    await store.eas_sync_forget(account.id, req.device.device_id, [folder.server_id])
    key = await _commit(req, held, None, removed=folder.server_id)
    return E("FolderHierarchy:FolderDelete", E("FolderHierarchy:Status", OK),
             E("FolderHierarchy:SyncKey", key))

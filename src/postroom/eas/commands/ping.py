"""Ping (MS-ASCMD §2.2.1.13): the push long poll. It answers Status 2 with the changed folders
as soon as any watched folder differs from what the device holds (whichever door changed it,
since every door writes the same change log), Status 1 when the heartbeat ran out. An empty
request reuses the last Ping's folders and heartbeat, which the store keeps per device."""

from __future__ import annotations

from postroom.eas import hierarchy
from postroom.eas.commands.sync import since_of
from postroom.eas.email import Options
from postroom.eas.protocol import CommandError, Request
from postroom.eas.push import wait_for_changes
from postroom.eas.wbxml import E, Element

# Ping Status (MS-ASCMD §2.2.3.177.10)
EXPIRED = 1
CHANGES = 2
MISSING_PARAMETERS = 3
SYNTAX_ERROR = 4
BAD_HEARTBEAT = 5
TOO_MANY_FOLDERS = 6
HIERARCHY_SYNC_REQUIRED = 7

MAX_FOLDERS = 300


async def handle_ping(req: Request) -> Element:
    settings = req.settings
    last = req.device.state.get("ping") or {}
    heartbeat = last.get("heartbeat")
    folder_ids: list[str] = last.get("folders") or []
    if req.body is not None:
        if req.body.tag != "Ping:Ping":
            raise CommandError(SYNTAX_ERROR)
        beat = req.body.findtext("Ping:HeartbeatInterval")
        if beat is not None:
            try:
                heartbeat = int(beat)
            except ValueError:
                raise CommandError(SYNTAX_ERROR) from None
        folders = req.body.find("Ping:Folders")
        if folders is not None:
            folder_ids = [f.findtext("Ping:Id") for f in folders.findall("Ping:Folder")]
            if any(not i for i in folder_ids):
                raise CommandError(SYNTAX_ERROR)
    if heartbeat is None or not folder_ids:
        raise CommandError(MISSING_PARAMETERS)
    if not settings.min_heartbeat_seconds <= heartbeat <= settings.max_heartbeat_seconds:
        limit = (settings.min_heartbeat_seconds if heartbeat < settings.min_heartbeat_seconds
                 else settings.max_heartbeat_seconds)
        return E("Ping:Ping", E("Ping:Status", BAD_HEARTBEAT), E("Ping:HeartbeatInterval", limit))
    if len(folder_ids) > MAX_FOLDERS:
        return E("Ping:Ping", E("Ping:Status", TOO_MANY_FOLDERS), E("Ping:MaxFolders", MAX_FOLDERS))
    if last != {"heartbeat": heartbeat, "folders": folder_ids}:
        await req.store.eas_update_device(
            req.account.id, req.device.device_id,
            state={**req.device.state, "ping": {"heartbeat": heartbeat, "folders": folder_ids}})

    current = {f.server_id: f for f in await hierarchy.current(req.store, req.account)}
    if any(i not in current for i in folder_ids):
        return E("Ping:Ping", E("Ping:Status", HIERARCHY_SYNC_REQUIRED))
    watched = [current[i] for i in folder_ids]
    changed: list[str] = []

    async def check() -> bool:
        changed.clear()
        for folder in watched:
            state = await req.store.eas_sync_state(req.account.id, req.device.device_id,
                                                   folder.server_id)
            opts = Options.from_json(state.data.get("options")) if state else Options()
            # A folder the device never synced counts as changed: it should sync it.
            if state is None or await req.store.eas_sync_count(
                    req.account.id, req.device.device_id, folder.server_id, folder.source,
                    folder.source_id, since_of(folder, opts)):
                changed.append(folder.server_id)
        return bool(changed)

    if await check() or await wait_for_changes(req, check, heartbeat):
        return E("Ping:Ping", E("Ping:Status", CHANGES),
                 E("Ping:Folders", *[E("Ping:Folder", i) for i in changed]))
    return E("Ping:Ping", E("Ping:Status", EXPIRED))

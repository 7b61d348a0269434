"""Sync (MS-ASCMD §2.2.1.21): client changes in, server changes out, per collection.

Each collection's SyncKey names what the device holds (``eas_items`` in the store). A request
is handled in two phases: first every collection's key is checked and the client's commands are
applied (a resent previous key first rewinds the last window, MS-ASCMD §3.1.5.3); then the
server's changes are sent, at most WindowSize per collection, newest mail first, and never much
beyond ``[eas] sync_byte_budget`` bytes, with MoreAvailable when more is waiting. With Wait or
HeartbeatInterval and nothing to send, the request waits on the store's change notifier and,
when nothing came, answers with an empty body. An empty or Partial request reuses the
collections of the last one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from postroom.eas import hierarchy
from postroom.eas import email as mail
from postroom.eas.hierarchy import CLASS_CALENDAR, CLASS_EMAIL, Folder, item_id, split_item_id
from postroom.eas.items import ITEM_NOT_FOUND, ITEM_OK, adapter
from postroom.eas.protocol import CommandError, Request, Response
from postroom.eas.push import wait_for_changes
from postroom.eas.wbxml import E, Element, encode
from postroom.store.api import Conflict, EasSyncState

# Sync Status (MS-ASCMD §2.2.3.177.17)
OK = 1
INVALID_SYNC_KEY = 3
PROTOCOL_ERROR = 4
SERVER_ERROR = 5
OBJECT_NOT_FOUND = 8
HIERARCHY_CHANGED = 12
EMPTY_WITHOUT_CACHE = 13
BAD_WAIT = 14
TOO_MANY_COLLECTIONS = 15
RETRY = 16

DEFAULT_WINDOW = 100
MAX_COLLECTIONS = 1000


@dataclass
class Collection:
    collection_id: str
    key: str
    window: int = DEFAULT_WINDOW
    get_changes: bool = True
    deletes_as_moves: bool = True
    options: Element | None = None
    commands: Element | None = None
    # filled in while handling
    folder: Folder | None = None
    status: int = OK
    state: EasSyncState | None = None
    opts: mail.Options = field(default_factory=mail.Options)
    responses: list[Element] = field(default_factory=list)
    sent: dict[str, int | None] = field(default_factory=dict)
    client_ids: dict[str, str] = field(default_factory=dict)
    # store key -> the key in the ServerId the device knows it by (a 16.x draft Change stores
    # a new message, MS-ASEMAIL §3.1.5.3, but the device keeps its ServerId)
    aliases: dict[str, str] = field(default_factory=dict)
    initial: bool = False

    def key_of(self, server_id: str | None) -> str | None:
        """The store key a ServerId of this collection names."""
        key = _key_in(self.folder, server_id)
        return next((k for k, known in self.aliases.items() if known == key), key)

    def server_id_of(self, key: str) -> str:
        return item_id(self.folder.server_id, self.aliases.get(key, key))


def _flag(el: Element, tag: str, default: bool) -> bool:
    child = el.find(tag)
    if child is None:
        return default
    return child.text in (None, "", "1")   # empty element means true (MS-ASCMD §2.2.3.79)


def _parse_collection(el: Element) -> Collection:
    key = el.findtext("AirSync:SyncKey")
    cid = el.findtext("AirSync:CollectionId")
    if key is None or not cid:
        raise CommandError(PROTOCOL_ERROR)
    window = el.findtext("AirSync:WindowSize")
    try:
        size = int(window) if window else DEFAULT_WINDOW
    except ValueError:
        raise CommandError(PROTOCOL_ERROR) from None
    return Collection(cid, key, size, _flag(el, "AirSync:GetChanges", key != "0"),
                      _flag(el, "AirSync:DeletesAsMoves", True),
                      el.find("AirSync:Options"), el.find("AirSync:Commands"))


def _wait_seconds(req: Request, body: Element) -> float | None:
    """Wait (minutes) or HeartbeatInterval (seconds); Status 14 with Limit when out of range."""
    lo, hi = req.settings.min_heartbeat_seconds, req.settings.max_heartbeat_seconds
    wait = body.findtext("AirSync:Wait")
    beat = body.findtext("AirSync:HeartbeatInterval")
    if wait is None and beat is None:
        return None
    try:
        seconds = int(wait) * 60 if wait is not None else int(beat)
    except ValueError:
        raise CommandError(PROTOCOL_ERROR) from None
    if seconds < lo or seconds > hi:
        limit = lo if seconds < lo else hi
        raise _BadWait(limit // 60 if wait is not None else limit)
    return float(seconds)


class _BadWait(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


def since_of(folder: Folder, opts: mail.Options) -> int | None:
    days = mail.FILTER_DAYS.get(opts.filter_type)
    if days is None or folder.cls not in (CLASS_EMAIL, CLASS_CALENDAR):
        return None
    return int(time.time()) - days * 86400


async def handle_sync(req: Request) -> Element | Response:
    body = req.body
    cache = dict(req.device.state.get("sync") or {})
    wait: float | None = None
    window_total = None
    if body is None:
        if not cache.get("collections"):
            raise CommandError(EMPTY_WITHOUT_CACHE)
        collections = await _from_cache(req, cache["collections"])
        wait = cache.get("wait")
    else:
        if body.tag != "AirSync:Sync":
            raise CommandError(PROTOCOL_ERROR)
        try:
            wait = _wait_seconds(req, body)
        except _BadWait as e:
            return E("AirSync:Sync", E("AirSync:Status", BAD_WAIT), E("AirSync:Limit", e.limit))
        if body.findtext("AirSync:WindowSize"):
            try:
                window_total = int(body.findtext("AirSync:WindowSize"))
            except ValueError:
                raise CommandError(PROTOCOL_ERROR) from None
        container = body.find("AirSync:Collections")
        collections = [_parse_collection(c)
                       for c in (container.findall("AirSync:Collection") if container else [])]
        if body.find("AirSync:Partial") is not None and cache.get("collections"):
            named = {c.collection_id for c in collections}
            collections += [c for c in await _from_cache(req, cache["collections"])
                            if c.collection_id not in named]
        if not collections:
            if not cache.get("collections"):
                raise CommandError(EMPTY_WITHOUT_CACHE)
            collections = await _from_cache(req, cache["collections"])
    if len(collections) > MAX_COLLECTIONS:
        raise CommandError(TOO_MANY_COLLECTIONS)

    # Phase one: keys and the client's commands.
    for c in collections:
        await _prepare(req, c)
    new_cache = {"collections": [{"id": c.collection_id, "window": c.window,
                                  "changes": c.get_changes, "moves": c.deletes_as_moves}
                                 for c in collections if c.status == OK],
                 "wait": wait}
    if new_cache != cache:
        await req.store.eas_update_device(req.account.id, req.device.device_id,
                                          state={**req.device.state, "sync": new_cache})

    # Long poll: nothing to say yet, so wait for the store to change.
    if wait and not any(c.responses or c.status != OK or c.initial or c.commands
                        for c in collections):
        if not await _has_changes(req, collections):
            woke = await wait_for_changes(req, lambda: _has_changes(req, collections), wait)
            if not woke:
                return Response(200)   # MS-ASCMD §2.2.1.21: empty answer, nothing changed

    # Phase two: server changes and the new keys.
    budget = [req.settings.sync_byte_budget]
    left = [window_total if window_total else 10 ** 9]
    out = []
    for c in collections:
        out.append(await _answer(req, c, budget, left))
    return E("AirSync:Sync", E("AirSync:Collections", *out))


async def _from_cache(req: Request, cached: list[dict]) -> list[Collection]:
    out = []
    for entry in cached:
        state = await req.store.eas_sync_state(req.account.id, req.device.device_id, entry["id"])
        if state is None:
            continue
        out.append(Collection(entry["id"], str(state.sync_key), entry.get("window",
                                                                          DEFAULT_WINDOW),
                              entry.get("changes", True), entry.get("moves", True)))
    return out


async def _prepare(req: Request, c: Collection) -> None:
    store, acc, dev = req.store, req.account, req.device.device_id
    c.folder = await hierarchy.resolve(store, acc, c.collection_id)
    if c.folder is None:
        c.status = HIERARCHY_CHANGED
        return
    c.window = max(1, min(c.window, req.settings.max_window_size))
    if c.key == "0":
        c.opts = mail.parse_options(c.options)
        c.initial = True
        c.get_changes = False
        return
    state = await store.eas_sync_state(acc.id, dev, c.collection_id)
    if state is None or not c.key.isdigit():
        c.status = INVALID_SYNC_KEY
        return
    if int(c.key) == state.previous_key and state.previous_key:
        # The device did not get our last answer: send that window again.
        await store.eas_sync_rewind(acc.id, dev, c.collection_id)
        state = await store.eas_sync_state(acc.id, dev, c.collection_id)
    elif int(c.key) != state.sync_key:
        c.status = INVALID_SYNC_KEY
        return
    c.state = state
    c.aliases = dict(state.data.get("aliases", {}))
    c.opts = mail.parse_options(c.options, mail.Options.from_json(state.data.get("options")))
    if c.commands is not None:
        await _client_commands(req, c)


async def _client_commands(req: Request, c: Collection) -> None:
    items = adapter(c.folder)
    held = await _held(req, c)
    earlier_adds = c.state.data.get("client_ids", {}) if c.state else {}
    for cmd in c.commands.children:
        server_id = cmd.findtext("AirSync:ServerId")
        data = cmd.find("AirSync:ApplicationData")
        if cmd.tag == "AirSync:Add":
            client_id = cmd.findtext("AirSync:ClientId") or ""
            if client_id in earlier_adds:
                # A resent request: the item was added the first time (MS-ASCMD §3.1.5.3).
                sid = earlier_adds[client_id]
                c.client_ids[client_id] = sid
                c.responses.append(E("AirSync:Add", E("AirSync:ClientId", client_id),
                                     E("AirSync:ServerId", sid), E("AirSync:Status", ITEM_OK)))
                continue
            result = await items.client_add(req, c.folder, data or E("AirSync:ApplicationData"))
            if result.status == ITEM_OK and result.key is not None:
                sid = item_id(c.folder.server_id, result.key)
                c.sent[result.key] = result.modseq
                c.client_ids[client_id] = sid
                c.responses.append(E("AirSync:Add", E("AirSync:ClientId", client_id),
                                     E("AirSync:ServerId", sid), E("AirSync:Status", ITEM_OK)))
            else:
                c.responses.append(E("AirSync:Add", E("AirSync:ClientId", client_id),
                                     E("AirSync:Status", result.status)))
            continue
        key = c.key_of(server_id)
        # 16.x: a Change or Delete of one instance of a series (MS-ASCMD §2.2.3.88.2)
        instance_id = cmd.findtext("AirSyncBase:InstanceId") or (
            data.findtext("AirSyncBase:InstanceId") if data is not None else None)
        if cmd.tag == "AirSync:Change":
            result = (await items.client_change(req, c.folder, key, data, held.get(key), c.opts,
                                                instance_id)
                      if key is not None and data is not None else None)
            if result is None or result.status != ITEM_OK:
                status = result.status if result else ITEM_NOT_FOUND
                # On a conflict (7) the server's version also goes out as a Change below.
                c.responses.append(E("AirSync:Change", E("AirSync:ServerId", server_id or ""),
                                     E("AirSync:Status", status)))
            elif result.key != key:
                # The item is stored anew under another key; the device keeps its ServerId.
                c.sent[key] = None
                c.sent[result.key] = result.modseq
                c.aliases[result.key] = c.aliases.pop(key, key)
            else:
                c.sent[key] = result.modseq
                held[key] = result.modseq   # a second command on it in this request
        elif cmd.tag in ("AirSync:Delete", "AirSync:SoftDelete"):
            result = (await items.client_delete(req, c.folder, key, c.deletes_as_moves,
                                                instance_id)
                      if key is not None else None)
            if result is None or result.status not in (ITEM_OK, ITEM_NOT_FOUND):
                c.responses.append(E("AirSync:Delete", E("AirSync:ServerId", server_id or ""),
                                     E("AirSync:Status", result.status if result
                                       else ITEM_NOT_FOUND)))
            if key is not None:
                # None: gone from the device; one cancelled instance leaves the series held.
                c.sent[key] = result.modseq if result is not None else None
                held[key] = c.sent[key]
                if c.sent[key] is None:
                    c.aliases.pop(key, None)
        elif cmd.tag == "AirSync:Fetch":
            rendered = (await items.render(req, c.folder, [key], c.opts)
                        if key is not None else {})
            if key in rendered:
                c.responses.append(E("AirSync:Fetch", E("AirSync:ServerId", server_id),
                                     E("AirSync:Status", ITEM_OK), rendered[key]))
            else:
                c.responses.append(E("AirSync:Fetch", E("AirSync:ServerId", server_id or ""),
                                     E("AirSync:Status", OBJECT_NOT_FOUND)))


def _key_in(folder: Folder, server_id: str | None) -> str | None:
    parts = split_item_id(server_id or "")
    if parts is None or parts[0] != folder.server_id:
        return None
    return parts[1]


async def _held(req: Request, c: Collection) -> dict[str, int]:
    """The modseqs the device holds for the items its commands touch (conflict check)."""
    keys = [k for k in (c.key_of(cmd.findtext("AirSync:ServerId"))
                        for cmd in c.commands.children) if k is not None]
    if not keys:
        return {}
    return await req.store.eas_held_items(req.account.id, req.device.device_id,
                                          c.collection_id, keys)


async def _has_changes(req: Request, collections: list[Collection]) -> bool:
    for c in collections:
        if c.status != OK or c.folder is None or not c.get_changes:
            continue
        if await req.store.eas_sync_count(req.account.id, req.device.device_id,
                                          c.collection_id, c.folder.source, c.folder.source_id,
                                          since_of(c.folder, c.opts)):
            return True
    return False


async def _answer(req: Request, c: Collection, budget: list[int], left: list[int]) -> Element:
    store, acc, dev = req.store, req.account, req.device.device_id
    head = [E("AirSync:Class", c.folder.cls) if c.folder is not None and req.v <= (14, 0)
            else None]
    if c.status != OK:
        return E("AirSync:Collection", *head, E("AirSync:SyncKey", c.key),
                 E("AirSync:CollectionId", c.collection_id), E("AirSync:Status", c.status))
    if c.initial:
        key = await store.eas_sync_reset(acc.id, dev, c.collection_id,
                                         {"options": c.opts.to_json()})
        return E("AirSync:Collection", *head, E("AirSync:SyncKey", key),
                 E("AirSync:CollectionId", c.collection_id), E("AirSync:Status", OK))

    commands: list[Element] = []
    more = False
    if c.get_changes and left[0] > 0:
        window = min(c.window, left[0])
        diff = await store.eas_sync_diff(acc.id, dev, c.collection_id, c.folder.source,
                                         c.folder.source_id, window, since_of(c.folder, c.opts))
        more = diff.more
        items = adapter(c.folder)
        sid = c.folder.server_id
        changed = {k: m for k, m in diff.changed if k not in c.sent}
        if changed:
            rendered = await items.render(req, c.folder, list(changed), c.opts, change=True)
            for k, m in changed.items():
                if k in rendered:
                    commands.append(E("AirSync:Change", E("AirSync:ServerId", c.server_id_of(k)),
                                      rendered[k]))
                    c.sent[k] = m
        for k in diff.deleted:
            if k not in c.sent:
                commands.append(E("AirSync:Delete", E("AirSync:ServerId", c.server_id_of(k))))
                c.sent[k] = None
                c.aliases.pop(k, None)
        for k in diff.soft_deleted:
            commands.append(E("AirSync:SoftDelete", E("AirSync:ServerId", c.server_id_of(k))))
            c.sent[k] = None
            c.aliases.pop(k, None)
        for chunk_start in range(0, len(diff.added), 25):
            chunk = [(k, m) for k, m in diff.added[chunk_start:chunk_start + 25]
                     if k not in c.sent]
            rendered = await items.render(req, c.folder, [k for k, _ in chunk], c.opts)
            for k, m in chunk:
                if budget[0] <= 0 and commands:
                    more = True
                    break
                el = rendered.get(k)
                if el is None:
                    continue   # gone meanwhile; the next diff reports nothing for it
                add = E("AirSync:Add", E("AirSync:ServerId", item_id(sid, k)), el)
                budget[0] -= len(encode(add))
                commands.append(add)
                c.sent[k] = m
            else:
                continue
            break
        left[0] -= len(commands)

    data = {"options": c.opts.to_json(), "client_ids": c.client_ids, "aliases": c.aliases}
    try:
        key = await store.eas_sync_commit(acc.id, dev, c.collection_id, c.state.sync_key,
                                          c.sent, data)
    except Conflict:
        # Another request of this device moved the key meanwhile: let the device retry.
        return E("AirSync:Collection", *head, E("AirSync:SyncKey", c.key),
                 E("AirSync:CollectionId", c.collection_id), E("AirSync:Status", RETRY))
    return E("AirSync:Collection", *head, E("AirSync:SyncKey", key),
             E("AirSync:CollectionId", c.collection_id), E("AirSync:Status", OK),
             E("AirSync:Responses", *c.responses) if c.responses else None,
             E("AirSync:MoreAvailable") if more else None,
             E("AirSync:Commands", *commands) if commands else None)

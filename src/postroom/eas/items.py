"""Items of one folder class, as Sync, ItemOperations and Search read and write them.

An adapter turns store items into ApplicationData and a client's Add/Change/Delete into store
calls. :class:`MailItems` serves mail folders; calendars, contacts and tasks are served by
``eas/pimitems.py`` over the collaboration store. Item keys are the store's: a uid (as text) or a
collection item's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from postroom.eas import email as mail
from postroom.eas.hierarchy import TYPE_DRAFTS, Folder, item_id
from postroom.eas.protocol import Request
from postroom.eas.wbxml import Element
from postroom.store.api import (DRAFT, FETCH_PARTS, ROLE_TRASH, SEEN, EAS_SOURCE_MAILBOX,
                                NotFound)

# Sync Status values for single items (MS-ASCMD §2.2.3.177.17)
ITEM_OK = 1
ITEM_CONVERSION_ERROR = 6
ITEM_CONFLICT = 7
ITEM_NOT_FOUND = 8


@dataclass
class ClientResult:
    status: int
    key: str | None = None           # the item key now (Add: the new one)
    modseq: int | None = None        # what the device now holds of it; None: holds nothing


class ItemAdapter(Protocol):
    async def render(self, req: Request, folder: Folder, keys: list[str],
                     opts: mail.Options, change: bool = False) -> dict[str, Element]: ...

    async def client_add(self, req: Request, folder: Folder, data: Element) -> ClientResult: ...

    async def client_change(self, req: Request, folder: Folder, key: str, data: Element,
                            held: int | None, opts: mail.Options,
                            instance_id: str | None = None) -> ClientResult:
        """``instance_id``: 16.x, one instance of a recurring series (MS-ASCMD §2.2.3.88.2)."""

    async def client_delete(self, req: Request, folder: Folder, key: str,
                            as_move: bool, instance_id: str | None = None) -> ClientResult: ...


class MailItems:
    async def render(self, req: Request, folder: Folder, keys: list[str],
                     opts: mail.Options, change: bool = False) -> dict[str, Element]:
        uids = [int(k) for k in keys]
        rows = await req.store.fetch(req.account.id, folder.source_id, uids,
                                     [] if change else [FETCH_PARTS])
        follow_ups = await req.store.follow_ups(req.account.id, folder.source_id, uids)
        out: dict[str, Element] = {}
        for row in rows:
            if change:
                out[str(row.uid)] = mail.change_data(row, req.v, follow_ups.get(row.uid))
                continue
            raw = await req.store.read_blob(row.blob)
            v = mail.view(raw, row.parts)
            out[str(row.uid)] = mail.application_data(
                row, v, opts, req.v, item_id(folder.server_id, row.uid),
                is_drafts=folder.type == TYPE_DRAFTS, follow_up=follow_ups.get(row.uid))
        return out

    async def client_add(self, req: Request, folder: Folder, data: Element) -> ClientResult:
        # Only drafts may be added by a client (16.x, MS-ASEMAIL §3.1.5.3).
        if folder.type != TYPE_DRAFTS or req.v < (16, 0):
            return ClientResult(ITEM_CONVERSION_ERROR)
        raw = mail.mime_of_draft(data, req.account.email)
        res = await req.store.append(req.account.id, folder.source_id, raw, [DRAFT, SEEN])
        return ClientResult(ITEM_OK, str(res.uid), res.modseq)

    async def client_change(self, req: Request, folder: Folder, key: str, data: Element,
                            held: int | None, opts: mail.Options,
                            instance_id: str | None = None) -> ClientResult:
        store, acc = req.store, req.account
        entries = await store.entries(acc.id, folder.source_id, [int(key)])
        if not entries:
            return ClientResult(ITEM_NOT_FOUND)
        entry = entries[0]
        if opts.conflict == 1 and held is not None and entry.modseq > held:
            # The server's object wins (MS-ASCMD §2.2.3.35): the device gets ours instead.
            return ClientResult(ITEM_CONFLICT, key, held)
        try:
            ops = mail.client_change(data)
        except mail.BadFlag:
            return ClientResult(ITEM_CONVERSION_ERROR)
        uid = [int(key)]
        if ops.add:
            await store.store_flags(acc.id, folder.source_id, uid, "add", ops.add)
        if ops.remove:
            await store.store_flags(acc.id, folder.source_id, uid, "remove", ops.remove)
        if ops.categories is not None:
            old = set(mail.categories(entry.flags))
            if set(ops.categories) - old:
                await store.store_flags(acc.id, folder.source_id, uid, "add",
                                        set(ops.categories) - old)
            if old - set(ops.categories):
                await store.store_flags(acc.id, folder.source_id, uid, "remove",
                                        old - set(ops.categories))
        if ops.flag_sent:
            kept = (await store.follow_ups(acc.id, folder.source_id, uid)).get(uid[0])
            if kept != ops.follow_up:
                await store.set_follow_up(acc.id, folder.source_id, uid[0], ops.follow_up)
        now = await store.entries(acc.id, folder.source_id, uid)
        if folder.type == TYPE_DRAFTS and req.v >= (16, 0) and mail.draft_content_sent(data):
            return await self._replace_draft(req, folder, key, data,
                                             now[0].flags if now else entry.flags)
        return ClientResult(ITEM_OK, key, now[0].modseq if now else None)

    async def _replace_draft(self, req: Request, folder: Folder, key: str, data: Element,
                             flags: tuple[str, ...]) -> ClientResult:
        """A 16.x Change of a draft (MS-ASEMAIL §3.1.5.3): a message's content never changes
        under its UID, so the new draft is a new message and the old one goes; the device keeps
        its ServerId (Sync maps it to the new key)."""
        store, acc = req.store, req.account
        rows = await store.fetch(acc.id, folder.source_id, [int(key)], [FETCH_PARTS])
        if not rows:
            return ClientResult(ITEM_NOT_FOUND)
        base = mail.view(await store.read_blob(rows[0].blob), rows[0].parts)
        raw = mail.mime_of_draft(data, acc.email, base)
        res = await store.append(acc.id, folder.source_id, raw,
                                 flags or [DRAFT])
        follow_up = (await store.follow_ups(acc.id, folder.source_id, [int(key)])).get(int(key))
        if follow_up is not None:
            res_modseq = await store.set_follow_up(acc.id, folder.source_id, res.uid, follow_up)
        else:
            res_modseq = res.modseq
        await store.remove(acc.id, folder.source_id, [int(key)])
        return ClientResult(ITEM_OK, str(res.uid), res_modseq)

    async def client_delete(self, req: Request, folder: Folder, key: str,
                            as_move: bool, instance_id: str | None = None) -> ClientResult:
        store, acc = req.store, req.account
        uid = [int(key)]
        if not await store.entries(acc.id, folder.source_id, uid):
            return ClientResult(ITEM_NOT_FOUND)
        trash = await store.get_mailbox_by_role(acc.id, ROLE_TRASH) if as_move else None
        try:
            if trash is not None and trash.id != folder.source_id:
                await store.move(acc.id, folder.source_id, uid, trash.id)
            else:
                await store.remove(acc.id, folder.source_id, uid)
        except NotFound:
            return ClientResult(ITEM_NOT_FOUND)
        return ClientResult(ITEM_OK, key, None)


_MAIL = MailItems()


def adapter(folder: Folder) -> ItemAdapter:
    if folder.source == EAS_SOURCE_MAILBOX:
        return _MAIL
    from postroom.eas import pimitems
    return pimitems.adapter(folder)

"""Collections, items and the ACL in the embedded store (store/api.py, "collaboration").

A mixin that :class:`postroom.store.sqlite.SQLiteStore` inherits: it uses that class's store
thread (``_run``), write transactions (``_write``, ``_Tx.bump``/``_Tx.log``) and connection.
Sync follows RFC 6578: an item's modseq is its ETag, deleted items leave tombstones. Beyond
TOMBSTONE_LIMIT per collection the oldest are pruned; the modseq up to which they were is kept
as a tombstone with the empty name (never a resource name), the collection's sync horizon.
"""

from __future__ import annotations

import json
from typing import Sequence

from postroom.store.api import (
    ACL_COLLECTION, COLLECTION_CALENDAR, COLLECTION_KINDS, DEFAULT_COLLECTIONS, AlreadyExists,
    CollaborationStore, Collection, InvalidName, Item, ItemChanges, ItemIndex, NotFound,
    PreconditionFailed, QuotaExceeded, Share, UidConflict,
)

ALL_RIGHTS = "lrswipkxtea"
# Tombstones kept per collection: a client that last synced that many deletions ago starts over.
# Pruning waits for TOMBSTONE_SLACK more, so it runs once per that many deletes.
TOMBSTONE_LIMIT = 10_000
TOMBSTONE_SLACK = 1_000
HORIZON_NAME = ""

_COLLECTION_COLS = ("id, account_id, kind, name, display_name, description, color, components, "
                    "timezone, role, modseq, created_modseq, properties")
_ITEM_INDEX_COLS = ("uid, component, start, end, recurring, summary, organizer, attendees, status, "
                    "transparent, due, completed, emails, phones")
_ITEM_COLS = f"account_id, collection_id, name, modseq, size, {_ITEM_INDEX_COLS}"


def valid_resource_name(name: str) -> str:
    """A path segment: what DAV clients may choose as a collection or item name."""
    if (not name or len(name) > 255 or name in (".", "..") or "/" in name
            or any(ord(c) < 0x20 or c == "\x7f" for c in name)):
        raise InvalidName(f"invalid name {name!r}")
    return name


def _collection(row) -> Collection:
    return Collection(
        id=row[0], account_id=row[1], kind=row[2], name=row[3], display_name=row[4],
        description=row[5], color=row[6], components=tuple(row[7].split()), timezone=row[8],
        role=row[9], modseq=row[10], created_modseq=row[11], properties=json.loads(row[12]))


def _item(row, text: str | None = None) -> Item:
    index = ItemIndex(
        uid=row[5], component=row[6], start=row[7], end=row[8], recurring=bool(row[9]),
        summary=row[10], organizer=row[11], attendees=tuple(row[12].split()), status=row[13],
        transparent=bool(row[14]), due=row[15], completed=row[16],
        emails=tuple(row[17].split()), phones=tuple(row[18].split("\t")) if row[18] else ())
    return Item(account_id=row[0], collection_id=row[1], name=row[2], modseq=row[3],
                size=row[4], index=index, text=text)


class PimSQLiteMixin(CollaborationStore):

    # ------------------------------------------------------------------ called by SQLiteStore

    def _create_default_collections(self, conn, tx, account_id: int) -> None:
        """Inside create_account's transaction."""
        for name, kind, display, components, role in DEFAULT_COLLECTIONS:
            self._create_collection_sync(conn, tx, account_id, kind, name, display, "", "",
                                         components, "", role, {})

    def _delete_pim_rows(self, conn, tx, account_id: int) -> None:
        """Inside delete_account's transaction."""
        for table in ("items", "item_tombstones", "collections"):
            conn.execute(f"DELETE FROM {table} WHERE account_id=?", (account_id,))
        conn.execute("DELETE FROM acl WHERE owner_account_id=? OR grantee_account_id=?",
                     (account_id, account_id))

    # ------------------------------------------------------------------ collections

    def _create_collection_sync(self, conn, tx, account_id, kind, name, display_name,
                                description, color, components, timezone, role, properties
                                ) -> Collection:
        if kind not in COLLECTION_KINDS:
            raise InvalidName(f"unknown collection kind {kind!r}")
        valid_resource_name(name)
        if conn.execute("SELECT 1 FROM collections WHERE account_id=? AND name=?",
                        (account_id, name)).fetchone():
            raise AlreadyExists(f"collection {name} exists")
        m = tx.bump(conn, account_id)
        cur = conn.execute(
            "INSERT INTO collections (account_id, kind, name, display_name, description, color, "
            "components, timezone, role, properties, modseq, created_modseq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, kind, name, display_name, description, color,
             " ".join(c.upper() for c in components), timezone, role,
             json.dumps(properties or {}), m, m))
        tx.log(conn, account_id, m, "collection", None, cur.lastrowid)
        return _collection(conn.execute(f"SELECT {_COLLECTION_COLS} FROM collections WHERE id=?",
                                        (cur.lastrowid,)).fetchone())

    async def list_collections(self, account_id: int, kind: str | None = None
                               ) -> list[Collection]:
        def q():
            if kind is None:
                rows = self._conn.execute(
                    f"SELECT {_COLLECTION_COLS} FROM collections WHERE account_id=? ORDER BY name",
                    (account_id,)).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {_COLLECTION_COLS} FROM collections WHERE account_id=? AND kind=? "
                    "ORDER BY name", (account_id, kind)).fetchall()
            return [_collection(r) for r in rows]
        return await self._run(q)

    async def get_collection(self, account_id: int, name: str) -> Collection | None:
        row = await self._run(lambda: self._conn.execute(
            f"SELECT {_COLLECTION_COLS} FROM collections WHERE account_id=? AND name=?",
            (account_id, name)).fetchone())
        return _collection(row) if row else None

    async def get_collection_by_id(self, account_id: int, collection_id: int
                                   ) -> Collection | None:
        row = await self._run(lambda: self._conn.execute(
            f"SELECT {_COLLECTION_COLS} FROM collections WHERE account_id=? AND id=?",
            (account_id, collection_id)).fetchone())
        return _collection(row) if row else None

    async def get_collection_by_role(self, account_id: int, role: str) -> Collection | None:
        row = await self._run(lambda: self._conn.execute(
            f"SELECT {_COLLECTION_COLS} FROM collections WHERE account_id=? AND role=? "
            "ORDER BY id LIMIT 1", (account_id, role)).fetchone())
        return _collection(row) if row else None

    async def create_collection(self, account_id: int, kind: str, name: str, *,
                                display_name: str = "", description: str = "", color: str = "",
                                components: Sequence[str] = (), timezone: str = "",
                                role: str | None = None,
                                properties: dict | None = None) -> Collection:
        if kind == COLLECTION_CALENDAR and not components:
            components = ("VEVENT", "VTODO")
        return await self._write(
            lambda conn, tx: self._create_collection_sync(
                conn, tx, account_id, kind, name, display_name, description, color,
                tuple(components), timezone, role, properties or {}))

    async def update_collection(self, account_id: int, collection_id: int, *,
                                display_name: str | None = None, description: str | None = None,
                                color: str | None = None, timezone: str | None = None,
                                components: Sequence[str] | None = None,
                                properties: dict | None = None) -> Collection:
        def tx_fn(conn, tx):
            row = conn.execute(f"SELECT {_COLLECTION_COLS} FROM collections "
                               "WHERE account_id=? AND id=?", (account_id, collection_id)
                               ).fetchone()
            if row is None:
                raise NotFound("no such collection")
            c = _collection(row)
            props = dict(c.properties)
            for k, v in (properties or {}).items():
                if v is None:
                    props.pop(k, None)
                else:
                    props[k] = v
            m = tx.bump(conn, account_id)
            conn.execute(
                "UPDATE collections SET display_name=?, description=?, color=?, timezone=?, "
                "components=?, properties=?, modseq=? WHERE id=?",
                (c.display_name if display_name is None else display_name,
                 c.description if description is None else description,
                 c.color if color is None else color,
                 c.timezone if timezone is None else timezone,
                 " ".join(c.components if components is None else components),
                 json.dumps(props), m, collection_id))
            tx.log(conn, account_id, m, "collection", None, collection_id)
            return _collection(conn.execute(
                f"SELECT {_COLLECTION_COLS} FROM collections WHERE id=?",
                (collection_id,)).fetchone())
        return await self._write(tx_fn)

    async def delete_collection(self, account_id: int, collection_id: int) -> None:
        def tx_fn(conn, tx):
            if conn.execute("SELECT 1 FROM collections WHERE account_id=? AND id=?",
                            (account_id, collection_id)).fetchone() is None:
                raise NotFound("no such collection")
            size = conn.execute("SELECT coalesce(sum(size), 0) FROM items WHERE account_id=? "
                                "AND collection_id=?", (account_id, collection_id)).fetchone()[0]
            for table in ("items", "item_tombstones"):
                conn.execute(f"DELETE FROM {table} WHERE account_id=? AND collection_id=?",
                             (account_id, collection_id))
            conn.execute("DELETE FROM collections WHERE id=?", (collection_id,))
            conn.execute("DELETE FROM acl WHERE owner_account_id=? AND object_kind=? "
                         "AND object_id=?", (account_id, ACL_COLLECTION, collection_id))
            conn.execute("UPDATE accounts SET used_bytes = max(0, used_bytes - ?) WHERE id=?",
                         (size, account_id))
            m = tx.bump(conn, account_id)
            tx.log(conn, account_id, m, "collection", None, collection_id)
        await self._write(tx_fn)

    # ------------------------------------------------------------------ items

    async def list_items(self, account_id: int, collection_id: int,
                         names: Sequence[str] | None = None, *, with_text: bool = False
                         ) -> list[Item]:
        cols = _ITEM_COLS + (", text" if with_text else "")

        def q():
            if names is None:
                rows = self._conn.execute(
                    f"SELECT {cols} FROM items WHERE account_id=? AND collection_id=? "
                    "ORDER BY name", (account_id, collection_id)).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {cols} FROM items WHERE account_id=? AND collection_id=? AND name IN "
                    "(SELECT value FROM json_each(?)) ORDER BY name",
                    (account_id, collection_id, json.dumps(list(names)))).fetchall()
            return [_item(r, r[19] if with_text else None) for r in rows]
        return await self._run(q)

    async def get_item(self, account_id: int, collection_id: int, name: str) -> Item | None:
        row = await self._run(lambda: self._conn.execute(
            f"SELECT {_ITEM_COLS}, text FROM items WHERE account_id=? AND collection_id=? "
            "AND name=?", (account_id, collection_id, name)).fetchone())
        return _item(row, row[19]) if row else None

    async def find_items_by_uid(self, account_id: int, uid: str,
                                kind: str = COLLECTION_CALENDAR) -> list[Item]:
        def q():
            rows = self._conn.execute(
                f"SELECT {', '.join('i.' + c.strip() for c in _ITEM_COLS.split(','))}, i.text "
                "FROM items i JOIN collections c ON c.id = i.collection_id "
                "WHERE i.account_id=? AND i.uid=? AND c.kind=? ORDER BY c.id",
                (account_id, uid, kind)).fetchall()
            return [_item(r, r[19]) for r in rows]
        return await self._run(q)

    def _put_item_sync(self, conn, tx, account_id, collection_id, name, text, index: ItemIndex,
                       if_match, if_none_match) -> Item:
        valid_resource_name(name)
        if conn.execute("SELECT 1 FROM collections WHERE account_id=? AND id=?",
                        (account_id, collection_id)).fetchone() is None:
            raise NotFound("no such collection")
        row = conn.execute("SELECT modseq, size FROM items WHERE account_id=? AND collection_id=? "
                           "AND name=?", (account_id, collection_id, name)).fetchone()
        if if_none_match and row is not None:
            raise PreconditionFailed("item exists")
        if if_match is not None and (row is None or row[0] != if_match):
            raise PreconditionFailed("item changed")
        other = conn.execute("SELECT name FROM items WHERE account_id=? AND uid=? "
                             "AND collection_id=? AND name != ?",
                             (account_id, index.uid, collection_id, name)).fetchone()
        if other is not None:
            raise UidConflict(other[0])
        size = len(text.encode("utf-8"))
        delta = size - (row[1] if row else 0)
        if delta > 0:
            quota, used = conn.execute("SELECT quota_bytes, used_bytes FROM accounts WHERE id=?",
                                       (account_id,)).fetchone()
            if quota and used + delta > quota:
                raise QuotaExceeded("over quota")
        m = tx.bump(conn, account_id)
        conn.execute(
            f"INSERT OR REPLACE INTO items ({_ITEM_COLS}, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, collection_id, name, m, size, index.uid, index.component, index.start,
             index.end, int(index.recurring), index.summary, index.organizer,
             " ".join(index.attendees), index.status, int(index.transparent), index.due,
             index.completed, " ".join(index.emails), "\t".join(index.phones), text))
        conn.execute("DELETE FROM item_tombstones WHERE account_id=? AND collection_id=? AND name=?",
                     (account_id, collection_id, name))
        if delta:
            conn.execute("UPDATE accounts SET used_bytes = max(0, used_bytes + ?) WHERE id=?",
                         (delta, account_id))
        self._touch_collection(conn, tx, account_id, collection_id, m)
        return Item(account_id, collection_id, name, m, size, index, text)

    def _touch_collection(self, conn, tx, account_id, collection_id, m) -> None:
        conn.execute("UPDATE collections SET modseq=? WHERE id=?", (m, collection_id))
        key = ("pim-item", collection_id, m)
        if key not in tx.logged:
            tx.logged.add(key)
            tx.log(conn, account_id, m, "item", None, collection_id)

    def _delete_item_sync(self, conn, tx, account_id, collection_id, name, if_match) -> None:
        row = conn.execute("SELECT modseq, size FROM items WHERE account_id=? AND collection_id=? "
                           "AND name=?", (account_id, collection_id, name)).fetchone()
        if row is None:
            raise NotFound("no such item")
        if if_match is not None and row[0] != if_match:
            raise PreconditionFailed("item changed")
        m = tx.bump(conn, account_id)
        conn.execute("DELETE FROM items WHERE account_id=? AND collection_id=? AND name=?",
                     (account_id, collection_id, name))
        conn.execute("INSERT OR REPLACE INTO item_tombstones VALUES (?, ?, ?, ?)",
                     (account_id, collection_id, name, m))
        conn.execute("UPDATE accounts SET used_bytes = max(0, used_bytes - ?) WHERE id=?",
                     (row[1], account_id))
        self._touch_collection(conn, tx, account_id, collection_id, m)
        count = conn.execute("SELECT count(*) FROM item_tombstones WHERE account_id=? "
                             "AND collection_id=?", (account_id, collection_id)).fetchone()[0]
        if count > TOMBSTONE_LIMIT + TOMBSTONE_SLACK:
            self._prune_tombstones_sync(conn, account_id, collection_id, TOMBSTONE_LIMIT)

    def _prune_tombstones_sync(self, conn, account_id, collection_id, keep: int) -> int:
        row = conn.execute(
            "SELECT modseq FROM item_tombstones WHERE account_id=? AND collection_id=? "
            "AND name != ? ORDER BY modseq DESC LIMIT 1 OFFSET ?",
            (account_id, collection_id, HORIZON_NAME, keep)).fetchone()
        if row is None:
            return 0
        horizon = row[0]
        dropped = conn.execute(
            "DELETE FROM item_tombstones WHERE account_id=? AND collection_id=? AND modseq <= ? "
            "AND name != ?", (account_id, collection_id, horizon, HORIZON_NAME)).rowcount
        conn.execute(
            "INSERT INTO item_tombstones VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE "
            "SET modseq = max(modseq, excluded.modseq)",
            (account_id, collection_id, HORIZON_NAME, horizon))
        return dropped

    async def prune_tombstones(self, account_id: int, collection_id: int, keep: int) -> int:
        return await self._write(lambda conn, tx: self._prune_tombstones_sync(
            conn, account_id, collection_id, max(0, keep)))

    async def put_item(self, account_id: int, collection_id: int, name: str, text: str,
                       index: ItemIndex, *, if_match: int | None = None,
                       if_none_match: bool = False) -> Item:
        return await self._write(lambda conn, tx: self._put_item_sync(
            conn, tx, account_id, collection_id, name, text, index, if_match, if_none_match))

    async def delete_item(self, account_id: int, collection_id: int, name: str, *,
                          if_match: int | None = None) -> None:
        await self._write(lambda conn, tx: self._delete_item_sync(
            conn, tx, account_id, collection_id, name, if_match))

    async def move_item(self, account_id: int, collection_id: int, name: str,
                        dest_collection_id: int, dest_name: str, *, copy: bool = False,
                        overwrite: bool = True) -> Item:
        def tx_fn(conn, tx):
            row = conn.execute(f"SELECT {_ITEM_COLS}, text FROM items WHERE account_id=? "
                               "AND collection_id=? AND name=?",
                               (account_id, collection_id, name)).fetchone()
            if row is None:
                raise NotFound("no such item")
            src = _item(row, row[19])
            if (dest_collection_id, dest_name) == (collection_id, name):
                raise PreconditionFailed("source and destination are the same")
            exists = conn.execute("SELECT 1 FROM items WHERE account_id=? AND collection_id=? "
                                  "AND name=?", (account_id, dest_collection_id, dest_name)
                                  ).fetchone()
            if exists and not overwrite:
                raise PreconditionFailed("destination exists")
            if not copy:
                self._delete_item_sync(conn, tx, account_id, collection_id, name, None)
            return self._put_item_sync(conn, tx, account_id, dest_collection_id, dest_name,
                                       src.text, src.index, None, False)
        return await self._write(tx_fn)

    async def query_items(self, account_id: int, collection_id: int, *,
                          component: str | None = None, start: int | None = None,
                          end: int | None = None, with_text: bool = True) -> list[Item]:
        cols = _ITEM_COLS + (", text" if with_text else "")
        sql = f"SELECT {cols} FROM items WHERE account_id=? AND collection_id=?"
        params: list = [account_id, collection_id]
        if component:
            sql += " AND component=?"
            params.append(component.upper())
        if end is not None:
            sql += " AND (start IS NULL OR start < ?)"
            params.append(end)
        if start is not None:
            # An instant event (end == start) at the range start overlaps (RFC 4791 §9.9).
            sql += " AND (end IS NULL OR end > ? OR (end = start AND end >= ?))"
            params += [start, start]
        sql += " ORDER BY name"

        def q():
            return [_item(r, r[19] if with_text else None)
                    for r in self._conn.execute(sql, params).fetchall()]
        return await self._run(q)

    async def item_changes(self, account_id: int, collection_id: int, since: int) -> ItemChanges:
        def q():
            row = self._conn.execute("SELECT modseq FROM collections WHERE account_id=? AND id=?",
                                     (account_id, collection_id)).fetchone()
            if row is None:
                raise NotFound("no such collection")
            changed = [_item(r) for r in self._conn.execute(
                f"SELECT {_ITEM_COLS} FROM items WHERE account_id=? AND collection_id=? "
                "AND modseq > ? ORDER BY name", (account_id, collection_id, since)).fetchall()]
            deleted, horizon = [], 0
            for name, modseq in self._conn.execute(
                    "SELECT name, modseq FROM item_tombstones WHERE account_id=? "
                    "AND collection_id=? AND (modseq > ? OR name = ?) ORDER BY name",
                    (account_id, collection_id, since, HORIZON_NAME)).fetchall():
                if name == HORIZON_NAME:
                    horizon = modseq
                else:
                    deleted.append(name)
            return ItemChanges(modseq=row[0], changed=changed, deleted=deleted, horizon=horizon)
        return await self._run(q)

    async def collection_usage(self, account_id: int) -> int:
        return await self._run(lambda: self._conn.execute(
            "SELECT coalesce(sum(size), 0) FROM items WHERE account_id=?",
            (account_id,)).fetchone()[0])

    # ------------------------------------------------------------------ ACL

    async def set_rights(self, owner_account_id: int, object_kind: str, object_id: int,
                         grantee_account_id: int, rights: str) -> None:
        rights = "".join(sorted(set(rights), key=ALL_RIGHTS.find))
        if any(r not in ALL_RIGHTS for r in rights):
            raise InvalidName(f"unknown rights {rights!r}")

        def tx_fn(conn, tx):
            if conn.execute("SELECT 1 FROM accounts WHERE id=?",
                            (grantee_account_id,)).fetchone() is None:
                raise NotFound("no such account")
            if object_kind == ACL_COLLECTION and conn.execute(
                    "SELECT 1 FROM collections WHERE account_id=? AND id=?",
                    (owner_account_id, object_id)).fetchone() is None:
                raise NotFound("no such collection")
            if rights:
                conn.execute("INSERT OR REPLACE INTO acl VALUES (?, ?, ?, ?, ?)",
                             (owner_account_id, object_kind, object_id, grantee_account_id,
                              rights))
            else:
                conn.execute("DELETE FROM acl WHERE owner_account_id=? AND object_kind=? AND "
                             "object_id=? AND grantee_account_id=?",
                             (owner_account_id, object_kind, object_id, grantee_account_id))
            # Both homes change: the grantee's listing and the owner's sharing state.
            for acc in {owner_account_id, grantee_account_id}:
                m = tx.bump(conn, acc)
                tx.log(conn, acc, m, object_kind, None, object_id)
        await self._write(tx_fn)

    async def list_rights(self, owner_account_id: int, object_kind: str, object_id: int
                          ) -> list[Share]:
        rows = await self._run(lambda: self._conn.execute(
            "SELECT owner_account_id, object_kind, object_id, grantee_account_id, rights FROM acl "
            "WHERE owner_account_id=? AND object_kind=? AND object_id=? "
            "ORDER BY grantee_account_id", (owner_account_id, object_kind, object_id)).fetchall())
        return [Share(*r) for r in rows]

    async def shared_with(self, grantee_account_id: int, object_kind: str) -> list[Share]:
        rows = await self._run(lambda: self._conn.execute(
            "SELECT owner_account_id, object_kind, object_id, grantee_account_id, rights FROM acl "
            "WHERE grantee_account_id=? AND object_kind=? ORDER BY owner_account_id, object_id",
            (grantee_account_id, object_kind)).fetchall())
        return [Share(*r) for r in rows]

    async def rights_of(self, account_id: int, owner_account_id: int, object_kind: str,
                        object_id: int) -> str:
        if account_id == owner_account_id:
            return ALL_RIGHTS
        row = await self._run(lambda: self._conn.execute(
            "SELECT rights FROM acl WHERE owner_account_id=? AND object_kind=? AND object_id=? "
            "AND grantee_account_id=?",
            (owner_account_id, object_kind, object_id, account_id)).fetchone())
        return row[0] if row else ""

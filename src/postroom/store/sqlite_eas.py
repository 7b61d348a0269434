"""ActiveSync device state in the embedded store (store/api.py, "ActiveSync device state").

A mixin that :class:`postroom.store.sqlite.SQLiteStore` inherits, on that class's store thread
(``_run``) and write transactions (``_write``). What a device lacks is one indexed anti-join of
the mailbox's entries (or the collection's items) against ``eas_items``, so a window of 100 out
of 100,000 messages costs the window, not the mailbox.
"""

from __future__ import annotations

import json
import time
from typing import Sequence

from postroom.store.api import (
    ACCESS_ALLOWED, EAS_SOURCE_COLLECTION, EAS_SOURCE_MAILBOX, POLICY_NONE, WIPE_NONE, Conflict,
    EasDevice, EasDeviceStore, EasDiff, EasHierarchy, EasSyncState, FollowUpStore, InvalidName,
    NotFound,
)

_DEVICE_COLS = ("account_id, device_id, device_type, user_agent, policy_key, policy_state, wipe, "
                "access, info, state, first_seen, last_seen")

_HELD = "i.account_id=:a AND i.device_id=:d AND i.folder_id=:f"

# One set of queries per source. :s is the mailbox or collection id, :since the FilterType
# cut-off (NULL: none), :n the row limit.
_QUERIES = {
    EAS_SOURCE_MAILBOX: {
        "changed": f"""SELECT i.item, e.modseq FROM eas_items i
            JOIN entries e ON e.mailbox_id=:s AND e.uid=CAST(i.item AS INTEGER)
            JOIN messages m ON m.id=e.message_id
            WHERE {_HELD} AND e.modseq > i.modseq
              AND (:since IS NULL OR m.internal_date >= :since)
            ORDER BY e.uid LIMIT :n""",
        "deleted": f"""SELECT i.item FROM eas_items i WHERE {_HELD} AND NOT EXISTS
            (SELECT 1 FROM entries e WHERE e.mailbox_id=:s AND e.uid=CAST(i.item AS INTEGER))
            LIMIT :n""",
        "soft_deleted": f"""SELECT i.item FROM eas_items i
            JOIN entries e ON e.mailbox_id=:s AND e.uid=CAST(i.item AS INTEGER)
            JOIN messages m ON m.id=e.message_id
            WHERE {_HELD} AND :since IS NOT NULL AND m.internal_date < :since LIMIT :n""",
        "added": f"""SELECT CAST(e.uid AS TEXT), e.modseq FROM entries e
            JOIN messages m ON m.id=e.message_id
            WHERE e.mailbox_id=:s AND (:since IS NULL OR m.internal_date >= :since)
              AND NOT EXISTS (SELECT 1 FROM eas_items i WHERE {_HELD}
                              AND i.item=CAST(e.uid AS TEXT))
            ORDER BY e.uid DESC LIMIT :n""",
    },
    EAS_SOURCE_COLLECTION: {
        "changed": f"""SELECT i.item, t.modseq FROM eas_items i
            JOIN items t ON t.account_id=:a AND t.collection_id=:s AND t.name=i.item
            WHERE {_HELD} AND t.modseq > i.modseq
              AND (:since IS NULL OR t.end IS NULL OR t.end >= :since)
            ORDER BY t.name LIMIT :n""",
        "deleted": f"""SELECT i.item FROM eas_items i WHERE {_HELD} AND NOT EXISTS
            (SELECT 1 FROM items t WHERE t.account_id=:a AND t.collection_id=:s
             AND t.name=i.item) LIMIT :n""",
        "soft_deleted": f"""SELECT i.item FROM eas_items i
            JOIN items t ON t.account_id=:a AND t.collection_id=:s AND t.name=i.item
            WHERE {_HELD} AND :since IS NOT NULL AND t.end IS NOT NULL AND t.end < :since
            LIMIT :n""",
        "added": f"""SELECT t.name, t.modseq FROM items t
            WHERE t.account_id=:a AND t.collection_id=:s
              AND (:since IS NULL OR t.end IS NULL OR t.end >= :since)
              AND NOT EXISTS (SELECT 1 FROM eas_items i WHERE {_HELD} AND i.item=t.name)
            ORDER BY t.modseq DESC LIMIT :n""",
    },
}


def _device(row) -> EasDevice:
    return EasDevice(account_id=row[0], device_id=row[1], device_type=row[2], user_agent=row[3],
                     policy_key=row[4], policy_state=row[5], wipe=row[6], access=row[7],
                     info=json.loads(row[8]), state=json.loads(row[9]), first_seen=row[10],
                     last_seen=row[11])


def _set_held(conn, a: int, d: str, f: str, item: str, modseq: int | None) -> None:
    if modseq is None:
        conn.execute("DELETE FROM eas_items WHERE account_id=? AND device_id=? AND folder_id=? "
                     "AND item=?", (a, d, f, item))
    else:
        conn.execute("INSERT OR REPLACE INTO eas_items VALUES (?, ?, ?, ?, ?)",
                     (a, d, f, item, modseq))


class EasSQLiteMixin(EasDeviceStore, FollowUpStore):

    def _delete_eas_rows(self, conn, tx, account_id: int) -> None:
        """For delete_account's transaction."""
        for table in ("eas_items", "eas_sync", "eas_hierarchy", "eas_devices"):
            conn.execute(f"DELETE FROM {table} WHERE account_id=?", (account_id,))

    # ------------------------------------------------------------------ devices

    def _get_device(self, conn, account_id: int, device_id: str) -> EasDevice | None:
        row = conn.execute(f"SELECT {_DEVICE_COLS} FROM eas_devices WHERE account_id=? AND "
                           "device_id=?", (account_id, device_id)).fetchone()
        return _device(row) if row else None

    def _ensure_device(self, conn, account_id: int, device_id: str, device_type: str = "") -> None:
        if not device_id or len(device_id) > 128:
            raise InvalidName("invalid DeviceId")
        now = int(time.time())
        conn.execute("INSERT OR IGNORE INTO eas_devices (account_id, device_id, device_type, "
                     "policy_state, wipe, access, first_seen, last_seen) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (account_id, device_id, device_type, POLICY_NONE, WIPE_NONE,
                      ACCESS_ALLOWED, now, now))

    async def eas_device(self, account_id: int, device_id: str) -> EasDevice | None:
        return await self._run(lambda: self._get_device(self._conn, account_id, device_id))

    async def eas_touch_device(self, account_id: int, device_id: str, device_type: str,
                               user_agent: str = "") -> EasDevice:
        def tx_fn(conn, tx):
            self._ensure_device(conn, account_id, device_id, device_type)
            conn.execute("UPDATE eas_devices SET last_seen=?, device_type=?, "
                         "user_agent=CASE WHEN ?='' THEN user_agent ELSE ? END "
                         "WHERE account_id=? AND device_id=?",
                         (int(time.time()), device_type[:64], user_agent[:256],
                          user_agent[:256], account_id, device_id))
            return self._get_device(conn, account_id, device_id)
        return await self._write(tx_fn)

    async def eas_update_device(self, account_id: int, device_id: str, *,
                                policy_key: int | None = None, policy_state: str | None = None,
                                wipe: str | None = None, access: str | None = None,
                                info: dict | None = None, state: dict | None = None
                                ) -> EasDevice:
        values = {"policy_key": policy_key, "policy_state": policy_state, "wipe": wipe,
                  "access": access,
                  "info": json.dumps(info) if info is not None else None,
                  "state": json.dumps(state) if state is not None else None}
        values = {k: v for k, v in values.items() if v is not None}

        def tx_fn(conn, tx):
            self._ensure_device(conn, account_id, device_id)
            if values:
                sets = ", ".join(f"{k}=?" for k in values)
                conn.execute(f"UPDATE eas_devices SET {sets} WHERE account_id=? AND device_id=?",
                             (*values.values(), account_id, device_id))
            return self._get_device(conn, account_id, device_id)
        return await self._write(tx_fn)

    async def eas_list_devices(self, account_id: int | None = None) -> list[EasDevice]:
        def q():
            if account_id is None:
                return self._conn.execute(f"SELECT {_DEVICE_COLS} FROM eas_devices "
                                          "ORDER BY account_id, device_id").fetchall()
            return self._conn.execute(f"SELECT {_DEVICE_COLS} FROM eas_devices WHERE "
                                      "account_id=? ORDER BY device_id", (account_id,)).fetchall()
        return [_device(r) for r in await self._run(q)]

    async def eas_delete_device(self, account_id: int, device_id: str) -> None:
        def tx_fn(conn, tx):
            if conn.execute("DELETE FROM eas_devices WHERE account_id=? AND device_id=?",
                            (account_id, device_id)).rowcount == 0:
                raise NotFound("no such device")
            for table in ("eas_items", "eas_sync", "eas_hierarchy"):
                conn.execute(f"DELETE FROM {table} WHERE account_id=? AND device_id=?",
                             (account_id, device_id))
        await self._write(tx_fn)

    # ------------------------------------------------------------------ hierarchy

    async def eas_hierarchy(self, account_id: int, device_id: str) -> EasHierarchy | None:
        row = await self._run(lambda: self._conn.execute(
            "SELECT sync_key, folders, previous_key, previous_folders FROM eas_hierarchy "
            "WHERE account_id=? AND device_id=?", (account_id, device_id)).fetchone())
        if row is None:
            return None
        return EasHierarchy(row[0], json.loads(row[1]), row[2], json.loads(row[3]))

    async def eas_save_hierarchy(self, account_id: int, device_id: str,
                                 folders: dict[str, list]) -> int:
        def tx_fn(conn, tx):
            row = conn.execute("SELECT sync_key, folders FROM eas_hierarchy WHERE account_id=? "
                               "AND device_id=?", (account_id, device_id)).fetchone()
            key = (row[0] if row else 0) + 1
            conn.execute("INSERT OR REPLACE INTO eas_hierarchy VALUES (?, ?, ?, ?, ?, ?)",
                         (account_id, device_id, key, json.dumps(folders),
                          row[0] if row else 0, row[1] if row else "{}"))
            return key
        return await self._write(tx_fn)

    # ------------------------------------------------------------------ per-folder sync state

    async def eas_sync_state(self, account_id: int, device_id: str, folder_id: str
                             ) -> EasSyncState | None:
        row = await self._run(lambda: self._conn.execute(
            "SELECT sync_key, previous_key, data FROM eas_sync WHERE account_id=? AND "
            "device_id=? AND folder_id=?", (account_id, device_id, folder_id)).fetchone())
        return EasSyncState(row[0], row[1], json.loads(row[2])) if row else None

    async def eas_sync_reset(self, account_id: int, device_id: str, folder_id: str,
                             data: dict) -> int:
        def tx_fn(conn, tx):
            row = conn.execute("SELECT sync_key FROM eas_sync WHERE account_id=? AND "
                               "device_id=? AND folder_id=?",
                               (account_id, device_id, folder_id)).fetchone()
            key = (row[0] if row else 0) + 1
            conn.execute("DELETE FROM eas_items WHERE account_id=? AND device_id=? AND "
                         "folder_id=?", (account_id, device_id, folder_id))
            conn.execute("INSERT OR REPLACE INTO eas_sync VALUES (?, ?, ?, ?, 0, '[]', ?)",
                         (account_id, device_id, folder_id, key, json.dumps(data)))
            return key
        return await self._write(tx_fn)

    async def eas_sync_rewind(self, account_id: int, device_id: str, folder_id: str) -> None:
        def tx_fn(conn, tx):
            row = conn.execute("SELECT previous_key, undo FROM eas_sync WHERE account_id=? AND "
                               "device_id=? AND folder_id=?",
                               (account_id, device_id, folder_id)).fetchone()
            if row is None or row[0] == 0:
                raise Conflict("no previous window to go back to")
            for item, modseq in json.loads(row[1]):
                _set_held(conn, account_id, device_id, folder_id, item, modseq)
            conn.execute("UPDATE eas_sync SET sync_key=?, previous_key=0, undo='[]' WHERE "
                         "account_id=? AND device_id=? AND folder_id=?",
                         (row[0], account_id, device_id, folder_id))
        await self._write(tx_fn)

    async def eas_sync_commit(self, account_id: int, device_id: str, folder_id: str,
                              from_key: int, sent: dict[str, int | None], data: dict) -> int:
        def tx_fn(conn, tx):
            row = conn.execute("SELECT sync_key FROM eas_sync WHERE account_id=? AND "
                               "device_id=? AND folder_id=?",
                               (account_id, device_id, folder_id)).fetchone()
            if row is None or row[0] != from_key:
                raise Conflict("the SyncKey moved meanwhile")
            undo = []
            for item, modseq in sent.items():
                old = conn.execute("SELECT modseq FROM eas_items WHERE account_id=? AND "
                                   "device_id=? AND folder_id=? AND item=?",
                                   (account_id, device_id, folder_id, item)).fetchone()
                undo.append([item, old[0] if old else None])
                _set_held(conn, account_id, device_id, folder_id, item, modseq)
            conn.execute("UPDATE eas_sync SET sync_key=?, previous_key=?, undo=?, data=? WHERE "
                         "account_id=? AND device_id=? AND folder_id=?",
                         (from_key + 1, from_key, json.dumps(undo), json.dumps(data),
                          account_id, device_id, folder_id))
            return from_key + 1
        return await self._write(tx_fn)

    async def eas_sync_forget(self, account_id: int, device_id: str,
                              folder_ids: Sequence[str] | None = None) -> None:
        def tx_fn(conn, tx):
            for table in ("eas_items", "eas_sync"):
                if folder_ids is None:
                    conn.execute(f"DELETE FROM {table} WHERE account_id=? AND device_id=?",
                                 (account_id, device_id))
                else:
                    conn.executemany(f"DELETE FROM {table} WHERE account_id=? AND device_id=? "
                                     "AND folder_id=?",
                                     [(account_id, device_id, f) for f in folder_ids])
        await self._write(tx_fn)

    async def eas_sync_diff(self, account_id: int, device_id: str, folder_id: str,
                            source: str, source_id: int, limit: int,
                            since: int | None = None) -> EasDiff:
        queries = _QUERIES[source]

        def q():
            params = {"a": account_id, "d": device_id, "f": folder_id, "s": source_id,
                      "since": since}
            left = max(1, limit)
            out: dict[str, list] = {}
            more = False
            for kind in ("changed", "deleted", "soft_deleted", "added"):
                if left <= 0:
                    more = more or bool(self._conn.execute(
                        queries[kind], {**params, "n": 1}).fetchone())
                    out[kind] = []
                    continue
                rows = self._conn.execute(queries[kind], {**params, "n": left + 1}).fetchall()
                if len(rows) > left:
                    more = True
                    rows = rows[:left]
                left -= len(rows)
                out[kind] = [tuple(r) if len(r) > 1 else r[0] for r in rows]
            return EasDiff(out["changed"], out["deleted"], out["soft_deleted"], out["added"],
                           more)
        return await self._run(q)

    async def eas_sync_count(self, account_id: int, device_id: str, folder_id: str,
                             source: str, source_id: int, since: int | None = None) -> int:
        queries = _QUERIES[source]

        def q():
            params = {"a": account_id, "d": device_id, "f": folder_id, "s": source_id,
                      "since": since, "n": -1}
            return sum(self._conn.execute(f"SELECT count(*) FROM ({queries[k]})",
                                          params).fetchone()[0]
                       for k in ("changed", "deleted", "soft_deleted", "added"))
        return await self._run(q)

    async def eas_held_items(self, account_id: int, device_id: str, folder_id: str,
                             items: Sequence[str]) -> dict[str, int]:
        def q():
            out = {}
            for item in items:
                row = self._conn.execute(
                    "SELECT modseq FROM eas_items WHERE account_id=? AND device_id=? AND "
                    "folder_id=? AND item=?", (account_id, device_id, folder_id, item)).fetchone()
                if row:
                    out[item] = row[0]
            return out
        return await self._run(q)

    async def eas_set_held(self, account_id: int, device_id: str, folder_id: str,
                           items: dict[str, int | None]) -> None:
        def tx_fn(conn, tx):
            if conn.execute("SELECT 1 FROM eas_sync WHERE account_id=? AND device_id=? AND "
                            "folder_id=?", (account_id, device_id, folder_id)).fetchone() is None:
                return
            for item, modseq in items.items():
                _set_held(conn, account_id, device_id, folder_id, item, modseq)
        await self._write(tx_fn)

    # ------------------------------------------------------------------ follow-up flags

    async def follow_ups(self, account_id: int, mailbox_id: int,
                         uids: Sequence[int]) -> dict[int, dict[str, str]]:
        def q():
            self._check_mailbox(account_id, mailbox_id)
            out = {}
            for uid in uids:
                row = self._conn.execute("SELECT data FROM follow_ups WHERE mailbox_id=? AND "
                                         "uid=?", (mailbox_id, uid)).fetchone()
                if row:
                    out[uid] = json.loads(row[0])
            return out
        return await self._run(q)

    async def set_follow_up(self, account_id: int, mailbox_id: int, uid: int,
                            data: dict[str, str] | None) -> int:
        def tx_fn(conn, tx):
            self._check_mailbox(account_id, mailbox_id)
            if conn.execute("SELECT 1 FROM entries WHERE mailbox_id=? AND uid=?",
                            (mailbox_id, uid)).fetchone() is None:
                raise NotFound("no such message")
            if data is None:
                conn.execute("DELETE FROM follow_ups WHERE mailbox_id=? AND uid=?",
                             (mailbox_id, uid))
            else:
                conn.execute("INSERT OR REPLACE INTO follow_ups VALUES (?, ?, ?)",
                             (mailbox_id, uid, json.dumps(data, sort_keys=True)))
            modseq = tx.bump(conn, account_id)
            conn.execute("UPDATE entries SET modseq=? WHERE mailbox_id=? AND uid=?",
                         (modseq, mailbox_id, uid))
            conn.execute("UPDATE mailboxes SET highestmodseq=? WHERE id=?", (modseq, mailbox_id))
            tx.log_entries(conn, account_id, modseq, mailbox_id)
            return modseq
        return await self._write(tx_fn)

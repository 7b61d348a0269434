"""The embedded store: one SQLite database (WAL) and a blob folder under the data directory.

All SQL runs on one dedicated thread with one connection, so the event loop never blocks and
transactions never interleave inside the process; other processes (the CLI, more workers) share
the file through SQLite's own locking, and their commits reach this process's waiting doors
through a ``PRAGMA data_version`` check on that same connection (DESIGN.md, "Notification").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import sqlite3
import threading
import time
from array import array
from collections import OrderedDict
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from postroom.mail.message import ParsedMessage, Part
from postroom.mail.sections import pack_common_spans
from postroom.store import search as S
from postroom.store.api import (
    DEFAULT_MAILBOXES, FLAG_BITS, FETCH_BODY, FETCH_BODYSTRUCTURE, FETCH_ENVELOPE, FETCH_PARTS,
    FETCH_PREVIEW, FETCH_SORT, FETCH_THREADING, ROLE_INBOX,
    SEPARATOR, Account, AlreadyExists, Alias, AppendResult, Changes, Conflict, CopyResult, Domain,
    Entry, FlagChange, InvalidName, Listing, Mailbox, MailboxStatus, MessageRow, NotFound,
    QueuedMessage, QuotaExceeded, Recipient, ScramCredentials, Store, StoreFlagsResult,
    UID_TYPECODE, flags_of,
)
from postroom.store.blobs import STORE_MMAP_BYTES, Blobs, blob_hash, remap
from postroom.store.changes import ChangeBroadcast
from postroom.store.schema import SCHEMA_VERSION, SQLITE_SCHEMA, add_missing_columns
from postroom.store.sqlite_eas import EasSQLiteMixin
from postroom.store.sqlite_pim import PimSQLiteMixin

log = logging.getLogger("postroom.store")

# HIDDEN is internal (POP3 "hide" policy), kept beside api.FLAG_BITS and never shown as a flag.
HIDDEN = 32
_FLAG_LOOKUP = {k.lower(): v for k, v in FLAG_BITS.items()}

# Search text kept per message is capped: substring search over the first megabyte of text.
MAX_INDEXED_TEXT = 1 << 20


def _split_flags(flags: Iterable[str]) -> tuple[int, list[str]]:
    bits = 0
    keywords: list[str] = []
    seen_kw: set[str] = set()
    for f in flags:
        bit = _FLAG_LOOKUP.get(f.lower())
        if bit is not None:
            bits |= bit
        elif f.startswith("\\"):
            continue  # \Recent and unknown system flags are not stored (RFC 9051 §2.3.2)
        else:
            low = f.lower()
            if low not in seen_kw:
                seen_kw.add(low)
                keywords.append(f)
    return bits, keywords


def _valid_mailbox_name(name: str) -> str:
    if not name or len(name) > 1000 or any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise InvalidName(f"invalid mailbox name {name!r}")
    parts = name.split(SEPARATOR)
    if any(p == "" for p in parts):
        raise InvalidName(f"invalid mailbox name {name!r}")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return SEPARATOR.join(parts)


def _uid_condition(uids: Sequence[int], column: str = "e.uid") -> tuple[str, list]:
    """SQL for "uid in uids" that stays small for long consecutive runs."""
    if not uids:
        return "0", []
    if isinstance(uids, range) and uids.step == 1:
        return f"{column} BETWEEN ? AND ?", [uids.start, uids.stop - 1]
    lo, hi = min(uids), max(uids)
    if hi - lo + 1 == len(uids) == len(set(uids)):
        # A run of consecutive uids (FETCH 1:*): one range, no per-uid work.
        return f"{column} BETWEEN ? AND ?", [lo, hi]
    ranges: list[list[int]] = []
    for u in sorted(uids):
        if ranges and u <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], u)
        else:
            ranges.append([u, u])
    return _ranges_condition(ranges, column)


def _ranges_condition(ranges, column: str) -> tuple[str, list]:
    if len(ranges) <= 16:
        sql = " OR ".join(f"{column} BETWEEN ? AND ?" for _ in ranges)
        params = [v for r in ranges for v in r]
        return f"({sql})", params
    return (f"EXISTS (SELECT 1 FROM json_each(?) j WHERE {column} BETWEEN "
            f"j.value->>0 AND j.value->>1)", [json.dumps([list(r) for r in ranges])])


def _fts_phrase(needle: str) -> str:
    return '"' + needle.replace('"', '""') + '"'


_TEXT_COLUMNS = {"from": "from_", "to": "to_", "cc": "cc", "bcc": "bcc", "subject": "subject",
                 "body": "body"}


# Index rows a quick read may fetch (FETCH 1:10 of a client opening a mailbox, a NOOP's flags).
_QUICK_ROWS = 64


class _Slow(Exception):
    """A quick read found it would have to scan: it is run on the store thread instead."""


class SQLiteStore(EasSQLiteMixin, PimSQLiteMixin, Store):
    def __init__(self, data_dir: Path | str, *, watch_interval: float = 0.2):
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / "postroom.db"
        self.blobs = Blobs(self.data_dir / "blobs", self.db_path)
        self.notifier = ChangeBroadcast()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._main: sqlite3.Connection | None = None      # the store thread's (see _conn)
        # A read-only connection for the event loop's thread, for reads of a few rows (_quick).
        self._reader: sqlite3.Connection | None = None
        self._loop_thread: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch_interval = watch_interval
        self._watch_task: asyncio.Task | None = None
        self._data_version = 0
        self._file_base: int | None = None     # resident file pages after the last trim
        self._last_seq = 0
        self._pending: list = []
        self._pending_lock = threading.Lock()
        self._draining = False
        self._changes_inflight: dict[tuple[int, int, int], asyncio.Future] = {}
        self._unindexed = 0          # text rows waiting for the trigram index (approximate)
        self._indexing = False
        self._index_timer: asyncio.TimerHandle | None = None
        # Per-mailbox uid arrays, POP3 listings, status counts and keywords, keyed by the
        # mailbox's highest modseq (every change to its entries, hidden ones included, raises
        # it, in this process or another): many sessions opening one unchanged mailbox share
        # one array instead of each building a list of 10,000 ints, and SELECT does not scan
        # 100,000 entries for its counts. Built on the store thread only; the loop thread's
        # quick reads use what is there (both under the lock).
        self._listings: OrderedDict[tuple[str, int], tuple[int, Any]] = OrderedDict()
        self._listings_lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    @property
    def _conn(self) -> sqlite3.Connection | None:
        """The connection for the calling thread: the store thread's, or the loop thread's
        read-only one while a quick read (_quick) runs there. Query code is the same for
        both."""
        return self._reader if self._on_loop() else self._main

    @_conn.setter
    def _conn(self, conn: sqlite3.Connection | None) -> None:
        self._main = conn

    async def _quick(self, fn: Callable, *args) -> Any:
        """Runs a read of a few rows by index on the event loop's thread, in one read
        transaction of its own connection, instead of handing it to the store thread.

        The hand-over to a thread and back costs about 190 µs on a 2-core VM (two thread
        wake-ups), against 5-10 µs for the query itself, and SELECT made three of them. WAL
        readers never wait for the writer, so this cannot stall the loop on a lock; it falls
        back to the store thread when the read would do real work (a cached listing to
        rebuild: ``_Slow``) or SQLite reports the database busy (recovery after a crash)."""
        if self._on_loop():     # (not from another thread's event loop)
            reader = self._reader
            try:
                reader.execute("BEGIN")
                try:
                    return fn(*args)
                finally:
                    reader.execute("COMMIT")
            except _Slow:
                pass
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
        return await self._run(fn, *args)

    def _on_loop(self) -> bool:
        return self._reader is not None and threading.get_ident() == self._loop_thread

    def _open_reader(self) -> None:
        """On the loop thread, once the store thread has created the schema."""
        reader = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True,
                                 isolation_level=None, timeout=0)
        reader.execute("PRAGMA query_only=1")
        reader.execute("PRAGMA cache_size=-8192")
        reader.execute("PRAGMA mmap_size=0")      # no second mapping counted in RSS
        self._reader = reader
        self._loop_thread = threading.get_ident()

    async def open(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.blobs.open()
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store")
        await self._run(self._open_sync)
        self._open_reader()
        self._unindexed = 1 if await self._run(lambda: self._conn.execute(
            "SELECT 1 FROM pending_text LIMIT 1").fetchone()) else 0
        self._schedule_indexing(now=True)
        self._watch_task = asyncio.create_task(self._watch_other_processes())

    def _open_sync(self) -> None:
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False,
                               timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the door answers OK (no accepted message lost).
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # 16 MB of page cache: pages read come through the mapping, so the cache mostly holds
        # pages being written. 64 MB kept 50 MB more resident after a bulk load and bought
        # nothing measurable (APPEND of 10,000, STORE on 100,000).
        conn.execute("PRAGMA cache_size=-16384")
        conn.execute("PRAGMA temp_store=MEMORY")
        # Mapped pages that were read count in RSS (as page cache, once per mapping): only
        # this connection and the blob-reading thread's map the file (_trim_mappings).
        remap(conn, STORE_MMAP_BYTES)
        conn.create_function("pr_contains", 2, _contains, deterministic=True)
        conn.executescript(SQLITE_SCHEMA)
        if "messages.spans" in add_missing_columns(conn):
            self._fill_spans(conn)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                     (str(SCHEMA_VERSION),))
        self._conn = conn
        self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        self._last_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM changelog").fetchone()[0]

    @staticmethod
    def _fill_spans(conn: sqlite3.Connection) -> None:
        """A store from before the spans column: each message's from its part tree, once."""
        rows = conn.execute("SELECT id, parts FROM messages").fetchall()
        conn.execute("BEGIN")
        conn.executemany("UPDATE messages SET spans=? WHERE id=?",
                         [(pack_common_spans(Part.from_json(parts)), mid) for mid, parts in rows])
        conn.execute("COMMIT")

    async def close(self) -> None:
        if self._index_timer is not None:
            self._index_timer.cancel()
            self._index_timer = None
        if self._watch_task:
            self._watch_task.cancel()
            try:
                await self._watch_task
            except (asyncio.CancelledError, Exception):
                pass
            self._watch_task = None
        if self._executor:
            await self._run(self._close_sync)
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _close_sync(self) -> None:
        self.blobs.close()
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Callable, *args) -> Any:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _write(self, fn: Callable, *args) -> Any:
        """Runs ``fn(conn, tx, *args)`` atomically and returns its result once it is committed.

        Group commit: writes that arrive while the store thread is busy are run together in one
        transaction, each inside its own SAVEPOINT (so one failing write undoes only itself) and
        with its own modseq, and share one COMMIT - one WAL fsync for many deliveries or STOREs.
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._pending_lock:
            self._pending.append((fn, args, fut))
            start = not self._draining
            self._draining = True
        if start:
            self._executor.submit(self._drain, loop)
        return await fut

    _GROUP_LIMIT = 64

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._pending_lock:
                batch = self._pending[:self._GROUP_LIMIT]
                del self._pending[:self._GROUP_LIMIT]
                if not batch:
                    self._draining = False
                    return
            outcomes = self._write_group(batch)
            loop.call_soon_threadsafe(self._settle, outcomes)

    def _write_group(self, batch: list) -> list:
        conn = self._conn
        outcomes: list = []
        txs: list[_Tx] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as e:
            return [(fut, None, e, set()) for _, _, fut in batch]
        for fn, args, fut in batch:
            tx = _Tx(conn)
            conn.execute("SAVEPOINT op")
            try:
                result = fn(conn, tx, *args)
                conn.execute("RELEASE op")
                outcomes.append([fut, result, None, tx.touched])
                txs.append(tx)
                self._unindexed += tx.unindexed
            except BaseException as e:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append([fut, None, e, set()])
                txs.append(tx)
        try:
            conn.execute("COMMIT")
        except BaseException as e:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            outcomes = [[o[0], None, e, set()] for o in outcomes]
        # Blobs written for writes that did not commit, and nobody else references: unlink.
        for tx in txs:
            for digest in tx.new_blobs:
                if conn.execute("SELECT 1 FROM blobs WHERE hash=?", (digest,)).fetchone() is None:
                    self.blobs.unlink_file(digest)
        # PRAGMA data_version on this connection moves only for *other* connections' commits,
        # so the watcher hears of other processes alone; it then reads the change log from
        # _last_seq, which our own rows may repeat (a harmless extra wake-up).
        dead = set().union(*(tx.dead_blobs for tx in txs)) if txs else set()
        if dead:
            self._collect_blobs(dead)
        return outcomes

    def _settle(self, outcomes: list) -> None:
        touched: set[int] = set()
        for fut, result, error, accounts in outcomes:
            touched |= accounts
            if fut.cancelled():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)
        if touched:
            self.notifier.publish(touched)
        self._schedule_indexing()

    # -- deferred search indexing: the trigram index is fed in batches, off the delivery path

    _INDEX_BATCH = 256
    _INDEX_QUIET_SECONDS = 0.25

    def _schedule_indexing(self, now: bool = False) -> None:
        """On the loop thread. Index once writes have been quiet for a moment, or at once when
        enough text is waiting, so a burst of deliveries is indexed in a few large batches."""
        if self._executor is None or self._unindexed <= 0 or self._indexing:
            return
        if self._index_timer is not None:
            self._index_timer.cancel()
            self._index_timer = None
        if now or self._unindexed >= self._INDEX_BATCH:
            self._indexing = True
            self._executor.submit(self._index_step, asyncio.get_running_loop())
        else:
            self._index_timer = asyncio.get_running_loop().call_later(
                self._INDEX_QUIET_SECONDS, self._schedule_indexing, True)

    def _index_step(self, loop: asyncio.AbstractEventLoop) -> None:
        moved = self._index_step_sync()
        loop.call_soon_threadsafe(self._indexed, moved)

    def _index_step_sync(self) -> int:
        """One batch from pending_text into the trigram index, as its own transaction. It need
        not be durable on its own (synchronous=NORMAL): lost in a crash, the rows are simply
        still pending. Returns how many rows moved (-1 on an error)."""
        conn = self._conn
        moved = 0
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                ids = [r[0] for r in conn.execute(
                    "SELECT message_id FROM pending_text ORDER BY message_id LIMIT ?",
                    (self._INDEX_BATCH,))]
                if ids:
                    last = ids[-1]
                    conn.execute(
                        "INSERT INTO message_text (rowid, from_, to_, cc, bcc, subject, headers, "
                        "body) SELECT message_id, from_, to_, cc, bcc, subject, headers, body "
                        "FROM pending_text WHERE message_id <= ?", (last,))
                    conn.execute("DELETE FROM pending_text WHERE message_id <= ?", (last,))
                    moved = len(ids)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except Exception:
            log.exception("search indexing failed; will retry")
            moved = -1
        finally:
            conn.execute("PRAGMA synchronous=FULL")
        return moved

    async def flush_index(self) -> None:
        if self._index_timer is not None:
            self._index_timer.cancel()
            self._index_timer = None
        while True:
            # Runs after any indexing step already queued on the store thread.
            moved = await self._run(self._index_step_sync)
            if moved < self._INDEX_BATCH:
                self._unindexed = 0
                return

    def _indexed(self, moved: int) -> None:
        self._indexing = False
        if moved < 0:
            return
        if moved < self._INDEX_BATCH:
            self._unindexed = 0
            return
        self._unindexed = max(self._unindexed - moved, 1)  # more may wait: go on
        self._schedule_indexing(now=True)

    def _collect_blobs(self, digests: set[str]) -> None:
        """Second transaction: drop blobs nobody references. An inserter re-checks the file in
        its own transaction, so a blob revived meanwhile is rewritten, never lost."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            gone = []
            for d in digests:
                row = conn.execute("SELECT refs FROM blobs WHERE hash=?", (d,)).fetchone()
                if row is not None and row[0] <= 0:
                    conn.execute("DELETE FROM blobs WHERE hash=?", (d,))
                    self.blobs.delete_in_tx(conn, d)
                    gone.append(d)
            for d in gone:
                self.blobs.unlink_file(d)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            log.exception("blob collection failed; will retry on the next removal")

    # File pages (mapped database pages) the process may hold resident beyond what it held
    # after the last trim, checked every _TRIM_EVERY seconds.
    _MAPPED_BUDGET = 32 << 20
    _TRIM_EVERY = 2.0

    async def _trim_mappings(self) -> None:
        """Keeps RSS near the process's own memory: the store connection and the blob reader
        map the database, and every page they read stays in RSS (up to 256 MB each) though it
        is only page cache. When the mapped pages grow past _MAPPED_BUDGET, both are mapped
        afresh (``blobs.remap``). Linux only (/proc/self/statm); elsewhere nothing is done."""
        try:
            with open("/proc/self/statm") as f:
                shared = int(f.read().split()[2]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return
        if self._file_base is not None and shared - self._file_base <= self._MAPPED_BUDGET:
            return
        await self._run(lambda: remap(self._main, STORE_MMAP_BYTES))
        await self.blobs.run(self.blobs.trim)
        with open("/proc/self/statm") as f:
            self._file_base = int(f.read().split()[2]) * os.sysconf("SC_PAGE_SIZE")

    async def _watch_other_processes(self) -> None:
        next_trim = time.monotonic() + self._TRIM_EVERY
        while True:
            await asyncio.sleep(self._watch_interval)
            if time.monotonic() >= next_trim:
                next_trim = time.monotonic() + self._TRIM_EVERY
                try:
                    await self._trim_mappings()
                except Exception:
                    log.exception("trimming mapped pages")
            try:
                touched = await self._run(self._check_data_version)
            except Exception:
                log.exception("change watcher")
                continue
            if touched:
                self.notifier.publish(touched)
                # Another process may have left text to index (an import that has ended).
                self._unindexed = max(self._unindexed, 1)
                self._schedule_indexing()

    def _check_data_version(self) -> set[int]:
        conn = self._conn
        if conn is None:
            return set()
        v = conn.execute("PRAGMA data_version").fetchone()[0]
        if v == self._data_version:
            return set()
        self._data_version = v
        top = conn.execute("SELECT coalesce(max(seq), 0) FROM changelog").fetchone()[0]
        rows = conn.execute("SELECT DISTINCT account_id FROM changelog WHERE seq > ? AND seq <= ?",
                            (self._last_seq, top)).fetchall()
        self._last_seq = top
        return {r[0] for r in rows}

    # ------------------------------------------------------------------ domains

    async def add_domain(self, name: str) -> Domain:
        name = name.strip().lower().rstrip(".")
        if not name or "@" in name or " " in name:
            raise InvalidName(f"invalid domain {name!r}")

        def tx_fn(conn, tx):
            try:
                cur = conn.execute("INSERT INTO domains (name) VALUES (?)", (name,))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"domain {name} exists") from None
            return Domain(cur.lastrowid, name)
        return await self._write(tx_fn)

    async def list_domains(self) -> list[Domain]:
        rows = await self._run(lambda: self._conn.execute(
            "SELECT id, name, dkim_selector, dkim_key FROM domains ORDER BY name").fetchall())
        return [Domain(*r) for r in rows]

    async def get_domain(self, name: str) -> Domain | None:
        row = await self._run(lambda: self._conn.execute(
            "SELECT id, name, dkim_selector, dkim_key FROM domains WHERE name=?",
            (name.strip().lower().rstrip("."),)).fetchone())
        return Domain(*row) if row else None

    async def remove_domain(self, name: str) -> None:
        name = name.strip().lower()

        def tx_fn(conn, tx):
            row = conn.execute("SELECT id FROM domains WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"no domain {name}")
            if conn.execute("SELECT 1 FROM accounts WHERE domain_id=?", row).fetchone():
                raise Conflict(f"domain {name} still has accounts")
            conn.execute("DELETE FROM aliases WHERE address LIKE ?", (f"%@{name}",))
            conn.execute("DELETE FROM domains WHERE id=?", row)
        await self._write(tx_fn)

    async def set_domain_dkim(self, name: str, selector: str, private_key_pem: bytes) -> None:
        def tx_fn(conn, tx):
            cur = conn.execute("UPDATE domains SET dkim_selector=?, dkim_key=? WHERE name=?",
                               (selector, private_key_pem, name.strip().lower()))
            if cur.rowcount == 0:
                raise NotFound(f"no domain {name}")
        await self._write(tx_fn)

    # ------------------------------------------------------------------ accounts

    _ACCOUNT_COLS = "id, email, domain_id, password_hash, scram, quota_bytes, used_bytes, settings"

    @staticmethod
    def _account(row) -> Account:
        scram = None
        if row[4]:
            d = json.loads(row[4])
            scram = ScramCredentials(bytes.fromhex(d["salt"]), d["iterations"],
                                     bytes.fromhex(d["stored_key"]),
                                     bytes.fromhex(d["server_key"]))
        return Account(row[0], row[1], row[2], row[3], scram, row[5], row[6], json.loads(row[7]))

    @staticmethod
    def _scram_json(scram: ScramCredentials | None) -> str | None:
        if scram is None:
            return None
        return json.dumps({"salt": scram.salt.hex(), "iterations": scram.iterations,
                           "stored_key": scram.stored_key.hex(),
                           "server_key": scram.server_key.hex()})

    async def create_account(self, email: str, password_hash: str,
                             scram: ScramCredentials | None = None,
                             quota_bytes: int = 0) -> Account:
        email = email.strip().lower()
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain or " " in email:
            raise InvalidName(f"invalid address {email!r}")

        def tx_fn(conn, tx):
            d = conn.execute("SELECT id FROM domains WHERE name=?", (domain,)).fetchone()
            if d is None:
                raise NotFound(f"no domain {domain}; add it first")
            try:
                cur = conn.execute(
                    "INSERT INTO accounts (email, domain_id, password_hash, scram, quota_bytes) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (email, d[0], password_hash, self._scram_json(scram), quota_bytes))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"account {email} exists") from None
            account_id = cur.lastrowid
            for name, role in DEFAULT_MAILBOXES:
                self._create_mailbox_sync(conn, tx, account_id, name, role)
                conn.execute("INSERT OR IGNORE INTO subscriptions VALUES (?, ?)",
                             (account_id, name))
            self._create_default_collections(conn, tx, account_id)
            return self._account(conn.execute(
                f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE id=?", (account_id,)).fetchone())
        return await self._write(tx_fn)

    async def get_account(self, email: str) -> Account | None:
        row = await self._quick(lambda: self._conn.execute(
            f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE email=?",
            (email.strip().lower(),)).fetchone())
        return self._account(row) if row else None

    async def get_account_by_id(self, account_id: int) -> Account | None:
        row = await self._quick(lambda: self._conn.execute(
            f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE id=?", (account_id,)).fetchone())
        return self._account(row) if row else None

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        def q():
            if domain is None:
                return self._conn.execute(
                    f"SELECT {self._ACCOUNT_COLS} FROM accounts ORDER BY email").fetchall()
            return self._conn.execute(
                f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE domain_id="
                "(SELECT id FROM domains WHERE name=?) ORDER BY email",
                (domain.lower(),)).fetchall()
        return [self._account(r) for r in await self._run(q)]

    async def update_account(self, account_id: int, *, password_hash: str | None = None,
                             scram: ScramCredentials | None = None,
                             quota_bytes: int | None = None,
                             settings: dict | None = None) -> Account:
        def tx_fn(conn, tx):
            if conn.execute("SELECT 1 FROM accounts WHERE id=?", (account_id,)).fetchone() is None:
                raise NotFound("no such account")
            if password_hash is not None:
                conn.execute("UPDATE accounts SET password_hash=? WHERE id=?",
                             (password_hash, account_id))
            if scram is not None:
                conn.execute("UPDATE accounts SET scram=? WHERE id=?",
                             (self._scram_json(scram), account_id))
            if quota_bytes is not None:
                conn.execute("UPDATE accounts SET quota_bytes=? WHERE id=?",
                             (quota_bytes, account_id))
            if settings is not None:
                conn.execute("UPDATE accounts SET settings=? WHERE id=?",
                             (json.dumps(settings), account_id))
            return self._account(conn.execute(
                f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE id=?", (account_id,)).fetchone())
        return await self._write(tx_fn)

    async def delete_account(self, account_id: int) -> None:
        def tx_fn(conn, tx):
            row = conn.execute("SELECT email FROM accounts WHERE id=?", (account_id,)).fetchone()
            if row is None:
                raise NotFound("no such account")
            for (mid,) in conn.execute("SELECT id FROM mailboxes WHERE account_id=?",
                                       (account_id,)).fetchall():
                self._delete_mailbox_rows(conn, tx, account_id, mid)
            conn.execute("DELETE FROM subscriptions WHERE account_id=?", (account_id,))
            conn.execute("DELETE FROM metadata WHERE account_id=?", (account_id,))
            self._delete_pim_rows(conn, tx, account_id)
            self._delete_eas_rows(conn, tx, account_id)
            conn.execute("DELETE FROM changelog WHERE account_id=?", (account_id,))
            conn.execute("DELETE FROM aliases WHERE target=?", (row[0],))
            conn.execute("DELETE FROM accounts WHERE id=?", (account_id,))
        await self._write(tx_fn)

    # ------------------------------------------------------------------ aliases

    async def add_alias(self, address: str, target: str) -> Alias:
        address = address.strip().lower()
        target = target.strip().lower()
        local, at, domain = address.rpartition("@")
        if not at or not domain:
            raise InvalidName(f"invalid alias {address!r}")

        def tx_fn(conn, tx):
            if conn.execute("SELECT 1 FROM domains WHERE name=?", (domain,)).fetchone() is None:
                raise NotFound(f"no domain {domain}")
            if conn.execute("SELECT 1 FROM accounts WHERE email=?", (target,)).fetchone() is None:
                raise NotFound(f"no account {target}")
            if conn.execute("SELECT 1 FROM accounts WHERE email=?", (address,)).fetchone():
                raise AlreadyExists(f"{address} is an account")
            try:
                conn.execute("INSERT INTO aliases VALUES (?, ?)", (address, target))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"alias {address} exists") from None
            return Alias(address, target)
        return await self._write(tx_fn)

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        def q():
            if domain is None:
                return self._conn.execute("SELECT address, target FROM aliases "
                                          "ORDER BY address").fetchall()
            return self._conn.execute("SELECT address, target FROM aliases WHERE address LIKE ? "
                                      "ORDER BY address", (f"%@{domain.lower()}",)).fetchall()
        return [Alias(*r) for r in await self._run(q)]

    async def remove_alias(self, address: str) -> None:
        def tx_fn(conn, tx):
            if conn.execute("DELETE FROM aliases WHERE address=?",
                            (address.strip().lower(),)).rowcount == 0:
                raise NotFound(f"no alias {address}")
        await self._write(tx_fn)

    async def resolve_recipient(self, address: str) -> Account | None:
        address = address.strip().strip("<>").lower()
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return None

        def q():
            conn = self._conn
            candidates = [address]
            if "+" in local:
                candidates.append(local.split("+", 1)[0] + "@" + domain)
            for cand in candidates:
                row = conn.execute(f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE email=?",
                                   (cand,)).fetchone()
                if row:
                    return row
                row = conn.execute(
                    f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE email="
                    "(SELECT target FROM aliases WHERE address=?)", (cand,)).fetchone()
                if row:
                    return row
            return conn.execute(
                f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE email="
                "(SELECT target FROM aliases WHERE address=?)", ("@" + domain,)).fetchone()
        row = await self._run(q)
        return self._account(row) if row else None

    async def addresses_of(self, account_id: int) -> list[str]:
        def q():
            row = self._conn.execute("SELECT email FROM accounts WHERE id=?",
                                     (account_id,)).fetchone()
            if row is None:
                return []
            aliases = [r[0] for r in self._conn.execute(
                "SELECT address FROM aliases WHERE target=? AND address NOT LIKE '@%' "
                "ORDER BY address", row).fetchall()]
            return [row[0]] + aliases
        return await self._run(q)

    # ------------------------------------------------------------------ mailboxes

    _MAILBOX_COLS = "id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq"

    def _next_uidvalidity(self, conn) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key='uidvalidity'").fetchone()
        last = int(row[0]) if row else 0
        value = max(int(time.time()) & 0x7FFFFFFF, last + 1)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('uidvalidity', ?)", (str(value),))
        return value

    def _create_mailbox_sync(self, conn, tx, account_id, name, special_use) -> Mailbox:
        modseq = tx.bump(conn, account_id)
        cur = conn.execute(
            "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity, uidnext, "
            "highestmodseq) VALUES (?, ?, ?, ?, 1, ?)",
            (account_id, name, special_use, self._next_uidvalidity(conn), modseq))
        tx.log(conn, account_id, modseq, "mailbox", cur.lastrowid)
        return Mailbox(cur.lastrowid, account_id, name, special_use,
                       *conn.execute("SELECT uidvalidity, uidnext, highestmodseq FROM mailboxes "
                                     "WHERE id=?", (cur.lastrowid,)).fetchone())

    async def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        rows = await self._run(lambda: self._conn.execute(
            f"SELECT {self._MAILBOX_COLS} FROM mailboxes WHERE account_id=? ORDER BY name",
            (account_id,)).fetchall())
        return [Mailbox(*r) for r in rows]

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        try:
            name = _valid_mailbox_name(name)
        except InvalidName:
            return None
        row = await self._quick(lambda: self._conn.execute(
            f"SELECT {self._MAILBOX_COLS} FROM mailboxes WHERE account_id=? AND name=?",
            (account_id, name)).fetchone())
        return Mailbox(*row) if row else None

    async def get_mailbox_by_id(self, account_id: int, mailbox_id: int) -> Mailbox | None:
        row = await self._quick(lambda: self._conn.execute(
            f"SELECT {self._MAILBOX_COLS} FROM mailboxes WHERE account_id=? AND id=?",
            (account_id, mailbox_id)).fetchone())
        return Mailbox(*row) if row else None

    async def get_mailbox_by_role(self, account_id: int, role: str) -> Mailbox | None:
        row = await self._quick(lambda: self._conn.execute(
            f"SELECT {self._MAILBOX_COLS} FROM mailboxes WHERE account_id=? AND special_use=? "
            "ORDER BY id LIMIT 1", (account_id, role)).fetchone())
        return Mailbox(*row) if row else None

    async def create_mailbox(self, account_id: int, name: str,
                             special_use: str | None = None) -> Mailbox:
        name = _valid_mailbox_name(name)

        def tx_fn(conn, tx):
            if conn.execute("SELECT 1 FROM mailboxes WHERE account_id=? AND name=?",
                            (account_id, name)).fetchone():
                raise AlreadyExists(f"mailbox {name} exists")
            parts = name.split(SEPARATOR)
            for i in range(1, len(parts)):
                parent = SEPARATOR.join(parts[:i])
                if not conn.execute("SELECT 1 FROM mailboxes WHERE account_id=? AND name=?",
                                    (account_id, parent)).fetchone():
                    self._create_mailbox_sync(conn, tx, account_id, parent, None)
            return self._create_mailbox_sync(conn, tx, account_id, name, special_use)
        return await self._write(tx_fn)

    def _delete_mailbox_rows(self, conn, tx, account_id: int, mailbox_id: int) -> None:
        rows = conn.execute("SELECT uid, message_id, size FROM entries WHERE mailbox_id=?",
                            (mailbox_id,)).fetchall()
        conn.execute("DELETE FROM entries WHERE mailbox_id=?", (mailbox_id,))
        freed = sum(r[2] for r in rows)
        if freed:
            conn.execute("UPDATE accounts SET used_bytes = max(0, used_bytes - ?) WHERE id=?",
                         (freed, account_id))
        for mid in {r[1] for r in rows}:
            self._release_message(conn, tx, mid)
        conn.execute("DELETE FROM metadata WHERE account_id=? AND mailbox_id=?",
                     (account_id, mailbox_id))
        conn.execute("DELETE FROM acl WHERE owner_account_id=? AND object_kind='mailbox' AND "
                     "object_id=?", (account_id, mailbox_id))
        conn.execute("DELETE FROM changelog WHERE mailbox_id=? AND kind != 'mailbox'",
                     (mailbox_id,))
        conn.execute("DELETE FROM mailboxes WHERE id=?", (mailbox_id,))

    async def delete_mailbox(self, account_id: int, mailbox_id: int) -> None:
        def tx_fn(conn, tx):
            row = conn.execute("SELECT name FROM mailboxes WHERE account_id=? AND id=?",
                               (account_id, mailbox_id)).fetchone()
            if row is None:
                raise NotFound("no such mailbox")
            if row[0] == "INBOX":
                raise Conflict("INBOX cannot be deleted")
            self._delete_mailbox_rows(conn, tx, account_id, mailbox_id)
            modseq = tx.bump(conn, account_id)
            tx.log(conn, account_id, modseq, "mailbox", mailbox_id)
        await self._write(tx_fn)

    async def rename_mailbox(self, account_id: int, mailbox_id: int, new_name: str) -> Mailbox:
        new_name = _valid_mailbox_name(new_name)

        def tx_fn(conn, tx):
            row = conn.execute(f"SELECT {self._MAILBOX_COLS} FROM mailboxes "
                               "WHERE account_id=? AND id=?", (account_id, mailbox_id)).fetchone()
            if row is None:
                raise NotFound("no such mailbox")
            old = row[2]
            if new_name == old:
                raise AlreadyExists(f"mailbox {new_name} exists")
            if new_name.startswith(old + SEPARATOR):
                raise InvalidName("cannot rename a mailbox into its own child")
            if conn.execute("SELECT 1 FROM mailboxes WHERE account_id=? AND name=?",
                            (account_id, new_name)).fetchone():
                raise AlreadyExists(f"mailbox {new_name} exists")
            parts = new_name.split(SEPARATOR)
            for i in range(1, len(parts)):
                parent = SEPARATOR.join(parts[:i])
                if not conn.execute("SELECT 1 FROM mailboxes WHERE account_id=? AND name=?",
                                    (account_id, parent)).fetchone():
                    self._create_mailbox_sync(conn, tx, account_id, parent, None)
            if old == "INBOX":
                # RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox and
                # leaves INBOX in place, empty; INBOX's children are not moved.
                target = self._create_mailbox_sync(conn, tx, account_id, new_name, None)
                uids = [r[0] for r in conn.execute(
                    "SELECT uid FROM entries WHERE mailbox_id=? ORDER BY uid",
                    (mailbox_id,)).fetchall()]
                if uids:
                    self._copy_sync(conn, tx, account_id, mailbox_id, uids, target.id,
                                    remove_source=True)
                return Mailbox(*conn.execute(f"SELECT {self._MAILBOX_COLS} FROM mailboxes "
                                             "WHERE id=?", (target.id,)).fetchone())
            modseq = tx.bump(conn, account_id)
            children = conn.execute(
                "SELECT id, name FROM mailboxes WHERE account_id=? AND substr(name, 1, ?) = ?",
                (account_id, len(old) + 1, old + SEPARATOR)).fetchall()
            conn.execute("UPDATE mailboxes SET name=? WHERE id=?", (new_name, mailbox_id))
            tx.log(conn, account_id, modseq, "mailbox", mailbox_id)
            for cid, cname in children:
                conn.execute("UPDATE mailboxes SET name=? WHERE id=?",
                             (new_name + cname[len(old):], cid))
                tx.log(conn, account_id, modseq, "mailbox", cid)
            for (sub,) in conn.execute(
                    "SELECT name FROM subscriptions WHERE account_id=? AND (name=? OR "
                    "substr(name, 1, ?) = ?)", (account_id, old, len(old) + 1,
                                                old + SEPARATOR)).fetchall():
                conn.execute("UPDATE OR IGNORE subscriptions SET name=? WHERE account_id=? "
                             "AND name=?", (new_name + sub[len(old):], account_id, sub))
            return Mailbox(*conn.execute(f"SELECT {self._MAILBOX_COLS} FROM mailboxes "
                                         "WHERE id=?", (mailbox_id,)).fetchone())
        return await self._write(tx_fn)

    async def set_special_use(self, account_id: int, mailbox_id: int,
                              special_use: str | None) -> None:
        def tx_fn(conn, tx):
            if conn.execute("UPDATE mailboxes SET special_use=? WHERE account_id=? AND id=?",
                            (special_use, account_id, mailbox_id)).rowcount == 0:
                raise NotFound("no such mailbox")
            modseq = tx.bump(conn, account_id)
            tx.log(conn, account_id, modseq, "mailbox", mailbox_id)
        await self._write(tx_fn)

    async def subscribe(self, account_id: int, name: str, subscribed: bool = True) -> None:
        name = _valid_mailbox_name(name)

        def tx_fn(conn, tx):
            if subscribed:
                cur = conn.execute("INSERT OR IGNORE INTO subscriptions VALUES (?, ?)",
                                   (account_id, name))
            else:
                cur = conn.execute("DELETE FROM subscriptions WHERE account_id=? AND name=?",
                                   (account_id, name))
            if cur.rowcount:
                # A change other sessions hear of (RFC 5465 SubscriptionChange).
                tx.log(conn, account_id, tx.bump(conn, account_id), "subscription", None)
        await self._write(tx_fn)

    async def list_subscriptions(self, account_id: int) -> list[str]:
        rows = await self._run(lambda: self._conn.execute(
            "SELECT name FROM subscriptions WHERE account_id=? ORDER BY name",
            (account_id,)).fetchall())
        return [r[0] for r in rows]

    async def mailbox_status(self, account_id: int, mailbox_id: int) -> MailboxStatus:
        return await self._quick(self._status_sync, account_id, mailbox_id)

    async def mailbox_snapshot(self, account_id: int, mailbox_id: int,
                               ) -> tuple[MailboxStatus, Sequence[int], list[str]]:
        def q():    # one read transaction, one consistent view
            return (self._status_sync(account_id, mailbox_id),
                    self._uids_sync(account_id, mailbox_id),
                    self._keywords_sync(account_id, mailbox_id))
        return await self._quick(q)

    def _status_sync(self, account_id: int, mailbox_id: int) -> MailboxStatus:
        conn = self._conn
        mb = conn.execute("SELECT uidvalidity, uidnext, highestmodseq FROM mailboxes "
                          "WHERE account_id=? AND id=?", (account_id, mailbox_id)).fetchone()
        if mb is None:
            raise NotFound("no such mailbox")

        def build():    # a scan of the mailbox: done again only once it changed
            counts = conn.execute(
                "SELECT count(*), coalesce(sum(flags & 1 = 0), 0), "
                "coalesce(sum(flags & 8 != 0), 0), coalesce(sum(size), 0) FROM entries "
                "WHERE mailbox_id=?", (mailbox_id,)).fetchone()
            first = conn.execute("SELECT min(uid) FROM entries WHERE mailbox_id=? AND "
                                 "flags & 1 = 0", (mailbox_id,)).fetchone()[0]
            return (*counts, first)
        messages, unseen, deleted, size, first = self._listing(
            "status", account_id, mailbox_id, build)
        return MailboxStatus(messages, unseen, deleted, size, mb[1], mb[0], mb[2], first)

    # ------------------------------------------------------------------ messages: writing

    def _parse(self, raw: bytes) -> ParsedMessage:
        from postroom.mail.parse import parse_message
        return parse_message(raw)

    async def _prepare(self, raw: bytes, parsed: ParsedMessage | None) -> tuple[str, ParsedMessage]:
        """Parses (off the loop) and writes the blob durably before any transaction."""
        def work():
            p = parsed if parsed is not None else self._parse(raw)
            digest = blob_hash(raw)
            self.blobs.write_files([(digest, raw)])
            return digest, p
        return await asyncio.to_thread(work)

    def _ensure_blob(self, conn, tx, digest: str, raw: bytes) -> None:
        row = conn.execute("SELECT refs FROM blobs WHERE hash=?", (digest,)).fetchone()
        self.blobs.put_in_tx(conn, digest, raw)
        if row is None:
            conn.execute("INSERT INTO blobs VALUES (?, ?, 1)", (digest, len(raw)))
            tx.new_blobs.append(digest)
        else:
            conn.execute("UPDATE blobs SET refs = refs + 1 WHERE hash=?", (digest,))

    def _message_row(self, conn, tx, account_id: int, digest: str, raw: bytes,
                     p: ParsedMessage, internal_date: int) -> int:
        """The account's index row for this blob: reused when the account has it already."""
        row = conn.execute("SELECT id FROM messages WHERE account_id=? AND blob=? LIMIT 1",
                           (account_id, digest)).fetchone()
        if row:
            return row[0]
        self._ensure_blob(conn, tx, digest, raw)
        thread_id = None
        parents = list(reversed(p.references))
        if p.in_reply_to and p.in_reply_to not in parents:
            parents.insert(0, p.in_reply_to)
        for ref in parents[:20]:
            r = conn.execute("SELECT thread_id FROM messages WHERE account_id=? AND "
                             "header_message_id=? LIMIT 1", (account_id, ref)).fetchone()
            if r:
                thread_id = r[0]
                break
        cur = conn.execute(
            "INSERT INTO messages (account_id, blob, size, internal_date, envelope, bodystructure,"
            " body, parts, preview, sent_date, sort_subject, sort_from, sort_to, sort_cc,"
            " display_from, display_to, header_message_id, in_reply_to, refs, thread_id,"
            " has_attachments, spans, wire_ready)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (account_id, digest, len(raw), internal_date, p.envelope, p.bodystructure, p.body,
             p.parts.to_json(), p.preview, p.sent_date, p.sort_subject, p.sort_from, p.sort_to,
             p.sort_cc, p.display_from, p.display_to, p.message_id, p.in_reply_to,
             " ".join(p.references), 0, int(p.has_attachments), pack_common_spans(p.parts),
             int(p.wire_ready)))
        mid = cur.lastrowid
        conn.execute("UPDATE messages SET thread_id=? WHERE id=?", (thread_id or mid, mid))
        conn.execute(
            "INSERT INTO pending_text (message_id, from_, to_, cc, bcc, subject, headers, body) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (mid, p.from_text, p.to_text, p.cc_text, p.bcc_text, p.subject,
             p.headers_text[:MAX_INDEXED_TEXT], p.body_text[:MAX_INDEXED_TEXT]))
        tx.unindexed += 1
        return mid

    def _release_message(self, conn, tx, message_id: int) -> None:
        """Drops the index row (and a blob reference) once no entry points to it."""
        if conn.execute("SELECT 1 FROM entries WHERE message_id=? LIMIT 1",
                        (message_id,)).fetchone():
            return
        row = conn.execute("SELECT blob FROM messages WHERE id=?", (message_id,)).fetchone()
        if row is None:
            return
        conn.execute("DELETE FROM messages WHERE id=?", (message_id,))
        conn.execute("DELETE FROM message_text WHERE rowid=?", (message_id,))
        conn.execute("DELETE FROM pending_text WHERE message_id=?", (message_id,))
        self._release_blob(conn, tx, row[0])

    def _release_blob(self, conn, tx, digest: str) -> None:
        conn.execute("UPDATE blobs SET refs = refs - 1 WHERE hash=?", (digest,))
        r = conn.execute("SELECT refs FROM blobs WHERE hash=?", (digest,)).fetchone()
        if r is not None and r[0] <= 0:
            tx.dead_blobs.add(digest)

    def _check_quota(self, conn, account_id: int, extra: int) -> None:
        q, used = conn.execute("SELECT quota_bytes, used_bytes FROM accounts WHERE id=?",
                               (account_id,)).fetchone()
        if q and used + extra > q:
            raise QuotaExceeded("quota exceeded")

    def _add_entry(self, conn, tx, account_id: int, mailbox_id: int, message_id: int, size: int,
                   bits: int, keywords: list[str], modseq: int, now: int) -> int:
        row = conn.execute("SELECT uidnext FROM mailboxes WHERE id=? AND account_id=?",
                           (mailbox_id, account_id)).fetchone()
        if row is None:
            raise NotFound("no such mailbox")
        uid = row[0]
        conn.execute("INSERT INTO entries (mailbox_id, uid, account_id, message_id, flags, "
                     "keywords, modseq, save_date, size) VALUES (?,?,?,?,?,?,?,?,?)",
                     (mailbox_id, uid, account_id, message_id, bits, " ".join(keywords), modseq,
                      now, size))
        conn.execute("UPDATE mailboxes SET uidnext=?, highestmodseq=? WHERE id=?",
                     (uid + 1, modseq, mailbox_id))
        conn.execute("UPDATE accounts SET used_bytes = used_bytes + ? WHERE id=?",
                     (size, account_id))
        tx.log_entries(conn, account_id, modseq, mailbox_id)
        return uid

    def _uidvalidity(self, conn, mailbox_id: int) -> int:
        return conn.execute("SELECT uidvalidity FROM mailboxes WHERE id=?",
                            (mailbox_id,)).fetchone()[0]

    async def append(self, account_id: int, mailbox_id: int, raw: bytes,
                     flags: Iterable[str] = (), internal_date: int | None = None,
                     parsed: ParsedMessage | None = None) -> AppendResult:
        (result,) = await self._append_prepared(account_id, mailbox_id,
                                                [(raw, flags, internal_date, parsed)])
        return result

    async def append_many(self, account_id: int, mailbox_id: int,
                          items: Sequence[tuple[bytes, Iterable[str], int | None]]
                          ) -> list[AppendResult]:
        return await self._append_prepared(account_id, mailbox_id,
                                           [(raw, fl, d, None) for raw, fl, d in items])

    async def _append_prepared(self, account_id, mailbox_id, items) -> list[AppendResult]:
        def prepare_all():
            # One thread hop for the whole batch: parse, then write each blob durably.
            out = []
            for raw, flags, date, parsed in items:
                p = parsed if parsed is not None else self._parse(raw)
                out.append((raw, list(flags), date, blob_hash(raw), p))
            self.blobs.write_files([(x[3], x[0]) for x in out])
            return out
        prepared = await asyncio.to_thread(prepare_all)

        def tx_fn(conn, tx):
            self._check_quota(conn, account_id, sum(len(x[0]) for x in prepared))
            modseq = tx.bump(conn, account_id)
            now = int(time.time())
            results = []
            for raw, flags, date, digest, p in prepared:
                mid = self._message_row(conn, tx, account_id, digest, raw, p,
                                        int(date if date is not None else now))
                bits, kws = _split_flags(flags)
                uid = self._add_entry(conn, tx, account_id, mailbox_id, mid, len(raw), bits, kws,
                                      modseq, now)
                results.append(AppendResult(self._uidvalidity(conn, mailbox_id), uid, modseq))
            return results
        return await self._write(tx_fn)

    async def deliver(self, raw: bytes, recipients: Sequence[Recipient],
                      internal_date: int | None = None,
                      parsed: ParsedMessage | None = None) -> list[AppendResult]:
        digest, p = await self._prepare(raw, parsed)

        def tx_fn(conn, tx):
            now = int(time.time())
            results = []
            for r in recipients:
                self._check_quota(conn, r.account_id, len(raw))
            for r in recipients:
                modseq = tx.bump(conn, r.account_id)
                mid = self._message_row(conn, tx, r.account_id, digest, raw, p,
                                        int(internal_date if internal_date is not None else now))
                bits, kws = _split_flags(r.flags)
                uid = self._add_entry(conn, tx, r.account_id, r.mailbox_id, mid, len(raw), bits,
                                      kws, modseq, now)
                results.append(AppendResult(self._uidvalidity(conn, r.mailbox_id), uid, modseq))
            return results
        return await self._write(tx_fn)

    # ------------------------------------------------------------------ messages: reading

    async def uids(self, account_id: int, mailbox_id: int) -> Sequence[int]:
        return await self._quick(self._uids_sync, account_id, mailbox_id)

    def _uids_sync(self, account_id: int, mailbox_id: int) -> Sequence[int]:
        def build():
            return array(UID_TYPECODE, chain.from_iterable(self._conn.execute(
                "SELECT uid FROM entries WHERE mailbox_id=? ORDER BY uid", (mailbox_id,))))
        return self._listing("uids", account_id, mailbox_id, build)

    _LISTINGS_KEPT = 64      # entries; 100,000 messages cost 400 KB (uids) or 800 KB

    def _listing(self, kind: str, account_id: int, mailbox_id: int, build: Callable) -> Any:
        """``build()``'s result for this mailbox, rebuilt only when its modseq has moved."""
        row = self._conn.execute("SELECT highestmodseq FROM mailboxes WHERE id=? AND "
                                 "account_id=?", (mailbox_id, account_id)).fetchone()
        if row is None:
            raise NotFound("no such mailbox")
        key = (kind, mailbox_id)
        with self._listings_lock:
            hit = self._listings.get(key)
            if hit is not None and hit[0] == row[0]:
                self._listings.move_to_end(key)
                return hit[1]
        if self._on_loop():
            raise _Slow     # a scan: the store thread's work (_quick)
        value = build()
        with self._listings_lock:
            self._listings[key] = (row[0], value)
            self._listings.move_to_end(key)
            if len(self._listings) > self._LISTINGS_KEPT:
                self._listings.popitem(last=False)
        return value

    def _check_mailbox(self, account_id: int, mailbox_id: int) -> None:
        if self._conn.execute("SELECT 1 FROM mailboxes WHERE id=? AND account_id=?",
                              (mailbox_id, account_id)).fetchone() is None:
            raise NotFound("no such mailbox")

    async def entries(self, account_id: int, mailbox_id: int,
                      uids: Sequence[int] | None = None) -> list[Entry]:
        def q():
            self._check_mailbox(account_id, mailbox_id)
            if uids is None:
                cond, params = "1", []
            else:
                cond, params = _uid_condition(uids)
            rows = self._conn.execute(
                f"SELECT uid, modseq, flags, keywords FROM entries e WHERE mailbox_id=? AND "
                f"{cond} ORDER BY uid", (mailbox_id, *params)).fetchall()
            return [Entry(r[0], r[1], flags_of(r[2], r[3])) for r in rows]
        return await self._run(q)

    _COLUMN_GROUPS = {
        FETCH_ENVELOPE: ("m.envelope",),
        FETCH_BODYSTRUCTURE: ("m.bodystructure",),
        FETCH_BODY: ("m.body",),
        FETCH_PARTS: ("m.parts",),
        FETCH_PREVIEW: ("m.preview",),
        FETCH_SORT: ("m.sent_date", "m.sort_subject", "m.sort_from", "m.sort_to", "m.sort_cc",
                     "m.display_from", "m.display_to"),
        FETCH_THREADING: ("m.header_message_id", "m.in_reply_to", "m.refs"),
    }
    _FIELD_NAMES = {"m.refs": "references"}

    async def fetch(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                    columns: Iterable[str] = ()) -> list[MessageRow]:
        extra: list[str] = []
        for group in columns:
            extra.extend(self._COLUMN_GROUPS[group])
        names = [self._FIELD_NAMES.get(c, c[2:]) for c in extra]
        select = ", ".join(["e.uid", "e.modseq", "e.flags", "e.keywords", "e.message_id",
                            "m.thread_id", "m.blob", "m.size", "m.internal_date",
                            "e.save_date"] + extra)

        def q():
            self._check_mailbox(account_id, mailbox_id)
            cond, params = _uid_condition(uids)
            rows = self._conn.execute(
                f"SELECT {select} FROM entries e JOIN messages m ON m.id = e.message_id "
                f"WHERE e.mailbox_id=? AND {cond} ORDER BY e.uid",
                (mailbox_id, *params)).fetchall()
            out = []
            for r in rows:
                row = MessageRow(r[0], r[1], flags_of(r[2], r[3]), r[4], r[5], r[6], r[7],
                                 r[8], r[9])
                for i, name in enumerate(names, 10):
                    setattr(row, name, r[i])
                out.append(row)
            return out
        return await self._run(q)

    async def read_blob(self, blob: str, start: int = 0, end: int | None = None) -> bytes:
        # Small reads come from the page cache faster than a thread hop costs.
        if end is not None and end - start <= 262144:
            return self.blobs.read(blob, start, end)
        return await self.blobs.run(self.blobs.read, blob, start, end)

    # ------------------------------------------------------------------ messages: changing

    async def store_flags(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                          op: str, flags: Iterable[str],
                          unchanged_since: int | None = None) -> StoreFlagsResult:
        if op not in ("add", "remove", "set"):
            raise ValueError(op)
        bits, kws = _split_flags(flags)
        kw_lower = {k.lower() for k in kws}

        def tx_fn(conn, tx):
            self._check_mailbox(account_id, mailbox_id)
            cond, params = _uid_condition(uids)
            if not kws:
                return self._store_bits(conn, tx, account_id, mailbox_id, cond, params, op,
                                         bits, unchanged_since)
            rows = conn.execute(f"SELECT uid, flags, keywords, modseq FROM entries e WHERE "
                                f"mailbox_id=? AND {cond} ORDER BY uid",
                                (mailbox_id, *params)).fetchall()
            changed: list[FlagChange] = []
            modified: list[int] = []
            updates = []
            for uid, old_bits, old_kw, old_modseq in rows:
                if unchanged_since is not None and old_modseq > unchanged_since:
                    modified.append(uid)
                    continue
                old_list = old_kw.split()
                if op == "add":
                    new_bits = old_bits | bits
                    have = {k.lower() for k in old_list}
                    new_list = old_list + [k for k in kws if k.lower() not in have]
                elif op == "remove":
                    new_bits = old_bits & ~bits
                    new_list = [k for k in old_list if k.lower() not in kw_lower]
                else:
                    new_bits = (old_bits & HIDDEN) | bits
                    new_list = list(kws)
                new_kw = " ".join(new_list)
                if new_bits != old_bits or new_kw != old_kw:
                    updates.append((uid, new_bits, new_kw))
            since = None
            if updates:
                since = self._highestmodseq(conn, mailbox_id)
                modseq = tx.bump(conn, account_id)
                conn.executemany("UPDATE entries SET flags=?, keywords=?, modseq=? "
                                 "WHERE mailbox_id=? AND uid=?",
                                 [(b, k, modseq, mailbox_id, u) for u, b, k in updates])
                conn.execute("UPDATE mailboxes SET highestmodseq=? WHERE id=?",
                             (modseq, mailbox_id))
                tx.log_entries(conn, account_id, modseq, mailbox_id)
                changed = [FlagChange(u, modseq, flags_of(b, k)) for u, b, k in updates]
            return StoreFlagsResult(changed, modified, since)
        return await self._write(tx_fn)

    def _store_bits(self, conn, tx, account_id: int, mailbox_id: int, cond: str,
                    params: list, op: str, bits: int,
                    unchanged_since: int | None) -> StoreFlagsResult:
        """store_flags without keywords (the usual \\Seen, \\Deleted, \\Flagged): one UPDATE
        in SQL, not a read, a Python loop and a write per message (STORE 1:* on 100,000)."""
        cond = cond.replace("e.uid", "uid")
        new = {"add": f"flags | {bits}", "remove": f"flags & ~{bits}",
               "set": f"(flags & {HIDDEN}) | {bits}"}[op]
        differs = f"({new}) != flags" + (" OR keywords != ''" if op == "set" else "")
        guard, extra, modified = "", [], []
        if unchanged_since is not None:
            # RFC 7162 §3.1.3: messages changed after UNCHANGEDSINCE are left alone.
            modified = [r[0] for r in conn.execute(
                f"SELECT uid FROM entries WHERE mailbox_id=? AND {cond} AND modseq > ? "
                "ORDER BY uid", (mailbox_id, *params, unchanged_since))]
            guard, extra = " AND modseq <= ?", [unchanged_since]
        where = f"mailbox_id=? AND {cond}{guard} AND ({differs})"
        if conn.execute(f"SELECT 1 FROM entries WHERE {where} LIMIT 1",
                        (mailbox_id, *params, *extra)).fetchone() is None:
            return StoreFlagsResult([], modified)       # nothing would change: no modseq
        since = self._highestmodseq(conn, mailbox_id)
        modseq = tx.bump(conn, account_id)
        keywords = ", keywords = ''" if op == "set" else ""
        rows = conn.execute(f"UPDATE entries SET flags = {new}{keywords}, modseq = ? "
                            f"WHERE {where} RETURNING uid, flags, keywords",
                            (modseq, mailbox_id, *params, *extra)).fetchall()
        conn.execute("UPDATE mailboxes SET highestmodseq=? WHERE id=?", (modseq, mailbox_id))
        tx.log_entries(conn, account_id, modseq, mailbox_id)
        rows.sort()
        return StoreFlagsResult([FlagChange(u, modseq, flags_of(b, k)) for u, b, k in rows],
                                modified, since)

    @staticmethod
    def _highestmodseq(conn, mailbox_id: int) -> int:
        return conn.execute("SELECT highestmodseq FROM mailboxes WHERE id=?",
                            (mailbox_id,)).fetchone()[0]

    def _remove_entries(self, conn, tx, account_id: int, mailbox_id: int,
                        rows: list[tuple[int, int, int]]) -> int:
        """rows: (uid, message_id, size). Logs each uid as expunged (VANISHED)."""
        if not rows:
            return 0
        modseq = tx.bump(conn, account_id)
        conn.executemany("DELETE FROM entries WHERE mailbox_id=? AND uid=?",
                         [(mailbox_id, r[0]) for r in rows])
        conn.executemany("INSERT INTO changelog (account_id, modseq, kind, mailbox_id, uid) "
                         "VALUES (?, ?, 'expunge', ?, ?)",
                         [(account_id, modseq, mailbox_id, r[0]) for r in rows])
        conn.execute("UPDATE mailboxes SET highestmodseq=? WHERE id=?", (modseq, mailbox_id))
        conn.execute("UPDATE accounts SET used_bytes = max(0, used_bytes - ?) WHERE id=?",
                     (sum(r[2] for r in rows), account_id))
        for mid in {r[1] for r in rows}:
            self._release_message(conn, tx, mid)
        return modseq

    async def expunge(self, account_id: int, mailbox_id: int,
                      uids: Sequence[int] | None = None) -> list[int]:
        def tx_fn(conn, tx):
            self._check_mailbox(account_id, mailbox_id)
            if uids is None:
                cond, params = "1", []
            else:
                cond, params = _uid_condition(uids)
            rows = conn.execute(f"SELECT uid, message_id, size FROM entries e WHERE "
                                f"mailbox_id=? AND flags & 8 AND {cond} ORDER BY uid",
                                (mailbox_id, *params)).fetchall()
            self._remove_entries(conn, tx, account_id, mailbox_id, rows)
            return [r[0] for r in rows]
        return await self._write(tx_fn)

    async def remove(self, account_id: int, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        def tx_fn(conn, tx):
            self._check_mailbox(account_id, mailbox_id)
            cond, params = _uid_condition(uids)
            rows = conn.execute(f"SELECT uid, message_id, size FROM entries e WHERE "
                                f"mailbox_id=? AND {cond} ORDER BY uid",
                                (mailbox_id, *params)).fetchall()
            self._remove_entries(conn, tx, account_id, mailbox_id, rows)
            return [r[0] for r in rows]
        return await self._write(tx_fn)

    def _copy_sync(self, conn, tx, account_id, mailbox_id, uids, dest_mailbox_id,
                   remove_source: bool) -> CopyResult:
        self._check_mailbox(account_id, mailbox_id)
        self._check_mailbox(account_id, dest_mailbox_id)
        cond, params = _uid_condition(uids)
        rows = conn.execute(f"SELECT uid, message_id, size, flags, keywords FROM entries e "
                            f"WHERE mailbox_id=? AND {cond} ORDER BY uid",
                            (mailbox_id, *params)).fetchall()
        if not rows:
            return CopyResult(self._uidvalidity(conn, dest_mailbox_id), [],
                              tx.current_modseq(conn, account_id))
        if not remove_source:
            self._check_quota(conn, account_id, sum(r[2] for r in rows))
        modseq = tx.bump(conn, account_id)
        now = int(time.time())
        uidnext = conn.execute("SELECT uidnext FROM mailboxes WHERE id=?",
                               (dest_mailbox_id,)).fetchone()[0]
        pairs = []
        new_rows = []
        for i, (uid, mid, size, bits, kw) in enumerate(rows):
            pairs.append((uid, uidnext + i))
            # \Deleted is not carried by MOVE (RFC 6851 §3.3 leaves it to the server; Dovecot
            # keeps flags on COPY and MOVE alike) - keep every flag.
            new_rows.append((dest_mailbox_id, uidnext + i, account_id, mid, bits, kw, modseq,
                             now, size))
        conn.executemany("INSERT INTO entries (mailbox_id, uid, account_id, message_id, flags, "
                         "keywords, modseq, save_date, size) VALUES (?,?,?,?,?,?,?,?,?)",
                         new_rows)
        conn.execute("UPDATE mailboxes SET uidnext=?, highestmodseq=? WHERE id=?",
                     (uidnext + len(rows), modseq, dest_mailbox_id))
        conn.execute("UPDATE accounts SET used_bytes = used_bytes + ? WHERE id=?",
                     (sum(r[2] for r in rows), account_id))
        tx.log_entries(conn, account_id, modseq, dest_mailbox_id)
        if remove_source:
            self._remove_entries(conn, tx, account_id, mailbox_id,
                                 [(r[0], r[1], r[2]) for r in rows])
        return CopyResult(self._uidvalidity(conn, dest_mailbox_id), pairs, modseq)

    async def copy(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                   dest_mailbox_id: int) -> CopyResult:
        return await self._write(lambda conn, tx: self._copy_sync(
            conn, tx, account_id, mailbox_id, uids, dest_mailbox_id, False))

    async def move(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                   dest_mailbox_id: int) -> CopyResult:
        if mailbox_id == dest_mailbox_id:
            raise Conflict("cannot move a message into its own mailbox")
        return await self._write(lambda conn, tx: self._copy_sync(
            conn, tx, account_id, mailbox_id, uids, dest_mailbox_id, True))

    async def set_hidden(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                         hidden: bool = True) -> None:
        def tx_fn(conn, tx):
            self._check_mailbox(account_id, mailbox_id)
            cond, params = _uid_condition(uids)
            op = "flags | 32" if hidden else "flags & ~32"
            conn.execute(f"UPDATE entries SET flags = {op} WHERE mailbox_id=? AND "
                         f"{cond.replace('e.uid', 'uid')}", (mailbox_id, *params))
            # No entry's modseq moves (hiding is POP3's own state, no flag), but the mailbox's
            # does, so cached listings (_listing) see the change.
            modseq = tx.bump(conn, account_id)
            conn.execute("UPDATE mailboxes SET highestmodseq=? WHERE id=?", (modseq, mailbox_id))
        await self._write(tx_fn)

    async def visible_sizes(self, account_id: int, mailbox_id: int) -> Listing:
        def build():
            # 32-bit both: a uid is (RFC 9051 §2.3.1.1), a message size is under APPENDLIMIT.
            uids, sizes = array(UID_TYPECODE), array(UID_TYPECODE)
            for uid, size in self._conn.execute(
                    "SELECT uid, size FROM entries WHERE mailbox_id=? AND flags & 32 = 0 "
                    "ORDER BY uid", (mailbox_id,)):
                uids.append(uid)
                sizes.append(size)
            return Listing(uids, sizes, sum(sizes))
        return await self._quick(self._listing, "visible", account_id, mailbox_id, build)

    async def hidden_uids(self, account_id: int, mailbox_id: int) -> set[int]:
        def q():
            self._check_mailbox(account_id, mailbox_id)
            return {r[0] for r in self._conn.execute(
                "SELECT uid FROM entries WHERE mailbox_id=? AND flags & 32", (mailbox_id,))}
        return await self._run(q)

    # ------------------------------------------------------------------ search

    # ORDER_KEYS as SQL; text compares as BINARY, which on UTF-8 is code point order.
    _ORDER_SQL = {"arrival": "m.internal_date", "date": "coalesce(m.sent_date, m.internal_date)",
                  "size": "e.size", "subject": "coalesce(m.sort_subject, '')",
                  "from": "coalesce(m.sort_from, '')", "to": "coalesce(m.sort_to, '')",
                  "cc": "coalesce(m.sort_cc, '')", "display_from": "coalesce(m.display_from, '')",
                  "display_to": "coalesce(m.display_to, '')"}

    async def search(self, account_id: int, mailbox_id: int, criteria: S.Criteria,
                     order: Sequence[tuple[str, bool]] = ()) -> list[int]:
        order_by = "".join(f"{self._ORDER_SQL[key]}{' DESC' if desc else ''}, "
                           for key, desc in order) + "e.uid"

        if order and isinstance(criteria, S.All):
            # A mail client's SORT of a whole folder, asked again each time it shows it: the
            # order is kept, like the uid listing, until the mailbox changes.
            def build():
                return array(UID_TYPECODE, chain.from_iterable(self._conn.execute(
                    f"SELECT e.uid FROM entries e JOIN messages m ON m.id = e.message_id "
                    f"WHERE e.mailbox_id=? ORDER BY {order_by}", (mailbox_id,))))
            return list(await self._quick(self._listing, f"order {order_by}", account_id,
                                          mailbox_id, build))

        def q():
            self._check_mailbox(account_id, mailbox_id)
            post: list[S.Text] = []
            where, params = self._compile(criteria, post)
            # The blob only when header keys must be checked in the message itself.
            cursor = self._conn.execute(
                f"SELECT e.uid{', m.blob' if post else ''} FROM entries e JOIN messages m "
                f"ON m.id = e.message_id WHERE e.mailbox_id=? AND ({where}) ORDER BY {order_by}",
                (mailbox_id, *params))
            if not post:
                return list(chain.from_iterable(cursor))
            return [uid for uid, blob in cursor if self._verify_headers(blob, criteria)]
        return await self._run(q)

    def _compile(self, c: S.Criteria, post: list) -> tuple[str, list]:
        if isinstance(c, S.All):
            return "1", []
        if isinstance(c, S.And):
            if not c.items:
                return "1", []
            parts = [self._compile(i, post) for i in c.items]
            return " AND ".join(f"({p[0]})" for p in parts), [v for p in parts for v in p[1]]
        if isinstance(c, S.Or):
            if not c.items:
                return "0", []
            parts = [self._compile(i, post) for i in c.items]
            return " OR ".join(f"({p[0]})" for p in parts), [v for p in parts for v in p[1]]
        if isinstance(c, S.Not):
            sql, params = self._compile(c.item, post)
            return f"NOT ({sql})", params
        if isinstance(c, S.UidSet):
            if not c.ranges:
                return "0", []
            return _ranges_condition([list(r) for r in c.ranges], "e.uid")
        if isinstance(c, S.Flag):
            bit = _FLAG_LOOKUP.get(c.flag.lower())
            if bit is not None:
                return f"e.flags & {bit}", []
            if c.flag.startswith("\\"):
                return "0", []
            return "(' ' || e.keywords || ' ') LIKE ? ESCAPE '\\'", [
                "% " + _like_escape(c.flag) + " %"]
        if isinstance(c, S.DateRange):
            col = {"internal": "m.internal_date", "sent": "m.sent_date",
                   "saved": "e.save_date"}[c.field]
            conds, params = [], []
            if c.start is not None:
                conds.append(f"{col} >= ?")
                params.append(c.start)
            if c.end is not None:
                conds.append(f"{col} < ?")
                params.append(c.end)
            if c.field == "sent":
                # RFC 9051 §6.4.4: a missing/unparsable Date counts as the internal date.
                col2 = "coalesce(m.sent_date, m.internal_date)"
                conds = [x.replace(col, col2) for x in conds]
            return " AND ".join(conds) or "1", params
        if isinstance(c, S.Size):
            conds, params = [], []
            if c.larger is not None:
                conds.append("m.size > ?")
                params.append(c.larger)
            if c.smaller is not None:
                conds.append("m.size < ?")
                params.append(c.smaller)
            return " AND ".join(conds) or "1", params
        if isinstance(c, S.ModSeq):
            return "e.modseq >= ?", [c.min]
        if isinstance(c, S.EmailId):
            return f"e.message_id IN ({','.join('?' * len(c.message_ids))})" \
                if c.message_ids else "0", list(c.message_ids)
        if isinstance(c, S.ThreadId):
            return f"m.thread_id IN ({','.join('?' * len(c.thread_ids))})" \
                if c.thread_ids else "0", list(c.thread_ids)
        if isinstance(c, S.Text):
            return self._compile_text(c, post)
        raise ValueError(f"unknown criterion {c!r}")

    def _compile_text(self, c: S.Text, post: list) -> tuple[str, list]:
        needle = c.needle
        if c.field.startswith("header:"):
            post.append(c)
            name = c.field[7:]
            # Candidates: messages whose header text has the field name and the value; the
            # exact per-field check reads the header block afterwards (_verify_headers).
            col, probe = "headers", needle if needle else name + ":"
        elif c.field == "text":
            col, probe = None, needle
        else:
            col, probe = _TEXT_COLUMNS[c.field], needle
        if probe == "":
            return "1", []
        # Text not yet in the trigram index is searched where it waits (pending_text).
        folded = probe.casefold()
        if col is None:
            pending = ("e.message_id IN (SELECT message_id FROM pending_text WHERE "
                       "pr_contains(headers, ?) OR pr_contains(body, ?))")
            pending_params = [folded, folded]
        else:
            pending = (f"e.message_id IN (SELECT message_id FROM pending_text WHERE "
                       f"pr_contains({col}, ?))")
            pending_params = [folded]
        if len(probe) >= 3:
            target = f"{{{col}}} : {_fts_phrase(probe)}" if col else \
                f"{{headers body}} : {_fts_phrase(probe)}"
            return ("e.message_id IN (SELECT rowid FROM message_text WHERE message_text "
                    f"MATCH ?) OR {pending}", [target, *pending_params])
        pattern = "%" + _like_escape(probe) + "%"
        if col is None:
            return ("e.message_id IN (SELECT rowid FROM message_text WHERE headers LIKE ? "
                    f"ESCAPE '\\' OR body LIKE ? ESCAPE '\\') OR {pending}",
                    [pattern, pattern, *pending_params])
        return (f"e.message_id IN (SELECT rowid FROM message_text WHERE {col} LIKE ? "
                f"ESCAPE '\\') OR {pending}", [pattern, *pending_params])

    def _verify_headers(self, blob: str, criteria: S.Criteria) -> bool:
        """Evaluates the criteria tree's HEADER keys against the real header block; other keys
        were already decided by SQL, so they count as true here."""
        header = self._header_block(blob)

        def ev(c) -> bool:
            if isinstance(c, S.And):
                return all(ev(i) for i in c.items)
            if isinstance(c, S.Or):
                return any(ev(i) for i in c.items)
            if isinstance(c, S.Not):
                return not ev(c.item) if _has_header_key(c.item) else True
            if isinstance(c, S.Text) and c.field.startswith("header:"):
                values = _header_values(header, c.field[7:])
                if not values:
                    return False
                n = c.needle.casefold()
                return any(n in v.casefold() for v in values)
            return True
        return ev(criteria)

    def _header_block(self, blob: str) -> bytes:
        data = self.blobs.read(blob, 0, 256 * 1024)
        for sep in (b"\r\n\r\n", b"\n\n"):
            i = data.find(sep)
            if i >= 0:
                return data[: i + len(sep)]
        return data

    # ------------------------------------------------------------------ change log

    async def account_modseq(self, account_id: int) -> int:
        row = await self._quick(lambda: self._conn.execute(
            "SELECT modseq FROM accounts WHERE id=?", (account_id,)).fetchone())
        if row is None:
            raise NotFound("no such account")
        return row[0]

    async def changes_since(self, account_id: int, mailbox_id: int, modseq: int) -> Changes:
        def head() -> tuple[int, int]:
            mb = self._conn.execute("SELECT highestmodseq, uidnext FROM mailboxes WHERE id=? "
                                    "AND account_id=?", (mailbox_id, account_id)).fetchone()
            if mb is None:
                raise NotFound("no such mailbox")
            return mb

        # Asked after every IMAP command, and mostly nothing changed: one row says so.
        mb = await self._quick(head)
        if mb[0] <= modseq:
            return Changes(mb[0], mb[1], [], [])

        def q():
            conn = self._conn
            mb = head()
            changed = [Entry(r[0], r[1], flags_of(r[2], r[3])) for r in conn.execute(
                "SELECT uid, modseq, flags, keywords FROM entries WHERE mailbox_id=? AND "
                "modseq > ? ORDER BY uid", (mailbox_id, modseq))]
            vanished = [r[0] for r in conn.execute(
                "SELECT uid FROM changelog WHERE mailbox_id=? AND kind='expunge' AND modseq > ? "
                "ORDER BY uid", (mailbox_id, modseq))]
            return Changes(mb[0], mb[1], changed, vanished)
        # Single flight: thousands of sessions idling on one mailbox wake together and ask the
        # same question; one query answers them all (the result is read-only).
        key = (account_id, mailbox_id, modseq)
        task = self._changes_inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._run(q))
            self._changes_inflight[key] = task
            task.add_done_callback(lambda _: self._changes_inflight.pop(key, None))
        return await asyncio.shield(task)

    # ------------------------------------------------------------------ metadata

    async def get_metadata(self, account_id: int, mailbox_id: int | None,
                           keys: Sequence[str] | None = None) -> dict[str, bytes]:
        def q():
            mid = mailbox_id or 0
            if keys is None:
                rows = self._conn.execute("SELECT key, value FROM metadata WHERE account_id=? "
                                          "AND mailbox_id=? ORDER BY key",
                                          (account_id, mid)).fetchall()
            else:
                rows = [r for k in keys for r in self._conn.execute(
                    "SELECT key, value FROM metadata WHERE account_id=? AND mailbox_id=? AND "
                    "key=?", (account_id, mid, k.lower())).fetchall()]
            return {k: bytes(v) for k, v in rows}
        return await self._run(q)

    async def set_metadata(self, account_id: int, mailbox_id: int | None,
                           values: dict[str, bytes | None]) -> None:
        def tx_fn(conn, tx):
            mid = mailbox_id or 0
            if mid:
                self._check_mailbox(account_id, mid)
            for k, v in values.items():
                if v is None:
                    conn.execute("DELETE FROM metadata WHERE account_id=? AND mailbox_id=? AND "
                                 "key=?", (account_id, mid, k.lower()))
                else:
                    conn.execute("INSERT OR REPLACE INTO metadata VALUES (?, ?, ?, ?)",
                                 (account_id, mid, k.lower(), v))
            if values:
                # RFC 5465 MailboxMetadataChange / ServerMetadataChange.
                tx.log(conn, account_id, tx.bump(conn, account_id), "metadata", mid or None)
        await self._write(tx_fn)

    # ------------------------------------------------------------------ outbound queue

    async def queue_put(self, sender: str, recipients: Sequence[str], raw: bytes) -> int:
        digest = blob_hash(raw)
        await asyncio.to_thread(self.blobs.write_files, [(digest, raw)])

        def tx_fn(conn, tx):
            self._ensure_blob(conn, tx, digest, raw)
            now = int(time.time())
            cur = conn.execute("INSERT INTO queue (sender, recipients, blob, size, created, "
                               "next_attempt) VALUES (?, ?, ?, ?, ?, ?)",
                               (sender, json.dumps(list(recipients)), digest, len(raw), now, now))
            return cur.lastrowid
        return await self._write(tx_fn)

    _QUEUE_COLS = "id, sender, recipients, blob, size, created, attempts, next_attempt, last_error"

    @staticmethod
    def _queued(r) -> QueuedMessage:
        return QueuedMessage(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], r[7], r[8])

    async def queue_claim(self, now: int, lease_seconds: int, limit: int = 10
                          ) -> list[QueuedMessage]:
        def tx_fn(conn, tx):
            rows = conn.execute(f"SELECT {self._QUEUE_COLS} FROM queue WHERE next_attempt <= ? "
                                "ORDER BY next_attempt LIMIT ?", (now, limit)).fetchall()
            conn.executemany("UPDATE queue SET next_attempt=? WHERE id=?",
                             [(now + lease_seconds, r[0]) for r in rows])
            return [self._queued(r) for r in rows]
        return await self._write(tx_fn)

    async def queue_update(self, queue_id: int, recipients: Sequence[str], next_attempt: int,
                           last_error: str) -> None:
        def tx_fn(conn, tx):
            if conn.execute("UPDATE queue SET recipients=?, next_attempt=?, last_error=?, "
                            "attempts = attempts + 1 WHERE id=?",
                            (json.dumps(list(recipients)), next_attempt, last_error,
                             queue_id)).rowcount == 0:
                raise NotFound(f"no queued message {queue_id}")
        await self._write(tx_fn)

    async def queue_delete(self, queue_id: int) -> None:
        def tx_fn(conn, tx):
            row = conn.execute("SELECT blob FROM queue WHERE id=?", (queue_id,)).fetchone()
            if row is None:
                raise NotFound(f"no queued message {queue_id}")
            conn.execute("DELETE FROM queue WHERE id=?", (queue_id,))
            self._release_blob(conn, tx, row[0])
        await self._write(tx_fn)

    async def queue_list(self) -> list[QueuedMessage]:
        rows = await self._run(lambda: self._conn.execute(
            f"SELECT {self._QUEUE_COLS} FROM queue ORDER BY id").fetchall())
        return [self._queued(r) for r in rows]

    async def queue_flush(self) -> int:
        def tx_fn(conn, tx):
            return conn.execute("UPDATE queue SET next_attempt=?",
                                (int(time.time()),)).rowcount
        return await self._write(tx_fn)

    # ------------------------------------------------------------------ hot-path reads (additive)

    # The entry keeps the message's size too: a listing by size needs no JOIN.
    _TUPLE_FIELDS = {"message_id": "e.message_id", "thread_id": "m.thread_id", "blob": "m.blob",
                     "size": "e.size", "internal_date": "m.internal_date",
                     "save_date": "e.save_date", "envelope": "m.envelope",
                     "bodystructure": "m.bodystructure", "body": "m.body", "parts": "m.parts",
                     "spans": "m.spans", "wire_ready": "m.wire_ready",
                     "preview": "m.preview", "sent_date": "m.sent_date",
                     "sort_subject": "m.sort_subject", "sort_from": "m.sort_from",
                     "sort_to": "m.sort_to", "sort_cc": "m.sort_cc",
                     "display_from": "m.display_from", "display_to": "m.display_to"}

    async def fetch_tuples(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                           fields: Sequence[str] = ()) -> list[tuple]:
        cols = [self._TUPLE_FIELDS[f] for f in fields]
        select = ", ".join(["e.uid", "e.modseq", "e.flags", "e.keywords"] + cols)
        # The messages table is joined only when a field lives there.
        join = "JOIN messages m ON m.id = e.message_id " if any(
            c.startswith("m.") for c in cols) else ""
        flags = flags_of

        def q():
            self._check_mailbox(account_id, mailbox_id)
            cond, params = _uid_condition(uids)
            rows = self._conn.execute(
                f"SELECT {select} FROM entries e {join}WHERE e.mailbox_id=? AND {cond} "
                f"ORDER BY e.uid", (mailbox_id, *params)).fetchall()
            return [(r[0], r[1], flags(r[2], r[3]), *r[4:]) for r in rows]
        return await (self._quick(q) if len(uids) <= _QUICK_ROWS else self._run(q))

    async def entry_flags(self, account_id: int, mailbox_id: int,
                          uids: Sequence[int]) -> list[tuple[int, int, int, str]]:
        def q():
            self._check_mailbox(account_id, mailbox_id)
            cond, params = _uid_condition(uids, "uid")
            return self._conn.execute(
                "SELECT uid, modseq, flags, keywords FROM entries "
                f"WHERE mailbox_id=? AND {cond} ORDER BY uid", (mailbox_id, *params)).fetchall()
        return await (self._quick(q) if len(uids) <= _QUICK_ROWS else self._run(q))

    async def read_blobs(self, spans: Sequence[tuple[str, int, int | None]]) -> list[bytes]:
        return await self.blobs.run(self.blobs.read_many, list(spans))

    async def mailbox_keywords(self, account_id: int, mailbox_id: int) -> list[str]:
        return await self._quick(self._keywords_sync, account_id, mailbox_id)

    def _keywords_sync(self, account_id: int, mailbox_id: int) -> list[str]:
        def build():
            found: dict[str, str] = {}
            for (kws,) in self._conn.execute("SELECT DISTINCT keywords FROM entries WHERE "
                                             "mailbox_id=? AND keywords != ''", (mailbox_id,)):
                for k in kws.split():
                    found.setdefault(k.lower(), k)
            return tuple(sorted(found.values(), key=str.lower))
        return list(self._listing("keywords", account_id, mailbox_id, build))

    async def mailboxes_changed_since(self, account_id: int, modseq: int) -> list[int]:
        rows = await self._run(lambda: self._conn.execute(
            "SELECT DISTINCT mailbox_id FROM changelog WHERE account_id=? AND modseq > ? AND "
            "kind IN ('entries', 'expunge', 'mailbox') AND mailbox_id IS NOT NULL "
            "ORDER BY mailbox_id", (account_id, modseq)).fetchall())
        return [r[0] for r in rows]


def _header_values(header: bytes, name: str) -> list[str]:
    """Decoded values of one header field (RFC 2047 words decoded) for HEADER search keys."""
    import email.parser
    import email.policy
    msg = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(header)
    try:
        return [str(v) for v in (msg.get_all(name) or [])]
    except Exception:  # a malformed field: compare its raw text instead
        return [str(v) for v in (msg.get_all(name, failobj=[]) or [])]


def _contains(haystack: str | None, folded_needle: str) -> int:
    """Case-insensitive substring test for text not yet in the trigram index."""
    return 1 if haystack and folded_needle in haystack.casefold() else 0


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_header_key(c) -> bool:
    if isinstance(c, S.Text):
        return c.field.startswith("header:")
    if isinstance(c, (S.And, S.Or)):
        return any(_has_header_key(i) for i in c.items)
    if isinstance(c, S.Not):
        return _has_header_key(c.item)
    return False


class _Tx:
    """Book-keeping of one write transaction: the modseq per account (bumped once per
    transaction), change-log rows, blobs written or freed."""

    def __init__(self, conn):
        self.modseqs: dict[int, int] = {}
        self.touched: set[int] = set()
        self.new_blobs: list[str] = []
        self.dead_blobs: set[str] = set()
        self.unindexed = 0
        self.logged: set[tuple[int, int]] = set()

    def bump(self, conn, account_id: int) -> int:
        m = self.modseqs.get(account_id)
        if m is None:
            row = conn.execute("UPDATE accounts SET modseq = modseq + 1 WHERE id=? "
                               "RETURNING modseq", (account_id,)).fetchone()
            if row is None:
                raise NotFound("no such account")
            m = self.modseqs[account_id] = row[0]
            self.touched.add(account_id)
        return m

    def current_modseq(self, conn, account_id: int) -> int:
        if account_id in self.modseqs:
            return self.modseqs[account_id]
        return conn.execute("SELECT modseq FROM accounts WHERE id=?", (account_id,)).fetchone()[0]

    def log(self, conn, account_id: int, modseq: int, kind: str, mailbox_id: int | None,
            uid: int | None = None) -> None:
        conn.execute("INSERT INTO changelog (account_id, modseq, kind, mailbox_id, uid) "
                     "VALUES (?, ?, ?, ?, ?)", (account_id, modseq, kind, mailbox_id, uid))

    def log_entries(self, conn, account_id: int, modseq: int, mailbox_id: int) -> None:
        """One 'entries' row per mailbox per transaction: readers take the details from the
        entries' own modseq."""
        if (mailbox_id, modseq) not in self.logged:
            self.logged.add((mailbox_id, modseq))
            self.log(conn, account_id, modseq, "entries", mailbox_id)

"""Content-addressed storage of raw message bytes (DESIGN.md: "an immutable blob, addressed by
its hash, written durably ... before the sender is told OK").

Most mail is small: a blob of up to ``INLINE_LIMIT`` bytes is kept inline in the database
(table ``blob_data``), so it becomes durable with the very commit that references it - one
fsync per delivery instead of three (file, directory, database) and no 4 KB disk block per
small file. Larger blobs live under ``<data>/blobs/ab/<sha256>``, written with fsync then rename
before the transaction that references them. Reference counting is the database's job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import sqlite3
import threading
from pathlib import Path

INLINE_LIMIT = 64 * 1024

# How much of the database a connection may memory-map (PRAGMA mmap_size): the blob reader
# all of it (SQLite's largest), the store connection, which reads index rows, less. Pages read
# through a mapping count in the process's RSS until it is unmapped; ``remap`` lets them go.
MMAP_BYTES = 0x7FFF0000
STORE_MMAP_BYTES = 256 << 20

# fsyncs issued together are committed together by the file system's journal (group commit):
# a batch written by several threads is many times faster than one fsync after another.
_SYNC_POOL = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="blob-sync")


def blob_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobFiles:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._root = str(self.root)

    def path(self, digest: str) -> Path:
        return Path(self._path(digest))

    def _path(self, digest: str) -> str:
        # A string join, not pathlib: this runs once per message served.
        if len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise ValueError("not a blob address")
        return f"{self._root}/{digest[:2]}/{digest}"

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def write_many(self, items: list[tuple[str, bytes]]) -> None:
        """Writes a batch durably, the fsyncs running side by side; returns when all are on
        disk."""
        if len(items) == 1:
            self.write(*items[0])
            return
        unique = dict(items)
        folders = set(f for f in _SYNC_POOL.map(lambda it: self.write(*it, sync_dir=False),
                                               unique.items()) if f is not None)
        list(_SYNC_POOL.map(_fsync_dir, folders))

    def write(self, digest: str, data: bytes, sync_dir: bool = True) -> Path | None:
        """Writes durably unless a file of that address is already there: fsync the file,
        rename it into place, fsync the directory (or return it, for the caller to fsync).
        """
        path = self.path(digest)
        if path.exists():
            return None
        folder = path.parent
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            _fsync_dir(folder.parent)
        tmp = folder / f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if not sync_dir:
            return folder
        _fsync_dir(folder)
        return None

    def read(self, digest: str, start: int = 0, end: int | None = None) -> bytes:
        fd = os.open(self._path(digest), os.O_RDONLY)
        try:
            if end is None:
                end = os.fstat(fd).st_size
            want = max(0, end - start)
            data = os.pread(fd, want, start)
            if len(data) < want:  # a short read: keep reading until the end or EOF
                parts = [data]
                got = len(data)
                while got < want:
                    more = os.pread(fd, want - got, start + got)
                    if not more:
                        break
                    parts.append(more)
                    got += len(more)
                data = b"".join(parts)
            return data
        finally:
            os.close(fd)

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def unlink(self, digest: str) -> None:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            pass


def remap(conn: sqlite3.Connection, limit: int = MMAP_BYTES) -> None:
    """Maps the database afresh: SQLite unmaps and maps again whenever the limit changes, so
    the limit alternates by one page. The pages read so far leave the process's RSS; they stay
    in the page cache, and touching one again costs a minor fault."""
    size = conn.execute("PRAGMA mmap_size").fetchone()[0]
    conn.execute(f"PRAGMA mmap_size={limit if size != limit else limit - 4096}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Blobs:
    """Inline-or-file blob storage for the SQLite backend. Writes of inline blobs happen inside
    the caller's transaction (``put_in_tx``); reads run on any thread, through a read-only
    connection per thread (WAL lets them read while the store thread writes)."""

    def __init__(self, root: Path, db_path: Path):
        self.files = BlobFiles(root)
        self.db_path = db_path
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._reading: concurrent.futures.ThreadPoolExecutor | None = None

    def open(self) -> None:
        self.files.open()
        self._reading = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="blob-read", initializer=self._map_here)

    def close(self) -> None:
        if self._reading is not None:
            self._reading.shutdown(wait=True)
            self._reading = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()

    async def run(self, fn, *args):
        """``fn(*args)`` on the blob-reading thread: the one whose connection maps the
        database. An inline blob is a chain of overflow pages; mapped, reading one costs no
        read() per 4 KB page (FETCH BODY[] of a mailbox: about 30% faster). One thread only,
        because pages read through a mapping count in RSS once per mapping."""
        return await asyncio.get_running_loop().run_in_executor(self._reading, fn, *args)

    def _map_here(self) -> None:
        self._local.mapped = True

    @staticmethod
    def inline(size: int) -> bool:
        return size <= INLINE_LIMIT

    def write_files(self, items: list[tuple[str, bytes]]) -> None:
        """Before the transaction: the large blobs of a batch, durably, side by side."""
        large = [(d, raw) for d, raw in items if not self.inline(len(raw))]
        if large:
            self.files.write_many(large)

    def put_in_tx(self, conn: sqlite3.Connection, digest: str, raw: bytes) -> None:
        """Inside the write transaction: the inline copy, or the file again if a collector
        removed it meanwhile (we hold the write lock, so no collector can race with this)."""
        if self.inline(len(raw)):
            conn.execute("INSERT OR IGNORE INTO blob_data (hash, data) VALUES (?, ?)",
                         (digest, raw))
        elif not self.files.exists(digest):
            self.files.write(digest, raw)

    def delete_in_tx(self, conn: sqlite3.Connection, digest: str) -> None:
        conn.execute("DELETE FROM blob_data WHERE hash=?", (digest,))

    def unlink_file(self, digest: str) -> None:
        self.files.unlink(digest)

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True,
                                   check_same_thread=False, timeout=30.0)
            if getattr(self._local, "mapped", False):
                remap(conn)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def trim(self) -> None:
        """On the blob-reading thread: drops the pages its mapping holds (``remap``)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            remap(conn)

    def read_many(self, spans: list[tuple[str, int, int | None]]) -> list[bytes]:
        """Slices of many blobs: the inline ones with one query per few hundred, the rest from
        their files (FETCH BODY[] of a whole mailbox). An inline blob is read whole even for a
        slice: incremental blob I/O, which could skip the rest of its overflow pages, costs
        more per blob than it saves (FETCH BODY[1] of 100,000 messages: 3.4 s against 2.5 s)."""
        wanted = list({d for d, _, _ in spans})
        inline: dict[str, bytes] = {}
        conn = self._reader()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            inline.update(conn.execute(
                f"SELECT hash, data FROM blob_data WHERE hash IN ({','.join('?' * len(chunk))})",
                chunk).fetchall())
        out = []
        read = 0
        for digest, start, end in spans:
            data = inline.get(digest)
            if data is None:
                out.append(self.files.read(digest, start, end))
                continue
            read += len(data)
            # A whole blob is handed on as SQLite gave it: no slice, no copy.
            whole = not start and (end is None or end >= len(data))
            out.append(data if whole else data[start:end])
        self._note_mapped(conn, read)
        return out

    _REMAP_AFTER = 64 << 20

    def _note_mapped(self, conn: sqlite3.Connection, read: int) -> None:
        """On the mapping thread, maps afresh after every _REMAP_AFTER bytes read, so pages
        read through the mapping leave RSS: a FETCH BODY[] of a 1 GB mailbox keeps about
        64 MB of it resident, not all of it."""
        if not getattr(self._local, "mapped", False):
            return
        self._local.read = getattr(self._local, "read", 0) + read
        if self._local.read >= self._REMAP_AFTER:
            self._local.read = 0
            remap(conn)

    def read(self, digest: str, start: int = 0, end: int | None = None) -> bytes:
        # Most mail is inline: look there first, then for a file.
        try:
            return self._read_inline(digest, start, end)
        except FileNotFoundError:
            return self.files.read(digest, start, end)

    def _read_inline(self, digest: str, start: int, end: int | None) -> bytes:
        if end is None:
            row = self._reader().execute("SELECT substr(data, ?) FROM blob_data WHERE hash=?",
                                         (start + 1, digest)).fetchone()
        else:
            row = self._reader().execute(
                "SELECT substr(data, ?, ?) FROM blob_data WHERE hash=?",
                (start + 1, max(0, end - start), digest)).fetchone()
        if row is None:
            raise FileNotFoundError(f"no blob {digest}")
        return bytes(row[0]) if row[0] is not None else b""

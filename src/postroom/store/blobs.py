"""Content-addressed storage of raw message bytes (DESIGN.md: "an immutable blob, addressed by
its hash, written durably (fsync, then rename) before the sender is told OK").

Files live under ``<data>/blobs/ab/<sha256>``. Reference counting is the database's job; this
module only writes, reads and unlinks files.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import threading
from pathlib import Path

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


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

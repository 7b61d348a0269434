"""Shared fixtures: an opened embedded store with one domain, and message builders."""

from __future__ import annotations

import email.utils
import time

import pytest

from postroom.store.sqlite import SQLiteStore

# Every store conformance test runs against each backend named here; a PostgreSQL backend joins
# this list when it exists.
BACKENDS = ["sqlite"]


async def open_store(kind: str, tmp_path) -> SQLiteStore:
    if kind == "sqlite":
        store = SQLiteStore(tmp_path / "data", watch_interval=0.05)
    else:  # pragma: no cover - later backends
        raise ValueError(kind)
    await store.open()
    return store


@pytest.fixture(params=BACKENDS)
async def store(request, tmp_path):
    s = await open_store(request.param, tmp_path)
    await s.add_domain("example.test")
    try:
        yield s
    finally:
        await s.close()


def make_message(subject: str = "Hello", body: str = "Hello world\r\n",
                 sender: str = "Alice <alice@example.org>", to: str = "user@example.test",
                 message_id: str | None = None, extra_headers: str = "",
                 date: float | None = None) -> bytes:
    """A small RFC 5322 message with CRLF line endings."""
    mid = message_id or email.utils.make_msgid(domain="example.org")
    date_s = email.utils.formatdate(date if date is not None else time.time())
    text = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date_s}\r\n"
            f"Message-ID: {mid}\r\n{extra_headers}MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}")
    return text.encode("utf-8")


async def stored_blobs(store) -> int:
    """How many distinct blobs the backend holds (inline rows and files together)."""
    def count():
        conn = store._conn
        inline = conn.execute("SELECT count(*) FROM blob_data").fetchone()[0]
        refs = conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
        files = sum(1 for p in (store.data_dir / "blobs").rglob("*") if p.is_file())
        assert inline + files == refs, (inline, files, refs)
        return refs
    return await store._run(count)


# A body small enough to be kept inline by the embedded store, and one large enough for a file.
BODY_SIZES = [("small", "Hello world\r\n"), ("large", ("x" * 76 + "\r\n") * 1200)]

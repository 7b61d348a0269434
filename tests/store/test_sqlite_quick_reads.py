"""The SQLite store's quick reads (``SQLiteStore._quick``): a few rows read on the event loop's
thread through a read-only connection, falling back to the store thread when they would scan
or SQLite reports the database busy."""

import asyncio
import sqlite3
import time

import pytest

from postroom.store.sqlite import SQLiteStore
from tests.conftest import make_message


@pytest.fixture
async def sq(tmp_path):
    store = SQLiteStore(tmp_path / "data", watch_interval=0.05)
    await store.open()
    await store.add_domain("example.test")
    acct = await store.create_account("a@example.test", "x")
    box = await store.get_mailbox(acct.id, "INBOX")
    try:
        yield store, acct, box
    finally:
        await store.close()


async def test_reads_see_each_write_as_soon_as_it_is_answered(sq):
    store, acct, box = sq
    for n in range(1, 31):
        await store.append(acct.id, box.id, make_message(f"m{n}"),
                           ["\\Seen"] if n % 2 else [])
        status, uids, _ = await store.mailbox_snapshot(acct.id, box.id)
        assert status.messages == len(uids) == n
        assert status.unseen == n // 2
        changes = await store.changes_since(acct.id, box.id, status.highestmodseq - 1)
        assert [e.uid for e in changes.changed] == [n]
    await store.create_mailbox(acct.id, "Later")
    assert (await store.get_mailbox(acct.id, "Later")) is not None


async def test_a_writer_holding_the_lock_does_not_stall_the_loop(sq, tmp_path):
    store, acct, box = sq
    other = sqlite3.connect(tmp_path / "data" / "postroom.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE mailboxes SET name='Renamed' WHERE id=?", (box.id,))
    try:
        start = time.perf_counter()
        assert (await store.get_mailbox(acct.id, "INBOX")).id == box.id   # the committed view
        assert (await store.mailbox_status(acct.id, box.id)).messages == 0
        assert time.perf_counter() - start < 1.0
    finally:
        other.execute("ROLLBACK")
        other.close()


class _Busy:
    """A reader connection that reports the database busy, as during a WAL recovery."""

    def execute(self, *args):
        raise sqlite3.OperationalError("database is locked")


async def test_busy_reader_falls_back_to_the_store_thread(sq):
    store, acct, box = sq
    await store.append(acct.id, box.id, make_message("one"))
    reader, store._reader = store._reader, _Busy()
    try:
        assert (await store.get_mailbox(acct.id, "INBOX")).id == box.id
        assert (await store.mailbox_status(acct.id, box.id)).messages == 1
        assert list(await store.uids(acct.id, box.id)) == [1]
    finally:
        store._reader = reader


async def test_the_loop_never_builds_a_listing(sq, monkeypatch):
    """A listing to rebuild is a scan (100,000 rows): it is the store thread's work."""
    store, acct, box = sq
    loop_thread = store._loop_thread
    built_on = []
    listing = SQLiteStore._listing

    def spy(self, kind, account_id, mailbox_id, build):
        def watched():
            import threading
            built_on.append(threading.get_ident())
            return build()
        return listing(self, kind, account_id, mailbox_id, watched)
    monkeypatch.setattr(SQLiteStore, "_listing", spy)
    for n in range(3):
        await store.append(acct.id, box.id, make_message(f"m{n}"))
        await store.mailbox_snapshot(acct.id, box.id)
        await store.mailbox_snapshot(acct.id, box.id)     # cached: read on the loop
    assert built_on and loop_thread not in built_on


async def test_the_reader_cannot_write(sq):
    store, _, _ = sq
    with pytest.raises(sqlite3.OperationalError):
        store._reader.execute("INSERT INTO meta VALUES ('k', 'v')")


async def test_reads_and_writes_interleaved_from_many_tasks(sq):
    store, acct, box = sq

    async def writer(k):
        for n in range(10):
            await store.append(acct.id, box.id, make_message(f"{k}-{n}"))

    async def reader():
        last = 0
        for _ in range(200):
            status = await store.mailbox_status(acct.id, box.id)
            assert status.messages >= last      # never goes back
            last = status.messages
            await asyncio.sleep(0)
    await asyncio.gather(*(writer(k) for k in range(4)), reader(), reader())
    status, uids, _ = await store.mailbox_snapshot(acct.id, box.id)
    assert status.messages == len(uids) == 40


async def test_mapped_pages_are_let_go_and_reads_go_on(sq, monkeypatch):
    """_trim_mappings maps the database afresh when mapped pages grew past the budget: the
    pages leave RSS (Linux), and every read still works."""
    store, acct, box = sq
    for n in range(20):
        await store.append(acct.id, box.id, make_message(f"m{n}", body="x" * 30000))
    rows = await store.fetch_tuples(acct.id, box.id, list(range(1, 21)), ["blob", "size"])
    datas = await store.read_blobs([(r[3], 0, r[4]) for r in rows])

    def mmap_size():
        return store._main.execute("PRAGMA mmap_size").fetchone()[0]
    before = await store._run(mmap_size)
    monkeypatch.setattr(SQLiteStore, "_MAPPED_BUDGET", -1)
    await store._trim_mappings()
    assert await store._run(mmap_size) != before          # mapped afresh
    await store._trim_mappings()
    assert await store._run(mmap_size) == before
    assert await store.read_blobs([(r[3], 0, r[4]) for r in rows]) == datas
    assert (await store.mailbox_status(acct.id, box.id)).messages == 20


async def test_a_call_from_another_threads_loop_goes_to_the_store_thread(sq):
    """The read-only connection belongs to the loop that opened the store; a call made on an
    event loop in another thread (a CLI helper, a test) is run by the store thread."""
    store, acct, box = sq

    def elsewhere():
        return asyncio.run(store.get_mailbox(acct.id, "INBOX"))
    assert (await asyncio.to_thread(elsewhere)).id == box.id

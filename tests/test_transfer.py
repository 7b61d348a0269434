"""Import and export: an mbox or Maildir goes into the store and comes back byte for byte; a
corrupt mbox is imported as far as it can be, and every message not imported is reported."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from postroom import transfer
from postroom.auth.passwords import hash_password
from postroom.mail import utf7
from postroom.store.api import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN
from postroom.store.sqlite import SQLiteStore


def make_message(i: int) -> bytes:
    """A varied LF message: some with body "From " lines (quoted in the mbox), some 8-bit."""
    body = [f"Hello number {i}.", "", "Line two of the body."]
    if i % 7 == 0:
        body += ["From the desk of the editor,", ">From a quoted line already", "regards"]
    if i % 11 == 0:
        body += ["Grüße aus Köln — ünïcödé".encode("utf-8").decode("latin-1")]
    if i % 13 == 0:
        body += ["x" * 200 for _ in range(40)]
    headers = [
        f"From: Sender {i % 50} <sender{i % 50}@example.net>",
        "To: user@example.test",
        f"Subject: Message {i} about topic {i % 17}",
        f"Date: Mon, 01 Jan 2024 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} +0000",
        f"Message-ID: <m{i}@example.net>",
    ]
    return ("\n".join(headers) + "\n\n" + "\n".join(body) + "\n").encode("latin-1")


def mbox_quote(raw: bytes) -> bytes:
    """mboxrd quoting: one more ">" before any (>*)From line."""
    lines = raw.split(b"\n")
    return b"\n".join(b">" + l if l.lstrip(b">").startswith(b"From ") else l for l in lines)


def write_mbox(path: Path, messages: list[bytes], status: dict[int, bytes] | None = None) -> None:
    with path.open("wb") as f:
        for i, raw in enumerate(messages):
            f.write(b"From sender@example.net Mon Jan  1 12:00:%02d 2024\n" % (i % 60))
            f.write(mbox_quote(raw))
            f.write(b"\n")


async def open_store(tmp_path: Path) -> tuple[SQLiteStore, object]:
    store = SQLiteStore(tmp_path / "data")
    await store.open()
    await store.add_domain("example.test")
    account = await store.create_account("user@example.test", hash_password("pw"))
    return store, account


def tree_size(path: Path, allocated: bool = False) -> int:
    """Bytes of the files under ``path``: apparent size, or blocks taken on disk."""
    return sum(f.stat().st_blocks * 512 if allocated else f.stat().st_size
               for f in path.rglob("*") if f.is_file())


def exported_by_uid(folder: Path) -> list[bytes]:
    files = sorted((folder / "cur").iterdir(), key=lambda p: int(p.name.split(".")[1][1:]
                                                                .split("V")[0]))
    return [p.read_bytes() for p in files]


async def test_import_10000_message_mbox_and_export_gives_the_same_bytes(tmp_path: Path) -> None:
    messages = [make_message(i) for i in range(10_000)]
    mbox = tmp_path / "big.mbox"
    write_mbox(mbox, messages)
    store, account = await open_store(tmp_path)
    try:
        seen: list[tuple[int, int]] = []
        started = time.perf_counter()
        report = await transfer.import_mbox(store, account, mbox,
                                            progress=lambda d, t: seen.append((d, t)))
        elapsed = time.perf_counter() - started
        assert report.skipped == [] and report.stopped is None
        assert report.imported == 10_000
        assert seen[-1][0] == seen[-1][1] == mbox.stat().st_size
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert (await store.mailbox_status(account.id, inbox.id)).messages == 10_000
        data = tmp_path / "data"
        mbox_size, store_size = mbox.stat().st_size, tree_size(data)
        blobs = sum(tree_size(p) for p in data.iterdir() if p.is_dir())
        print(f"\nimport: 10000 messages in {elapsed:.1f} s = {10_000 / elapsed:.0f} messages/s;"
              f" mbox {mbox_size / 1e6:.1f} MB; store {store_size / 1e6:.1f} MB "
              f"({store_size / mbox_size:.2f}x; blobs {blobs / 1e6:.1f} MB, database "
              f"{(store_size - blobs) / 1e6:.1f} MB; {tree_size(data, True) / 1e6:.1f} MB "
              f"allocated on disk)")

        out = tmp_path / "out"
        started = time.perf_counter()
        exp = await transfer.export_maildir(store, account, out)
        print(f"export: {exp.exported} messages in {time.perf_counter() - started:.1f} s")
        assert exp.exported == 10_000
        assert exported_by_uid(out) == messages
    finally:
        await store.close()


async def test_stored_message_has_crlf_and_unquoted_from_lines(tmp_path: Path) -> None:
    mbox = tmp_path / "m.mbox"
    write_mbox(mbox, [make_message(7)])
    store, account = await open_store(tmp_path)
    try:
        await transfer.import_mbox(store, account, mbox)
        inbox = await store.get_mailbox(account.id, "INBOX")
        (row,) = await store.fetch(account.id, inbox.id, await store.uids(account.id, inbox.id))
        raw = await store.read_blob(row.blob)
        assert b"\r\nFrom the desk of the editor,\r\n" in raw
        assert b"\r\n>From a quoted line already\r\n" in raw
        assert b"\n" not in raw.replace(b"\r\n", b"")
        # The postmark's date, not the Date: header, is the internal date.
        assert row.internal_date == 1704110400
    finally:
        await store.close()


async def test_mbox_status_headers_become_flags(tmp_path: Path) -> None:
    mbox = tmp_path / "m.mbox"
    mbox.write_bytes(b"From a@b Mon Jan  1 00:00:00 2024\nSubject: read\nStatus: RO\n"
                     b"X-Status: AF\n\nbody\n\n"
                     b"From a@b Mon Jan  1 00:00:00 2024\nSubject: new\nStatus: O\n\nbody\n")
    store, account = await open_store(tmp_path)
    try:
        await transfer.import_mbox(store, account, mbox)
        inbox = await store.get_mailbox(account.id, "INBOX")
        entries = await store.entries(account.id, inbox.id)
        assert set(entries[0].flags) == {SEEN, ANSWERED, FLAGGED}
        assert entries[1].flags == ()
    finally:
        await store.close()


@pytest.mark.parametrize("content, imported, skipped", [
    # truncated final message: imported as it is
    (b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n\n"
     b"From a@b Mon Jan  1 00:00:00 2024\nSubject: trunc", 2, 0),
    # no leading From line: the text before the first postmark looks like a message
    (b"Subject: stray\n\nstray body\n\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\ny\n",
     2, 0),
    # garbage before the first postmark is reported, the rest imported
    (b"\x00\x01\x02garbage\xff\xfe\n\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\ny\n",
     1, 1),
    # binary garbage inside a message is kept; an empty message is reported
    (b"From a@b Mon Jan  1 00:00:00 2024\nSubject: bin\n\n\x00\xff\x80\x81\n\n"
     b"From a@b Mon Jan  1 00:00:00 2024\n\n"
     b"From a@b Mon Jan  1 00:00:00 2024\nSubject: z\n\nz\n", 2, 1),
    # an unquoted "From " in a body that is not a postmark stays in its message
    (b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nFrom me to you\n\n"
     b"From a@b Mon Jan  1 00:00:00 2024\nSubject: two\n\nz\n", 2, 0),
])
async def test_corrupt_mbox_is_imported_best_effort_and_reported(
        tmp_path: Path, content: bytes, imported: int, skipped: int) -> None:
    mbox = tmp_path / "bad.mbox"
    mbox.write_bytes(content)
    store, account = await open_store(tmp_path)
    try:
        report = await transfer.import_mbox(store, account, mbox)
        assert (report.imported, len(report.skipped)) == (imported, skipped)
        for s in report.skipped:
            assert s.origin and s.reason
    finally:
        await store.close()


async def test_oversized_message_is_skipped_with_its_reason(tmp_path: Path) -> None:
    mbox = tmp_path / "m.mbox"
    write_mbox(mbox, [make_message(1), make_message(13), make_message(2)])
    store, account = await open_store(tmp_path)
    try:
        report = await transfer.import_mbox(store, account, mbox, max_size=2000)
        assert report.imported == 2
        (s,) = report.skipped
        assert "message 2" in s.origin and "maximum message size" in s.reason
    finally:
        await store.close()


@pytest.mark.parametrize("content", [b"\x00\x01\x02\xff" * 100, b"", b"\n\n\n"])
async def test_not_an_mbox_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    mbox = tmp_path / "garbage.bin"
    mbox.write_bytes(content)
    store, account = await open_store(tmp_path)
    try:
        with pytest.raises(transfer.TransferError, match="not an mbox|empty"):
            await transfer.import_mbox(store, account, mbox)
    finally:
        await store.close()


def make_maildir(root: Path) -> dict[str, list[tuple[str, bytes]]]:
    """A Maildir++ tree: INBOX, .Work, .Work.Projects, and a UTF-7 named .Entw&APw-rfe."""
    layout = {
        "": [("new", "1700000001.a.host", make_message(1)),
             ("cur", "1700000002.b.host:2,S", make_message(2)),
             ("cur", "1700000003.c.host:2,FRS", make_message(3)),
             ("cur", "1700000004.d.host:2,DTa", make_message(4))],
        ".Work": [("cur", "1700000005.e.host:2,S", make_message(5))],
        ".Work.Projects": [("cur", "1700000006.f.host:2,P", make_message(6))],
        ".Entw&APw-rfe": [("cur", "1700000007.g.host:2,", make_message(7))],
    }
    result: dict[str, list[tuple[str, bytes]]] = {}
    for sub, files in layout.items():
        d = root / sub
        for s in ("cur", "new", "tmp"):
            (d / s).mkdir(parents=True, exist_ok=True)
        for where, name, raw in files:
            p = d / where / name
            p.write_bytes(raw)
            os.utime(p, (int(name.split(".")[0]),) * 2)
            result.setdefault(sub, []).append((name, raw))
    (root / "dovecot-keywords").write_text("0 $Important\n")
    return result


async def test_maildir_import_keeps_folders_flags_and_dates_and_exports_back(
        tmp_path: Path) -> None:
    src = tmp_path / "Maildir"
    make_maildir(src)
    store, account = await open_store(tmp_path)
    try:
        report = await transfer.import_maildir(store, account, src)
        assert report.imported == 7 and not report.skipped
        names = {b.name for b in await store.list_mailboxes(account.id)}
        assert {"INBOX", "Work", "Work/Projects", "Entwürfe"} <= names
        inbox = await store.get_mailbox(account.id, "INBOX")
        rows = await store.fetch(account.id, inbox.id, await store.uids(account.id, inbox.id))
        assert [set(r.flags) for r in rows] == [
            set(), {SEEN}, {FLAGGED, ANSWERED, SEEN}, {DRAFT, DELETED, "$Important"}]
        assert [r.internal_date for r in rows] == [1700000001, 1700000002, 1700000003,
                                                   1700000004]
        projects = await store.get_mailbox(account.id, "Work/Projects")
        (entry,) = await store.entries(account.id, projects.id)
        assert entry.flags == (transfer.FORWARDED,)

        out = tmp_path / "out"
        await transfer.export_maildir(store, account, out)
        assert (out / ".Work.Projects" / "maildirfolder").exists()
        assert (out / ".Entw&APw-rfe" / "cur").is_dir()
        exported = sorted((out / "cur").iterdir(), key=lambda p: p.name)
        assert [p.read_bytes() for p in exported] == [make_message(i) for i in (1, 2, 3, 4)]
        assert [p.name.rsplit(":2,", 1)[1] for p in exported] == ["", "S", "FRS", "DTa"]
        assert (out / "dovecot-keywords").read_text() == "0 $Important\n"
        assert int(exported[2].stat().st_mtime) == 1700000003

        # And the export imports again into a second account with the same result.
        await store.create_account("copy@example.test", hash_password("pw"))
        copy = await store.get_account("copy@example.test")
        again = await transfer.import_maildir(store, copy, out)
        assert again.imported == 7 and again.folders.keys() == report.folders.keys()
    finally:
        await store.close()


async def test_import_into_a_named_folder_puts_subfolders_below_it(tmp_path: Path) -> None:
    src = tmp_path / "Maildir"
    make_maildir(src)
    store, account = await open_store(tmp_path)
    try:
        report = await transfer.import_maildir(store, account, src, "Old")
        assert set(report.folders) == {"Old", "Old/Work", "Old/Work/Projects", "Old/Entwürfe"}
        out = tmp_path / "out"
        exp = await transfer.export_maildir(store, account, out, "Old/Work")
        assert exp.exported == 1 and len(list((out / "cur").iterdir())) == 1
        with pytest.raises(transfer.TransferError, match="no folder"):
            await transfer.export_maildir(store, account, out, "Nope")
    finally:
        await store.close()


def test_not_a_maildir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(transfer.TransferError, match="not a Maildir"):
        transfer.maildir_folders(tmp_path)


@pytest.mark.parametrize("name", ["Entwürfe", "a&b", "日本語", "plain", "dot.ted"])
def test_modified_utf7_round_trip(name: str) -> None:
    encoded = utf7.encode(name, also=".")
    assert "." not in encoded and encoded.isascii()
    assert utf7.decode_lenient(encoded) == name


@pytest.mark.parametrize("line, expected", [
    (b"From a@b Mon Jan  1 00:00:00 2024\n", 1704067200),
    (b"From a@b Sat Jan 01 01:00:00 +0100 2022\n", 1640995200),
    (b"From - Mon, 1 Jan 2024 00:00:00 +0000\n", 1704067200),
    (b"From a@b not a date\n", None),
])
def test_postmark_dates(line: bytes, expected: int | None) -> None:
    assert transfer.postmark_date(line) == expected

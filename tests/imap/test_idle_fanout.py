"""IDLE fan-out (imap/fanout.py): many sessions idling on one mailbox hear exactly what each
would have reported for itself, whether the mailbox's watcher writes for them or wakes them."""

import asyncio
import re

import pytest

from postroom.imap import fanout
from tests.imap.test_sync import selected

KINDS = {"plain": None, "condstore": "CONDSTORE", "qresync": "QRESYNC"}


async def idling(imap, kind):
    c = await selected(imap, enable=KINDS[kind])
    c.w.write(b"i IDLE\r\n")
    assert (await c.line()).startswith(b"+ ")
    return c


async def lines_until(c, pattern: bytes) -> list[bytes]:
    out = []
    while True:
        line = await c.line()
        assert line, out
        out.append(line)
        if re.search(pattern, line):
            return out


def without_modseq(lines):
    return [re.sub(rb" MODSEQ \(\d+\)", b"", l) for l in lines]


@pytest.mark.parametrize("served_by", ["watcher", "own task"])
async def test_sessions_in_three_states_each_hear_their_own_report(imap, monkeypatch, served_by):
    if served_by == "own task":
        # Every session counts as backed up: the watcher wakes each to report for itself.
        monkeypatch.setattr(fanout, "_BACKLOG_LIMIT", -1)
    woken = []
    wake = fanout.IdleWatch.wake
    monkeypatch.setattr(fanout.IdleWatch, "wake", lambda w: (woken.append(w), wake(w)))
    for i in range(2):
        await imap.deliver(subject=f"m{i}")
    sessions = {kind: [await idling(imap, kind) for _ in range(4)] for kind in KINDS}
    b = await selected(imap)

    async def heard(pattern: bytes) -> dict[str, list[list[bytes]]]:
        return {kind: [await lines_until(c, pattern) for c in cs]
                for kind, cs in sessions.items()}

    res = await b.cmd(b"a APPEND INBOX {20+}\r\nSubject: new\r\n\r\nbody")
    assert res[-1].startswith(b"a OK")
    for kind, got in (await heard(rb"EXISTS")).items():
        assert got == [[b"* 3 EXISTS\r\n"]] * 4, kind

    await b.cmd("s STORE 1 +FLAGS.SILENT ($Custom)")
    for kind, got in (await heard(rb"^\* 1 FETCH")).items():
        assert all(g == got[0] for g in got), got
        assert got[0][0].startswith(b"* FLAGS (") and b"$Custom" in got[0][0]
        assert got[0][1].startswith(b"* OK [PERMANENTFLAGS (")
        assert without_modseq(got[0][2:]) == [b"* 1 FETCH (UID 1 FLAGS ($Custom))\r\n"]
        assert (b" MODSEQ (" in got[0][-1]) == (kind != "plain")

    await b.cmd("d STORE 2 +FLAGS.SILENT (\\Deleted)")
    for kind, got in (await heard(rb"^\* 2 FETCH")).items():
        assert without_modseq(got[0]) == [b"* 2 FETCH (UID 2 FLAGS (\\Deleted))\r\n"]
    assert (await b.cmd("e EXPUNGE"))[-1].startswith(b"e OK")
    for kind, got in (await heard(rb"EXPUNGE|VANISHED")).items():
        expected = b"* VANISHED 2\r\n" if kind == "qresync" else b"* 2 EXPUNGE\r\n"
        assert got == [[expected]] * 4, kind

    # The 12 sessions were each woken to report for themselves, or never.
    assert len(set(woken)) == (12 if served_by == "own task" else 0)
    for cs in sessions.values():
        for c in cs:
            c.w.write(b"DONE\r\n")
            assert (await c.line()).startswith(b"i OK")
            res = await c.cmd("f FETCH 1:* (UID)")
            assert res[:2] == [b"* 1 FETCH (UID 1)\r\n", b"* 2 FETCH (UID 3)\r\n"], res
            c.close()
    b.close()


async def test_bursts_of_appends_while_sessions_come_and_go(imap):
    """Sessions leave and re-enter IDLE while messages keep arriving: each ends up numbering
    every message, and no EXISTS count ever goes backwards or past the truth."""
    steady = [await idling(imap, kind) for kind in KINDS for _ in range(3)]
    cycling = await selected(imap)
    b = await selected(imap)
    total = 40

    async def append_all():
        for n in range(total):
            res = await b.cmd(b"a APPEND INBOX {18+}\r\nSubject: x\r\n\r\nbody")
            assert res[-1].startswith(b"a OK")

    async def cycle():
        for _ in range(10):
            cycling.w.write(b"i IDLE\r\n")
            while not (await cycling.line()).startswith(b"+ "):
                pass
            await asyncio.sleep(0.005)
            cycling.w.write(b"DONE\r\n")
            while not (await cycling.line()).startswith(b"i OK"):
                pass

    await asyncio.gather(append_all(), cycle())
    for c in steady:
        last = 0
        while last < total:
            line = await c.line()
            m = re.match(rb"\* (\d+) EXISTS", line)
            assert m, line
            assert last < int(m[1]) <= total
            last = int(m[1])
        c.w.write(b"DONE\r\n")
        assert (await c.line()).startswith(b"i OK")
    res = await cycling.cmd("n NOOP")
    assert b"* %d EXISTS\r\n" % total in res or len(res) == 1, res
    res = await cycling.cmd("u UID SEARCH ALL")
    assert res[0] == b"* SEARCH " + b" ".join(b"%d" % u for u in range(1, total + 1)) + b"\r\n"
    for c in [*steady, cycling, b]:
        c.close()


async def test_one_watcher_per_mailbox_gone_with_its_last_session(imap):
    a = await idling(imap, "plain")
    b = await idling(imap, "condstore")
    assert len(imap.door.fanout._watchers) == 1
    for c in (a, b):
        c.w.write(b"DONE\r\n")
        assert (await c.line()).startswith(b"i OK")
    assert not imap.door.fanout._watchers
    assert not imap.store.notifier.watching()
    for c in (a, b):
        c.close()


async def test_compressed_sessions_get_the_shared_report_through_their_own_deflate(imap):
    """COMPRESS=DEFLATE (RFC 4978): the watcher writes the same report to two sessions, and
    each connection compresses it with its own stream."""
    import zlib
    from tests.imap.test_session import Raw
    clients = []
    for _ in range(2):
        c = await Raw.connect(imap.port)
        await c.login()
        assert (await c.cmd("z COMPRESS DEFLATE"))[-1].startswith(b"z OK")
        comp, dec = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
        c.w.write(comp.compress(b"s SELECT INBOX\r\ni IDLE\r\n") + comp.flush(zlib.Z_SYNC_FLUSH))
        data = b""
        while b"+ idling" not in data:
            data += dec.decompress(await asyncio.wait_for(c.r.read(4096), 5))
        clients.append((c, dec))
    await imap.deliver(subject="pushed")
    for c, dec in clients:
        data = b""
        while b"EXISTS" not in data:
            data += dec.decompress(await asyncio.wait_for(c.r.read(4096), 5))
        assert data == b"* 1 EXISTS\r\n"
        c.close()


async def test_sessions_idling_on_a_deleted_mailbox_are_told_bye(imap):
    owner = await selected(imap)
    await owner.cmd("c CREATE Doomed")
    idlers = []
    for _ in range(3):
        c = await selected(imap, mailbox="Doomed")
        c.w.write(b"i IDLE\r\n")
        assert (await c.line()).startswith(b"+ ")
        idlers.append(c)
    assert (await owner.cmd("d DELETE Doomed"))[-1].startswith(b"d OK")
    for c in idlers:
        assert (await c.line()).startswith(b"* BYE [NONEXISTENT]")
        c.close()
    owner.close()

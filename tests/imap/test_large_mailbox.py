"""100,000 messages in one mailbox: SELECT, FETCH 1:* (FLAGS UID), SEARCH and IDLE still work,
fast, and a session's memory stays bounded (it keeps 8 bytes per message: the uid array)."""

import asyncio
import sys
import time
import tracemalloc

import pytest

from tests.imap.test_session import Raw

N = 100_000
BATCH = 5_000


async def read_until(c: Raw, tag: bytes) -> int:
    """Counts the untagged lines before the tagged answer, reading in big pieces so the time
    measured is the server's, not a line-at-a-time client's."""
    buf = b""
    n = 0
    end = b"\r\n" + tag + b" "
    while True:
        data = await asyncio.wait_for(c.r.read(1 << 20), 120)
        assert data, "connection closed"
        buf += data
        i = buf.find(end)
        if i >= 0 and buf.find(b"\r\n", i + 2) >= 0:
            assert buf[i + 2:].startswith(tag + b" OK"), buf[i:i + 200]
            return n + buf.count(b"\r\n", 0, i + 2)
        # Keep the last CRLF (so a tag right after it is still found) and what follows.
        cut = buf.rfind(b"\r\n")
        if cut > 0:
            n += buf.count(b"\r\n", 0, cut)
            buf = buf[cut:]


@pytest.mark.slow
async def test_hundred_thousand_messages(imap):
    t0 = time.perf_counter()
    for start in range(0, N, BATCH):
        items = [(b"From: sender%d@example.org\r\nTo: alice@example.test\r\nSubject: message %d"
                  b"\r\nMessage-ID: <%d@example.org>\r\n\r\nbody of message %d\r\n"
                  % (i % 97, i, i, i), ["\\Seen"] if i % 10 else [], None)
                 for i in range(start, min(N, start + BATCH))]
        await imap.store.append_many(imap.account.id, imap.inbox.id, items)
    build = time.perf_counter() - t0

    c = await Raw.connect(imap.port)
    await c.login()
    t = time.perf_counter()
    res = await c.cmd("s SELECT INBOX")
    select_s = time.perf_counter() - t
    assert b"* %d EXISTS\r\n" % N in res

    t = time.perf_counter()
    c.w.write(b"f FETCH 1:* (FLAGS UID)\r\n")
    lines = await read_until(c, b"f")
    fetch_s = time.perf_counter() - t
    assert lines == N

    t = time.perf_counter()
    res = await c.cmd("u SEARCH UNSEEN")
    unseen_s = time.perf_counter() - t
    assert len(res[0].split()) - 2 == N // 10
    t = time.perf_counter()
    res = await c.cmd('t UID SEARCH SUBJECT "message 99999"')
    subject_s = time.perf_counter() - t
    assert res[0].split()[2:] == [b"100000"]
    t = time.perf_counter()
    res = await c.cmd('b SEARCH RETURN (COUNT) BODY "of message 4242"')
    body_s = time.perf_counter() - t
    assert b"COUNT 11" in res[0], res   # 4242 and 42420..42429

    # IDLE still pushes at once.
    c.w.write(b"i IDLE\r\n")
    assert (await c.line()).startswith(b"+ ")
    t = time.perf_counter()
    await imap.deliver(subject="one more")
    assert await c.line() == b"* %d EXISTS\r\n" % (N + 1)
    idle_s = time.perf_counter() - t
    c.w.write(b"DONE\r\n")
    assert (await c.line()).startswith(b"i OK")

    session = next(iter(imap.door._sessions))
    view_bytes = sys.getsizeof(session.selected.uids)

    # Memory a second session allocates in Python (the SQLite page cache is shared and not
    # per session): traced peak over SELECT and FETCH 1:*.
    d = await Raw.connect(imap.port)
    await d.login()
    tracemalloc.start()
    try:
        await d.cmd("s EXAMINE INBOX")
        d.w.write(b"f FETCH 1:* (FLAGS UID)\r\n")
        await read_until(d, b"f")
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    d.close()
    print(f"\n100k mailbox: build {build:.1f} s; SELECT {select_s * 1000:.0f} ms; "
          f"FETCH 1:* (FLAGS UID) {fetch_s:.2f} s; SEARCH UNSEEN {unseen_s * 1000:.0f} ms; "
          f"SEARCH SUBJECT {subject_s * 1000:.0f} ms; SEARCH BODY {body_s * 1000:.0f} ms; "
          f"IDLE push {idle_s * 1000:.0f} ms; session uid map {view_bytes / 1024:.0f} KiB; "
          f"second session's Python memory over SELECT + FETCH 1:*: peak {peak / 2**20:.1f} MiB, "
          f"kept {kept / 2**20:.1f} MiB")
    assert peak < 32 * 2**20
    assert view_bytes < 1_000_000
    c.close()

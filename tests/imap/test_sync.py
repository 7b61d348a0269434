"""Several sessions on one mailbox: IDLE push, and when expunges and flag changes made by one
session reach another (RFC 9051 §7.5.1: never during FETCH/STORE/SEARCH by sequence number)."""

import asyncio
import base64
import hashlib
import hmac
import statistics
import time
import zlib

from tests.imap.conftest import PASSWORD, USER
from tests.imap.test_session import Raw


async def selected(imap, mailbox="INBOX", enable=None) -> Raw:
    c = await Raw.connect(imap.port)
    await c.login()
    if enable:
        assert (await c.cmd(f"e ENABLE {enable}"))[-1].startswith(b"e OK")
    res = await c.cmd(f"s SELECT {mailbox}")
    assert res[-1].startswith(b"s OK"), res
    return c


async def test_idle_push_latency_of_100_appends(imap):
    a = await selected(imap)
    b = await Raw.connect(imap.port)
    await b.login()
    a.w.write(b"i IDLE\r\n")
    assert (await a.line()).startswith(b"+ ")
    latencies = []
    for n in range(1, 101):
        t0 = time.perf_counter()
        res = await b.cmd(b"a APPEND INBOX {%d+}\r\n" % 60 + b"Subject: x\r\n\r\n" + b"y" * 46)
        assert res[-1].startswith(b"a OK"), res
        line = await a.line()
        latencies.append(time.perf_counter() - t0)
        assert line == b"* %d EXISTS\r\n" % n
    a.w.write(b"DONE\r\n")
    assert (await a.line()).startswith(b"i OK")
    med, worst = statistics.median(latencies), max(latencies)
    print(f"\nIDLE push latency over 100 APPENDs: median {med * 1000:.1f} ms, "
          f"worst {worst * 1000:.1f} ms")
    assert worst < 1.0
    a.close()
    b.close()


async def test_flag_change_in_one_session_reaches_idle_of_other(imap):
    await imap.deliver()
    a = await selected(imap, enable="CONDSTORE")
    b = await selected(imap)
    a.w.write(b"i IDLE\r\n")
    assert (await a.line()).startswith(b"+ ")
    await b.cmd("x STORE 1 +FLAGS.SILENT (\\Flagged)")
    line = await a.line()
    assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (")
    a.w.write(b"DONE\r\n")
    assert (await a.line()).startswith(b"i OK")


async def test_expunge_elsewhere_waits_while_fetch_by_sequence_number(imap):
    for i in range(3):
        await imap.deliver(subject=f"m{i}")
    a = await selected(imap)
    b = await selected(imap)
    assert (await b.cmd("x STORE 2 +FLAGS.SILENT (\\Deleted)"))[-1].startswith(b"x OK")
    res = await b.cmd("y EXPUNGE")
    assert res[0] == b"* 2 EXPUNGE\r\n"
    # A still numbers 3 messages: FETCH by number may not announce the expunge...
    res = await a.cmd("f FETCH 1:3 (UID)")
    assert not any(l.endswith(b" EXPUNGE\r\n") for l in res), res
    assert b"* 1 FETCH (UID 1)\r\n" in res and b"* 3 FETCH (UID 3)\r\n" in res
    assert res[-1].startswith(b"f NO [EXPUNGEISSUED]")
    res = await a.cmd("g SEARCH ALL")
    assert res[0] == b"* SEARCH 1 3\r\n" and not any(l.endswith(b" EXPUNGE\r\n") for l in res)
    # ...but NOOP (or a UID command) may.
    res = await a.cmd("n NOOP")
    assert res[0] == b"* 2 EXPUNGE\r\n"
    res = await a.cmd("h FETCH 2 (UID)")
    assert res[0] == b"* 2 FETCH (UID 3)\r\n"


async def test_new_message_and_flags_announced_after_any_command(imap):
    await imap.deliver()
    a = await selected(imap)
    await imap.deliver()
    await imap.store.store_flags(imap.account.id, imap.inbox.id, [1], "add", ["\\Seen"])
    res = await a.cmd("f FETCH 1 (UID)")
    assert b"* 2 EXISTS\r\n" in res
    assert any(l.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Seen))") for l in res), res


async def test_qresync_select_reports_vanished_earlier_and_changes(imap):
    for i in range(4):
        await imap.deliver(subject=f"m{i}")
    a = await selected(imap, enable="QRESYNC")
    res = await a.cmd("u UID FETCH 1:* (FLAGS)")
    status = await imap.store.mailbox_status(imap.account.id, imap.inbox.id)
    modseq, validity = status.highestmodseq, status.uidvalidity
    await a.cmd("c CLOSE")
    await imap.store.store_flags(imap.account.id, imap.inbox.id, [2], "add", ["\\Deleted"])
    await imap.store.expunge(imap.account.id, imap.inbox.id)
    await imap.store.store_flags(imap.account.id, imap.inbox.id, [3], "add", ["\\Seen"])
    res = await a.cmd(f"s SELECT INBOX (QRESYNC ({validity} {modseq} 1:4))")
    text = b"".join(res)
    assert b"* VANISHED (EARLIER) 2\r\n" in text, text
    assert b"FETCH (UID 3 FLAGS (\\Seen) MODSEQ" in text
    res = await a.cmd(f"v UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert res[0] == b"* VANISHED (EARLIER) 2\r\n", res


async def test_authenticate_plain_with_initial_response_and_scram(imap):
    c = await Raw.connect(imap.port)
    ir = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    res = await c.cmd(f"a AUTHENTICATE PLAIN {ir}")
    assert res[-1].startswith(b"a OK [CAPABILITY "), res
    c.close()
    # SCRAM-SHA-256 (RFC 5802/7677), the client side written out here.
    c = await Raw.connect(imap.port)
    nonce = "rOprNGfwEbeRWgbNEkqO"
    first_bare = f"n={USER},r={nonce}"
    c.w.write(b"b AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(("n,," + first_bare).encode())
              + b"\r\n")
    line = await c.line()
    assert line.startswith(b"+ ")
    server_first = base64.b64decode(line[2:].strip()).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_wo_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{final_wo_proof}".encode()
    signature = hmac.new(stored_key, auth_message, "sha256").digest()
    proof = bytes(x ^ y for x, y in zip(client_key, signature))
    c.w.write(base64.b64encode(f"{final_wo_proof},p={base64.b64encode(proof).decode()}"
                               .encode()) + b"\r\n")
    line = await c.line()
    assert line.startswith(b"+ ") and base64.b64decode(line[2:].strip()).startswith(b"v=")
    c.w.write(b"\r\n")
    assert (await c.line()).startswith(b"b OK [CAPABILITY ")
    c.close()


async def test_authenticate_cancel_and_unknown_mechanism(imap):
    c = await Raw.connect(imap.port)
    c.w.write(b"a AUTHENTICATE PLAIN\r\n")
    assert (await c.line()).startswith(b"+ ")
    c.w.write(b"*\r\n")
    assert (await c.line()).startswith(b"a BAD")
    assert (await c.cmd("b AUTHENTICATE X-FOO"))[-1].startswith(b"b NO")
    c.close()


async def test_compress_deflate(imap):
    c = await Raw.connect(imap.port)
    await c.login()
    res = await c.cmd("z COMPRESS DEFLATE")
    assert res[-1].startswith(b"z OK")
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    dec = zlib.decompressobj(-15)
    c.w.write(comp.compress(b"n NOOP\r\n") + comp.flush(zlib.Z_SYNC_FLUSH))
    data = b""
    while b"n OK" not in data:
        data += dec.decompress(await asyncio.wait_for(c.r.read(1000), 5))
    assert data.startswith(b"n OK")
    c.close()


async def test_selected_mailbox_deleted_by_another_session_ends_with_bye(imap):
    a = await Raw.connect(imap.port)
    await a.login()
    await a.cmd("c CREATE Doomed")
    await a.cmd("s SELECT Doomed")
    b = await Raw.connect(imap.port)
    await b.login()
    assert (await b.cmd("d DELETE Doomed"))[-1].startswith(b"d OK")
    a.w.write(b"n NOOP\r\n")
    line = await a.line()
    assert line.startswith(b"* BYE") or line.startswith(b"n OK"), line


async def test_search_and_sort_leave_out_what_the_session_was_not_told_of(imap):
    """Results hold only messages with a sequence number here: one delivered meanwhile is
    announced after the answer (EXISTS), not numbered in it. 70 messages take SORT and SEARCH
    through the bulk numbering path."""
    for i in range(70):
        await imap.deliver(subject=f"m{70 - i:02d}")
    a = await selected(imap)
    await imap.deliver(subject="m00 late")
    res = await a.cmd("s SORT (SUBJECT) UTF-8 ALL")
    assert res[0] == b"* SORT " + " ".join(str(n) for n in range(70, 0, -1)).encode() + b"\r\n"
    assert b"* 71 EXISTS\r\n" in res[1:]
    b = await selected(imap)
    await imap.deliver(subject="later still")
    res = await b.cmd("u UID SEARCH ALL")
    assert res[0] == b"* SEARCH " + " ".join(str(n) for n in range(1, 72)).encode() + b"\r\n"


async def test_own_store_is_not_reported_again_and_others_changes_are(imap):
    """After a STORE the session's view moves past its own change without reading it back
    (when nothing else had changed); a change made elsewhere meanwhile is still reported."""
    for i in range(3):
        await imap.deliver(subject=f"m{i}")
    a = await selected(imap, enable="CONDSTORE")
    b = await selected(imap)
    # B changes message 2 while A is not looking: A's STORE must not swallow it.
    await b.cmd("x STORE 2 +FLAGS.SILENT (\\Seen)")
    text = b"".join(await a.cmd("s STORE 1 +FLAGS.SILENT (\\Flagged)"))
    assert b"* 1 FETCH (MODSEQ (" in text
    assert b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (" in text
    assert len(await a.cmd("n NOOP")) == 1
    # Nothing pending now: A's own change is answered once, never repeated.
    res = await a.cmd("t STORE 3 +FLAGS (\\Flagged)")
    assert [line for line in res if b"FETCH" in line][0].startswith(
        b"* 3 FETCH (FLAGS (\\Flagged) MODSEQ (")
    assert sum(b"FETCH" in line for line in res) == 1
    assert len(await a.cmd("n NOOP")) == 1
    await b.cmd("y STORE 3 -FLAGS.SILENT (\\Flagged)")
    assert b"* 3 FETCH (UID 3 FLAGS () MODSEQ (" in b"".join(await a.cmd("n NOOP"))
    for c in (a, b):
        c.close()

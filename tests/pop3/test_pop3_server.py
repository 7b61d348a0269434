"""The POP3 door as Python's poplib sees it: login, listing, download, TLS, SASL, the delete
policies checked in the store afterwards, and what bad or vanishing clients cannot break."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import poplib
import socket
import time

import pytest

from postroom.auth.tls import client_context_insecure
from postroom.store.api import ROLE_TRASH

from .env import PASSWORD, USER, make_env, message


def connect(port: int) -> poplib.POP3:
    return poplib.POP3("127.0.0.1", port, timeout=10)


def login(port: int) -> poplib.POP3:
    client = connect(port)
    client.user(USER)
    client.pass_(PASSWORD)
    return client


def body(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


async def run(fn, *args):
    return await asyncio.to_thread(fn, *args)


async def test_download_with_user_pass_list_retr_top_uidl(pop3):
    raws = [message(1, "one\r\n.dotted\r\n"), message(2, "two\r\n")]
    for raw in raws:
        await pop3.deliver(raw)

    def session():
        c = login(pop3.port)
        try:
            assert c.stat() == (2, sum(len(r) for r in raws))
            _, listing, _ = c.list()
            assert listing == [f"{i} {len(r)}".encode() for i, r in enumerate(raws, 1)]
            _, lines, _ = c.retr(1)
            assert body(lines) == raws[0]           # dot-stuffing undone by the client
            _, top, _ = c.top(2, 0)
            assert body(top) == raws[1].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
            _, uidl, _ = c.uidl()
            return [line.split()[1] for line in uidl]
        finally:
            c.quit()

    first = await run(session)
    assert await run(session) == first               # UIDL stable across sessions
    assert first[0] == f"{pop3.inbox.uidvalidity:x}.1".encode()


async def test_retr_sends_clean_mail_byte_for_byte_and_fixes_the_rest(pop3):
    clean = message(1, "plain\r\n")
    dotted = message(2, "a\r\n.b\r\n")
    bare_lf = message(3, "x\ny\n").replace(b"\r\n", b"\n")
    for raw in (clean, dotted, bare_lf):
        await pop3.deliver(raw)

    def wire(number: int) -> bytes:
        with socket.create_connection(("127.0.0.1", pop3.port), timeout=10) as sock:
            f = sock.makefile("rb")
            f.readline()
            sock.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\nRETR {number}\r\n".encode())
            for _ in range(3):               # USER, PASS, RETR status lines
                f.readline()
            out = b""
            while not out.endswith(b"\r\n.\r\n"):
                out += f.readline()
            return out

    assert await run(wire, 1) == clean + b".\r\n"
    assert await run(wire, 2) == dotted.replace(b"\r\n.b", b"\r\n..b") + b".\r\n"
    assert await run(wire, 3) == bare_lf.replace(b"\n", b"\r\n") + b".\r\n"


async def test_wrong_password_is_an_auth_error(pop3):
    def attempt():
        c = connect(pop3.port)
        c.user(USER)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
            c.pass_("wrong")
        c.quit()
    await run(attempt)


async def test_capa_over_loopback(pop3):
    def capa():
        c = connect(pop3.port)
        try:
            return c.capa()
        finally:
            c.quit()
    caps = await run(capa)
    for name in ("TOP", "UIDL", "USER", "STLS", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
        assert name in caps
    assert caps["SASL"] == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    assert caps["EXPIRE"] == ["NEVER"]


async def test_stls_then_login(pop3):
    await pop3.deliver(message(1))

    def session():
        c = connect(pop3.port)
        c.stls(client_context_insecure())
        assert "STLS" not in c.capa()
        c.user(USER)
        c.pass_(PASSWORD)
        assert c.stat()[0] == 1
        c.quit()
    await run(session)


async def test_implicit_tls_port(pop3):
    await pop3.deliver(message(1))

    def session():
        c = poplib.POP3_SSL("127.0.0.1", pop3.tls_port, context=client_context_insecure(),
                            timeout=10)
        c.user(USER)
        c.pass_(PASSWORD)
        _, lines, _ = c.retr(1)
        c.quit()
        return body(lines)
    assert await run(session) == message(1)


async def test_plaintext_refused_without_tls_when_loopback_is_not_secure(tmp_path):
    env = await make_env(tmp_path)
    env.config.auth.loopback_is_secure = False
    try:
        def session():
            c = connect(env.port)
            caps = c.capa()
            assert "USER" not in caps and caps["SASL"] == ["SCRAM-SHA-256"]
            with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
                c.user(USER)
            with pytest.raises(poplib.error_proto):
                c._shortcmd("AUTH PLAIN " + base64.b64encode(
                    f"\0{USER}\0{PASSWORD}".encode()).decode())
            c.stls(client_context_insecure())
            c.user(USER)
            c.pass_(PASSWORD)
            c.quit()
        await run(session)
    finally:
        await env.door.stop()
        await env.store.close()


async def test_auth_plain_with_initial_response_and_login_with_continuations(pop3):
    def session():
        c = connect(pop3.port)
        ir = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
        assert c._shortcmd(f"AUTH PLAIN {ir}").startswith(b"+OK")
        assert c.stat() == (0, 0)
        c.quit()

        c = connect(pop3.port)
        assert c._shortcmd("AUTH LOGIN").startswith(b"+ ")
        assert c._shortcmd(base64.b64encode(USER.encode()).decode()).startswith(b"+ ")
        assert c._shortcmd(base64.b64encode(PASSWORD.encode()).decode()).startswith(b"+OK")
        c.quit()

        c = connect(pop3.port)
        assert c._shortcmd("AUTH PLAIN").startswith(b"+ ")
        with pytest.raises(poplib.error_proto, match="cancelled"):
            c._shortcmd("*")
        c.user(USER)                               # still in AUTHORIZATION, still usable
        c.pass_(PASSWORD)
        c.quit()
    await run(session)


def scram_login(c: poplib.POP3, user: str, password: str) -> bytes:
    """A SCRAM-SHA-256 client (RFC 5802 §3, RFC 7677) over POP3 AUTH (RFC 5034)."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={nonce}"
    reply = c._shortcmd("AUTH SCRAM-SHA-256 " + base64.b64encode(
        ("n,," + first_bare).encode()).decode())
    server_first = base64.b64decode(reply[2:]).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]),
                                 int(fields["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    final_bare = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    reply = c._shortcmd(base64.b64encode(
        f"{final_bare},p={base64.b64encode(proof).decode()}".encode()).decode())
    assert reply.startswith(b"+ ")                  # server-final-message as a continuation
    server_final = base64.b64decode(reply[2:]).decode()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = base64.b64encode(hmac.digest(server_key, auth_message, "sha256")).decode()
    assert server_final == f"v={expected}"
    return c._shortcmd("")


async def test_auth_scram_sha_256(pop3):
    def session():
        c = connect(pop3.port)
        assert scram_login(c, USER, PASSWORD).startswith(b"+OK")
        c.quit()
    await run(session)


async def test_auth_scram_sha_256_with_a_wrong_password_is_an_auth_error(pop3):
    def session():
        c = connect(pop3.port)
        with pytest.raises((poplib.error_proto, AssertionError)) as failure:
            scram_login(c, USER, "wrong")
        c.quit()
        return str(failure.value)
    assert "[AUTH]" in await run(session)


async def test_commands_pipelined_behind_stls_are_dropped(pop3):
    def session():
        s = socket.create_connection(("127.0.0.1", pop3.port), timeout=10)
        s.recv(1000)
        # A man in the middle appends a command to the client's STLS (RFC 2595 §4).
        s.sendall(f"STLS\r\nUSER {USER}\r\n".encode())
        assert s.recv(1000).startswith(b"+OK")
        tls = client_context_insecure().wrap_socket(s, server_hostname="localhost")
        f = tls.makefile("rb")
        tls.sendall(f"PASS {PASSWORD}\r\n".encode())
        reply = f.readline()
        tls.close()
        return reply
    assert (await run(session)).startswith(b"-ERR")


async def test_rset_undoes_dele(pop3):
    for n in range(3):
        await pop3.deliver(message(n))

    def session():
        c = login(pop3.port)
        c.dele(1)
        c.dele(2)
        c.rset()
        c.quit()
    await run(session)
    assert len(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == 3
    assert await pop3.store.hidden_uids(pop3.account.id, pop3.inbox.id) == set()


async def test_dropped_connection_deletes_nothing(pop3):
    for n in range(2):
        await pop3.deliver(message(n))

    def session():
        c = login(pop3.port)
        c.dele(1)
        c.dele(2)
        c.sock.close()                             # no QUIT: never reaches UPDATE
    await run(session)
    await asyncio.sleep(0.1)
    assert len(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == 2
    assert await pop3.store.hidden_uids(pop3.account.id, pop3.inbox.id) == set()

    def again():
        c = login(pop3.port)
        assert c.stat()[0] == 2
        c.quit()
    await run(again)


async def download_and_delete(pop3, count: int) -> None:
    def session():
        c = login(pop3.port)
        for n in range(1, count + 1):
            c.retr(n)
            c.dele(n)
        c.quit()
    await run(session)

    def after():
        c = login(pop3.port)
        stat = c.stat()
        c.quit()
        return stat
    assert await run(after) == (0, 0)


async def test_hide_policy_keeps_the_message_in_the_inbox_for_other_doors(pop3):
    uid = await pop3.deliver(message(1))
    await download_and_delete(pop3, 1)
    assert list(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == [uid]
    assert await pop3.store.hidden_uids(pop3.account.id, pop3.inbox.id) == {uid}


async def test_trash_policy_moves_the_message_to_trash(pop3):
    await pop3.set_policy("trash")
    await pop3.deliver(message(1))
    await download_and_delete(pop3, 1)
    assert list(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == []
    trash = await pop3.store.get_mailbox_by_role(pop3.account.id, ROLE_TRASH)
    rows = await pop3.store.fetch(pop3.account.id, trash.id,
                                  await pop3.store.uids(pop3.account.id, trash.id))
    assert [await pop3.store.read_blob(r.blob) for r in rows] == [message(1)]


async def test_expunge_policy_removes_the_message(pop3):
    pop3.config.pop3.delete_policy = "expunge"
    await pop3.deliver(message(1))
    await pop3.deliver(message(2))

    def session():
        c = login(pop3.port)
        c.dele(2)
        c.quit()
    await run(session)
    assert list(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == [1]
    trash = await pop3.store.get_mailbox_by_role(pop3.account.id, ROLE_TRASH)
    assert list(await pop3.store.uids(pop3.account.id, trash.id)) == []


async def test_message_numbers_stay_fixed_while_the_inbox_changes_elsewhere(pop3):
    for n in range(1, 4):
        await pop3.deliver(message(n))
    c = await run(login, pop3.port)
    try:
        # Another door expunges message 2 and new mail arrives during the POP3 session.
        await pop3.store.remove(pop3.account.id, pop3.inbox.id, [2])
        await pop3.deliver(message(4))
        assert await run(c.stat) == (3, sum(len(message(n)) for n in range(1, 4)))
        _, lines, _ = await run(c.retr, 3)
        assert body(lines) == message(3)
        with pytest.raises(poplib.error_proto, match="removed"):
            await run(c.retr, 2)
        await run(c.dele, 2)
        await run(c.dele, 3)
        await run(c.quit)
    finally:
        c.close()
    assert list(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == [1, 3, 4]
    assert await pop3.store.hidden_uids(pop3.account.id, pop3.inbox.id) == {3}


async def test_concurrent_sessions_on_one_maildrop(pop3):
    await pop3.deliver(message(1))
    a = await run(login, pop3.port)
    b = await run(login, pop3.port)
    assert await run(a.stat) == await run(b.stat)
    await run(a.quit)
    await run(b.quit)


async def test_bad_input_gets_err_and_the_session_survives(pop3):
    def session():
        c = connect(pop3.port)
        for cmd in ("XYZZY", "STAT", "RETR 1", "LIST 1 2", "USER"):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                c._shortcmd(cmd)
        c.sock.sendall(b"NOOP " + b"x" * 10_000 + b"\r\n")
        assert c._getline()[0].startswith(b"-ERR")
        c.user(USER)
        c.pass_(PASSWORD)
        with pytest.raises(poplib.error_proto, match="-ERR"):
            c._shortcmd("RETR 7")
        c.quit()
    await run(session)


async def test_pipelined_commands_are_answered_in_order(pop3):
    await pop3.deliver(message(1))

    def session():
        s = socket.create_connection(("127.0.0.1", pop3.port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nUIDL 1\r\nQUIT\r\n".encode())
        replies = [f.readline() for _ in range(5)]
        s.close()
        return replies
    replies = await run(session)
    assert all(r.startswith(b"+OK") for r in replies), replies
    assert replies[2] == f"+OK 1 {len(message(1))}\r\n".encode()


async def test_idle_connection_is_logged_out(tmp_path):
    env = await make_env(tmp_path, idle_timeout_seconds=1)
    try:
        def session():
            c = connect(env.port)
            time.sleep(1.5)
            assert c._getline()[0].startswith(b"-ERR")
            assert c.file.readline() == b""
        await run(session)
    finally:
        await env.door.stop()
        await env.store.close()


async def test_commands_answered_as_they_arrive_keep_the_session_alive(tmp_path):
    """Most commands are answered in the stream's callback while the session's task waits:
    that activity still counts against the idle timeout; silence afterwards still ends it."""
    env = await make_env(tmp_path, idle_timeout_seconds=1)
    try:
        def session():
            c = login(env.port)
            for _ in range(8):             # 2 s of NOOPs, twice the idle timeout
                assert c.noop().startswith(b"+OK")
                time.sleep(0.25)
            time.sleep(1.5)
            assert c._getline()[0].startswith(b"-ERR")
        await run(session)
    finally:
        await env.door.stop()
        await env.store.close()


async def test_a_client_that_pipelines_and_does_not_read_gets_every_answer_in_order(pop3):
    """Flow control: 320 RETRs of 40 KB (more than the socket buffers hold) sent at once, read only afterwards. The server stops
    answering while the client is not reading (its buffer is bounded), then goes on; every
    message arrives once, in order, whether read ahead or not."""
    raw = [message(n, body=(f"{n:03d} " * 20 + "\r\n") * 500) for n in range(1, 41)]
    for r in raw:
        await pop3.deliver(r)

    def session():
        s = socket.create_connection(("127.0.0.1", pop3.port), timeout=20)
        f = s.makefile("rb")
        f.readline()
        numbers = [n for _ in range(8) for n in range(1, 41)]
        s.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode()
                  + b"".join(b"RETR %d\r\n" % n for n in numbers) + b"QUIT\r\n")
        time.sleep(0.5)                  # the server fills the socket and waits
        assert f.readline().startswith(b"+OK") and f.readline().startswith(b"+OK")
        got = []
        for _ in numbers:
            assert f.readline().startswith(b"+OK")
            lines = []
            while (line := f.readline()) != b".\r\n":
                lines.append(line)
            got.append(b"".join(lines))
        assert f.readline().startswith(b"+OK")
        s.close()
        return numbers, got
    numbers, got = await run(session)
    assert got == [raw[n - 1] for n in numbers]


async def test_retr_throughput_1000_messages_of_10kb(pop3):
    filler = ("x" * 76 + "\r\n") * 128                      # ~10 KB body
    raws = [message(n, filler) for n in range(1000)]
    await pop3.store.append_many(pop3.account.id, pop3.inbox.id,
                                 [(raw, (), None) for raw in raws])

    def session():
        c = login(pop3.port)
        start = time.perf_counter()
        total = 0
        for n in range(1, 1001):
            _, lines, octets = c.retr(n)
            total += octets
        elapsed = time.perf_counter() - start
        c.quit()
        return total, elapsed
    total, elapsed = await run(session)
    print(f"\nPOP3 RETR, poplib one by one: {total / 1e6:.1f} MB in {elapsed:.2f} s: "
          f"{1000 / elapsed:.0f} messages/s, {total / 1e6 / elapsed:.1f} MB/s")

    def pipelined():
        # The server's own pace: all RETRs sent at once (PIPELINING), replies read in bulk.
        s = socket.create_connection(("127.0.0.1", pop3.port), timeout=30)
        s.recv(1000)
        s.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode())
        start = time.perf_counter()
        s.sendall(b"".join(b"RETR %d\r\n" % n for n in range(1, 1001)))
        received = bytearray()
        ends = 0
        while ends < 1000:
            chunk = s.recv(1 << 20)
            assert chunk
            ends += (received[-4:] + chunk).count(b"\r\n.\r\n")
            received += chunk
        elapsed = time.perf_counter() - start
        s.close()
        return len(received), elapsed
    total, elapsed = await run(pipelined)
    print(f"POP3 RETR, pipelined: {total / 1e6:.1f} MB in {elapsed:.2f} s: "
          f"{1000 / elapsed:.0f} messages/s, {total / 1e6 / elapsed:.1f} MB/s")


async def test_one_log_line_per_connection_and_command_without_secrets(pop3, caplog):
    import logging
    await pop3.deliver(message(1, "secret body text\r\n"))
    logger = logging.getLogger("postroom")
    old_propagate = logger.propagate
    logger.propagate = True  # let caplog see postroom's lines even if serve set up logging
    try:
        with caplog.at_level(logging.INFO, logger="postroom.pop3"):
            def session():
                c = login(pop3.port)
                c.retr(1)
                c.quit()
            await run(session)
    finally:
        logger.propagate = old_propagate
    lines = [r.getMessage() for r in caplog.records if r.name == "postroom.pop3"]
    assert any(line.endswith("connect tls=False") for line in lines)
    assert any(f"{USER}] RETR +OK" in line for line in lines)
    assert any(line.endswith("PASS +OK") for line in lines)
    text = "\n".join(lines)
    assert PASSWORD not in text and "secret body text" not in text


async def test_download_in_order_is_read_ahead_in_the_background(pop3, monkeypatch):
    """RETR 1, 2, 3 ...: the next bodies are read while the ones read ahead are served, so
    no RETR has to start a read of its own, and every body is right, big ones and vanished
    ones too."""
    from postroom.pop3 import server
    sizes = [10, 2000, 40, 300, 10, 10, 600, 5] * 40                   # lines of 78 bytes
    raws = [message(n, ("y" * 76 + "\r\n") * k) for n, k in enumerate(sizes)]
    await pop3.store.append_many(pop3.account.id, pop3.inbox.id,
                                 [(raw, (), None) for raw in raws])
    # Reads that start afresh because nothing read ahead held the message.
    fresh = []
    read = server._Connection._read_bodies_ahead

    async def counted(self, number, replace=True):
        if replace:
            fresh.append(number)
        return await read(self, number, replace)
    monkeypatch.setattr(server._Connection, "_read_bodies_ahead", counted)

    def download():
        c = login(pop3.port)
        got = []
        for n in range(1, len(raws) + 1):
            if n == 200:
                # Another door expunges message 250 meanwhile.
                asyncio.run_coroutine_threadsafe(
                    pop3.store.remove(pop3.account.id, pop3.inbox.id, [250]), loop).result()
            try:
                got.append(body(c.retr(n)[1]))
            except poplib.error_proto as e:
                got.append(str(e))
        c.quit()
        return got
    loop = asyncio.get_running_loop()
    got = await run(download)
    for n, (raw, answer) in enumerate(zip(raws, got), 1):
        if n == 250:
            assert "removed" in answer
        else:
            assert answer == raw, n
    # Without reading the next bodies in the background, one read every 8 or so messages
    # would start afresh (40 here); with it, only the first does, however the timing goes.
    assert fresh == [1], fresh

"""Each [imap] limit, breached: the right BAD/NO/BYE with a response code, never a crash."""

import asyncio

from tests.imap.conftest import make_env
from tests.imap.test_session import Raw


async def env_with(tmp_path, **settings):
    return await make_env(tmp_path, **settings)


async def test_line_too_long_is_bad_toobig_then_bye(tmp_path):
    env = await env_with(tmp_path, max_line_length=100)
    try:
        c = await Raw.connect(env.port)
        c.w.write(b"a NOOP " + b"x" * 200 + b"\r\n")
        assert (await c.line()).startswith(b"a BAD [TOOBIG]")
        assert (await c.line()).startswith(b"* BYE")
        assert await c.line() == b""
    finally:
        await env.door.stop()
        await env.store.close()


async def test_literal_over_appendlimit_is_no_toobig_and_session_goes_on(tmp_path):
    env = await env_with(tmp_path, max_literal_size=1000)
    try:
        c = await Raw.connect(env.port)
        await c.login()
        res = await c.cmd("a APPEND INBOX {1001}")
        assert res[-1].startswith(b"a NO [TOOBIG]")
        assert (await c.cmd("b NOOP"))[-1].startswith(b"b OK")
        c.w.write(b"c APPEND INBOX {5000+}\r\n")
        assert (await c.line()).startswith(b"c BAD [TOOBIG]")
    finally:
        await env.door.stop()
        await env.store.close()


async def test_too_many_commands_before_login(tmp_path):
    env = await env_with(tmp_path, max_commands_before_auth=3)
    try:
        c = await Raw.connect(env.port)
        for i in range(3):
            assert (await c.cmd(f"n{i} NOOP"))[-1].startswith(b"n%d OK" % i)
        res = await c.cmd("x NOOP")
        assert res[0].startswith(b"* BYE [LIMIT]") and res[-1].startswith(b"x NO [LIMIT]")
    finally:
        await env.door.stop()
        await env.store.close()


async def test_autologout_after_idle_timeout(tmp_path):
    env = await env_with(tmp_path, idle_timeout_seconds=1, auth_timeout_seconds=1)
    try:
        c = await Raw.connect(env.port)
        line = await asyncio.wait_for(c.r.readline(), 5)
        assert line.startswith(b"* BYE [UNAVAILABLE] Autologout")
        c = await Raw.connect(env.port)
        await c.login()
        c.w.write(b"i IDLE\r\n")
        assert (await c.line()).startswith(b"+ ")
        line = await asyncio.wait_for(c.r.readline(), 5)
        assert line.startswith(b"* BYE [UNAVAILABLE] Autologout")
    finally:
        await env.door.stop()
        await env.store.close()


async def test_connections_per_ip_and_per_user(tmp_path):
    env = await env_with(tmp_path, max_connections_per_ip=3, max_connections_per_user=2)
    try:
        a = await Raw.connect(env.port)
        b = await Raw.connect(env.port)
        await a.login()
        await b.login()
        c = await Raw.connect(env.port)
        res = await c.cmd('L LOGIN alice@example.test "correct horse"')
        assert res[-1].startswith(b"L NO [LIMIT]")
        d = await Raw.connect(env.port)
        assert d.greeting.startswith(b"* BYE [UNAVAILABLE]")
        a.close()
        await asyncio.sleep(0.1)
        await c.login()
    finally:
        await env.door.stop()
        await env.store.close()


async def test_garbage_gets_bad_not_a_crash(tmp_path):
    env = await env_with(tmp_path)
    try:
        c = await Raw.connect(env.port)
        await c.login()
        await c.cmd("s SELECT INBOX")
        for bad in ["a FETCH 1:* (BODY[1.HEADER.FIELDS])", "b FETCH 0 FLAGS", "c FETCH x FLAGS",
                    "d SEARCH (((", "e STORE 1 FROB (\\Seen)", "f UID FETCH 1 BODY[",
                    "g SEARCH OR ALL", "h LIST", "i SELECT", "j STATUS INBOX (FOO)",
                    "k SEARCH CHARSET KOI8-R ALL", "l FETCH 1 (BODY[]<0.0>)", "m COPY 1",
                    "n APPEND INBOX (\\Bogus) {1+}\r\nx", "o ENABLE", "p ID (a)"]:
            res = await c.cmd(bad)
            tag = bad.split()[0].encode()
            assert res[-1].startswith(tag + b" BAD") or res[-1].startswith(tag + b" NO"), res
        assert (await c.cmd("z NOOP"))[-1].startswith(b"z OK")
    finally:
        await env.door.stop()
        await env.store.close()


async def test_one_log_line_per_connection_and_command_without_secrets(tmp_path, caplog):
    import logging
    from tests.imap.conftest import PASSWORD
    env = await env_with(tmp_path)
    logger = logging.getLogger("postroom")
    old = logger.propagate
    logger.propagate = True  # let caplog see postroom's lines even if serve set up logging
    try:
        with caplog.at_level(logging.INFO, logger="postroom.imap"):
            c = await Raw.connect(env.port)
            await c.login()
            await c.cmd("b SELECT INBOX")
            await c.cmd("c FETCH 99 FLAGS")
    finally:
        logger.propagate = old
        await env.door.stop()
        await env.store.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "postroom.imap"]
    assert any(line.endswith("connect tls=False") for line in lines)
    assert any(line.endswith("alice@example.test] SELECT OK") for line in lines)
    assert any(" LOGIN OK" in line or " AUTHENTICATE OK" in line for line in lines)
    assert PASSWORD not in "\n".join(lines)

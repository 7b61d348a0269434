"""The IMAP door through raw bytes: greeting, state table, login, limits."""

import asyncio

from tests.imap.conftest import PASSWORD, USER


class Raw:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    @classmethod
    async def connect(cls, port):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        c = cls(r, w)
        c.greeting = await c.line()
        return c

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.r.readline(), 5)

    async def cmd(self, text: str | bytes) -> list[bytes]:
        """Sends one tagged command and returns every line up to its tagged answer."""
        data = text.encode() if isinstance(text, str) else text
        tag = data.split(b" ", 1)[0]
        self.w.write(data + b"\r\n")
        out = []
        while True:
            line = await self.line()
            assert line, out
            out.append(line)
            if line.startswith(tag + b" "):
                return out

    async def login(self):
        res = await self.cmd(f'L LOGIN {USER} "{PASSWORD}"')
        assert res[-1].startswith(b"L OK"), res

    def close(self):
        self.w.close()


async def test_greeting_capability_and_logout(imap):
    c = await Raw.connect(imap.port)
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2")
    assert b"STARTTLS" in c.greeting and b"AUTH=PLAIN" in c.greeting
    res = await c.cmd("a LOGOUT")
    assert res[0].startswith(b"* BYE") and res[-1].startswith(b"a OK")
    c.close()


async def test_commands_outside_their_state_are_bad(imap):
    c = await Raw.connect(imap.port)
    assert (await c.cmd("a SELECT INBOX"))[-1].startswith(b"a BAD")
    assert (await c.cmd("b FROB"))[-1].startswith(b"b BAD")
    await c.login()
    assert (await c.cmd("c FETCH 1 FLAGS"))[-1].startswith(b"c BAD")
    assert (await c.cmd("d LOGIN x y"))[-1].startswith(b"d BAD")
    c.close()


async def test_login_wrong_password_is_no_authenticationfailed(imap):
    c = await Raw.connect(imap.port)
    res = await c.cmd(f'a LOGIN {USER} "wrong"')
    assert res[-1].startswith(b"a NO [AUTHENTICATIONFAILED]")
    c.close()


async def test_select_fetch_store_search(imap):
    await imap.deliver(subject="first")
    await imap.deliver(subject="second", flags=["\\Seen"])
    c = await Raw.connect(imap.port)
    await c.login()
    res = await c.cmd("s SELECT INBOX")
    assert b"* 2 EXISTS\r\n" in res and res[-1].startswith(b"s OK [READ-WRITE]")
    res = await c.cmd("f FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert res[-1].startswith(b"f OK"), res
    text = b"".join(res)
    assert b"Subject: first" in text and b"Subject: second" in text
    res = await c.cmd("g STORE 1 +FLAGS (\\Flagged)")
    assert b"* 1 FETCH (FLAGS (\\Flagged))" in res[0], res
    res = await c.cmd("h SEARCH UNSEEN")
    assert res[0] == b"* SEARCH 1\r\n", res
    res = await c.cmd("i UID SEARCH RETURN (MIN MAX COUNT) ALL")
    assert res[0].startswith(b'* ESEARCH (TAG "i") UID MIN 1 MAX 2 COUNT 2'), res
    res = await c.cmd("j SEARCH SUBJECT second")
    assert res[0] == b"* SEARCH 2\r\n", res
    c.close()

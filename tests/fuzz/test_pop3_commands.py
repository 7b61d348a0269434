"""Fuzzing POP3 on a live session: mutated command lines, each sent in random pieces (so lines
are split and joined across reads), at a maildrop with mail in it. Every command gets one
+OK or -ERR answer, multi-line ones end with their terminator, the connection is closed only
after too many bad commands in a row, and a good command still works afterwards. The
dialogue parser itself is fuzzed in test_parsers."""

from __future__ import annotations

import asyncio
import os
import random

from tests.pop3.env import PASSWORD, USER, make_env, message

COMMANDS = ["STAT", "LIST", "LIST 1", "UIDL", "UIDL 2", "RETR 1", "RETR 2", "TOP 1 0",
            "TOP 2 3", "DELE 3", "RSET", "NOOP", "CAPA", "AUTH", "UTF8", "USER x", "PASS y",
            "STLS"]


def mutate(rng: random.Random, line: str) -> bytes:
    data = bytearray(line.encode())
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(data) + 1)
        op = rng.randrange(5)
        if op == 0 and data:
            data[min(i, len(data) - 1)] = rng.choice(b" 0129+-.\x00\xff\tAz")
        elif op == 1:
            del data[i:i + rng.randint(1, 4)]
        elif op == 2:
            data[i:i] = data[i:i + rng.randint(1, 6)]
        elif op == 3:
            data[i:i] = rng.choice([b" ", b"  ", b"999999999999", b"-1", "é".encode()])
        else:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
    return bytes(data).replace(b"\r", b"").replace(b"\n", b"")


def multi_line(line: bytes) -> bool:
    """Whether a +OK answer to this line, as the server reads it, is multi-line."""
    try:
        keyword, _, rest = line.decode().partition(" ")
    except UnicodeDecodeError:
        return False
    name = keyword.upper()
    return name in ("CAPA", "RETR", "TOP") or (name in ("LIST", "UIDL", "AUTH") and not rest)


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.r, self.w = reader, writer

    @classmethod
    async def login(cls, port: int) -> "Client":
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        c = cls(r, w)
        assert (await r.readline()).startswith(b"+OK")
        for cmd in (f"USER {USER}", f"PASS {PASSWORD}"):
            assert (await c.send(cmd.encode()))[0].startswith(b"+OK")
        return c

    async def send(self, line: bytes, rng: random.Random | None = None) -> list[bytes]:
        data = line + b"\r\n"
        if rng is None:
            self.w.write(data)
        else:       # in pieces, with pauses, so the server sees partial lines
            while data:
                cut = rng.randint(1, len(data))
                self.w.write(data[:cut])
                await self.w.drain()
                data = data[cut:]
                if data:
                    await asyncio.sleep(0.001)
        await self.w.drain()
        first = await asyncio.wait_for(self.r.readline(), 10)
        lines = [first]
        if first.startswith(b"+OK") and multi_line(line):
            while (more := await asyncio.wait_for(self.r.readline(), 10)) != b".\r\n":
                assert more, "connection closed inside a multi-line answer"
                lines.append(more)
        return lines


async def test_mutated_commands_get_one_answer_each_and_the_session_survives(tmp_path):
    rng = random.Random(int(os.environ.get("FUZZ_SEED", 7)))
    env = await make_env(tmp_path)
    try:
        for n in range(1, 6):
            await env.deliver(message(n))
        c = await Client.login(env.port)
        answers = {b"+OK": 0, b"-ERR": 0}
        bad = 0
        for n in range(300):
            line = mutate(rng, rng.choice(COMMANDS)) if rng.random() < 0.8 else \
                rng.choice(COMMANDS).encode()
            if line.upper().startswith((b"STLS", b"QUIT", b"AUTH ")):
                continue        # a TLS handshake or SASL exchange is not a reply to read here
            res = await c.send(line, rng if n % 3 == 0 else None)
            first = res[0]
            assert first.startswith((b"+OK", b"-ERR")), (line, res)
            answers[first.split(b" ")[0].rstrip(b"\r\n")] += 1
            bad = bad + 1 if first.startswith(b"-ERR") else 0
            if bad == 20:       # the server's max_bad_commands: a last line, then the end
                assert b"Too many" in await c.r.readline()
                assert await c.r.read() == b""
                c, bad = await Client.login(env.port), 0
        assert answers[b"+OK"] > 20 and answers[b"-ERR"] > 20, answers
        assert (await c.send(b"RSET"))[0].startswith(b"+OK")
        assert b"".join((await c.send(b"RETR 1"))[1:]) == message(1)
    finally:
        await env.door.stop()
        await env.store.close()

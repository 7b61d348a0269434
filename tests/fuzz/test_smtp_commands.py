"""Fuzzing the SMTP door's hooks through a live MX listener: mutated EHLO, MAIL, RCPT, DATA and
header lines. Every reply must be a well-formed code, never aiosmtpd's "500 Error: (SomeError)"
that means a hook raised, and nothing half-delivered may appear."""

from __future__ import annotations

import asyncio
import os
import random

from tests.smtp.env import running_smtp

LINES = [
    "EHLO client.example.org", "HELO x", "MAIL FROM:<carol@example.org> SIZE=100 BODY=8BITMIME",
    "MAIL FROM:<> SMTPUTF8", "RCPT TO:<alice@example.test>", "RCPT TO:<alice+tag@example.test>",
    "RCPT TO:<\"quoted local\"@example.test>", "RCPT TO:<bob@elsewhere.org>", "RSET", "NOOP",
    "VRFY alice", "DATA", "STARTTLS", "AUTH PLAIN AGFsaWNlAHg=", "HELP",
]
MESSAGE = ("From: Carol <carol@example.org>\r\nTo: alice@example.test\r\n"
           "Subject: =?utf-8?q?fuzz?=\r\nMessage-ID: <f@x>\r\n\r\nbody\r\n")


def mutate(rng: random.Random, line: str) -> str:
    chars = list(line)
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(len(chars) + 1)
        op = rng.randrange(3)
        if op == 0 and chars:
            chars[min(i, len(chars) - 1)] = rng.choice('<>@:"\\=. ,;()[]é\x01%+')
        elif op == 1:
            del chars[i:i + rng.randint(1, 5)]
        else:
            chars[i:i] = chars[i:i + rng.randint(1, 6)]
    return "".join(chars).replace("\r", "").replace("\n", "")


async def reply(r: asyncio.StreamReader) -> bytes:
    last = b""
    while True:
        line = await asyncio.wait_for(r.readline(), 10)
        assert line, "connection dropped"
        last = line
        if line[3:4] != b"-":
            return last


async def test_mutated_smtp_dialogues_get_codes_never_a_hook_exception(tmp_path):
    rng = random.Random(int(os.environ.get("FUZZ_SEED", 7)))
    async with running_smtp(tmp_path) as env:
        for _ in range(30):
            r, w = await asyncio.open_connection("127.0.0.1", env.mx_port)
            await reply(r)
            for _ in range(12):
                line = rng.choice(LINES)
                if rng.random() < 0.7:
                    line = mutate(rng, line)
                if line.upper().startswith("STARTTLS"):
                    continue
                w.write(line.encode("utf-8", "surrogateescape") + b"\r\n")
                await w.drain()
                answer = await reply(r)
                assert answer[:3].isdigit(), (line, answer)
                assert not answer.startswith(b"500 Error: ("), (line, answer)
                if answer.startswith(b"354"):
                    body = mutate(rng, MESSAGE) if rng.random() < 0.5 else MESSAGE
                    w.write(body.encode("utf-8", "surrogateescape") + b"\r\n.\r\n")
                    await w.drain()
                    answer = await reply(r)
                    assert answer[:1] in (b"2", b"4", b"5"), (body, answer)
                    assert not answer.startswith(b"500 Error: ("), (body, answer)
                if answer.startswith((b"221", b"421")) or b"goodbye" in answer:
                    break   # the server ends a dialogue that went on too long or too wrong
            w.close()
        # Whatever was accepted is whole in the store: every message parses back.
        for raw in await env.messages("alice"):
            assert raw.endswith(b"\r\n")

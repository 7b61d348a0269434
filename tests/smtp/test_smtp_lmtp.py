"""LMTP (RFC 2033) on a Unix socket, as a local MTA such as Postfix would use it: one reply per
recipient after DATA."""

from __future__ import annotations

import asyncio

from .env import message, running_smtp


async def test_lmtp_refuses_unknown_recipients_at_rcpt_and_delivers_without_checks(tmp_path,
                                                                                    dns):
    sock = str(tmp_path / "lmtp.sock")
    async with running_smtp(tmp_path, dns=dns, lmtp_socket=sock) as env:
        reader, writer = await asyncio.open_unix_connection(sock)
        greeting = await reader.readline()
        writer.write(b"EHLO mta\r\n")         # RFC 2033 §4.1: LHLO, never EHLO
        await writer.drain()
        ehlo = await reader.readline()
        writer.write(b"LHLO mta\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<alice@example.test>\r\n"
                     b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<x@elsewhere.org>\r\nDATA\r\n")
        await writer.drain()
        lines = []
        while not (line := await reader.readline()).startswith(b"354"):
            lines.append(line)
        writer.write(message("x@example.org", "alice@example.test") + b".\r\n")
        await writer.drain()
        reply = await reader.readline()
        writer.close()
        assert greeting.startswith(b"220") and ehlo.startswith(b"500")
        assert [l[:3] for l in lines if l[3:4] == b" "] == [b"250", b"250", b"250", b"550",
                                                             b"550"]
        assert reply.startswith(b"250 2.0.0 <alice@example.test>")
        [stored] = await env.messages("alice")
        assert b"with LMTP" in stored and b"Authentication-Results" not in stored


async def test_lmtp_per_recipient_replies_after_data(tmp_path, dns):
    sock = str(tmp_path / "lmtp.sock")
    async with running_smtp(tmp_path, dns=dns, lmtp_socket=sock) as env:
        carol = await env.add_user("carol", quota_bytes=200)
        reader, writer = await asyncio.open_unix_connection(sock)
        await reader.readline()
        writer.write(b"LHLO mta\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<alice@example.test>\r\n"
                     b"RCPT TO:<carol@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        await writer.drain()
        lines = []
        while not (line := await reader.readline()).startswith(b"354"):
            lines.append(line)
        body = ("z" * 60 + "\r\n") * 10      # over carol's 200-byte quota, found at DATA
        writer.write(message("x@example.org", "all", body=body) + b".\r\n")
        await writer.drain()
        replies = [await reader.readline() for _ in range(3)]
        writer.close()
        assert replies[0].startswith(b"250 2.0.0 <alice@example.test>")
        assert replies[1].startswith(b"452 4.2.2 <carol@example.test>")
        assert replies[2].startswith(b"250 2.0.0 <bob@example.test>")
        assert len(await env.messages("alice")) == 1 and len(await env.messages("bob")) == 1
        assert await env.messages("carol") == []
        assert carol.quota_bytes == 200

"""Minimal asyncio IMAP and POP3 clients for benchmarks: they send commands and consume the
responses with as little client-side work as possible (only literals are honoured), so the time
measured is the server's, and the same for Postroom and Dovecot."""

from __future__ import annotations

import asyncio
import re

_LITERAL = re.compile(rb"\{(\d+)\+?\}$")


class IMAPClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.r = reader
        self.w = writer
        self.n = 0

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> "IMAPClient":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        c = cls(reader, writer)
        await reader.readline()
        return c

    async def command(self, cmd: bytes | str, literals: list[bytes] | None = None) -> bytes:
        """Sends one command (literals sent as LITERAL+); returns the whole response with the
        tagged status line last. Raises on NO/BAD."""
        if isinstance(cmd, str):
            cmd = cmd.encode()
        self.n += 1
        tag = b"b%d" % self.n
        self.w.write(tag + b" " + cmd)
        for lit in literals or ():
            self.w.write(b" {%d+}\r\n" % len(lit))
            self.w.write(lit)
        self.w.write(b"\r\n")
        await self.w.drain()
        return await self._read_until(tag)

    async def _read_until(self, tag: bytes) -> bytes:
        chunks = []
        prefix = tag + b" "
        while True:
            line = await self.r.readuntil(b"\r\n")
            chunks.append(line)
            m = _LITERAL.search(line, len(line) - 24 if len(line) > 24 else 0, len(line) - 2)
            if m:
                chunks.append(await self.r.readexactly(int(m.group(1))))
                continue
            if line.startswith(prefix):
                if not line.startswith(prefix + b"OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return b"".join(chunks)

    async def idle_start(self) -> None:
        self.n += 1
        self._idle_tag = b"b%d" % self.n
        self.w.write(self._idle_tag + b" IDLE\r\n")
        await self.w.drain()
        line = await self.r.readuntil(b"\r\n")
        if not line.startswith(b"+"):
            raise RuntimeError(line)

    async def idle_wait(self) -> bytes:
        return await self.r.readuntil(b"\r\n")

    async def idle_done(self) -> bytes:
        self.w.write(b"DONE\r\n")
        await self.w.drain()
        return await self._read_until(self._idle_tag)

    async def close(self) -> None:
        try:
            await self.command("LOGOUT")
        except (RuntimeError, ConnectionError, asyncio.IncompleteReadError):
            pass
        self.w.close()
        try:
            await self.w.wait_closed()
        except ConnectionError:
            pass


class POP3Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.r = reader
        self.w = writer

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> "POP3Client":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        await reader.readline()
        return cls(reader, writer)

    async def simple(self, cmd: str) -> bytes:
        self.w.write(cmd.encode() + b"\r\n")
        await self.w.drain()
        line = await self.r.readuntil(b"\r\n")
        if not line.startswith(b"+OK"):
            raise RuntimeError(line)
        return line

    async def multi(self, cmd: str) -> bytes:
        """A multi-line answer, status line included. The status line's CRLF lets the
        terminator match even for an empty body ("+OK\r\n.\r\n")."""
        self.w.write(cmd.encode() + b"\r\n")
        await self.w.drain()
        first = await self.r.readexactly(3)
        if first != b"+OK":
            raise RuntimeError(first + await self.r.readuntil(b"\r\n"))
        return first + await self.r.readuntil(b"\r\n.\r\n")

    async def login(self, user: str, password: str) -> None:
        await self.simple(f"USER {user}")
        await self.simple(f"PASS {password}")

    async def close(self) -> None:
        try:
            await self.simple("QUIT")
        except (RuntimeError, ConnectionError, asyncio.IncompleteReadError):
            pass
        self.w.close()


class SMTPClient:
    """SMTP (or LMTP, RFC 2033) without pipelining: one transaction after another."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lmtp: bool):
        self.r = reader
        self.w = writer
        self.lmtp = lmtp

    @classmethod
    async def connect(cls, port: int, *, lmtp: bool = False,
                      host: str = "127.0.0.1") -> "SMTPClient":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        c = cls(reader, writer, lmtp)
        await c._reply()
        await c._command(("LHLO" if lmtp else "EHLO") + " bench.example.org")
        return c

    async def _reply(self) -> bytes:
        while True:
            line = await self.r.readuntil(b"\r\n")
            if line[3:4] != b"-":
                if line[:1] not in (b"2", b"3"):
                    raise RuntimeError(line)
                return line

    async def _command(self, cmd: str) -> bytes:
        self.w.write(cmd.encode() + b"\r\n")
        await self.w.drain()
        return await self._reply()

    async def send(self, sender: str, recipients: list[str], raw: bytes) -> None:
        await self._command(f"MAIL FROM:<{sender}>")
        for rcpt in recipients:
            await self._command(f"RCPT TO:<{rcpt}>")
        await self._command("DATA")
        body = raw.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.w.write(body + b".\r\n")
        await self.w.drain()
        # LMTP answers once per recipient after DATA (RFC 2033 §4.2).
        for _ in range(len(recipients) if self.lmtp else 1):
            await self._reply()

    async def close(self) -> None:
        try:
            await self._command("QUIT")
        except (RuntimeError, ConnectionError, asyncio.IncompleteReadError):
            pass
        self.w.close()

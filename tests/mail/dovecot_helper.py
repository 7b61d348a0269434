"""A private Dovecot (Debian dovecot-imapd) on 127.0.0.1, used as the reference for ENVELOPE,
BODYSTRUCTURE and BODY (the server itself is bench/dovecot.py's). Messages are APPENDed over IMAP and the FETCH items read back raw, so
literals and quoting are compared byte for byte. ``Dovecot.start()`` returns None when dovecot is
not installed or does not come up; callers skip then.
"""

from __future__ import annotations

import re
import socket

from bench.dovecot import Dovecot as PrivateDovecot
from bench.dovecot import available as dovecot_available


class Dovecot:
    def __init__(self, server: PrivateDovecot, port: int) -> None:
        self.server = server
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""
        self.tag = 0
        self.count = 0

    @classmethod
    def start(cls) -> "Dovecot | None":
        if not dovecot_available():
            return None
        server = PrivateDovecot({"test": "pass"})
        try:
            server.start()
        except (RuntimeError, OSError, KeyError):
            return None
        self = cls(server, server.imap_port)
        try:
            self.sock = socket.create_connection(("127.0.0.1", server.imap_port), timeout=10)
            self._readline()  # greeting
            self.command(b"LOGIN test pass")
            self.command(b"SELECT INBOX")
        except (RuntimeError, OSError):
            self.stop()
            return None
        return self

    def stop(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.server.stop()

    # --- a minimal raw IMAP client -----------------------------------------------------------

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("dovecot closed the connection")
        self.buf += data

    def _readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_response_line(self) -> bytes:
        """One logical response line, literals included verbatim."""
        out = b""
        while True:
            line = self._readline()
            out += line
            m = re.search(rb"\{(\d+)\}$", line)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]

    def command(self, cmd: bytes, literal: bytes | None = None) -> list[bytes]:
        assert self.sock is not None
        self.tag += 1
        tag = b"t%d" % self.tag
        if literal is None:
            self.sock.sendall(tag + b" " + cmd + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + cmd + b" {%d}\r\n" % len(literal))
            line = self._readline()
            if not line.startswith(b"+"):
                raise RuntimeError(line)
            self.sock.sendall(literal + b"\r\n")
        lines = []
        while True:
            line = self._read_response_line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line)
                return lines
            lines.append(line)

    def append(self, raw: bytes) -> int:
        """APPEND ``raw`` to INBOX; the sequence number it gets."""
        self.command(b"APPEND INBOX", raw)
        self.count += 1
        return self.count

    def fetch(self, seq: int, item: bytes) -> bytes:
        """The raw value of one FETCH item (ENVELOPE, BODYSTRUCTURE, BODY, BODY.PEEK[...])."""
        for line in self.command(b"FETCH %d (%s)" % (seq, item)):
            prefix = b"* %d FETCH (" % seq
            if line.startswith(prefix) and line.endswith(b")"):
                rest = line[len(prefix):-1]
                name = item.replace(b".PEEK", b"")
                if rest.startswith(name + b" "):
                    return rest[len(name) + 1:]
                if name.startswith(b"BODY[") and rest.startswith(b"BODY["):
                    # the server may echo the section differently (upper-cased names)
                    return rest[rest.index(b"] ") + 2:]
        raise RuntimeError(f"no {item!r} in FETCH response")

    def fetch_section(self, seq: int, section: str) -> bytes | None:
        """BODY.PEEK[section] as bytes (literal or quoted string); None for NIL."""
        value = self.fetch(seq, b"BODY.PEEK[%s]" % section.encode())
        m = re.match(rb"\{(\d+)\}\r\n", value)
        if m:
            return value[m.end():m.end() + int(m.group(1))]
        if value == b"NIL":
            return None
        if value.startswith(b'"'):
            return re.sub(rb'\\(.)', rb"\1", value[1:-1])
        raise RuntimeError(value)

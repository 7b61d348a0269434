"""A private Dovecot (Debian dovecot-imapd) on 127.0.0.1, used as the reference for ENVELOPE,
BODYSTRUCTURE and BODY. Messages are APPENDed over IMAP and the FETCH items read back raw, so
literals and quoting are compared byte for byte. ``Dovecot.start()`` returns None when dovecot is
not installed or does not come up; callers skip then.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
# dovecot refuses to run its login processes as root; the mail user is "nobody".
default_internal_user = root
default_internal_group = root
default_login_user = dovenull
first_valid_uid = 0
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    def __init__(self, proc: subprocess.Popen, tmp: str, port: int) -> None:
        self.proc = proc
        self.tmp = tmp
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""
        self.tag = 0
        self.count = 0

    @classmethod
    def start(cls) -> "Dovecot | None":
        binary = shutil.which("dovecot") or ("/usr/sbin/dovecot"
                                             if os.path.exists("/usr/sbin/dovecot") else None)
        if binary is None or os.geteuid() != 0:
            return None
        try:
            import pwd
            nobody = pwd.getpwnam("nobody")
            pwd.getpwnam("dovenull")
        except KeyError:
            return None
        tmp = tempfile.mkdtemp(prefix="postroom-dovecot-")
        os.chmod(tmp, 0o755)  # the mail user (nobody) must reach mail/ and home/
        for sub in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(tmp, sub))
        os.chmod(os.path.join(tmp, "mail"), 0o777)
        os.chmod(os.path.join(tmp, "home"), 0o777)
        with open(os.path.join(tmp, "passwd"), "w") as f:
            f.write("test:{PLAIN}pass\n")
        port = _free_port()
        conf = os.path.join(tmp, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(_CONF.format(d=tmp, port=port, uid=nobody.pw_uid, gid=nobody.pw_gid))
        proc = subprocess.Popen([binary, "-c", conf, "-F"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self = cls(proc, tmp, port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
        if self.sock is None:
            self.stop()
            return None
        self._readline()  # greeting
        try:
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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

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

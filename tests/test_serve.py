"""``postroom serve`` as an operator runs it: first start prints the account and the client
settings, every door answers on its port, SIGTERM stops it with exit code 0. And the in-process
helper other tests use: ``start_all`` on a port-0 config."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from postroom.server import ephemeral_config, start_all

# Listeners that speak first, and whether they are implicit TLS.
GREETS = {"imap": False, "imaps": True, "pop3": False, "pop3s": True, "smtp": False,
          "submission": False, "submissions": True}


def write_config(tmp_path: Path, extra: str = "") -> Path:
    cfg = ephemeral_config(tmp_path / "data")
    lines = [f"[server]\ndata_dir = \"{tmp_path / 'data'}\"\n"]
    for section in ("imap", "pop3", "smtp", "http"):
        settings = getattr(cfg, section)
        ports = [f"{k} = 0" for k, v in vars(settings).items()
                 if k.endswith("port") and k != "lmtp_port"]
        lines.append(f"[{section}]\n" + "\n".join(ports) + "\n")
    path = tmp_path / "postroom.toml"
    path.write_text("\n".join(lines) + extra)
    return path


class Serve:
    """``python -m postroom serve`` in a subprocess, its stdout read line by line."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
        self.proc = subprocess.Popen([sys.executable, "-m", "postroom", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.stderr = ""
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace"))

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if re.search(pattern, line):
                return line
        self.kill()
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n"
                             + "".join(self.output) + "\nstderr:\n" + self.stderr)

    def listening(self) -> dict[str, int]:
        return {m.group(1): int(m.group(2)) for line in self.output
                if (m := re.match(r"listening (\S+) \S+:(\d+)", line))}

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.stderr = err.decode("utf-8", "replace")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            _, err = self.proc.communicate()
            self.stderr = err.decode("utf-8", "replace")


def banner(port: int, tls: bool) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        return sock.recv(512)
    finally:
        sock.close()


def check_banners(ports: dict[str, int]) -> None:
    for name, port in ports.items():
        if name in GREETS:
            greeting = banner(port, GREETS[name])
            assert re.match(rb"(\* OK|\+OK|220)", greeting), (name, greeting)
        else:
            socket.create_connection(("127.0.0.1", port), timeout=10).close()


def test_serve_first_start_prints_account_and_settings_and_stops_on_sigterm(
        tmp_path: Path) -> None:
    config = write_config(tmp_path)
    server = Serve("--config", str(config))
    try:
        server.wait_for(r"password:")
        server.wait_for(r"Client settings|No door is available")
    except BaseException:
        server.kill()
        raise
    out = "".join(server.output)
    assert "user@example.test" in out
    password = re.search(r"password:\s+(\S+)", out).group(1)
    assert len(password) >= 12
    ports = server.listening()
    try:
        check_banners(ports)
    finally:
        code = server.stop()
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr
    assert password not in server.stderr     # logs never carry a password

    # Second start: the account exists, so no password is printed again; Ctrl-C stops too.
    server = Serve("--config", str(config))
    try:
        server.wait_for(r"Client settings|No door is available")
    finally:
        code = server.stop(signal.SIGINT)
    assert code == 0, server.stderr
    assert "password:" not in "".join(server.output)


def test_serve_with_two_workers_starts_both_and_stops_cleanly(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    server = Serve("--config", str(config), "--workers", "2")
    try:
        server.wait_for(r"password:")
        first = server.wait_for(r"listening")
        # Each worker prints its listeners; with port 0 each has its own ports.
        name = first.split()[1]
        server.wait_for(rf"listening {re.escape(name)} ")
    finally:
        code = server.stop()
    assert code == 0, server.stderr
    assert sum(1 for l in server.output if l.startswith(f"listening {name} ")) == 2


def test_serve_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    config = write_config(tmp_path)
    text = config.read_text().replace("[pop3]\nport = 0", f"[pop3]\nport = {port}")
    config.write_text(text)
    try:
        proc = subprocess.run([sys.executable, "-m", "postroom", "serve", "--config",
                               str(config)], capture_output=True, timeout=60)
    finally:
        busy.close()
    assert proc.returncode == 1
    assert b"cannot start" in proc.stderr and b"Traceback" not in proc.stderr


async def test_start_all_helper_gives_the_ports_and_stops(tmp_path: Path) -> None:
    running = await start_all(ephemeral_config(tmp_path / "data"))
    try:
        assert all(isinstance(p, int) and p > 0 for p in running.ports.values())
    finally:
        await running.stop()
    assert running.doors == []


def test_import_while_the_server_runs_is_seen_over_imap(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from imapclient import IMAPClient

    from postroom.cli import cli

    config = write_config(tmp_path)
    server = Serve("--config", str(config))
    try:
        server.wait_for(r"password:")
        server.wait_for(r"Client settings")
        password = re.search(r"password:\s+(\S+)", "".join(server.output)).group(1)
        port = server.listening()["imap"]
        with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as imap:
            imap.login("user@example.test", password)
            assert imap.select_folder("INBOX")[b"EXISTS"] == 0
            imap.idle()
            mbox = tmp_path / "in.mbox"
            mbox.write_bytes(b"".join(b"From a@b Mon Jan  1 00:00:00 2024\nSubject: m%d\n\n"
                                      b"body\n\n" % i for i in range(3)))
            # Another process (the CLI) writes to the same store while the server runs.
            result = CliRunner().invoke(cli, ["import", "user@example.test", "--mbox",
                                              str(mbox), "--config", str(config)])
            assert result.exit_code == 0, result.output
            responses: list = []
            deadline = time.monotonic() + 15
            while (3, b"EXISTS") not in responses and time.monotonic() < deadline:
                responses += imap.idle_check(timeout=1)
            imap.idle_done()
            assert (3, b"EXISTS") in responses, responses
            fetched = imap.fetch(imap.search(), ["RFC822"])
            assert [m[b"RFC822"] for m in fetched.values()] == [
                b"Subject: m%d\r\n\r\nbody\r\n" % i for i in range(3)]
    finally:
        code = server.stop()
    assert code == 0, server.stderr

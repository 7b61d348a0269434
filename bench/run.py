"""Side-by-side benchmarks of Postroom and Dovecot on loopback (issue 5).

    python -m bench.run [--messages 10000] [--rounds 3] [--only fetch_meta,search_rare]
                        [--no-dovecot] [--workers 1] [--idle 10000] [--idle-dovecot 1000]
                        [--dovecot-maildir] [--json results.json]

Starts Postroom (`postroom serve`, a temporary data folder and config) and, when Dovecot is
installed, a private Dovecot with the same user and the same corpus; runs every workload against
both, alternating, for several rounds; prints the median time of each and the ratio
Postroom/Dovecot (lower is better), plus Postroom's peak memory during each workload (VmHWM,
reset before each run of it). Nothing here is a test: the
numbers are for people, and the JSON output is for comparing commits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from bench import corpus
from bench.client import IMAPClient, POP3Client, SMTPClient
from bench.dovecot import Dovecot, _tree_rss_kb, available as dovecot_available, free_port

USER = "bench@example.test"
PASSWORD = "bench-password-1"


@dataclass
class Target:
    name: str
    imap_port: int
    pop3_port: int
    smtp_port: int | None
    lmtp_port: int | None
    user: str
    password: str
    pid: int
    times: dict[str, list[float]] = field(default_factory=dict)
    peak_kb: dict[str, int] = field(default_factory=dict)

    def rss_kb(self) -> int:
        # Dovecot is a process per connection: its processes' PSS, or shared pages would count
        # once per process. Postroom is one process: plain RSS.
        return _tree_rss_kb(self.pid, proportional=self.name == "dovecot")


class Postroom:
    def __init__(self, workers: int = 1):
        self.workers = workers
        self.tmp = tempfile.mkdtemp(prefix="postroom-bench-")
        self.proc: subprocess.Popen | None = None
        self.ports = {k: free_port() for k in ("imap", "imaps", "pop3", "pop3s", "smtp",
                                               "submission", "submissions", "lmtp", "http",
                                               "https")}

    def start(self) -> None:
        cfg = os.path.join(self.tmp, "postroom.toml")
        p = self.ports
        with open(cfg, "w") as f:
            f.write(f"""
[server]
data_dir = "{self.tmp}/data"
workers = {self.workers}
log_level = "warning"
[imap]
port = {p['imap']}
tls_port = {p['imaps']}
max_connections_per_ip = 100000
max_connections_per_user = 100000
[pop3]
port = {p['pop3']}
tls_port = {p['pop3s']}
delete_policy = "hide"
[smtp]
port = {p['smtp']}
submission_port = {p['submission']}
submissions_port = {p['submissions']}
lmtp_port = {p['lmtp']}
verify_inbound = false
[http]
port = {p['http']}
tls_port = {p['https']}
""")
        env = dict(os.environ)
        run = [sys.executable, "-m", "postroom"]
        subprocess.run(run + ["domain", "add", "example.test", "--config", cfg], check=False,
                       capture_output=True, env=env)
        made = subprocess.run(run + ["user", "add", USER, "--password", PASSWORD, "--config",
                                     cfg], capture_output=True, env=env)
        if made.returncode:
            raise RuntimeError(f"cannot create the bench user: {made.stdout!r} {made.stderr!r}")
        self.log = open(os.path.join(self.tmp, "serve.log"), "wb")
        self.proc = subprocess.Popen(run + ["serve", "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        import socket
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", p["imap"]), timeout=1).close()
                socket.create_connection(("127.0.0.1", p["pop3"]), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        log = open(os.path.join(self.tmp, "serve.log")).read()[-3000:]
        self.stop()
        raise RuntimeError("postroom did not start: " + log)

    def reset_peak(self) -> None:
        """Starts a new peak: Linux resets VmHWM to the current RSS on "5" to clear_refs."""
        for pid in [self.proc.pid] + _children(self.proc.pid):
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass

    def peak_kb(self) -> int:
        """Peak resident memory (VmHWM) summed over the server's processes."""
        total = 0
        pids = [self.proc.pid] + _children(self.proc.pid)
        for pid in pids:
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return out


# --- workloads --------------------------------------------------------------------------------

async def login(t: Target) -> IMAPClient:
    c = await IMAPClient.connect(t.imap_port)
    await c.command(f'LOGIN "{t.user}" "{t.password}"')
    return c


async def selected(t: Target) -> IMAPClient:
    c = await login(t)
    await c.command("SELECT INBOX")
    return c


async def w_append(t: Target, messages: list[bytes]) -> None:
    c = await login(t)
    for raw in messages:
        await c.command("APPEND INBOX", [raw])
    await c.close()


def single(cmd: str, setup: Callable[[IMAPClient], Awaitable[None]] | None = None):
    async def run(t: Target) -> float:
        c = await selected(t)
        if setup:
            await setup(c)
        start = time.perf_counter()
        await c.command(cmd)
        elapsed = time.perf_counter() - start
        await c.close()
        return elapsed
    return run


async def w_select(t: Target, connections: int = 10) -> float:
    """The median SELECT of 10 connections in turn (one SELECT is under a millisecond, too
    short to time alone), each the first SELECT of its session."""
    times = []
    for _ in range(connections):
        c = await login(t)
        start = time.perf_counter()
        await c.command("SELECT INBOX")
        times.append(time.perf_counter() - start)
        await c.close()
    return statistics.median(times)


async def w_store(t: Target) -> float:
    c = await selected(t)
    start = time.perf_counter()
    await c.command("UID STORE 1:* +FLAGS.SILENT (\\Flagged)")
    elapsed = time.perf_counter() - start
    await c.command("UID STORE 1:* -FLAGS.SILENT (\\Flagged)")
    await c.close()
    return elapsed


async def _fresh_folder(c: IMAPClient, name: str) -> None:
    try:
        await c.command(f"DELETE {name}")
    except RuntimeError:
        pass
    await c.command(f"CREATE {name}")


async def w_copy(t: Target) -> float:
    c = await selected(t)
    await _fresh_folder(c, "BenchCopy")
    start = time.perf_counter()
    await c.command("COPY 1:1000 BenchCopy")
    elapsed = time.perf_counter() - start
    await c.command("DELETE BenchCopy")
    await c.close()
    return elapsed


async def w_move(t: Target) -> float:
    c = await selected(t)
    await _fresh_folder(c, "BenchMoveA")
    await _fresh_folder(c, "BenchMoveB")
    await c.command("COPY 1:1000 BenchMoveA")
    await c.command("SELECT BenchMoveA")
    start = time.perf_counter()
    await c.command("MOVE 1:1000 BenchMoveB")
    elapsed = time.perf_counter() - start
    await c.command("UNSELECT")
    await c.command("DELETE BenchMoveA")
    await c.command("DELETE BenchMoveB")
    await c.close()
    return elapsed


def concurrent_clients(n: int):
    async def one(t: Target) -> None:
        c = await selected(t)
        await c.command("FETCH 1:10 (FLAGS ENVELOPE)")
        await c.command("FETCH 1 BODY.PEEK[]")
        await c.close()

    async def run(t: Target) -> float:
        start = time.perf_counter()
        # Connections are opened at once, as a burst of users would.
        await asyncio.gather(*(one(t) for _ in range(n)))
        return time.perf_counter() - start
    return run


def logins_imap(clients: int = 50, rounds: int = 3):
    async def one(t: Target) -> None:
        c = await login(t)
        await c.command("SELECT INBOX")
        await c.close()

    async def run(t: Target) -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(one(t) for _ in range(clients)))
        return time.perf_counter() - start
    return run


def logins_pop3(clients: int = 50, rounds: int = 3):
    async def one(t: Target) -> None:
        c = await POP3Client.connect(t.pop3_port)
        await c.login(t.user, t.password)
        await c.simple("STAT")
        await c.close()

    async def run(t: Target) -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(one(t) for _ in range(clients)))
        return time.perf_counter() - start
    return run


async def w_pop3_retr(t: Target) -> float:
    c = await POP3Client.connect(t.pop3_port)
    start = time.perf_counter()
    await c.login(t.user, t.password)
    listing = await c.multi("LIST")
    await c.multi("UIDL")
    count = len(listing.split(b"\r\n")) - 3
    for i in range(1, count + 1):
        await c.multi(f"RETR {i}")
    elapsed = time.perf_counter() - start
    # RSET-free QUIT: nothing was deleted.
    await c.close()
    return elapsed


def _inbound_messages(count: int = 1000, size: int = 10_000) -> list[bytes]:
    line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
    filler = (line * (size // len(line) + 1))[:size]
    return [(f"From: Sender {i} <sender{i}@example.org>\r\nTo: {USER}\r\n"
             f"Subject: inbound {i}\r\nMessage-ID: <in{i}@example.org>\r\n"
             f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n{filler}\r\n").encode()
            for i in range(count)]


def inbound(senders: int, lmtp: bool):
    """1,000 messages of 10 KB delivered by `senders` concurrent connections, over SMTP (the MX
    door; Postroom only: Dovecot has no SMTP server) or LMTP (both)."""
    messages = _inbound_messages()

    async def one(t: Target, batch: list[bytes]) -> None:
        c = await SMTPClient.connect(t.lmtp_port if lmtp else t.smtp_port, lmtp=lmtp)
        for raw in batch:
            await c.send("sender@example.org", [t.user], raw)
        await c.close()

    async def run(t: Target) -> float:
        if (t.lmtp_port if lmtp else t.smtp_port) is None:
            return float("nan")
        start = time.perf_counter()
        await asyncio.gather(*(one(t, messages[i::senders]) for i in range(senders)))
        return time.perf_counter() - start
    return run


WORKLOADS: dict[str, Callable[[Target], Awaitable[float]]] = {
    "select": w_select,
    "fetch_flags": single("UID FETCH 1:* (FLAGS)"),
    "fetch_meta": single("UID FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE)"),
    "fetch_body": single("UID FETCH 1:* BODY.PEEK[]"),
    "fetch_part1": single("UID FETCH 1:* BODY.PEEK[1]"),
    "search_rare": single(f"UID SEARCH TEXT {corpus.RARE_WORD}"),
    "search_common": single(f"UID SEARCH TEXT {corpus.COMMON_WORD}"),
    "search_from": single("UID SEARCH FROM alice"),
    "sort_date": single("UID SORT (DATE) UTF-8 ALL"),
    "store_flags": w_store,
    "copy_1000": w_copy,
    "move_1000": w_move,
    "clients_10": concurrent_clients(10),
    "clients_100": concurrent_clients(100),
    "clients_1000": concurrent_clients(1000),
    "logins_imap_50": logins_imap(),
    "logins_pop3_50": logins_pop3(),
    "pop3_retr_all": w_pop3_retr,
    # Last: they add 1,000 messages to INBOX each round.
    "smtp_in_1": inbound(1, lmtp=False),
    "smtp_in_10": inbound(10, lmtp=False),
    "lmtp_in_1": inbound(1, lmtp=True),
    "lmtp_in_10": inbound(10, lmtp=True),
}


def _anon_kb(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        kids = _children(stack.pop())
        out += kids
        stack += kids
    return out


async def settle(pid: int, limit: float = 600) -> float:
    """Waits until the server's processes use under 5% of a core for a second (or ``limit``
    seconds); returns how long that took."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        before = _cpu_seconds(pid)
        await asyncio.sleep(1)
        if _cpu_seconds(pid) - before < 0.05:
            break
    return time.perf_counter() - start


async def idle_sessions(t: Target, n: int, rss_before: int) -> dict:
    """n sessions in IDLE on INBOX; one APPEND from another session; time until all saw it."""
    sessions = []
    for i in range(0, n, 200):
        batch = await asyncio.gather(*(selected(t) for _ in range(min(200, n - i))))
        for c in batch:
            await c.idle_start()
        sessions.extend(batch)
    rss = t.rss_kb()
    anon = _anon_kb(t.pid) if t.name == "postroom" else None
    pusher = await selected(t)
    start = 0.0

    async def seen(c: IMAPClient) -> float:
        while True:
            line = await c.idle_wait()
            if b"EXISTS" in line:
                return time.perf_counter() - start
    # The readers wait before the APPEND, so making 10,000 tasks is not counted as latency.
    waiting = asyncio.gather(*(seen(c) for c in sessions))
    await asyncio.sleep(0.5)
    cpu = _cpu_seconds(t.pid)
    start = time.perf_counter()
    await pusher.command("APPEND INBOX", [corpus.generate(1, seed=99).__next__()])
    latencies = await waiting
    # The server's own CPU time for the APPEND and the push (in 10 ms ticks), apart from the
    # client's, which shares the machine.
    cpu = _cpu_seconds(t.pid) - cpu
    for c in sessions:
        c.w.close()
    await pusher.close()
    # RSS also counts database pages read through the store's mapping (page cache, up to
    # 256 MB); the anonymous part is the process's own memory.
    return {"sessions": n, "rss_mb": rss / 1024,
            "anon_mb": anon / 1024 if anon is not None else None,
            "kb_per_session": (rss - rss_before) / n,
            "push_all_s": max(latencies), "push_median_s": statistics.median(latencies),
            "push_server_cpu_s": cpu}


async def main_async(args) -> dict:
    messages = list(corpus.generate(args.messages, seed=1))
    size_mb = sum(map(len, messages)) / 1e6
    print(f"corpus: {len(messages)} messages, {size_mb:.1f} MB; machine: {platform.node()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    targets: list[Target] = []
    pr = Postroom(args.workers)
    pr.start()
    targets.append(Target("postroom", pr.ports["imap"], pr.ports["pop3"], pr.ports["smtp"],
                          pr.ports["lmtp"], USER, PASSWORD, pr.proc.pid))
    dc = None
    if not args.no_dovecot and dovecot_available():
        dc = Dovecot({USER: PASSWORD})
        dc.start()
        targets.append(Target("dovecot", dc.imap_port, dc.pop3_port, None,
                              dc.lmtp_port or None, USER, PASSWORD, dc.proc.pid))
    elif not args.no_dovecot:
        print("dovecot is not installed: Postroom figures only")
    try:
        only = set(args.only.split(",")) if args.only else None
        for t in targets:
            pr.reset_peak()
            start = time.perf_counter()
            if t.name == "dovecot" and args.dovecot_maildir:
                dc.load_maildir(t.user, messages)
                print(f"  dovecot: corpus written as Maildir files, not appended")
                t.times["append"] = [float("nan")]
            else:
                await w_append(t, messages)
                t.times["append"] = [time.perf_counter() - start]
            if t.name == "postroom":
                t.peak_kb["append"] = pr.peak_kb()
            print(f"  append to {t.name}: {t.times['append'][0]:.1f} s")
            # One SELECT first, so Dovecot's index is built before anything is timed; then
            # wait for background work (Postroom feeds its search index after a bulk load).
            c = await selected(t)
            await c.close()
            waited = await settle(t.pid)
            print(f"  {t.name} settled {waited:.1f} s after loading")
        for name, fn in WORKLOADS.items():
            if only and name not in only:
                continue
            for r in range(args.rounds):
                order = targets if r % 2 == 0 else list(reversed(targets))
                for t in order:
                    if t.name == "postroom":
                        pr.reset_peak()
                    try:
                        elapsed = await asyncio.wait_for(fn(t), args.timeout)
                    except Exception as e:  # a failing workload is reported, not fatal
                        print(f"  {name} on {t.name} failed: {e!r}"[:300])
                        elapsed = float("nan")
                    t.times.setdefault(name, []).append(elapsed)
                    if t.name == "postroom":
                        t.peak_kb[name] = max(t.peak_kb.get(name, 0), pr.peak_kb())
            print("  " + name + ": " + ", ".join(
                f"{t.name} {statistics.median(t.times[name]):.3f}s" for t in targets))
        idle = None
        if args.idle:
            before = targets[0].rss_kb()
            idle = await idle_sessions(targets[0], args.idle, before)
            print(f"  idle: {idle}")
        if args.idle_dovecot and len(targets) > 1:
            # Dovecot runs one imap process per connection (its default): 10,000 would be
            # 10,000 processes, over its process limit here; N of them show the cost of each.
            before = targets[1].rss_kb()
            dc_idle = await idle_sessions(targets[1], args.idle_dovecot, before)
            print(f"  idle on dovecot: {dc_idle}")
            idle = {"postroom": idle, "dovecot": dc_idle}
        peak = max([pr.peak_kb(), *targets[0].peak_kb.values()])
    finally:
        pr.stop()
        if dc:
            dc.stop()
    return report(targets, idle, peak, args)


def report(targets: list[Target], idle, peak_kb: int, args) -> dict:
    names = list(targets[0].times)
    print()
    header = f"{'workload':<18}" + "".join(f"{t.name:>12}" for t in targets)
    if len(targets) > 1:
        header += f"{'ratio':>10}"
    header += f"{'peak MB':>10}"
    print(header)
    result = {"messages": args.messages, "rounds": args.rounds, "workloads": {},
              "postroom_peak_mb": peak_kb / 1024, "idle": idle}
    for n in names:
        meds = [statistics.median(t.times.get(n, [float("nan")])) for t in targets]
        row = f"{n:<18}" + "".join(f"{m:>11.3f}s" if m == m else f"{'-':>12}" for m in meds)
        entry = {t.name: m for t, m in zip(targets, meds)}
        if len(targets) > 1 and meds[1] > 0:
            ratio = meds[0] / meds[1]
            row += f"{ratio:>10.2f}"
            entry["ratio"] = ratio
        elif len(targets) > 1:
            row += f"{'-':>10}"
        peak = targets[0].peak_kb.get(n)
        if peak:
            row += f"{peak / 1024:>10.0f}"
            entry["postroom_peak_mb"] = peak / 1024
        print(row)
        result["workloads"][n] = entry
    print(f"\nPostroom peak memory over the whole run: {peak_kb / 1024:.0f} MB")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--no-dovecot", action="store_true")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--idle", type=int, default=0, help="also hold N IDLE sessions (Postroom)")
    ap.add_argument("--idle-dovecot", type=int, default=0,
                    help="also hold N IDLE sessions on Dovecot (one process each; N < 2000)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--dovecot-maildir", action="store_true",
                    help="load Dovecot by writing Maildir files (for 100,000 messages), "
                         "not by APPEND")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    try:  # the client's own overhead should be as small as we can make it, for both servers
        import uvloop
        result = uvloop.run(main_async(args))
    except ImportError:
        result = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()

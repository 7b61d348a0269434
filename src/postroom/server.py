"""Runs Postroom: opens the store, builds the doors' ServerContext, starts every enabled door on
one asyncio loop (uvloop when installed) and stops them in reverse order on Ctrl-C or SIGTERM.
``--workers N`` forks N such processes on the same ports (doors bind with SO_REUSEPORT when
``config.server.workers > 1``), supervised by the parent (DESIGN.md, "Processes").
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from postroom.config import Config, ConfigError
from postroom.context import Door, ServerContext
from postroom.log import get_logger
from postroom.store.api import Store

SWITCH_INTERVAL = 0.0005   # seconds; see run_loop
GC_THRESHOLDS = (10_000, 10, 10)   # see run_loop

log = get_logger("server")

# (config section, module) of every door, in start order; stopped in the reverse order.
# A module that does not exist yet, or has no ``start`` yet, is skipped with a log line, so
# ``serve`` works while doors are being written.
DOORS: tuple[tuple[str, str], ...] = (
    ("smtp", "postroom.smtp"),
    ("imap", "postroom.imap"),
    ("pop3", "postroom.pop3"),
    ("http", "postroom.http"),
)

# Listener names doors report in Door.ports, as shown to users in the client settings.
_LISTENERS: dict[str, tuple[str, str]] = {
    "imap": ("IMAP", "STARTTLS"),
    "imaps": ("IMAP", "SSL/TLS"),
    "pop3": ("POP3", "STARTTLS"),
    "pop3s": ("POP3", "SSL/TLS"),
    "submission": ("SMTP (sending)", "STARTTLS"),
    "submissions": ("SMTP (sending)", "SSL/TLS"),
    "smtp": ("SMTP (receiving, MX)", "STARTTLS"),
    "lmtp": ("LMTP", "none"),
    "http": ("Web / ActiveSync / DAV", "none"),
    "https": ("Web / ActiveSync / DAV", "SSL/TLS"),
}


# --- the store and the context ------------------------------------------------------------------

def open_store(config: Config) -> Store:
    """The configured backend, not yet opened."""
    if config.store.backend == "sqlite":
        from postroom.store.sqlite import SQLiteStore
        config.data_path.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(config.data_path)
    raise ConfigError(f"store.backend: {config.store.backend!r} is not available in this "
                      f"version (use \"sqlite\")")


def build_context(config: Config, store: Store) -> ServerContext:
    from postroom.auth import tls
    from postroom.auth.authenticator import Authenticator
    return ServerContext(config, store, Authenticator(store, config.auth),
                         tls.server_context(config))


def check_config(config: Config) -> list[str]:
    """Problems a well-typed config can still have, each naming the key; empty when fine."""
    problems: list[str] = []
    if config.server.workers < 1:
        problems.append(f"server.workers: must be at least 1, got {config.server.workers}")
    if not config.server.data_dir:
        problems.append("server.data_dir: must not be empty")
    if config.store.default_quota_mb < 0:
        problems.append("store.default_quota_mb: must not be negative")
    if config.store.max_message_size <= 0:
        problems.append("store.max_message_size: must be positive")
    if "." not in config.server.initial_domain:
        problems.append(f"server.initial_domain: not a domain name: "
                        f"{config.server.initial_domain!r}")
    if bool(config.tls.cert_file) != bool(config.tls.key_file):
        problems.append("tls.cert_file and tls.key_file: set both or neither")
    for key in ("cert_file", "key_file"):
        path = getattr(config.tls, key)
        if path and not Path(path).is_file():
            problems.append(f"tls.{key}: no such file: {path}")
    # Two enabled listeners on one port would fail at bind time with a less helpful message.
    seen: dict[int, str] = {}
    for section, _ in DOORS:
        settings = getattr(config, section)
        if not settings.enabled:
            continue
        for key, value in vars(settings).items():
            if key.endswith("port") and isinstance(value, int) and value:
                name = f"{section}.{key}"
                if value in seen:
                    problems.append(f"{name}: port {value} is also used by {seen[value]}")
                else:
                    seen[value] = name
    return problems


async def bootstrap_initial(store: Store, config: Config) -> tuple[str, str] | None:
    """On an empty store: the initial domain and user. Returns (email, password) when created."""
    if await store.list_domains() or await store.list_accounts():
        return None
    from postroom.auth.passwords import generate_password, make_credentials
    domain = config.server.initial_domain.lower()
    email = f"{config.server.initial_user}@{domain}".lower()
    password = generate_password()
    password_hash, scram = await asyncio.to_thread(make_credentials, password)
    await store.add_domain(domain)
    await store.create_account(email, password_hash, scram,
                               config.store.default_quota_mb * 1024 * 1024)
    log.info("first start: created domain %s and account %s", domain, email)
    return email, password


# --- starting and stopping the doors ------------------------------------------------------------

def _door_starter(section: str, module: str) -> Callable[[ServerContext], Any] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        if e.name and (e.name == module or e.name.startswith(module + ".")):
            log.info("door %s: not available in this build, skipped", section)
        else:
            # A library the door needs is not installed: the other doors still serve.
            log.warning("door %s: cannot be loaded (%s), skipped", section, e)
        return None
    start = getattr(mod, "start", None)
    if start is None:
        log.info("door %s: module has no start() yet, skipped", section)
    return start


def ephemeral_config(data_dir: str | Path) -> Config:
    """Defaults with every listener on port 0 (the OS picks) and data in ``data_dir``: what
    tests pass to ``start_all``. LMTP stays off (its port 0 means off)."""
    config = Config()
    config.server.data_dir = str(data_dir)
    for section, _ in DOORS:
        settings = getattr(config, section)
        for key in vars(settings):
            if key.endswith("port") and key != "lmtp_port":
                setattr(settings, key, 0)
    return config


@dataclass
class RunningServer:
    """Every started door of one process. ``ports`` merges the doors' ``Door.ports``."""
    context: ServerContext
    doors: list[Door] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    owns_store: bool = False

    async def stop(self) -> None:
        """Stops the doors in reverse start order, then closes the store if it opened it."""
        for door in reversed(self.doors):
            try:
                await door.stop()
            except Exception:
                log.exception("door %s: error while stopping", getattr(door, "name", door))
        self.doors.clear()
        if self.owns_store:
            await self.context.store.close()
            self.owns_store = False


async def start_all(config: Config, store: Store | None = None) -> RunningServer:
    """Starts every enabled door. Opens (and later closes) the store unless one is given.

    For tests: set the ports to 0 in ``config``, then read ``running.ports``.
    """
    owns_store = store is None
    if store is None:
        store = open_store(config)
        await store.open()
    try:
        context = build_context(config, store)
    except BaseException:
        if owns_store:
            await store.close()
        raise
    running = RunningServer(context, owns_store=owns_store)
    try:
        for section, module in DOORS:
            if not getattr(config, section).enabled:
                continue
            start = _door_starter(section, module)
            if start is None:
                continue
            door = await start(context)
            running.doors.append(door)
            running.ports.update(door.ports)
    except BaseException:
        await running.stop()
        raise
    return running


# --- what serve prints --------------------------------------------------------------------------

def print_listening(console: Console, config: Config, ports: dict[str, int]) -> None:
    # One plain line per listener, so scripts (and tests with port 0) can find the real ports.
    for name, port in ports.items():
        console.print(f"listening {name} {config.server.bind}:{port}", soft_wrap=True,
                      markup=False, highlight=False)


def print_first_start(console: Console, created: tuple[str, str]) -> None:
    email, password = created
    console.print()
    console.print("[bold]First start:[/] created the account below. "
                  "The password is shown only this once.")
    console.print(f"  user:     [bold]{email}[/]", soft_wrap=True)
    console.print(f"  password: [bold]{password}[/]", soft_wrap=True, highlight=False)


def print_client_settings(console: Console, config: Config, ports: dict[str, int],
                          created: tuple[str, str] | None) -> None:
    if created:
        print_first_start(console, created)
    table = Table(title="Client settings (user name: the full e-mail address)")
    table.add_column("service")
    table.add_column("server")
    table.add_column("port", justify="right")
    table.add_column("security")
    order = list(_LISTENERS)
    for name, port in sorted(ports.items(),
                             key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
        label, security = _LISTENERS.get(name, (name, ""))
        table.add_row(label, config.server.hostname, str(port), security)
    if ports:
        console.print(table)
        if not config.tls.cert_file:
            console.print(f"The certificate is self-signed (in {config.data_path / 'tls'}): "
                          f"mail apps ask once whether to trust it.", soft_wrap=True)
    else:
        console.print("No door is available in this build yet: nothing listens.")


# --- the event loop, signals and workers --------------------------------------------------------

def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_loop(coro: Any) -> Any:
    """Runs ``coro`` to completion on a fresh loop (uvloop when installed)."""
    # The store's threads (SQLite, blob reads) give up the GIL for every query and then wait
    # to get it back; with the default 5 ms switch interval a busy event loop makes each wait
    # up to 5 ms (the GIL convoy), and a FETCH of a whole mailbox spent more time waiting than
    # reading. 0.5 ms measured best for that FETCH (0.2 ms costs more in switching).
    sys.setswitchinterval(SWITCH_INTERVAL)
    # A server holds many long-lived objects (10,000 idle sessions are millions), and with
    # the default first threshold (700 allocations) the collector scanned them all several
    # times while one change was pushed to every session: 1.6 s for the push, 0.58 s with
    # collections 14 times rarer. Reference counting still frees everything acyclic at once.
    gc.set_threshold(*GC_THRESHOLDS)
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(coro)


async def run_server(config: Config, console: Console | None = None, *,
                     bootstrap: bool = True, show_settings: bool = True) -> None:
    """Serves until SIGINT or SIGTERM, then stops every door and closes the store."""
    console = console or Console()
    store = open_store(config)
    await store.open()
    try:
        created = await bootstrap_initial(store, config) if bootstrap else None
        running = await start_all(config, store=store)
    except BaseException:
        await store.close()
        raise
    try:
        print_listening(console, config, running.ports)
        if show_settings:
            print_client_settings(console, config, running.ports, created)
        log.info("started %d door(s): %s", len(running.doors),
                 ", ".join(f"{k}={v}" for k, v in running.ports.items()) or "none")
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await stopping.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        log.info("stopping")
    finally:
        await running.stop()
        await store.close()
    log.info("stopped")


async def _prepare(config: Config, console: Console) -> None:
    """Work the parent does once before forking workers, so they do not race each other:
    the first-start account and the self-signed certificate."""
    store = open_store(config)
    await store.open()
    try:
        created = await bootstrap_initial(store, config)
        build_context(config, store)
    finally:
        await store.close()
    if created:
        print_first_start(console, created)


def serve(config: Config, console: Console | None = None) -> int:
    """``postroom serve``: one loop in this process, or ``config.server.workers`` processes."""
    console = console or Console()
    if config.server.workers <= 1:
        run_loop(run_server(config, console))
        return 0
    run_loop(_prepare(config, console))
    return _supervise(config, console)


def _supervise(config: Config, console: Console) -> int:
    """Forks the workers, forwards SIGINT/SIGTERM to them, restarts one that dies unexpectedly
    (giving up when they keep dying at start), and returns when all have stopped."""
    workers = config.server.workers
    children: dict[int, tuple[int, float]] = {}   # pid -> (worker index, start time)
    stopping = False
    quick_deaths = 0

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                run_loop(run_server(config, console, bootstrap=False,
                                    show_settings=(index == 0)))
            except OSError as e:
                # Most often a port in use: a door that does not bind with SO_REUSEPORT.
                log.error("worker %d cannot start: %s", index, e)
                code = 1
            except BaseException:
                log.exception("worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = (index, time.monotonic())
        log.info("worker %d started (pid %d)", index, pid)

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    failed = False
    try:
        for i in range(workers):
            spawn(i)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index, started = children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                continue
            log.warning("worker %d (pid %d) exited with %d", index, pid, code)
            quick_deaths = quick_deaths + 1 if time.monotonic() - started < 5 else 0
            if quick_deaths >= 3:
                log.error("workers keep failing at start; stopping")
                failed = True
                forward(signal.SIGTERM, None)
                continue
            spawn(index)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 1 if failed else 0

"""A running HTTP door (DAV) on 127.0.0.1 (ports 0) over an embedded store with users alice and
bob; shared by tests/dav, tests/pim and tests/interop/test_dav_*.py. ``with_smtp`` adds the SMTP
door (MX, submission, delivery worker) on the same store, for tests that send mail across."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import AsyncIterator

import argon2

from postroom import http
from postroom.auth import passwords
from postroom.auth.authenticator import Authenticator
from postroom.auth.tls import server_context
from postroom.config import Config
from postroom.context import ServerContext
from postroom.smtp import SMTPDoor
from postroom.smtp import start as start_smtp
from postroom.store.api import Account
from postroom.store.sqlite import SQLiteStore

CHEAP = argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                          time_cost=1, memory_cost=64, parallelism=1)
PASSWORD = "correct horse"
ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"


@dataclass
class DavEnv:
    config: Config
    store: SQLiteStore
    door: http.HttpDoor
    ctx: ServerContext
    accounts: dict[str, Account]
    domain: str = "example.test"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.door.ports['http']}"

    def dav_url(self, user: str = ALICE) -> str:
        return f"{self.url}/dav/"

    async def add_user(self, email: str) -> Account:
        pw_hash, scram = passwords.make_credentials(PASSWORD, parameters=CHEAP)
        acc = await self.store.create_account(email, pw_hash, scram)
        self.accounts[email] = acc
        return acc


@contextlib.asynccontextmanager
async def running_dav(tmp_path, users=(ALICE, BOB, CAROL), tls: bool = False,
                      domain: str = "example.test") -> AsyncIterator[DavEnv]:
    config = Config()
    config.server.data_dir = str(tmp_path / "data")
    config.http.port = 0
    config.http.tls_port = 0 if tls else -1
    store = SQLiteStore(tmp_path / "data", watch_interval=0.05)
    await store.open()
    await store.add_domain(domain)
    auth = Authenticator(store, config.auth, password_parameters=CHEAP)
    ctx = ServerContext(config, store, auth, server_context(config))
    door = await http.start(ctx)
    env = DavEnv(config, store, door, ctx, {}, domain)
    for u in users:
        await env.add_user(u)
    try:
        yield env
    finally:
        await door.stop()
        await store.close()


@contextlib.asynccontextmanager
async def with_smtp(env: DavEnv, dns_server: str) -> AsyncIterator[SMTPDoor]:
    """The SMTP door of ``env``'s server on 127.0.0.1 (ports 0). Inbound mail is not checked
    for SPF/DKIM/DMARC; outbound mail follows ``env.config.smtp.routes`` (set them once both
    servers run) and any other look-up goes to ``dns_server`` (tests/smtp/dnsserver.py)."""
    settings = env.config.smtp
    settings.port = settings.submission_port = settings.submissions_port = 0
    settings.verify_inbound = False
    settings.dns_server = dns_server
    settings.retry_schedule_seconds = [1]
    env.config.server.hostname = f"mx.{env.domain}"
    door = await start_smtp(env.ctx)
    try:
        yield door
    finally:
        await door.stop()

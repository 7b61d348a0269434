"""A running SMTP door on 127.0.0.1 (ports 0) over its own embedded store, with a test DNS server;
shared by tests/smtp and the real-client tests in tests/interop/test_smtp_*.py."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import AsyncIterator

import argon2

from postroom.auth import passwords
from postroom.auth.authenticator import Authenticator
from postroom.auth.tls import server_context
from postroom.config import Config
from postroom.context import ServerContext
from postroom.smtp import SMTPDoor, start
from postroom.store.api import Account
from postroom.store.sqlite import SQLiteStore

from .dnsserver import TestDNS

# Tests only: a real login would never use 64 KiB and one pass.
CHEAP = argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                          time_cost=1, memory_cost=64, parallelism=1)
PASSWORD = "correct horse"


def message(sender: str, to: str, subject: str = "Hello", body: str = "Hello world\r\n",
            extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}"
            f"@test>\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
            f"{body}").encode("utf-8")


@dataclass
class SMTPEnv:
    config: Config
    store: SQLiteStore
    door: SMTPDoor
    ctx: ServerContext
    domain: str
    dns: TestDNS
    accounts: dict[str, Account] = field(default_factory=dict)

    @property
    def mx_port(self) -> int:
        return self.door.ports["smtp"]

    @property
    def submission_port(self) -> int:
        return self.door.ports["submission"]

    @property
    def submissions_port(self) -> int:
        return self.door.ports["submissions"]

    async def add_user(self, local: str, quota_bytes: int = 0) -> Account:
        pw_hash, scram = passwords.make_credentials(PASSWORD, parameters=CHEAP)
        account = await self.store.create_account(f"{local}@{self.domain}", pw_hash, scram,
                                                  quota_bytes=quota_bytes)
        self.accounts[local] = account
        return account

    async def messages(self, local: str, mailbox: str = "INBOX") -> list[bytes]:
        """The raw messages in one of the user's mailboxes, oldest first."""
        account = self.accounts[local]
        box = await self.store.get_mailbox(account.id, mailbox)
        assert box is not None, mailbox
        uids = await self.store.uids(account.id, box.id)
        rows = await self.store.fetch(account.id, box.id, uids)
        return [await self.store.read_blob(r.blob) for r in rows]


async def make_env(tmp_path, domain: str = "example.test", *, dns: TestDNS | None = None,
                   users: tuple[str, ...] = ("alice", "bob"), auth_settings: dict | None = None,
                   **smtp_settings) -> SMTPEnv:
    config = Config()
    config.server.data_dir = str(tmp_path / domain)
    config.server.hostname = f"mx.{domain}"
    config.smtp.port = 0
    config.smtp.submission_port = 0
    config.smtp.submissions_port = 0
    if dns is None:
        dns = TestDNS().start()
    config.smtp.dns_server = dns.server
    for key, value in smtp_settings.items():
        if key.startswith("store_"):
            setattr(config.store, key[6:], value)
        else:
            setattr(config.smtp, key, value)
    for key, value in (auth_settings or {}).items():
        setattr(config.auth, key, value)
    store = SQLiteStore(tmp_path / domain, watch_interval=0.05)
    await store.open()
    await store.add_domain(domain)
    auth = Authenticator(store, config.auth, password_parameters=CHEAP)
    ctx = ServerContext(config, store, auth, server_context(config))
    door = await start(ctx)
    env = SMTPEnv(config, store, door, ctx, domain, dns)
    for user in users:
        await env.add_user(user)
    return env


@contextlib.asynccontextmanager
async def running_smtp(tmp_path, domain: str = "example.test", **kwargs
                       ) -> AsyncIterator[SMTPEnv]:
    own_dns = "dns" not in kwargs
    env = await make_env(tmp_path, domain, **kwargs)
    try:
        yield env
    finally:
        await env.door.stop()
        await env.store.close()
        if own_dns:
            env.dns.stop()

"""A running IMAP door on 127.0.0.1 (ports 0) over an embedded store with one account, and
helpers to put messages in it."""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from dataclasses import dataclass

import argon2
import pytest

from postroom.auth import passwords
from postroom.auth.authenticator import Authenticator
from postroom.auth.tls import server_context
from postroom.config import Config
from postroom.context import ServerContext
from postroom.imap import IMAPDoor, start
from postroom.store.api import Account, Mailbox
from postroom.store.sqlite import SQLiteStore
from tests.conftest import make_message

CHEAP = argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                          time_cost=1, memory_cost=64, parallelism=1)
USER = "alice@example.test"
PASSWORD = "correct horse"


@dataclass
class ImapEnv:
    config: Config
    store: SQLiteStore
    door: IMAPDoor
    account: Account
    inbox: Mailbox
    ctx: ServerContext

    @property
    def port(self) -> int:
        return self.door.ports["imap"]

    @property
    def tls_port(self) -> int:
        return self.door.ports["imaps"]

    async def deliver(self, raw: bytes | None = None, mailbox: Mailbox | None = None,
                      flags=(), **kw) -> int:
        raw = raw if raw is not None else make_message(**kw)
        result = await self.store.append(self.account.id, (mailbox or self.inbox).id, raw,
                                         flags)
        return result.uid

    def client(self) -> imaplib.IMAP4:
        """A logged-in imaplib client (run it in a thread: it blocks)."""
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        c.login(USER, PASSWORD)
        return c


async def make_env(tmp_path, **imap_settings) -> ImapEnv:
    config = Config()
    config.server.data_dir = str(tmp_path / "data")
    config.imap.port = 0
    config.imap.tls_port = 0
    for key, value in imap_settings.items():
        setattr(config.imap, key, value)
    store = SQLiteStore(tmp_path / "data", watch_interval=0.05)
    await store.open()
    await store.add_domain("example.test")
    pw_hash, scram = passwords.make_credentials(PASSWORD, parameters=CHEAP)
    account = await store.create_account(USER, pw_hash, scram)
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    auth = Authenticator(store, config.auth, password_parameters=CHEAP)
    ctx = ServerContext(config, store, auth, server_context(config))
    door = await start(ctx)
    return ImapEnv(config, store, door, account, inbox, ctx)


@pytest.fixture
async def imap(tmp_path):
    env = await make_env(tmp_path)
    try:
        yield env
    finally:
        await env.door.stop()
        await env.store.close()


def insecure_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def in_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)

"""A running IMAP door on 127.0.0.1 (ports 0) over an embedded store with one account, and
helpers to put messages in it."""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from dataclasses import dataclass

import pytest

from postroom.imap import IMAPDoor, start
from postroom.config import Config
from postroom.context import ServerContext
from postroom.store.api import Account, Mailbox
from postroom.store.sqlite import SQLiteStore
from tests.helpers import CHEAP, PASSWORD, USER, door_setup  # noqa: F401 (re-exported)
from tests.conftest import make_message



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
    d = await door_setup(tmp_path, "imap", **imap_settings)
    door = await start(d.ctx)
    return ImapEnv(d.config, d.store, door, d.account, d.inbox, d.ctx)


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

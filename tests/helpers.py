"""Small helpers shared by tests of several doors."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import argon2

from postroom.auth import passwords
from postroom.auth.authenticator import Authenticator
from postroom.auth.tls import server_context
from postroom.config import Config
from postroom.context import ServerContext
from postroom.store.api import Account, Mailbox
from postroom.store.sqlite import SQLiteStore


async def eventually(check, timeout: float = 10.0):
    """Awaits ``check()`` until it returns something true (and returns that), or fails after
    ``timeout`` seconds: for effects that arrive through a queue or another server."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# Argon2 parameters cheap enough for tests (never the server's default).
CHEAP = argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                          time_cost=1, memory_cost=64, parallelism=1)
USER = "alice@example.test"
PASSWORD = "correct horse"


@dataclass
class DoorSetup:
    config: Config
    store: SQLiteStore
    account: Account
    inbox: Mailbox
    ctx: ServerContext


async def door_setup(tmp_path, section: str, **settings) -> DoorSetup:
    """What a door's tests start it with: a config whose ``section`` ports are 0 (plus
    ``settings`` in that section), an opened store with example.test and USER, and the
    ServerContext."""
    config = Config()
    config.server.data_dir = str(tmp_path / "data")
    door_settings = getattr(config, section)
    door_settings.port = 0
    door_settings.tls_port = 0
    for key, value in settings.items():
        setattr(door_settings, key, value)
    store = SQLiteStore(tmp_path / "data", watch_interval=0.05)
    await store.open()
    await store.add_domain("example.test")
    pw_hash, scram = passwords.make_credentials(PASSWORD, parameters=CHEAP)
    account = await store.create_account(USER, pw_hash, scram)
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    auth = Authenticator(store, config.auth, password_parameters=CHEAP)
    return DoorSetup(config, store, account, inbox,
                     ServerContext(config, store, auth, server_context(config)))

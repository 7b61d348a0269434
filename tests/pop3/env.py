"""A running POP3 door on 127.0.0.1 (ports 0) over an embedded store with one account; shared by
tests/pop3 and the real-client tests in tests/interop/test_pop3_*.py."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import AsyncIterator

import argon2

from postroom.auth import passwords
from postroom.auth.authenticator import Authenticator
from postroom.auth.tls import server_context
from postroom.config import Config
from postroom.context import ServerContext
from postroom.mail.message import ParsedMessage, Part
from postroom.pop3 import Pop3Door, start
from postroom.store.api import Account, Mailbox
from postroom.store.sqlite import SQLiteStore

# Tests only: a real login would never use 64 KiB and one pass.
CHEAP = argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                          time_cost=1, memory_cost=64, parallelism=1)
USER = "alice@example.test"
PASSWORD = "correct horse"


def parsed(raw: bytes) -> ParsedMessage:
    """The index row for a test message (mail.parse when it is there; POP3 needs only size)."""
    try:
        from postroom.mail.parse import parse_message
    except ImportError:
        return ParsedMessage(
            size=len(raw), envelope=b"NIL", bodystructure=b"NIL", body=b"NIL",
            parts=Part("", 0, 0, len(raw), "text/plain", "7bit"), sent_date=None, subject="",
            sort_subject="", sort_from="", sort_to="", sort_cc="", display_from="",
            display_to="", message_id=None, in_reply_to=None, references=[], preview="",
            from_text="", to_text="", cc_text="", bcc_text="", headers_text="", body_text="")
    return parse_message(raw)


def message(n: int, body: str = "Hello\r\n") -> bytes:
    return (f"From: bob@example.org\r\nTo: {USER}\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@example.org>\r\n\r\n{body}").encode()


@dataclass
class Pop3Env:
    config: Config
    store: SQLiteStore
    door: Pop3Door
    account: Account
    inbox: Mailbox
    ctx: ServerContext

    @property
    def port(self) -> int:
        return self.door.ports["pop3"]

    @property
    def tls_port(self) -> int:
        return self.door.ports["pop3s"]

    async def deliver(self, raw: bytes) -> int:
        result = await self.store.append(self.account.id, self.inbox.id, raw,
                                         parsed=parsed(raw))
        return result.uid

    async def set_policy(self, policy: str) -> None:
        self.account = await self.store.update_account(
            self.account.id, settings={**self.account.settings, "pop3_delete": policy})


async def make_env(tmp_path, **pop3_settings) -> Pop3Env:
    config = Config()
    config.server.data_dir = str(tmp_path / "data")
    config.pop3.port = 0
    config.pop3.tls_port = 0
    for key, value in pop3_settings.items():
        setattr(config.pop3, key, value)
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
    return Pop3Env(config, store, door, account, inbox, ctx)


@contextlib.asynccontextmanager
async def running_pop3(tmp_path, **pop3_settings) -> AsyncIterator[Pop3Env]:
    env = await make_env(tmp_path, **pop3_settings)
    try:
        yield env
    finally:
        await env.door.stop()
        await env.store.close()

"""A running POP3 door on 127.0.0.1 (ports 0) over an embedded store with one account; shared by
tests/pop3 and the real-client tests in tests/interop/test_pop3_*.py."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import AsyncIterator


from postroom.mail.message import ParsedMessage, Part
from postroom.pop3 import Pop3Door, start
from postroom.config import Config
from postroom.context import ServerContext
from postroom.store.api import Account, Mailbox
from postroom.store.sqlite import SQLiteStore
from tests.helpers import CHEAP, PASSWORD, USER, door_setup  # noqa: F401 (re-exported)

# Tests only: a real login would never use 64 KiB and one pass.


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
    d = await door_setup(tmp_path, "pop3", **pop3_settings)
    door = await start(d.ctx)
    return Pop3Env(d.config, d.store, door, d.account, d.inbox, d.ctx)


@contextlib.asynccontextmanager
async def running_pop3(tmp_path, **pop3_settings) -> AsyncIterator[Pop3Env]:
    env = await make_env(tmp_path, **pop3_settings)
    try:
        yield env
    finally:
        await env.door.stop()
        await env.store.close()

"""IDLE (RFC 9051 §6.3.13, RFC 2177): the session waits on the store's change notifier for its
account and reports what changed in the selected mailbox at once; never polls the database.
The client ends it with DONE; the autologout timer still applies (RFC 9051 §5.4)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from postroom.imap.args import Args, Bad
from postroom.imap.session import Closed
from postroom.imap.wire import Command

if TYPE_CHECKING:
    from postroom.imap.session import Session


async def idle(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    # A shared mailbox's changes are its owner's account's.
    sub = s.store.notifier.subscribe(s.selected.account_id if s.selected else s.account_id)
    line_task: asyncio.Task | None = None
    try:
        if s.selected is not None:
            await s.selected.report_changes(s, allow_expunge=True)
        s.send(b"+ idling\r\n")
        await s.flush()
        line_task = asyncio.ensure_future(s.read_line(s.settings.idle_timeout_seconds))
        while True:
            change = asyncio.ensure_future(sub.wait())
            done, _ = await asyncio.wait({line_task, change},
                                         return_when=asyncio.FIRST_COMPLETED)
            if change not in done:
                change.cancel()
            if line_task in done:
                line = line_task.result()   # raises Closed on timeout or hang-up
                if line.strip().upper() != b"DONE":
                    raise Bad("Expected DONE")
                return "IDLE terminated"
            if change.result():
                if s.selected is not None:
                    await s.selected.report_changes(s, allow_expunge=True)
                if s.notify is not None:
                    await s.notify.deliver(s)    # RFC 5465 §3: NOTIFY's events too
                await s.flush()
    finally:
        sub.close()
        if line_task is not None and not line_task.done():
            line_task.cancel()
            try:
                await line_task
            except (asyncio.CancelledError, Closed, Exception):
                pass


HANDLERS = {"IDLE": idle}

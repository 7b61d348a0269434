"""IDLE (RFC 9051 §6.3.13, RFC 2177): the session waits on the store's change notifier for its
account (through its mailbox's watcher, imap/fanout.py) and reports what changed in the
selected mailbox at once; never polls the database.
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
    # The selected mailbox's watcher reports most changes for this session without waking it
    # (imap/fanout.py); what it leaves, and everything NOTIFY asks for, the session reports
    # itself. A shared mailbox's changes are its owner's account's.
    watch = s.door.fanout.watch(s)
    sub = watch if watch is not None else s.store.notifier.subscribe(
        s.selected.account_id if s.selected else s.account_id)
    line_task: asyncio.Task | None = None
    # One future per wake, set by the client's line or by a change: thousands of idle
    # sessions cost no task and no asyncio.wait each when a change reaches them all.
    loop = asyncio.get_running_loop()
    wake = loop.create_future()

    def ring(*_) -> None:
        if not wake.done():
            wake.set_result(None)

    async def report(first: bool) -> None:
        if watch is not None:
            watch.busy = True
        try:
            if s.selected is not None:
                await s.selected.report_changes(s, allow_expunge=True)
            if s.notify is not None and not first:
                await s.notify.deliver(s)    # RFC 5465 §3: NOTIFY's events too
            if first:
                s.send(b"+ idling\r\n")
            await s.flush()
        finally:
            if watch is not None:
                watch.busy = False
    try:
        sub.on_change(ring)
        sub.poll()              # what happened until now is in this first report
        await report(first=True)
        line_task = asyncio.ensure_future(s.read_line(s.settings.idle_timeout_seconds))
        line_task.add_done_callback(ring)
        while True:
            await wake
            wake = loop.create_future()
            if line_task.done():
                line = line_task.result()   # raises Closed on timeout or hang-up
                if line.strip().upper() != b"DONE":
                    raise Bad("Expected DONE")
                return "IDLE terminated"
            # A change while the last one was reported rang the new future: none is lost.
            if sub.poll():
                await report(first=False)
    finally:
        sub.close()
        if line_task is not None and not line_task.done():
            line_task.cancel()
            try:
                await line_task
            except (asyncio.CancelledError, Closed, Exception):
                pass


HANDLERS = {"IDLE": idle}

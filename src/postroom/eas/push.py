"""Waiting for changes: what Ping and a Sync with Wait share (MS-ASCMD §2.2.1.13, §2.2.3.201).

The wait ends when the store's notifier reports a change to the account and ``check`` confirms
one of the watched folders changed, when the heartbeat runs out, or when a newer long poll of the
same device ends this one (``[eas] max_pings_per_device``).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from postroom.eas.protocol import Request


async def wait_for_changes(req: Request, check: Callable[[], Awaitable[bool]],
                           seconds: float) -> bool:
    """True when ``check`` found changes before ``seconds`` ran out."""
    loop = asyncio.get_running_loop()
    ended = req.app.begin_wait(req.account.id, req.device.device_id)
    deadline = loop.time() + seconds
    try:
        with req.store.notifier.subscribe(req.account.id) as sub:
            # A change between the caller's last check and subscribing must not be missed.
            if await check():
                return True
            while True:
                left = deadline - loop.time()
                if left <= 0 or ended.is_set():
                    return False
                ended_task = asyncio.ensure_future(ended.wait())
                changed_task = asyncio.ensure_future(sub.wait(left))
                try:
                    done, _ = await asyncio.wait({ended_task, changed_task},
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ended_task.cancel()
                    changed_task.cancel()
                if changed_task in done and changed_task.result() and await check():
                    return True
    finally:
        req.app.end_wait(req.account.id, req.device.device_id, ended)

"""Small helpers shared by tests of several doors."""

from __future__ import annotations

import asyncio
import time


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

"""Change notification (DESIGN.md: "within one process an in-memory broadcast; across processes
... for SQLite a cheap data-version check"). Doors wait on a Subscription; backends call
``ChangeBroadcast.publish`` after each commit. No door polls the database."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Callable

from postroom.store.api import Notifier, Subscription


class _Subscription(Subscription):
    def __init__(self, hub: "ChangeBroadcast", account_id: int):
        self._hub = hub
        self.account_id = account_id
        self._event = asyncio.Event()
        self._callback: Callable[[], None] | None = None

    def _wake(self) -> None:
        self._event.set()
        if self._callback is not None:
            self._callback()

    def on_change(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    async def wait(self, timeout: float | None = None) -> bool:
        if not self._event.is_set():
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        self._event.clear()
        return True

    def poll(self) -> bool:
        changed = self._event.is_set()
        self._event.clear()
        return changed

    def close(self) -> None:
        self._hub._remove(self)


class ChangeBroadcast(Notifier):
    """In-process fan-out of "account N changed" to every waiting session."""

    def __init__(self) -> None:
        self._subs: dict[int, set[_Subscription]] = defaultdict(set)

    def subscribe(self, account_id: int) -> Subscription:
        sub = _Subscription(self, account_id)
        self._subs[account_id].add(sub)
        return sub

    def _remove(self, sub: _Subscription) -> None:
        subs = self._subs.get(sub.account_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.account_id]

    def publish(self, account_ids) -> None:
        """Must run on the event loop thread."""
        for account_id in account_ids:
            for sub in tuple(self._subs.get(account_id, ())):
                sub._wake()

    def watching(self) -> set[int]:
        return set(self._subs)

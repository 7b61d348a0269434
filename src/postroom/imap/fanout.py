"""IDLE fan-out: one watcher per mailbox reports a change to every session idling on it.

Thousands of sessions can idle on one mailbox (a user's many devices, a team on a shared
mailbox). Waking each session's task to read the same change log and format the same lines
costs tens of microseconds a session, most of it the task switch and the coroutine chain, so a
change reached 10,000 sessions only after most of a second. A :class:`Watcher` subscribes once
for its mailbox, reads the change log once per starting modseq, formats the report once per
group of sessions in the same state (``SelectedMailbox.state_key``) and writes those bytes to
each of them. A session it cannot serve that way (it is reporting for itself, its output is
backed up, it holds state of its own) is woken to report for itself as before, so the watcher
only ever saves work and never decides what a client hears: ``apply_changes`` does, for both.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

from postroom.store.api import Changes, StoreError

if TYPE_CHECKING:
    from postroom.imap.session import Session
    from postroom.store.api import Store

log = logging.getLogger("postroom.imap")

# A session whose socket has this much unsent is left to its own task, which waits for the
# client to read (flow control) instead of growing the buffer further.
_BACKLOG_LIMIT = 64 * 1024


class IdleWatch:
    """What an idling session waits on, used like a store Subscription: ``on_change`` names
    the wake-up, ``poll`` says whether something is left for the session to report itself."""

    __slots__ = ("session", "watcher", "missed", "busy", "_callback")

    def __init__(self, session: "Session", watcher: "Watcher"):
        self.session = session
        self.watcher: Watcher | None = watcher
        self.missed = False
        # True while the session's own task reports or writes: the watcher leaves it alone.
        self.busy = False
        self._callback: Callable[[], None] | None = None

    def on_change(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def poll(self) -> bool:
        missed, self.missed = self.missed, False
        return missed

    def wake(self) -> None:
        """Leaves this change to the session's own task."""
        self.missed = True
        if self._callback is not None:
            self._callback()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.leave(self)
            self.watcher = None


class Watcher:
    """The idling sessions on one mailbox and the one subscription that serves them."""

    def __init__(self, fanout: "Fanout", store: "Store", account_id: int, mailbox_id: int):
        self.fanout = fanout
        self.store = store
        self.account_id = account_id
        self.mailbox_id = mailbox_id
        self.members: dict[IdleWatch, None] = {}     # an ordered set
        self._dirty = False
        self._task: asyncio.Task | None = None
        self._sub = store.notifier.subscribe(account_id)
        self._sub.on_change(self._changed)

    def join(self, session: "Session") -> IdleWatch:
        watch = IdleWatch(session, self)
        self.members[watch] = None
        return watch

    def leave(self, watch: IdleWatch) -> None:
        self.members.pop(watch, None)
        if not self.members:
            self._sub.close()
            self.fanout.forget(self)

    def _changed(self) -> None:
        self._dirty = True
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while self._dirty and self.members:
                self._dirty = False
                self._sub.poll()
                await self._pass()
        except Exception:
            # Never leave a session unwoken: each one's own report then says what went wrong.
            log.exception("IDLE fan-out failed; sessions report for themselves")
            for watch in list(self.members):
                watch.wake()
        finally:
            self._task = None

    async def _pass(self) -> None:
        by_modseq: dict[int, list[IdleWatch]] = {}
        for watch in self.members:
            selected = watch.session.selected
            if watch.busy or selected is None:
                watch.wake()
            else:
                by_modseq.setdefault(selected.modseq, []).append(watch)
        for modseq, watches in by_modseq.items():
            try:
                changes = await self.store.changes_since(self.account_id, self.mailbox_id,
                                                         modseq)
            except StoreError:          # NotFound: the mailbox is gone; each says BYE itself
                for watch in watches:
                    watch.wake()
                continue
            self._deliver(watches, modseq, changes)

    def _deliver(self, watches: list[IdleWatch], modseq: int, changes: Changes) -> None:
        """Synchronous: no session can move between the check and the write."""
        if changes.modseq <= modseq:
            return      # another mailbox of the account changed
        made: dict[tuple, tuple] = {}
        for watch in watches:
            s = watch.session
            selected = s.selected
            if watch.watcher is not self or watch.busy or selected is None \
                    or selected.id != self.mailbox_id or selected.modseq != modseq \
                    or s.has_output() or s.conn.backlog() > _BACKLOG_LIMIT:
                watch.wake()
                continue
            key = selected.state_key(s)
            if key is None:
                watch.wake()
                continue
            hit = made.get(key)
            if hit is None:
                before = selected.uids   # held, so its id in the key stays unique this pass
                selected.apply_changes(s, changes, allow_expunge=True)
                data = s.take_output()
                made[key] = (selected, data, before)
            else:
                selected.take_state(hit[0])
                data = hit[1]
            if data:
                s.conn.write(data)


class Fanout:
    """The watchers of one door, by mailbox."""

    def __init__(self) -> None:
        self._watchers: dict[tuple[int, int, int], Watcher] = {}

    def watch(self, session: "Session") -> IdleWatch | None:
        """Joins the session to its selected mailbox's watcher; None when a watcher cannot
        serve it (nothing selected, or NOTIFY asks for more than the selected mailbox)."""
        selected = session.selected
        if selected is None or session.notify is not None:
            return None
        key = (id(session.store), selected.account_id, selected.id)
        watcher = self._watchers.get(key)
        if watcher is None:
            watcher = self._watchers[key] = Watcher(self, session.store, selected.account_id,
                                                     selected.id)
        return watcher.join(session)

    def forget(self, watcher: Watcher) -> None:
        key = (id(watcher.store), watcher.account_id, watcher.mailbox_id)
        if self._watchers.get(key) is watcher:
            del self._watchers[key]

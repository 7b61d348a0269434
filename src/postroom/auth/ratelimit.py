"""Failure counters with lock-out and exponential back-off, keyed by anything hashable
(an account, an IP address). Used for failed logins by every door (DESIGN.md: "failed logins per
minute" is an explicit, configurable limit); in memory, per process, like Dovecot's auth penalty.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Hashable


@dataclass(slots=True)
class _KeyState:
    failures: deque[float] = field(default_factory=deque)   # times within the window
    strikes: int = 0               # lock-outs so far: each one doubles the next
    locked_until: float = 0.0
    last_failure: float = 0.0


class RateLimiter:
    """At most ``limit`` failures per key within ``window`` seconds.

    Reaching the limit locks the key for ``base_lockout`` seconds; each further failure while the
    window still holds ``limit`` of them doubles the lock (capped at ``max_lockout``). The doubling
    survives the window sliding by (an attacker waiting out a lock gets the next one twice as long)
    and is forgotten after a quiet period as long as the window plus the last lock, or on reset().
    """

    # Sweep stale keys every so many hits, so that failures from many addresses or names
    # (a spray) cannot grow the table without bound.
    _SWEEP_EVERY = 1024

    def __init__(self, limit: int, window: float, *, base_lockout: float = 1.0,
                 max_lockout: float = 900.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = float(window)
        self.base_lockout = base_lockout
        self.max_lockout = max_lockout
        self._clock = clock
        self._keys: dict[Hashable, _KeyState] = {}
        self._hits_since_sweep = 0

    def hit(self, key: Hashable) -> float:
        """Records one failure for ``key``; returns the lock-out it now has (0.0 for none)."""
        now = self._clock()
        state = self._keys.get(key)
        if state is None or self._stale(state, now):
            state = self._keys[key] = _KeyState()
        self._prune(state, now)
        state.failures.append(now)
        state.last_failure = now
        self._hits_since_sweep += 1
        if self._hits_since_sweep >= self._SWEEP_EVERY:
            self._sweep(now)
        if len(state.failures) < self.limit:
            return 0.0
        state.strikes += 1
        lockout = min(self.base_lockout * 2 ** min(state.strikes - 1, 64), self.max_lockout)
        state.locked_until = max(state.locked_until, now + lockout)
        return state.locked_until - now

    def blocked(self, key: Hashable) -> float:
        """Seconds until ``key`` may try again; 0.0 when it may now."""
        state = self._keys.get(key)
        if state is None:
            return 0.0
        return max(0.0, state.locked_until - self._clock())

    def failures(self, key: Hashable) -> int:
        """Failures of ``key`` within the current window."""
        state = self._keys.get(key)
        if state is None:
            return 0
        self._prune(state, self._clock())
        return len(state.failures)

    def reset(self, key: Hashable) -> None:
        """Forgets ``key`` (e.g. the account after a successful login)."""
        self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)

    def _prune(self, state: _KeyState, now: float) -> None:
        horizon = now - self.window
        while state.failures and state.failures[0] <= horizon:
            state.failures.popleft()

    def _stale(self, state: _KeyState, now: float) -> bool:
        last_lock = min(self.base_lockout * 2 ** min(max(state.strikes - 1, 0), 64),
                        self.max_lockout) if state.strikes else 0.0
        return (now >= state.locked_until
                and now - state.last_failure > self.window + last_lock)

    def _sweep(self, now: float) -> None:
        self._hits_since_sweep = 0
        for key in [k for k, s in self._keys.items() if self._stale(s, now)]:
            del self._keys[key]

"""The failure counters behind login lock-outs."""

from __future__ import annotations

from postroom.auth.ratelimit import RateLimiter

from .conftest import Clock


def test_below_the_limit_nothing_is_blocked():
    clock = Clock()
    rl = RateLimiter(3, 60, clock=clock)
    assert rl.hit("k") == 0.0 and rl.hit("k") == 0.0
    assert rl.blocked("k") == 0.0 and rl.failures("k") == 2


def test_reaching_the_limit_locks_and_each_further_failure_doubles():
    clock = Clock()
    rl = RateLimiter(3, 60, base_lockout=1.0, clock=clock)
    rl.hit("k"), rl.hit("k")
    assert rl.hit("k") == 1.0
    assert rl.blocked("k") == 1.0
    clock.advance(1.0)
    assert rl.blocked("k") == 0.0
    assert rl.hit("k") == 2.0
    clock.advance(2.0)
    assert rl.hit("k") == 4.0
    clock.advance(4.0)
    assert rl.hit("k") == 8.0
    assert rl.blocked("other") == 0.0


def test_lockout_is_capped():
    clock = Clock()
    rl = RateLimiter(1, 60, base_lockout=1.0, max_lockout=10.0, clock=clock)
    for _ in range(20):
        clock.advance(rl.blocked("k"))
        rl.hit("k")
    assert rl.blocked("k") == 10.0


def test_failures_outside_the_window_are_forgotten():
    clock = Clock()
    rl = RateLimiter(3, 60, clock=clock)
    rl.hit("k"), rl.hit("k")
    clock.advance(61)
    assert rl.failures("k") == 0
    assert rl.hit("k") == 0.0


def test_back_off_survives_waiting_out_the_window_but_not_a_quiet_period():
    clock = Clock()
    rl = RateLimiter(2, 10, base_lockout=1.0, clock=clock)
    for _ in range(4):              # strikes 1, 2 and 3
        clock.advance(rl.blocked("k"))
        rl.hit("k")
    assert rl.blocked("k") == 4.0
    clock.advance(11)               # window empty, lock over, but not yet quiet long enough
    rl.hit("k")
    assert rl.hit("k") == 8.0       # the doubling went on
    clock.advance(8 + 10 + 8 + 1)   # a full quiet period after the lock
    rl.hit("k")
    assert rl.hit("k") == 1.0       # starts over


def test_reset_forgets_a_key():
    clock = Clock()
    rl = RateLimiter(1, 60, clock=clock)
    rl.hit("k")
    assert rl.blocked("k") > 0
    rl.reset("k")
    assert rl.blocked("k") == 0.0 and rl.failures("k") == 0


def test_stale_keys_are_swept_so_a_spray_does_not_grow_memory():
    clock = Clock()
    rl = RateLimiter(5, 1, clock=clock)
    for i in range(5000):
        rl.hit(f"name{i}")
        clock.advance(0.01)
    assert len(rl) < 1200

"""Plaintext logins: who gets in, who is told to wait, what is logged, and what is cached."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from postroom.auth import passwords
from postroom.auth.authenticator import AuthFailed, Authenticator
from postroom.config import AuthSettings

from .conftest import FakeStore

LOCAL = {"peer_ip": "127.0.0.1", "tls": False}
REMOTE_TLS = {"peer_ip": "192.0.2.7", "tls": True}


@pytest.fixture
def verifications(monkeypatch):
    """Counts argon2 verifications."""
    calls = []
    real = passwords.verify_password

    def counting(stored_hash, password):
        calls.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return calls


async def test_right_password_logs_in(auth):
    account = await auth.login("alice@example.test", "correct horse", **LOCAL)
    assert account.email == "alice@example.test"


async def test_username_is_case_insensitive(auth):
    account = await auth.login("Alice@EXAMPLE.test", "correct horse", **REMOTE_TLS)
    assert account.email == "alice@example.test"


async def test_password_is_case_sensitive(auth):
    with pytest.raises(AuthFailed) as e:
        await auth.login("alice@example.test", "Correct horse", **LOCAL)
    assert not e.value.temporary


async def test_unknown_user_fails_like_a_wrong_password_and_still_runs_argon2(auth, verifications):
    with pytest.raises(AuthFailed) as unknown:
        await auth.login("bob@example.test", "correct horse", **LOCAL)
    with pytest.raises(AuthFailed) as wrong:
        await auth.login("alice@example.test", "wrong", **LOCAL)
    assert unknown.value.reason == wrong.value.reason
    assert len(verifications) == 2


async def test_unknown_user_costs_about_a_wrong_password_at_default_cost(store, settings):
    auth = Authenticator(store, settings)            # production parameters for the dummy hash
    _with_production_hash(store, "alice@example.test", "correct horse")
    await _fail(auth.login("nobody@example.test", "x", **LOCAL))     # makes the dummy hash
    start = time.perf_counter()
    await _fail(auth.login("nobody@example.test", "x", **LOCAL))
    unknown = time.perf_counter() - start
    start = time.perf_counter()
    await _fail(auth.login("alice@example.test", "x", **LOCAL))
    wrong = time.perf_counter() - start
    print(f"\nunknown user {unknown * 1000:.1f} ms, wrong password {wrong * 1000:.1f} ms")
    assert unknown > wrong / 5      # loose: only that a dummy hash was really checked


def _with_production_hash(store, email, password):
    account = store.accounts[email]
    store.accounts[email] = dataclasses.replace(
        account, password_hash=passwords.hash_password(password))


async def _fail(coro):
    with pytest.raises(AuthFailed):
        await coro


async def test_plaintext_login_refused_without_tls_from_a_remote_address(auth, verifications):
    with pytest.raises(AuthFailed) as e:
        await auth.login("alice@example.test", "correct horse", peer_ip="192.0.2.7", tls=False)
    assert "TLS" in e.value.reason and verifications == []


async def test_plaintext_allowed_everywhere_when_configured(store, settings):
    settings.allow_plaintext_insecure = True
    auth = Authenticator(store, settings)
    account = await auth.login("alice@example.test", "correct horse", peer_ip="192.0.2.7",
                               tls=False)
    assert account.email == "alice@example.test"


async def test_account_locked_after_n_failures_without_running_argon2(auth, clock, verifications):
    for _ in range(5):
        await _fail(auth.login("alice@example.test", "guess", **LOCAL))
    assert len(verifications) == 5
    with pytest.raises(AuthFailed) as e:
        await auth.login("alice@example.test", "correct horse", **LOCAL)
    assert e.value.temporary
    assert len(verifications) == 5              # the lock-out answered without argon2
    # Another account from another address is not affected.
    assert await auth.login("user", "pencil", peer_ip="::1", tls=False)


async def test_lockout_backs_off_exponentially_then_lets_the_owner_in(auth, clock):
    for _ in range(5):
        await _fail(auth.login("alice@example.test", "guess", **REMOTE_TLS))
    first = auth._account_failures.blocked("alice@example.test")
    clock.advance(first)
    await _fail(auth.login("alice@example.test", "guess", **REMOTE_TLS))
    second = auth._account_failures.blocked("alice@example.test")
    assert second == 2 * first
    clock.advance(second)
    assert await auth.login("alice@example.test", "correct horse", **REMOTE_TLS)
    assert auth._account_failures.failures("alice@example.test") == 0


async def test_unknown_users_are_locked_out_too(auth):
    for _ in range(5):
        await _fail(auth.login("ghost@example.test", "guess", **LOCAL))
    with pytest.raises(AuthFailed) as e:
        await auth.login("ghost@example.test", "guess", **LOCAL)
    assert e.value.temporary


async def test_ip_is_locked_after_failures_across_many_accounts(auth):
    for i in range(20):
        await _fail(auth.login(f"u{i}@example.test", "guess", peer_ip="198.51.100.9", tls=True))
    with pytest.raises(AuthFailed) as e:
        await auth.login("alice@example.test", "correct horse", peer_ip="198.51.100.9", tls=True)
    assert e.value.temporary
    assert await auth.login("alice@example.test", "correct horse", peer_ip="198.51.100.10",
                            tls=True)


async def test_ipv6_addresses_in_one_64_share_a_counter(auth):
    for i in range(20):
        await _fail(auth.login(f"u{i}@example.test", "guess", peer_ip=f"2001:db8:1:2::{i:x}",
                               tls=True))
    with pytest.raises(AuthFailed) as e:
        await auth.login("alice@example.test", "correct horse", peer_ip="2001:db8:1:2:ffff::1",
                         tls=True)
    assert e.value.temporary


async def test_second_login_is_served_from_the_cache_and_much_faster(store, settings, clock):
    _with_production_hash(store, "alice@example.test", "correct horse")
    auth = Authenticator(store, settings, clock=clock)
    start = time.perf_counter()
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    first = time.perf_counter() - start
    start = time.perf_counter()
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    second = time.perf_counter() - start
    print(f"\nlogin: argon2 {first * 1000:.1f} ms, cached {second * 1000:.3f} ms")
    assert second < first / 10


async def test_cache_never_holds_the_password_and_expires(auth, clock, verifications):
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    assert len(verifications) == 1
    for key in auth._cache:
        assert b"correct horse" not in key
    clock.advance(61)
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    assert len(verifications) == 2


async def test_cache_does_not_let_a_wrong_password_in(auth, verifications):
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    await _fail(auth.login("alice@example.test", "correct horsE", **LOCAL))


async def test_changed_password_invalidates_the_cache(auth, store):
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    store.set_password("alice@example.test", "battery staple")
    await _fail(auth.login("alice@example.test", "correct horse", **LOCAL))
    assert await auth.login("alice@example.test", "battery staple", **LOCAL)


async def test_cache_can_be_turned_off(store, settings, verifications):
    settings.cache_ttl_seconds = 0
    auth = Authenticator(store, settings)
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    assert len(verifications) == 2


async def test_overlong_input_fails_cheaply(auth, verifications):
    await _fail(auth.login("a" * 300 + "@example.test", "x", **LOCAL))
    await _fail(auth.login("alice@example.test", "x" * 5000, **LOCAL))
    assert verifications == []


async def test_one_info_line_per_attempt_with_account_and_ip_never_the_password(auth, caplog):
    caplog.set_level(logging.INFO, logger="postroom.auth")
    await auth.login("alice@example.test", "correct horse", **LOCAL)
    await _fail(auth.login("alice@example.test", "hunter2", peer_ip="192.0.2.7", tls=True))
    await _fail(auth.login("evil\r\nfake line@example.test", "hunter2", **LOCAL))
    records = [r for r in caplog.records if r.name == "postroom.auth"]
    assert len(records) == 3 and all(r.levelno == logging.INFO for r in records)
    ok, failed, evil = (r.getMessage() for r in records)
    assert "alice@example.test" in ok and "127.0.0.1" in ok and "ok" in ok
    assert "alice@example.test" in failed and "192.0.2.7" in failed and "failed" in failed
    assert "\n" not in evil and "\r" not in evil
    text = caplog.text
    assert "correct horse" not in text and "hunter2" not in text


@pytest.mark.parametrize("peer_ip,tls,secure", [
    ("192.0.2.1", True, True),
    ("192.0.2.1", False, False),
    ("127.0.0.1", False, True),
    ("127.8.9.10", False, True),
    ("::1", False, True),
    ("::ffff:127.0.0.1", False, True),
    ("::ffff:192.0.2.1", False, False),
    ("2001:db8::1", False, False),
    ("fe80::1%eth0", False, False),
    ("", False, False),
    ("not an address", False, False),
])
def test_is_secure_rules(auth, peer_ip, tls, secure):
    assert auth.is_secure(tls=tls, peer_ip=peer_ip) is secure


def test_loopback_not_secure_when_configured_so():
    auth = Authenticator(FakeStore(), AuthSettings(loopback_is_secure=False))
    assert not auth.is_secure(tls=False, peer_ip="127.0.0.1")
    assert auth.is_secure(tls=True, peer_ip="127.0.0.1")
    assert not auth.plaintext_allowed(tls=False, peer_ip="127.0.0.1")


def test_mechanisms_offered_depend_on_security(auth):
    assert auth.mechanisms(tls=True, peer_ip="192.0.2.1") == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    assert auth.mechanisms(tls=False, peer_ip="127.0.0.1") == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    assert auth.mechanisms(tls=False, peer_ip="192.0.2.1") == ["SCRAM-SHA-256"]
    assert not auth.plaintext_allowed(tls=False, peer_ip="192.0.2.1")


async def test_identical_logins_arriving_together_run_argon2_once(auth, verifications):
    import asyncio
    accounts = await asyncio.gather(*(auth.login("alice@example.test", "correct horse", **LOCAL)
                                      for _ in range(20)))
    assert {a.email for a in accounts} == {"alice@example.test"}
    assert len(verifications) == 1


async def test_wrong_passwords_arriving_together_all_fail(auth, verifications):
    import asyncio
    results = await asyncio.gather(*(auth.login("alice@example.test", "nope", **LOCAL)
                                     for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, AuthFailed) for r in results)

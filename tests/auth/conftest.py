"""Fixtures for the auth tests: a store that only knows accounts, cheap argon2 parameters, and
an Authenticator on a clock the test moves by hand."""

from __future__ import annotations

import base64

import argon2
import pytest

from postroom.auth import passwords
from postroom.auth.authenticator import Authenticator
from postroom.config import AuthSettings
from postroom.store.api import Account

# Tests only: a real login would never use 64 KiB and one pass.
CHEAP = argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                          time_cost=1, memory_cost=64, parallelism=1)

# RFC 7677 §3: user "user", password "pencil", this salt, 4096 iterations.
RFC7677_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")


class FakeStore:
    """Just enough of store.api.Store for the Authenticator: accounts by login name."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.lookups = 0

    def add(self, email: str, password: str, *, scram: bool = True,
            salt: bytes | None = None) -> Account:
        account = Account(
            id=len(self.accounts) + 1, email=email.lower(), domain_id=1,
            password_hash=passwords.hash_password(password, parameters=CHEAP),
            scram=passwords.make_scram_credentials(password, salt=salt) if scram else None,
            quota_bytes=0, used_bytes=0)
        self.accounts[account.email] = account
        return account

    def set_password(self, email: str, password: str) -> None:
        old = self.accounts[email]
        self.accounts[email] = Account(
            id=old.id, email=old.email, domain_id=old.domain_id,
            password_hash=passwords.hash_password(password, parameters=CHEAP),
            scram=passwords.make_scram_credentials(password), quota_bytes=0, used_bytes=0)

    async def get_account(self, email: str) -> Account | None:
        self.lookups += 1
        return self.accounts.get(email.lower())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store() -> FakeStore:
    s = FakeStore()
    s.add("alice@example.test", "correct horse")
    s.add("user", "pencil", salt=RFC7677_SALT)
    s.add("noscram@example.test", "secret", scram=False)
    return s


@pytest.fixture
def settings() -> AuthSettings:
    return AuthSettings(max_failures_per_account=5, max_failures_per_ip=20,
                        failure_window_seconds=60, cache_ttl_seconds=60)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(store: FakeStore, settings: AuthSettings, clock: Clock) -> Authenticator:
    return Authenticator(store, settings, password_parameters=CHEAP, clock=clock)

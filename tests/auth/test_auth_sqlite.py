"""The Authenticator against the real embedded store: what a door sees on a fresh data dir."""

from __future__ import annotations

import pytest

from postroom.auth import passwords
from postroom.auth.authenticator import AuthFailed, Authenticator
from postroom.config import AuthSettings
from postroom.store.sqlite import SQLiteStore

from .conftest import CHEAP
from .test_auth_sasl import ScramClient


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(tmp_path)
    await s.open()
    await s.add_domain("example.test")
    password_hash, scram = passwords.make_credentials("correct horse", parameters=CHEAP)
    await s.create_account("Alice@Example.test", password_hash, scram)
    yield s
    await s.close()


async def test_login_and_scram_against_sqlite_store(store):
    auth = Authenticator(store, AuthSettings(), password_parameters=CHEAP)
    account = await auth.login("ALICE@example.test", "correct horse", peer_ip="::1", tls=False)
    assert account.email == "alice@example.test"
    with pytest.raises(AuthFailed):
        await auth.login("alice@example.test", "wrong", peer_ip="::1", tls=False)
    with pytest.raises(AuthFailed):
        await auth.login("nobody@example.test", "correct horse", peer_ip="::1", tls=False)

    client = ScramClient("alice@example.test", "correct horse")
    exchange = auth.sasl("SCRAM-SHA-256", peer_ip="192.0.2.1", tls=True)
    server_first = await exchange.step(client.first())
    done = await exchange.step(client.final(server_first.challenge))
    assert done.account.id == account.id and client.check_server_final(done.challenge)


async def test_password_change_in_store_takes_effect_at_once(store):
    auth = Authenticator(store, AuthSettings(), password_parameters=CHEAP)
    account = await auth.login("alice@example.test", "correct horse", peer_ip="::1", tls=False)
    password_hash, scram = passwords.make_credentials("battery staple", parameters=CHEAP)
    await store.update_account(account.id, password_hash=password_hash, scram=scram)
    with pytest.raises(AuthFailed):
        await auth.login("alice@example.test", "correct horse", peer_ip="::1", tls=False)
    assert await auth.login("alice@example.test", "battery staple", peer_ip="::1", tls=False)

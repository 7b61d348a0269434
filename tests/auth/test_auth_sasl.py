"""SASL exchanges as a door drives them: PLAIN (RFC 4616), LOGIN, SCRAM-SHA-256 (RFC 7677)
against a client written here from the RFC, and garbage that must only ever fail cleanly."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from postroom.auth.authenticator import (AuthFailed, Authenticator, SaslStep,
                                         UnknownMechanism)
from postroom.config import AuthSettings

from .conftest import CHEAP, FakeStore

TLS = {"peer_ip": "192.0.2.7", "tls": True}


# --- an independent SCRAM-SHA-256 client (RFC 5802 §3, RFC 7677) -------------------------------

class ScramClient:
    def __init__(self, username: str, password: str, nonce: str | None = None,
                 gs2_header: str = "n,,") -> None:
        self.username = username.replace("=", "=3D").replace(",", "=2C")
        self.password = password.encode()
        self.nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self.gs2_header = gs2_header
        self.bare = f"n={self.username},r={self.nonce}"
        self.expected_server_signature = b""

    def first(self) -> bytes:
        return (self.gs2_header + self.bare).encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        attrs = dict(item.split("=", 1) for item in text.split(","))
        assert attrs["r"].startswith(self.nonce)
        salted = hashlib.pbkdf2_hmac("sha256", self.password, base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c={base64.b64encode(self.gs2_header.encode()).decode()},r={attrs['r']}"
        auth_message = f"{self.bare},{text},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.expected_server_signature = hmac.new(server_key, auth_message,
                                                  hashlib.sha256).digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def check_server_final(self, server_final: bytes) -> bool:
        return server_final == b"v=" + base64.b64encode(self.expected_server_signature)


async def scram_login(auth, username, password, **conn) -> SaslStep:
    client = ScramClient(username, password)
    exchange = auth.sasl("SCRAM-SHA-256", **conn)
    server_first = await exchange.step(client.first())
    assert server_first.account is None
    done = await exchange.step(client.final(server_first.challenge))
    assert client.check_server_final(done.challenge)
    return done


# --- RFC 7677 §3 -------------------------------------------------------------------------------

RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
RFC_CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_test_client_reproduces_rfc7677_vector():
    client = ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert client.first() == RFC_CLIENT_FIRST
    assert client.final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    assert client.check_server_final(RFC_SERVER_FINAL)


async def test_server_answers_rfc7677_vector_exactly(auth):
    exchange = auth.sasl("SCRAM-SHA-256", **TLS)
    exchange._server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    first = await exchange.step(RFC_CLIENT_FIRST)
    assert first == SaslStep(RFC_SERVER_FIRST, None)
    final = await exchange.step(RFC_CLIENT_FINAL)
    assert final.challenge == RFC_SERVER_FINAL
    assert final.account.email == "user"


async def test_scram_without_initial_response_starts_with_empty_challenge(auth):
    client = ScramClient("alice@example.test", "correct horse")
    exchange = auth.sasl("scram-sha-256", **TLS)
    assert await exchange.step(None) == SaslStep(b"", None)
    server_first = await exchange.step(client.first())
    done = await exchange.step(client.final(server_first.challenge))
    assert done.account.email == "alice@example.test"
    assert client.check_server_final(done.challenge)


async def test_scram_end_to_end_with_random_nonces_and_uppercase_name(auth):
    done = await scram_login(auth, "Alice@Example.TEST", "correct horse", **TLS)
    assert done.account.email == "alice@example.test"


async def test_scram_is_offered_and_works_without_tls(auth):
    assert "SCRAM-SHA-256" in auth.mechanisms(tls=False, peer_ip="192.0.2.7")
    done = await scram_login(auth, "alice@example.test", "correct horse",
                             peer_ip="192.0.2.7", tls=False)
    assert done.account is not None


async def test_scram_y_flag_is_accepted_since_we_offer_no_plus_variant(auth):
    client = ScramClient("alice@example.test", "correct horse", gs2_header="y,,")
    exchange = auth.sasl("SCRAM-SHA-256", **TLS)
    server_first = await exchange.step(client.first())
    assert (await exchange.step(client.final(server_first.challenge))).account


async def test_scram_authzid_equal_to_user_is_accepted_and_other_refused(auth):
    client = ScramClient("user", "pencil", gs2_header="n,a=user,")
    exchange = auth.sasl("SCRAM-SHA-256", **TLS)
    server_first = await exchange.step(client.first())
    assert (await exchange.step(client.final(server_first.challenge))).account
    with pytest.raises(AuthFailed):
        await auth.sasl("SCRAM-SHA-256", **TLS).step(
            ScramClient("user", "pencil", gs2_header="n,a=admin,").first())


async def test_scram_channel_binding_request_is_refused(auth):
    with pytest.raises(AuthFailed):
        await auth.sasl("SCRAM-SHA-256", **TLS).step(b"p=tls-exporter,,n=user,r=abc")
    with pytest.raises(UnknownMechanism):
        auth.sasl("SCRAM-SHA-256-PLUS", **TLS)


async def test_scram_wrong_password_fails_and_counts(auth):
    client = ScramClient("alice@example.test", "wrong")
    exchange = auth.sasl("SCRAM-SHA-256", **TLS)
    server_first = await exchange.step(client.first())
    with pytest.raises(AuthFailed) as e:
        await exchange.step(client.final(server_first.challenge))
    assert not e.value.temporary
    assert auth._account_failures.failures("alice@example.test") == 1


async def test_scram_unknown_user_gets_a_stable_salt_and_fails_at_the_proof(auth):
    salts = []
    for _ in range(2):
        client = ScramClient("ghost@example.test", "x")
        exchange = auth.sasl("SCRAM-SHA-256", **TLS)
        server_first = await exchange.step(client.first())
        salts.append(dict(i.split("=", 1) for i in server_first.challenge.decode().split(","))["s"])
        with pytest.raises(AuthFailed):
            await exchange.step(client.final(server_first.challenge))
    assert salts[0] == salts[1]


async def test_scram_account_without_scram_credentials_fails(auth):
    client = ScramClient("noscram@example.test", "secret")
    exchange = auth.sasl("SCRAM-SHA-256", **TLS)
    server_first = await exchange.step(client.first())
    with pytest.raises(AuthFailed):
        await exchange.step(client.final(server_first.challenge))


async def test_scram_tampered_nonce_or_channel_binding_fails(auth):
    for tamper in (lambda m: m.replace(b"r=", b"r=x", 1), lambda m: m.replace(b"c=biws", b"c=eSws")):
        client = ScramClient("alice@example.test", "correct horse")
        exchange = auth.sasl("SCRAM-SHA-256", **TLS)
        server_first = await exchange.step(client.first())
        with pytest.raises(AuthFailed):
            await exchange.step(tamper(client.final(server_first.challenge)))


async def test_scram_locked_out_user_is_told_to_wait_before_any_salt(auth):
    for _ in range(5):
        client = ScramClient("alice@example.test", "wrong")
        exchange = auth.sasl("SCRAM-SHA-256", **TLS)
        server_first = await exchange.step(client.first())
        with pytest.raises(AuthFailed):
            await exchange.step(client.final(server_first.challenge))
    with pytest.raises(AuthFailed) as e:
        await auth.sasl("SCRAM-SHA-256", **TLS).step(ScramClient("alice@example.test", "x").first())
    assert e.value.temporary


# --- PLAIN and LOGIN ---------------------------------------------------------------------------

async def test_plain_with_initial_response(auth):
    step = await auth.sasl("PLAIN", **TLS).step(b"\0alice@example.test\0correct horse")
    assert step.account.email == "alice@example.test" and step.challenge is None


async def test_plain_without_initial_response_gets_empty_challenge(auth):
    exchange = auth.sasl("PLAIN", **TLS)
    assert await exchange.step(None) == SaslStep(b"", None)
    step = await exchange.step(b"alice@example.test\0alice@example.test\0correct horse")
    assert step.account.email == "alice@example.test"


async def test_plain_authzid_must_match_authcid(auth):
    with pytest.raises(AuthFailed) as e:
        await auth.sasl("PLAIN", **TLS).step(b"user\0alice@example.test\0correct horse")
    assert not e.value.temporary


async def test_plain_wrong_password(auth):
    with pytest.raises(AuthFailed):
        await auth.sasl("PLAIN", **TLS).step(b"\0alice@example.test\0wrong")


async def test_plain_and_login_refused_on_insecure_connection(auth):
    for mechanism in ("PLAIN", "LOGIN"):
        with pytest.raises(AuthFailed):
            auth.sasl(mechanism, peer_ip="192.0.2.7", tls=False)


async def test_unknown_mechanism(auth):
    for name in ("CRAM-MD5", "XOAUTH2", "GSSAPI", ""):
        with pytest.raises(UnknownMechanism):
            auth.sasl(name, **TLS)


async def test_login_asks_username_then_password(auth):
    exchange = auth.sasl("LOGIN", **TLS)
    assert await exchange.step(None) == SaslStep(b"Username:", None)
    assert await exchange.step(b"alice@example.test") == SaslStep(b"Password:", None)
    step = await exchange.step(b"correct horse")
    assert step.account.email == "alice@example.test"


async def test_login_accepts_username_as_initial_response(auth):
    exchange = auth.sasl("LOGIN", **TLS)
    assert await exchange.step(b"alice@example.test") == SaslStep(b"Password:", None)
    assert (await exchange.step(b"correct horse")).account


async def test_login_wrong_password(auth):
    exchange = auth.sasl("LOGIN", **TLS)
    await exchange.step(None)
    await exchange.step(b"alice@example.test")
    with pytest.raises(AuthFailed):
        await exchange.step(b"nope")


async def test_finished_exchange_refuses_more_steps(auth):
    exchange = auth.sasl("PLAIN", **TLS)
    await exchange.step(b"\0alice@example.test\0correct horse")
    with pytest.raises(AuthFailed):
        await exchange.step(b"\0alice@example.test\0correct horse")
    failed = auth.sasl("PLAIN", **TLS)
    with pytest.raises(AuthFailed):
        await failed.step(b"garbage")
    with pytest.raises(AuthFailed):
        await failed.step(b"\0alice@example.test\0correct horse")


async def test_sasl_plain_locked_out_like_login(auth):
    for _ in range(5):
        with pytest.raises(AuthFailed):
            await auth.sasl("PLAIN", **TLS).step(b"\0alice@example.test\0wrong")
    with pytest.raises(AuthFailed) as e:
        await auth.sasl("PLAIN", **TLS).step(b"\0alice@example.test\0correct horse")
    assert e.value.temporary


# --- garbage -----------------------------------------------------------------------------------

_fragments = st.sampled_from([b"n,,", b"y,,", b"p=x,,", b"n,a=", b"n=", b"r=", b",", b"=2C", b"=",
                              b"c=biws", b"p=", b"m=", b"\0", b"\xff", b"user", b"alice@example.test",
                              b"correct horse", b"s=", b"i=4096"])
_responses = st.one_of(st.binary(max_size=300),
                       st.lists(_fragments, max_size=12).map(b"".join),
                       st.binary(min_size=9000, max_size=9100))


_GARBAGE_STORE = FakeStore()
_GARBAGE_STORE.add("alice@example.test", "correct horse")
_GARBAGE_STORE.add("user", "pencil")


@hsettings(max_examples=200, deadline=None)
@given(mechanism=st.sampled_from(["PLAIN", "LOGIN", "SCRAM-SHA-256"]),
       first_is_none=st.booleans(),
       responses=st.lists(_responses, min_size=1, max_size=4))
def test_garbage_never_raises_anything_but_authfailed(mechanism, first_is_none, responses):
    async def run() -> None:
        auth = Authenticator(_GARBAGE_STORE, AuthSettings(), password_parameters=CHEAP)
        exchange = auth.sasl(mechanism, **TLS)
        feed = ([None] if first_is_none else []) + list(responses)
        for response in feed:
            try:
                step = await exchange.step(response)
            except AuthFailed:
                return
            assert isinstance(step, SaslStep)
            if step.account is not None:
                return
            assert isinstance(step.challenge, bytes)

    asyncio.run(run())

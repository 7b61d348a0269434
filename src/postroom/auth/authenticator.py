"""Checks who a client is, for every door: plaintext logins (IMAP LOGIN, POP3 USER/PASS, HTTP
Basic) and SASL exchanges (RFC 4422: IMAP AUTHENTICATE, POP3 AUTH RFC 5034, SMTP AUTH RFC 4954).

Policy follows Dovecot: TLS or loopback counts as secure and plaintext mechanisms are refused
elsewhere; successful argon2 verifications are cached briefly; failures are rate limited per
account and per IP with exponential back-off.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import time
from typing import Callable

import argon2

from postroom.auth import passwords
from postroom.auth.ratelimit import RateLimiter
from postroom.auth.sasl import (MECHANISMS, PLAINTEXT_MECHANISMS, AuthFailed, SaslExchange,
                                SaslStep, UnknownMechanism)
from postroom.config import AuthSettings
from postroom.store.api import Account, ScramCredentials, Store

__all__ = ["Authenticator", "AuthFailed", "UnknownMechanism", "SaslExchange", "SaslStep"]

log = logging.getLogger("postroom.auth")

# RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so no login name is longer.
MAX_USERNAME_LENGTH = 256
# Argon2 accepts any length, but hashing megabytes per attempt would be a cheap way to burn CPU.
MAX_PASSWORD_LENGTH = 1024
# Successful verifications remembered at once; beyond this the oldest are forgotten.
MAX_CACHE_ENTRIES = 10_000

_PLAINTEXT_REFUSED = "plaintext authentication is not allowed without TLS"
_LOCKED_OUT = "too many failed login attempts, try again later"


def _loggable(text: str) -> str:
    """A client-chosen name made safe for one log line (no control characters, bounded)."""
    text = text[:100]
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


class Authenticator:
    """One per process, shared by every door (``ServerContext.auth``)."""

    def __init__(self, store: Store, settings: AuthSettings, *,
                 password_parameters: argon2.Parameters | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``password_parameters`` sets the cost of the dummy hash that unknown users are checked
        against; it should match how account hashes are made (tests pass a cheap profile)."""
        self.store = store
        self.settings = settings
        self._parameters = password_parameters
        self._clock = clock
        window = settings.failure_window_seconds
        self._account_failures = RateLimiter(settings.max_failures_per_account, window,
                                             clock=clock)
        self._ip_failures = RateLimiter(settings.max_failures_per_ip, window, clock=clock)
        # Never leaves the process: keys the verification cache and the fake SCRAM salts.
        self._secret = secrets.token_bytes(32)
        self._cache: dict[bytes, float] = {}
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}
        self._dummy_hash: str | None = None
        # Each argon2 verification holds 64 MiB and several threads: a burst of parallel logins
        # must queue rather than exhaust memory.
        self._hash_slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))

    # --- policy ---------------------------------------------------------------------------------

    def is_secure(self, *, tls: bool, peer_ip: str) -> bool:
        """TLS, or a loopback peer when ``loopback_is_secure`` (Dovecot's "secured")."""
        if tls:
            return True
        if not self.settings.loopback_is_secure:
            return False
        try:
            ip = ipaddress.ip_address(peer_ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    def plaintext_allowed(self, *, tls: bool, peer_ip: str) -> bool:
        """Whether passwords may be sent in the clear (IMAP LOGINDISABLED, RFC 9051 §6.2.3)."""
        return self.is_secure(tls=tls, peer_ip=peer_ip) or self.settings.allow_plaintext_insecure

    def mechanisms(self, *, tls: bool, peer_ip: str) -> list[str]:
        """SASL mechanisms to advertise on this connection."""
        if self.plaintext_allowed(tls=tls, peer_ip=peer_ip):
            return ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
        return ["SCRAM-SHA-256"]

    # --- entry points ---------------------------------------------------------------------------

    async def login(self, username: str, password: str, *, peer_ip: str, tls: bool) -> Account:
        """A plaintext login; raises AuthFailed (``temporary`` while locked out)."""
        return await self._password_login(username, password, peer_ip=peer_ip, tls=tls,
                                          method="password")

    def sasl(self, mechanism: str, *, peer_ip: str, tls: bool) -> SaslExchange:
        """Starts a SASL exchange. UnknownMechanism for a name we do not offer; AuthFailed for a
        plaintext mechanism on a connection where plaintext is not allowed."""
        name = mechanism.upper()
        exchange_type = MECHANISMS.get(name)
        if exchange_type is None:
            raise UnknownMechanism(mechanism)
        if name in PLAINTEXT_MECHANISMS and not self.plaintext_allowed(tls=tls, peer_ip=peer_ip):
            log.info("auth refused: %s without TLS ip=%s", name, peer_ip)
            raise AuthFailed(_PLAINTEXT_REFUSED)
        return exchange_type(self, peer_ip=peer_ip, tls=tls)

    # --- what the SASL exchanges call -----------------------------------------------------------

    async def _password_login(self, username: str, password: str, *, peer_ip: str, tls: bool,
                              method: str) -> Account:
        if not self.plaintext_allowed(tls=tls, peer_ip=peer_ip):
            log.info("login refused: plaintext without TLS method=%s ip=%s", method, peer_ip)
            raise AuthFailed(_PLAINTEXT_REFUSED)
        user = username.lower()
        self._check_lockout(user, peer_ip, method)
        if not user or len(user) > MAX_USERNAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
            # No account can match, and answering at once reveals nothing about any account.
            raise self._refused(method, user, peer_ip, "name or password too long or empty",
                                count_account=True)

        account = await self.store.get_account(user)
        if account is not None:
            cache_key = self._cache_key(user, password, account.password_hash)
            expiry = self._cache.get(cache_key)
            if expiry is not None and expiry > self._clock():
                self._succeeded(account, peer_ip, method, cached=True)
                return account
            if await self._verify_once(cache_key, account.password_hash, password, user,
                                       peer_ip, method):
                self._remember(cache_key)
                self._succeeded(account, peer_ip, method)
                return account
        else:
            # Spend what a wrong password would cost, so timing does not tell who has an account.
            await self._verify(await self._dummy(), password, user, peer_ip, method)
        raise self._refused(method, user, peer_ip, "wrong password or unknown user",
                            count_account=True)

    async def _scram_lookup(self, username: str, *, peer_ip: str
                            ) -> tuple[Account | None, ScramCredentials]:
        """The account and its SCRAM credentials. For an unknown user (or one without SCRAM
        credentials) invented but stable ones, so the exchange runs to its end and fails there
        exactly as a wrong password does (RFC 5802 §5.1 suggests this against enumeration)."""
        user = username.lower()
        self._check_lockout(user, peer_ip, "SCRAM-SHA-256")
        account = None
        if len(user) <= MAX_USERNAME_LENGTH:
            account = await self.store.get_account(user)
        if account is not None and account.scram is not None:
            return account, account.scram
        salt = hmac.digest(self._secret, b"scram-salt\0" + user.encode("utf-8", "replace"),
                           "sha256")[:passwords.SCRAM_SALT_LENGTH]
        fake = ScramCredentials(salt=salt, iterations=passwords.DEFAULT_SCRAM_ITERATIONS,
                                stored_key=secrets.token_bytes(32),
                                server_key=secrets.token_bytes(32))
        return None, fake

    def _check_lockout(self, user: str, peer_ip: str, method: str) -> None:
        wait = max(self._account_failures.blocked(user),
                   self._ip_failures.blocked(self._ip_key(peer_ip)))
        if wait > 0:
            log.info("login locked out account=%s ip=%s method=%s retry_in=%.0fs",
                     _loggable(user), peer_ip, method, wait)
            raise AuthFailed(_LOCKED_OUT, temporary=True)

    def _malformed(self, method: str, peer_ip: str, why: str) -> AuthFailed:
        """A protocol error from the client: counted against its IP only."""
        self._ip_failures.hit(self._ip_key(peer_ip))
        log.info("login failed ip=%s method=%s reason=%s", peer_ip, method, why)
        return AuthFailed("malformed authentication exchange")

    def _refused(self, method: str, user: str, peer_ip: str, why: str, *,
                 reason: str = "authentication failed", count_account: bool = False
                 ) -> AuthFailed:
        """A failed attempt: logged, counted, and returned for the caller to raise."""
        if count_account and user:
            self._account_failures.hit(user.lower())
        self._ip_failures.hit(self._ip_key(peer_ip))
        log.info("login failed account=%s ip=%s method=%s reason=%s",
                 _loggable(user), peer_ip, method, why)
        return AuthFailed(reason)

    def _succeeded(self, account: Account, peer_ip: str, method: str, *,
                   cached: bool = False) -> None:
        # The account's owner got in: earlier failures were theirs (or are now moot).
        # The IP keeps its count, or one valid account would unlock guessing at all others.
        self._account_failures.reset(account.email.lower())
        log.info("login ok account=%s ip=%s method=%s%s", account.email, peer_ip, method,
                 " (cached)" if cached else "")

    # --- argon2 and the verification cache ------------------------------------------------------

    async def _verify(self, stored_hash: str, password: str, user: str, peer_ip: str,
                      method: str) -> bool:
        async with self._hash_slots:
            # Checked again once a slot is free: attempts queued in parallel behind one another
            # must not all get past a lock-out that the first few of them caused.
            self._check_lockout(user, peer_ip, method)
            return await asyncio.to_thread(passwords.verify_password, stored_hash, password)

    async def _verify_once(self, cache_key: bytes, stored_hash: str, password: str, user: str,
                           peer_ip: str, method: str) -> bool:
        """One argon2 run for many identical logins arriving together (a phone and a laptop
        reconnecting at once, 50 IMAP connections of one client): the others wait for its
        result instead of each paying for the hash before the cache has it."""
        pending = self._inflight.get(cache_key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[cache_key] = fut
        try:
            ok = await self._verify(stored_hash, password, user, peer_ip, method)
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved here, so a result nobody waited for is not logged
            raise
        else:
            fut.set_result(ok)
        finally:
            del self._inflight[cache_key]
        return ok

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(
                passwords.hash_password, secrets.token_urlsafe(16), parameters=self._parameters)
        return self._dummy_hash

    def _cache_key(self, user: str, password: str, stored_hash: str) -> bytes:
        # Keyed BLAKE2 of (name, password, stored hash): holds no password, and a new password
        # (a new hash) misses by construction. The key dies with the process.
        h = hashlib.blake2b(key=self._secret, digest_size=32)
        for part in (user, password, stored_hash):
            data = part.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(4, "big"))
            h.update(data)
        return h.digest()

    def _remember(self, cache_key: bytes) -> None:
        ttl = self.settings.cache_ttl_seconds
        if ttl <= 0:
            return
        now = self._clock()
        if len(self._cache) >= MAX_CACHE_ENTRIES:
            for key in [k for k, expiry in self._cache.items() if expiry <= now]:
                del self._cache[key]
            while len(self._cache) >= MAX_CACHE_ENTRIES:
                del self._cache[next(iter(self._cache))]
        self._cache.pop(cache_key, None)
        self._cache[cache_key] = now + ttl

    @staticmethod
    def _ip_key(peer_ip: str) -> str:
        """IPv4 per address; IPv6 per /64, the block one subscriber usually holds, so rotating
        through one's own addresses does not reset the count."""
        try:
            ip = ipaddress.ip_address(peer_ip.split("%", 1)[0])
        except ValueError:
            return peer_ip
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip)

"""SASL mechanisms as small state machines: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login)
and SCRAM-SHA-256 (RFC 7677 over RFC 5802). Sans-I/O: the door base64-decodes client responses
and feeds them to ``step()``; credential checks and lock-outs are the Authenticator's.

Each exchange runs forward only: ``step()`` either returns the next challenge, returns the
authenticated account, or raises AuthFailed, after which the exchange is finished for good.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postroom.store.api import Account, ScramCredentials

if TYPE_CHECKING:
    from postroom.auth.authenticator import Authenticator


class AuthFailed(Exception):
    """Authentication did not succeed. ``reason`` is safe to show the client (it never says
    whether the account exists); ``temporary`` is True for a lock-out (IMAP [UNAVAILABLE],
    SMTP 454 4.7.0) rather than wrong credentials."""

    def __init__(self, reason: str = "authentication failed", *, temporary: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


class UnknownMechanism(Exception):
    """The client named a SASL mechanism this server does not offer."""


@dataclass(frozen=True, slots=True)
class SaslStep:
    """One server move. With ``account`` set, authentication succeeded and ``challenge`` (when not
    None) is additional data for the client (SCRAM's server-final-message). Otherwise the door
    sends ``challenge`` as a continuation and feeds the client's answer to the next step()."""
    challenge: bytes | None
    account: Account | None = None


# Bounds on what a client may send in one response: far above any honest use, low enough that
# garbage costs nothing. RFC 4616 §2 requires accepting at least 255 octets per field.
MAX_RESPONSE = 8192


class SaslExchange(abc.ABC):
    """One authentication attempt with one mechanism."""

    mechanism: str

    def __init__(self, authenticator: "Authenticator", *, peer_ip: str, tls: bool) -> None:
        self._auth = authenticator
        self.peer_ip = peer_ip
        self.tls = tls
        self._finished = False

    async def step(self, response: bytes | None) -> SaslStep:
        """Feeds the client's (decoded) response; None only on the first call, meaning the client
        sent no initial response (RFC 4422 §3.3). Raises AuthFailed."""
        if self._finished:
            raise AuthFailed("authentication exchange already finished")
        if response is not None and len(response) > MAX_RESPONSE:
            self._finished = True
            raise self._auth._malformed(self.mechanism, self.peer_ip, "response too long")
        try:
            result = await self._step(response)
        except BaseException:
            self._finished = True
            raise
        if result.account is not None:
            self._finished = True
        return result

    @abc.abstractmethod
    async def _step(self, response: bytes | None) -> SaslStep: ...

    def _decode(self, data: bytes, what: str) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self._auth._malformed(self.mechanism, self.peer_ip,
                                        f"{what} is not UTF-8") from None


class PlainExchange(SaslExchange):
    """RFC 4616: one message ``[authzid] NUL authcid NUL passwd``."""

    mechanism = "PLAIN"

    def __init__(self, authenticator: "Authenticator", *, peer_ip: str, tls: bool) -> None:
        super().__init__(authenticator, peer_ip=peer_ip, tls=tls)
        self._asked = False

    async def _step(self, response: bytes | None) -> SaslStep:
        if response is None:
            if self._asked:
                raise self._auth._malformed(self.mechanism, self.peer_ip, "no response")
            # RFC 4616 §2: the server sends an empty challenge when there was no initial response.
            self._asked = True
            return SaslStep(b"")
        fields = response.split(b"\0")
        if len(fields) != 3:
            raise self._auth._malformed(self.mechanism, self.peer_ip,
                                        "expected authzid NUL authcid NUL passwd")
        authzid, authcid, passwd = (self._decode(f, "message") for f in fields)
        if not authcid or not passwd:
            raise self._auth._malformed(self.mechanism, self.peer_ip,
                                        "empty authentication identity or password")
        # We have no proxy/master users: acting as someone else is never allowed (RFC 4616 §2,
        # the server "MUST verify that the authcid is allowed to act as the authzid").
        if authzid and authzid.lower() != authcid.lower():
            raise self._auth._refused(self.mechanism, authcid, self.peer_ip,
                                      "authorization identity differs from authentication "
                                      "identity", reason="not authorized to act as that user")
        account = await self._auth._password_login(authcid, passwd, peer_ip=self.peer_ip,
                                                   tls=self.tls, method=self.mechanism)
        return SaslStep(None, account)


class LoginExchange(SaslExchange):
    """draft-murchison-sasl-login-00: the server asks "Username:", then "Password:"."""

    mechanism = "LOGIN"

    def __init__(self, authenticator: "Authenticator", *, peer_ip: str, tls: bool) -> None:
        super().__init__(authenticator, peer_ip=peer_ip, tls=tls)
        self._state = "start"
        self._username = ""

    async def _step(self, response: bytes | None) -> SaslStep:
        if self._state == "start":
            # Some clients (Outlook, older Apple Mail) send the username as an initial response
            # (draft §2.1 allows it); an empty one counts as none.
            if response:
                self._username = self._decode(response, "username")
                self._state = "password"
                return SaslStep(b"Password:")
            self._state = "username"
            return SaslStep(b"Username:")
        if response is None:
            raise self._auth._malformed(self.mechanism, self.peer_ip, "no response")
        if self._state == "username":
            self._username = self._decode(response, "username")
            self._state = "password"
            return SaslStep(b"Password:")
        password = self._decode(response, "password")
        if not self._username or not password:
            raise self._auth._malformed(self.mechanism, self.peer_ip,
                                        "empty username or password")
        account = await self._auth._password_login(self._username, password,
                                                   peer_ip=self.peer_ip, tls=self.tls,
                                                   method=self.mechanism)
        return SaslStep(None, account)


def _saslname_decode(value: str) -> str:
    """RFC 5802 §5.1 saslname: "," and "=" travel as "=2C" and "=3D"; any other "=" is an error."""
    if "," in value:
        raise ValueError("comma in saslname")
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "=":
            code = value[i + 1:i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                raise ValueError("bad escape in saslname")
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _printable(value: str) -> bool:
    # RFC 5802 §7 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ",".
    return bool(value) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in value)


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii"), validate=True)


class ScramSha256Exchange(SaslExchange):
    """RFC 5802 §5 with SHA-256 (RFC 7677). Without channel binding: we do not offer
    SCRAM-SHA-256-PLUS, so a client asking for it ("p=") is refused and "y" is accepted (§6)."""

    mechanism = "SCRAM-SHA-256"

    def __init__(self, authenticator: "Authenticator", *, peer_ip: str, tls: bool) -> None:
        super().__init__(authenticator, peer_ip=peer_ip, tls=tls)
        self._state = "start"
        self._server_nonce: str | None = None   # tests set it to replay RFC 7677 §3
        self._gs2_header = b""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._username = ""
        self._account: Account | None = None
        self._credentials: ScramCredentials | None = None

    async def _step(self, response: bytes | None) -> SaslStep:
        if self._state == "start" and response is None:
            # No initial response: an empty challenge asks for the client-first-message.
            self._state = "client-first"
            return SaslStep(b"")
        if response is None:
            raise self._auth._malformed(self.mechanism, self.peer_ip, "no response")
        if self._state in ("start", "client-first"):
            return await self._client_first(response)
        if self._state == "client-final":
            return self._client_final(response)
        raise AuthFailed("authentication exchange already finished")

    def _bad(self, why: str) -> AuthFailed:
        return self._auth._malformed(self.mechanism, self.peer_ip, why)

    async def _client_first(self, response: bytes) -> SaslStep:
        message = self._decode(response, "client-first-message")
        if "\0" in message:
            raise self._bad("NUL in client-first-message")
        parts = message.split(",")
        if len(parts) < 4:
            raise self._bad("short client-first-message")
        cbind, authzid_field = parts[0], parts[1]
        if cbind.startswith("p="):
            raise self._auth._refused(self.mechanism, "", self.peer_ip,
                                      "client requires channel binding",
                                      reason="channel binding is not supported")
        if cbind not in ("n", "y"):
            raise self._bad("bad gs2-cbind-flag")
        authzid = ""
        if authzid_field:
            if not authzid_field.startswith("a="):
                raise self._bad("bad authzid")
            try:
                authzid = _saslname_decode(authzid_field[2:])
            except ValueError:
                raise self._bad("bad authzid") from None
        bare = parts[2:]
        if bare[0].startswith("m="):
            raise self._bad("unsupported mandatory extension")
        if not bare[0].startswith("n=") or not bare[1].startswith("r="):
            raise self._bad("expected n= and r=")
        try:
            username = _saslname_decode(bare[0][2:])
        except ValueError:
            raise self._bad("bad username") from None
        client_nonce = bare[1][2:]
        if not username or not _printable(client_nonce):
            raise self._bad("empty username or bad nonce")
        if any("=" not in ext or not ext[:1].isalpha() for ext in bare[2:]):
            raise self._bad("bad extension")
        if authzid and authzid.lower() != username.lower():
            raise self._auth._refused(self.mechanism, username, self.peer_ip,
                                      "authorization identity differs from authentication "
                                      "identity", reason="not authorized to act as that user")

        self._username = username
        self._gs2_header = (",".join(parts[:2]) + ",").encode("utf-8")
        self._client_first_bare = ",".join(bare)
        self._account, self._credentials = await self._auth._scram_lookup(
            username, peer_ip=self.peer_ip)
        server_nonce = self._server_nonce or secrets.token_urlsafe(24)
        self._nonce = client_nonce + server_nonce
        salt = base64.b64encode(self._credentials.salt).decode("ascii")
        self._server_first = f"r={self._nonce},s={salt},i={self._credentials.iterations}"
        self._state = "client-final"
        return SaslStep(self._server_first.encode("ascii"))

    def _client_final(self, response: bytes) -> SaslStep:
        self._state = "done"
        message = self._decode(response, "client-final-message")
        parts = message.split(",")
        if len(parts) < 3 or not parts[0].startswith("c=") or not parts[1].startswith("r=") \
                or not parts[-1].startswith("p="):
            raise self._bad("expected c=, r= ... p=")
        try:
            channel_binding = _b64decode(parts[0][2:])
            proof = _b64decode(parts[-1][2:])
        except (binascii.Error, UnicodeEncodeError):
            raise self._bad("bad base64") from None
        # Without channel binding, c= carries exactly the gs2 header of the first message
        # (RFC 5802 §7: cbind-input = gs2-header [cbind-data]).
        if not hmac.compare_digest(channel_binding, self._gs2_header):
            raise self._bad("channel binding does not match gs2 header")
        if not hmac.compare_digest(parts[1][2:].encode("utf-8"), self._nonce.encode("utf-8")):
            raise self._bad("nonce mismatch")
        if len(proof) != hashlib.sha256().digest_size:
            raise self._bad("bad proof length")

        credentials = self._credentials
        assert credentials is not None
        without_proof = ",".join(parts[:-1])
        auth_message = ",".join((self._client_first_bare, self._server_first,
                                 without_proof)).encode("utf-8")
        client_signature = hmac.digest(credentials.stored_key, auth_message, "sha256")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
        proof_ok = hmac.compare_digest(hashlib.sha256(client_key).digest(),
                                       credentials.stored_key)
        if self._account is None or not proof_ok:
            raise self._auth._refused(self.mechanism, self._username, self.peer_ip,
                                      "invalid proof", count_account=True)
        server_signature = hmac.digest(credentials.server_key, auth_message, "sha256")
        self._auth._succeeded(self._account, self.peer_ip, self.mechanism)
        return SaslStep(b"v=" + base64.b64encode(server_signature), self._account)


MECHANISMS: dict[str, type[SaslExchange]] = {
    "PLAIN": PlainExchange,
    "LOGIN": LoginExchange,
    "SCRAM-SHA-256": ScramSha256Exchange,
}
PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})

"""Connection-level commands: CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE (with
SASL-IR), ID, ENABLE and COMPRESS (RFC 9051 §6.1-§6.3.1, RFC 4959, RFC 2971, RFC 5161,
RFC 4978)."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from postroom.auth.sasl import AuthFailed, UnknownMechanism
from postroom.imap.args import Args, Bad, No, as_bytes
from postroom.imap.session import ANSWERED, Closed
from postroom.imap.state import State
from postroom.imap.wire import Command

if TYPE_CHECKING:
    from postroom.imap.session import Session

# What works fully, after login (RFC 9051 §7.2.2).
AUTHENTICATED_CAPABILITIES = (
    "IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE",
    "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
    "CREATE-SPECIAL-USE", "CONDSTORE", "QRESYNC", "ESEARCH", "SEARCHRES", "SORT",
    "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "QUOTA", "QUOTA=RES-STORAGE",
    "METADATA", "COMPRESS=DEFLATE", "UTF8=ACCEPT", "STATUS=SIZE", "SAVEDATE",
    "OBJECTID", "PREVIEW", "WITHIN", "MULTIAPPEND", "BINARY", "NOTIFY", "ACL", "RIGHTS=kxte",
)
PREAUTH_CAPABILITIES = ("IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE",
                        "IDLE")

ENABLEABLE = {"CONDSTORE", "QRESYNC", "IMAP4REV2", "UTF8=ACCEPT", "METADATA"}


def capabilities(s: "Session") -> list[str]:
    if s.state is State.NOT_AUTHENTICATED:
        caps = list(PREAUTH_CAPABILITIES)
        if not s.conn.tls:
            caps.append("STARTTLS")
        peer = dict(tls=s.conn.tls, peer_ip=s.conn.peer_ip)
        if not s.ctx.auth.plaintext_allowed(**peer):
            caps.append("LOGINDISABLED")
        caps += [f"AUTH={m}" for m in s.ctx.auth.mechanisms(**peer)]
        return caps
    caps = list(AUTHENTICATED_CAPABILITIES)
    caps.append(f"APPENDLIMIT={s.settings.max_literal_size}")
    if s.conn.compressed:
        caps.remove("COMPRESS=DEFLATE")
    return caps


async def capability(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    s.untagged("CAPABILITY " + " ".join(s.capabilities()))
    return "CAPABILITY completed"


async def noop(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    return "NOOP completed"


async def logout(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    s.untagged("BYE Logging out")
    s.state = State.LOGOUT
    s.selected = None
    return "LOGOUT completed"


async def starttls(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    if s.conn.tls:
        raise Bad("TLS is already active")
    # Anything pipelined after STARTTLS was sent in the clear: discard it (RFC 9051 §6.2.1,
    # and the STARTTLS command-injection attacks of CVE-2011-0411's kind).
    s.reader = type(s.reader)(max_line_length=s.settings.max_line_length,
                              max_literal_size=s.settings.max_literal_size)
    s.send(f"{cmd.tag} OK Begin TLS negotiation now\r\n".encode())
    await s.flush()
    try:
        await s.conn.start_tls(s.ctx.tls)
    except Exception as e:
        raise Closed(f"TLS handshake failed: {e}") from None
    return ANSWERED


def _authenticated(s: "Session", account) -> tuple[str, str]:
    if not s.door.admit_user(account.id, s):
        raise No("Too many connections for this user", "LIMIT")
    s.account = account
    s.log.account = account.email
    s.state = State.AUTHENTICATED
    return ("CAPABILITY " + " ".join(s.capabilities()), "Logged in")


async def login(s: "Session", cmd: Command) -> tuple[str, str]:
    a = Args(cmd.args)
    user = a.astring("user name")
    password = a.astring("password")
    a.end()
    peer = dict(tls=s.conn.tls, peer_ip=s.conn.peer_ip)
    if not s.ctx.auth.plaintext_allowed(**peer):
        raise No("Plaintext login is not allowed without TLS; use STARTTLS", "PRIVACYREQUIRED")
    try:
        account = await s.ctx.auth.login(user.decode("utf-8", "replace"),
                                         password.decode("utf-8", "replace"), **peer)
    except AuthFailed as e:
        if e.temporary:
            raise No(e.reason, "UNAVAILABLE") from None
        raise No("Authentication failed", "AUTHENTICATIONFAILED") from None
    return _authenticated(s, account)


async def authenticate(s: "Session", cmd: Command) -> tuple[str, str]:
    a = Args(cmd.args)
    mechanism = a.atom("mechanism")
    initial = None
    if a.more():
        tok = a.next()
        # RFC 4959 SASL-IR: "=" stands for an empty initial response.
        initial = b"" if tok == "=" else _b64(as_bytes(tok))
    a.end()
    peer = dict(tls=s.conn.tls, peer_ip=s.conn.peer_ip)
    try:
        exchange = s.ctx.auth.sasl(mechanism, **peer)
    except UnknownMechanism:
        raise No(f"Unsupported mechanism {mechanism[:30]}", "CANNOT") from None
    except AuthFailed as e:
        if e.temporary:
            raise No(e.reason, "UNAVAILABLE") from None
        raise No(e.reason, "PRIVACYREQUIRED") from None
    response = initial
    try:
        for _ in range(10):
            step = await exchange.step(response)
            if step.account is not None:
                if step.challenge:
                    # SCRAM server-final data goes out as a last continuation; the client
                    # answers an empty line (RFC 9051 §6.2.2).
                    s.send(b"+ " + base64.b64encode(step.challenge) + b"\r\n")
                    line = await s.read_line(s.settings.auth_timeout_seconds)
                    if line.strip() == b"*":
                        raise Bad("Authentication cancelled")
                return _authenticated(s, step.account)
            s.send(b"+ " + base64.b64encode(step.challenge or b"") + b"\r\n")
            line = await s.read_line(s.settings.auth_timeout_seconds)
            if line.strip() == b"*":
                raise Bad("Authentication cancelled")
            response = _b64(line.strip())
        raise No("Too many authentication steps", "AUTHENTICATIONFAILED")
    except AuthFailed as e:
        if e.temporary:
            raise No(e.reason, "UNAVAILABLE") from None
        raise No("Authentication failed", "AUTHENTICATIONFAILED") from None


def _b64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Bad("Invalid base64") from None


async def id_(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    tok = a.next("ID parameters")
    if not (isinstance(tok, list) or (isinstance(tok, str) and tok.upper() == "NIL")):
        raise Bad("ID takes a parameter list or NIL")
    a.end()
    if isinstance(tok, list) and (len(tok) % 2 or len(tok) > 60):
        raise Bad("ID parameters come in pairs (at most 30)")
    s.untagged(b'ID ("name" "Postroom" "vendor" "Postroom" "support-url" NIL)')
    return "ID completed"


async def enable(s: "Session", cmd: Command) -> str:
    if not cmd.args:
        raise Bad("ENABLE needs at least one capability")
    done = []
    for tok in cmd.args:
        if not isinstance(tok, str):
            raise Bad("Capabilities are atoms")
        name = tok.upper()
        if name in ENABLEABLE and name not in s.enabled:
            s.enabled.add(name)
            if name == "QRESYNC":
                s.enabled.add("CONDSTORE")   # RFC 7162 §3.2.3: QRESYNC implies CONDSTORE
            done.append(str(tok))
    s.untagged("ENABLED" + "".join(" " + d for d in done))
    return "ENABLE completed"


async def compress(s: "Session", cmd: Command) -> tuple[str, str] | str:
    a = Args(cmd.args)
    mech = a.atom("mechanism")
    a.end()
    if mech.upper() != "DEFLATE":
        raise Bad("Only DEFLATE is supported")
    if s.conn.compressed:
        raise No("Compression is already active", "COMPRESSIONACTIVE")
    s.send(f"{cmd.tag} OK DEFLATE active\r\n".encode())
    await s.flush()
    s.conn.start_compress()
    return ANSWERED


HANDLERS = {
    "CAPABILITY": capability, "NOOP": noop, "LOGOUT": logout, "STARTTLS": starttls,
    "LOGIN": login, "AUTHENTICATE": authenticate, "ID": id_, "ENABLE": enable,
    "COMPRESS": compress,
}

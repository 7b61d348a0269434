"""The one path every door sends mail through (DESIGN.md, "Sending"): the sender check, DKIM
signing (RFC 6376 §5), local delivery through the store and the durable outbound queue.
SMTP submission (RFC 6409), EAS SendMail and the web app all call :func:`submit`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

import dkim

from postroom.config import Config
from postroom.store.api import (SEEN, Account, QuotaExceeded, Recipient, ROLE_SENT, Store,
                                StoreError)

log = logging.getLogger(__name__)


class SubmissionRefused(Exception):
    """The message may not be sent as it is. ``status`` is the RFC 3463 enhanced status code a
    door reports (SMTP maps 5.7.1 to 553/550, EAS to its own Status)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rejection:
    recipient: str
    status: str          # RFC 3463, e.g. "5.1.1" unknown user, "4.2.2" mailbox full
    reason: str


@dataclass(frozen=True, slots=True)
class SubmitResult:
    delivered: list[str] = field(default_factory=list)   # local recipients, in the store now
    queued: list[str] = field(default_factory=list)      # remote recipients, in the queue
    rejected: list[Rejection] = field(default_factory=list)
    queue_id: int | None = None
    message: bytes = b""                                 # the bytes as sent (signed)


# --- waking the delivery worker -----------------------------------------------------------------
# Within one process the worker sleeps until the next due time; a message queued meanwhile
# wakes it through these callbacks, keyed by the store it was queued in (two servers in one
# process, as in the tests, each keep their own worker).

_queue_listeners: dict[int, list[Callable[[], None]]] = {}


def on_queued(store: Store, callback: Callable[[], None]) -> Callable[[], None]:
    """Calls ``callback`` whenever a message is queued in ``store`` in this process.
    Returns the function that unsubscribes."""
    _queue_listeners.setdefault(id(store), []).append(callback)

    def unsubscribe() -> None:
        listeners = _queue_listeners.get(id(store), [])
        if callback in listeners:
            listeners.remove(callback)
        if not listeners:
            _queue_listeners.pop(id(store), None)
    return unsubscribe


def notify_queued(store: Store) -> None:
    for callback in list(_queue_listeners.get(id(store), ())):
        callback()


# --- message helpers ----------------------------------------------------------------------------

_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")


def to_crlf(raw: bytes) -> bytes:
    """Every line ending as CRLF (RFC 5322 §2.1; RFC 5321 §2.3.8 forbids bare CR and LF)."""
    if b"\n" in raw and _BARE_LF.search(raw):
        raw = _BARE_LF.sub(b"\r\n", raw)
    if b"\r" in raw and _BARE_CR.search(raw):
        raw = _BARE_CR.sub(b"\r\n", raw)
    return raw


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """The header block (with its final CRLF, without the blank line) and the body."""
    if raw.startswith(b"\r\n"):
        return b"", raw[2:]
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return raw if raw.endswith(b"\r\n") or not raw else raw + b"\r\n", b""
    return raw[:end + 2], raw[end + 4:]


def header_fields(header: bytes) -> list[tuple[str, str]]:
    """(lower-case name, unfolded value) of each header field, in order."""
    fields: list[tuple[str, str]] = []
    for line in header.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        fields.append((name.strip().decode("ascii", "replace").lower(),
                       value.strip().decode("utf-8", "replace")))
    return fields


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def normalize(address: str) -> str:
    """Case-folds the domain only: local parts are case-sensitive in theory (RFC 5321 §2.4),
    though the store compares them case-insensitively too."""
    local, at, domain = address.strip().rpartition("@")
    return f"{local}@{domain.lower()}" if at else address.strip()


def _without_tag(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _may_use(address: str, own: set[str]) -> bool:
    a = address.lower()
    return a in own or _without_tag(a) in own


# --- the sender check ---------------------------------------------------------------------------


# A text/calendar part anywhere in the message: the cheap test before iMIP handling.
_CALENDAR_PART = re.compile(rb"content-type:[ \t]*text/calendar", re.IGNORECASE)


async def deliver_local(store: Store, raw: bytes, recipients: Sequence[Recipient]) -> None:
    """Local delivery, whichever door received the message: one atomic store.deliver, then
    iMIP (RFC 6047) for each recipient, so an invitation or a reply arriving by mail updates
    the calendar at once as Exchange does. Raises what store.deliver raises."""
    await store.deliver(raw, recipients)
    if not _CALENDAR_PART.search(raw):
        return
    from postroom.pim.itip import handle_incoming_imip
    for recipient in recipients:
        account = await store.get_account_by_id(recipient.account_id)
        if account is not None:
            await handle_incoming_imip(store, account, raw)

async def check_sender(store: Store, account: Account, mail_from: str,
                       header: bytes) -> list[str]:
    """Refuses unless the envelope sender and every From/Sender address are the account's own
    (its address or an alias pointing to it; ``user+tag@`` of those too). Returns the From
    addresses. An empty MAIL FROM is allowed: RFC 3798 §3 asks MDNs to use it."""
    own = {a.lower() for a in await store.addresses_of(account.id)}
    own.add(account.email.lower())
    if mail_from and not _may_use(mail_from, own):
        raise SubmissionRefused("5.7.1", f"{account.email} may not send as <{mail_from}>")
    fields = header_fields(header)
    froms = [v for n, v in fields if n == "from"]
    if not froms:
        raise SubmissionRefused("5.6.0", "the message has no From header field")
    if len(froms) > 1:
        # RFC 5322 §3.6 allows one From field; two would let a client slip a second identity
        # past this check (and past DMARC).
        raise SubmissionRefused("5.6.0", "the message has more than one From header field")
    addresses = [addr for _, addr in email.utils.getaddresses(froms)]
    senders = [v for n, v in fields if n == "sender"]
    checked = addresses + [addr for _, addr in email.utils.getaddresses(senders)]
    if not addresses or any("@" not in a for a in checked):
        raise SubmissionRefused("5.6.0", "the From header field has no valid address")
    for addr in checked:
        if not _may_use(addr, own):
            raise SubmissionRefused("5.7.1", f"{account.email} may not send as <{addr}>")
    return addresses


# --- DKIM ---------------------------------------------------------------------------------------

# Headers a DKIM signature covers (RFC 6376 §5.4.1). Naming absent ones signs their absence,
# and naming From twice oversigns it (§8.15): a From added in transit breaks the signature.
_SIGNED_HEADERS = [b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to",
                   b"in-reply-to", b"references", b"mime-version", b"content-type",
                   b"content-transfer-encoding", b"sender"]


def dkim_sign(raw: bytes, domain: str, selector: str, private_key_pem: bytes) -> bytes:
    """Prepends a DKIM-Signature (rsa-sha256, relaxed/relaxed) to ``raw``."""
    signature = dkim.sign(raw, selector.encode(), domain.encode(), private_key_pem,
                          canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=_SIGNED_HEADERS + [b"from"])
    return signature + raw


async def _sign_if_keyed(store: Store, raw: bytes, from_domain: str) -> bytes:
    domain = await store.get_domain(from_domain)
    if domain is None or not domain.dkim_selector or not domain.dkim_private_key:
        return raw
    # RSA and hashing a large body would stall the loop: off to a thread.
    return await asyncio.to_thread(dkim_sign, raw, domain.name, domain.dkim_selector,
                                   domain.dkim_private_key)


def _complete_header(header: bytes, from_domain: str) -> bytes:
    """RFC 6409 §8.2/§8.3: a submission server may add a missing Date and Message-ID."""
    names = {n for n, _ in header_fields(header)}
    added = b""
    if "date" not in names:
        added += b"Date: " + email.utils.formatdate(usegmt=True).encode() + b"\r\n"
    if "message-id" not in names:
        added += f"Message-ID: <{uuid.uuid4().hex}@{from_domain}>\r\n".encode()
    return header + added


# --- routing: local delivery and the queue ------------------------------------------------------

async def dispatch(store: Store, mail_from: str, rcpt_to: Sequence[str], raw: bytes
                   ) -> SubmitResult:
    """Delivers to local recipients (one atomic store.deliver) and queues the rest, with no
    sender check: for messages already vouched for (submit) and for bounces (empty
    ``mail_from``). Unknown local users and full mailboxes come back as rejections."""
    delivered: list[str] = []
    remote: list[str] = []
    rejected: list[Rejection] = []
    targets: dict[int, tuple[Recipient, list[str], Account]] = {}
    for rcpt in rcpt_to:
        rcpt = normalize(rcpt)
        if await store.get_domain(domain_of(rcpt)) is None:
            remote.append(rcpt)
            continue
        account = await store.resolve_recipient(rcpt)
        if account is None:
            rejected.append(Rejection(rcpt, "5.1.1", "no such user here"))
            continue
        if account.id in targets:
            targets[account.id][1].append(rcpt)   # two addresses of one account: one copy
            continue
        if account.quota_bytes and account.used_bytes + len(raw) > account.quota_bytes:
            status = "5.2.2" if len(raw) > account.quota_bytes else "4.2.2"
            rejected.append(Rejection(rcpt, status, "mailbox full"))
            continue
        inbox = await store.get_mailbox(account.id, "INBOX")
        if inbox is None:
            rejected.append(Rejection(rcpt, "4.2.1", "mailbox unavailable"))
            continue
        targets[account.id] = (Recipient(account.id, inbox.id), [rcpt], account)

    if targets:
        try:
            await deliver_local(store, raw, [t[0] for t in targets.values()])
            for _, addrs, _ in targets.values():
                delivered.extend(addrs)
        except QuotaExceeded:
            # A quota moved between the check and the delivery: deliver one by one so one
            # full mailbox does not hold back the others.
            for recipient, addrs, _ in targets.values():
                try:
                    await deliver_local(store, raw, [recipient])
                    delivered.extend(addrs)
                except QuotaExceeded:
                    rejected.extend(Rejection(a, "4.2.2", "mailbox full") for a in addrs)

    queue_id = None
    if remote:
        queue_id = await store.queue_put(mail_from, remote, raw)
        notify_queued(store)
    return SubmitResult(delivered, remote, rejected, queue_id, raw)


async def submit(store: Store, sender_account: Account, mail_from: str, rcpt_to: list[str],
                 raw: bytes, *, config: Config, save_to_sent: bool = False) -> SubmitResult:
    """Sends ``raw`` from ``sender_account``: checks the sender, completes and DKIM-signs the
    message, delivers locally, queues the rest. Raises SubmissionRefused (before anything is
    delivered) when the account may not send it."""
    raw = to_crlf(raw)
    if len(raw) > config.store.max_message_size:
        raise SubmissionRefused("5.3.4", "message too big")
    if not rcpt_to:
        raise SubmissionRefused("5.5.1", "no recipients")
    header, body = split_header(raw)
    if len(header) > config.smtp.max_header_bytes:
        raise SubmissionRefused("5.3.4", "message header too big")
    from_addresses = await check_sender(store, sender_account, mail_from, header)
    from_domain = domain_of(from_addresses[0])
    raw = _complete_header(header, from_domain) + b"\r\n" + body
    raw = await _sign_if_keyed(store, raw, from_domain)
    result = await dispatch(store, mail_from, rcpt_to, raw)
    if save_to_sent:
        sent = await store.get_mailbox_by_role(sender_account.id, ROLE_SENT)
        if sent is not None:
            try:
                await store.append(sender_account.id, sent.id, raw, flags=[SEEN],
                                   internal_date=int(time.time()))
            except StoreError as e:
                # The message went out; a full Sent folder must not make the client resend it.
                log.warning("could not save to Sent for %s: %s", sender_account.email, e)
    return result

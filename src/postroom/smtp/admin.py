"""What ``postroom domain dkim`` and ``postroom queue list|flush|delete`` call: DKIM key
generation with the DNS record to publish (RFC 6376 §3.6.1), and the outbound queue's
administration. Plain async functions over the store, so the CLI and tests share them.
"""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postroom.store.api import NotFound, QueuedMessage, Store
from postroom.smtp.dsn import FailedRecipient, build_dsn
from postroom.submission import dispatch

DKIM_KEY_BITS = 2048          # RFC 8301 §3.2: at least 1024; 2048 is what receivers expect


def dkim_record_value(private_key_pem: bytes) -> str:
    """The TXT value ("v=DKIM1; k=rsa; p=...") for a PEM private key."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"


def dkim_record(domain: str, selector: str, private_key_pem: bytes) -> str:
    """The zone-file line to publish: the value split into quoted strings of at most 255
    characters, as one TXT record (RFC 6376 §3.6.2.2 joins them)."""
    value = dkim_record_value(private_key_pem)
    chunks = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    return f"{selector}._domainkey.{domain}. IN TXT {chunks}"


async def generate_dkim(store: Store, domain: str, selector: str = "postroom") -> str:
    """Makes a new RSA-2048 signing key for ``domain`` (replacing any), stores it, and returns
    the DNS record to publish. NotFound when the domain is not ours."""
    if await store.get_domain(domain) is None:
        raise NotFound(f"no such domain: {domain}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=DKIM_KEY_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    await store.set_domain_dkim(domain, selector, pem)
    return dkim_record(domain, selector, pem)


async def show_dkim(store: Store, domain: str) -> str | None:
    """The DNS record for the domain's current key, None when it has none."""
    d = await store.get_domain(domain)
    if d is None:
        raise NotFound(f"no such domain: {domain}")
    if not d.dkim_selector or not d.dkim_private_key:
        return None
    return dkim_record(d.name, d.dkim_selector, d.dkim_private_key)


async def queue_list(store: Store) -> list[QueuedMessage]:
    """Every queued message, as the store keeps it (id, sender, recipients, attempts, next
    attempt and last error)."""
    return await store.queue_list()


async def queue_flush(store: Store) -> int:
    """Makes every queued message due now; returns how many. A running server's worker picks
    them up at its next wake-up (within a minute when the flush comes from another process)."""
    return await store.queue_flush()


async def queue_delete(store: Store, queue_id: int, *, bounce: bool = False,
                       reporting_mta: str = "localhost") -> None:
    """Removes a queued message. With ``bounce``, its sender first gets a DSN saying the
    administrator gave up on it. NotFound for an unknown id."""
    entry = next((q for q in await store.queue_list() if q.id == queue_id), None)
    if entry is None:
        raise NotFound(f"no queued message {queue_id}")
    if bounce and entry.sender:
        raw = await store.read_blob(entry.blob)
        failures = [FailedRecipient(r, "5.0.0", "deleted from the queue by the administrator")
                    for r in entry.recipients]
        await dispatch(store, "", [entry.sender],
                       build_dsn(reporting_mta=reporting_mta, sender=entry.sender,
                                 original=raw, failures=failures,
                                 arrival_date=entry.created or int(time.time())))
    await store.queue_delete(queue_id)


def format_queue(entries: list[QueuedMessage], now: float | None = None) -> str:
    """A plain-text table of the queue, like Postfix's mailq."""
    now = time.time() if now is None else now
    if not entries:
        return "Mail queue is empty"
    lines = []
    for q in entries:
        due = max(0, int(q.next_attempt - now))
        lines.append(f"{q.id:>8}  {q.size:>9}  attempts={q.attempts}  next in {due}s  "
                     f"<{q.sender}>")
        for r in q.recipients:
            lines.append(f"{'':>10}-> <{r}>")
        if q.last_error:
            lines.append(f"{'':>10}({q.last_error})")
    lines.append(f"-- {len(entries)} message(s), {sum(q.size for q in entries)} bytes")
    return "\n".join(lines)

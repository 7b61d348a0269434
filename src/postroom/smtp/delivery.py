"""The outbound delivery worker: drains the store's durable queue (DESIGN.md, "Sending").
Routes by static route, smarthost or MX (RFC 5321 §5.1), sends with aiosmtplib (STARTTLS when
offered, opportunistic as RFC 7435 describes), retries temporary failures on the configured
schedule, and bounces permanent ones, or those past the queue lifetime, with an RFC 3464 DSN.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Callable

import aiosmtplib

from postroom.config import Config
from postroom.smtp import lookup
from postroom.smtp.dsn import FailedRecipient, build_dsn, status_of
from postroom.store.api import QueuedMessage, Store
from postroom.submission import dispatch, domain_of, on_queued

log = logging.getLogger("postroom.smtp.delivery")

LEASE_SECONDS = 600          # longer than one delivery attempt can take
MAX_SLEEP_SECONDS = 60       # a flush from another process (the CLI) is seen within this
COMMAND_TIMEOUT = 60.0
ERROR_PAUSE_SECONDS = 5      # after an unexpected error, before trying the queue again

# One recipient's outcome: SMTP reply code, reply text, the host that answered ("" if none).
Outcome = tuple[int, str, str]


def _host_port(text: str, default_port: int = 25) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, default_port


class DeliveryWorker:
    def __init__(self, store: Store, config: Config, resolvers: lookup.Resolvers,
                 hostname: str, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self.settings = config.smtp
        self.resolvers = resolvers
        self.hostname = hostname
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._unsubscribe = on_queued(self.store, self.wake)
        self._task = asyncio.get_running_loop().create_task(self.run(), name="smtp-delivery")

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Delivers what is due, then sleeps until the next message is due or one is queued."""
        while True:
            # Cleared before looking, so a message queued while we work wakes the next wait.
            self._wake.clear()
            try:
                if await self.run_once():
                    continue
                delay = await self._seconds_to_next_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbound delivery failed")
                delay = ERROR_PAUSE_SECONDS
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

    async def _seconds_to_next_due(self) -> float:
        queued = await self.store.queue_list()
        if not queued:
            return MAX_SLEEP_SECONDS
        due = min(q.next_attempt for q in queued) - self.clock()
        return max(0.05, min(MAX_SLEEP_SECONDS, due))

    async def run_once(self) -> int:
        """One pass: claims due messages and tries each once. Returns how many were tried."""
        claimed = await self.store.queue_claim(int(self.clock()), LEASE_SECONDS,
                                               limit=max(1, self.settings.delivery_concurrency))
        if claimed:
            await asyncio.gather(*(self._attempt(q) for q in claimed))
        return len(claimed)

    # --- one message ------------------------------------------------------------------------------

    async def _attempt(self, q: QueuedMessage) -> None:
        try:
            raw = await self.store.read_blob(q.blob)
            by_domain: dict[str, list[str]] = defaultdict(list)
            for rcpt in q.recipients:
                by_domain[domain_of(rcpt)].append(rcpt)
            outcomes: dict[str, Outcome] = {}
            for part in await asyncio.gather(*(self._send_domain(q.sender, raw, domain, rcpts)
                                               for domain, rcpts in by_domain.items())):
                outcomes.update(part)
            await self._settle(q, raw, outcomes)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease runs out and the message is tried again then: nothing is lost.
            log.exception("queue entry %d: delivery attempt failed", q.id)

    async def _settle(self, q: QueuedMessage, raw: bytes, outcomes: dict[str, Outcome]) -> None:
        now = int(self.clock())
        delivered = [r for r, (code, _, _) in outcomes.items() if 200 <= code < 300]
        failed = [r for r, (code, _, _) in outcomes.items() if code >= 500]
        deferred = [r for r, (code, _, _) in outcomes.items() if 300 <= code < 500 or code == 0]
        expired = now - q.created >= self.settings.queue_lifetime_hours * 3600
        if expired:
            failed += deferred
            deferred = []
        for r in delivered:
            log.info("queue entry %d: delivered to <%s> via %s: %s", q.id, r, outcomes[r][2],
                     outcomes[r][1])
        if failed:
            failures = []
            for r in failed:
                code, text, host = outcomes[r]
                # Still temporary when the lifetime ran out: RFC 3463 4.4.7, delivery expired.
                status = status_of(code, text) if code >= 500 else "4.4.7"
                failures.append(FailedRecipient(r, status, f"{code} {text}".strip(), host))
            await self._bounce(q, raw, failures)
        if deferred:
            schedule = self.settings.retry_schedule_seconds or [300]
            delay = schedule[min(q.attempts, len(schedule) - 1)]
            last = "; ".join(f"<{r}>: {outcomes[r][0]} {outcomes[r][1]}" for r in deferred)
            log.info("queue entry %d: deferred %d recipient(s) for %ds: %s", q.id,
                     len(deferred), delay, last)
            await self.store.queue_update(q.id, deferred, now + delay, last[:1000])
        else:
            await self.store.queue_delete(q.id)

    async def _bounce(self, q: QueuedMessage, raw: bytes, failures: list[FailedRecipient]
                      ) -> None:
        for f in failures:
            log.info("queue entry %d: <%s> failed: %s", q.id, f.address, f.diagnostic)
        if not q.sender:
            # RFC 5321 §6.1 / RFC 3464 §2: a message with a null reverse-path is never bounced,
            # so two servers cannot bounce a bounce back and forth.
            log.info("queue entry %d: null sender, no bounce", q.id)
            return
        dsn = build_dsn(reporting_mta=self.hostname, sender=q.sender, original=raw,
                        failures=failures, arrival_date=q.created)
        result = await dispatch(self.store, "", [q.sender], dsn)
        for r in result.rejected:
            log.warning("queue entry %d: bounce to <%s> refused: %s %s", q.id, r.recipient,
                        r.status, r.reason)

    # --- routing and the SMTP transaction -------------------------------------------------------

    async def _route(self, domain: str) -> list[tuple[str, int]]:
        route = self.settings.routes.get(domain) or self.settings.routes.get(domain.lower())
        if route:
            return [_host_port(route)]
        if self.settings.relay_host:
            return [_host_port(self.settings.relay_host, 587)]
        return [(host, 25) for host in await lookup.mail_hosts(self.resolvers.async_, domain)]

    async def _send_domain(self, sender: str, raw: bytes, domain: str, rcpts: list[str]
                           ) -> dict[str, Outcome]:
        try:
            hosts = await self._route(domain)
        except lookup.DNSTempError as e:
            return {r: (451, f"4.4.3 DNS lookup failed: {e}", "") for r in rcpts}
        if not hosts:
            # No MX and no address, or a null MX (RFC 7505 §3: 556 5.1.10).
            return {r: (556, f"5.1.10 {domain} does not accept mail", "") for r in rcpts}
        last: Outcome = (451, "4.4.1 no mail host answered", "")
        for host, port in hosts:
            # Host names are resolved here, through the configured DNS server, not by the
            # system resolver aiosmtplib would use.
            try:
                ips = await lookup.addresses(self.resolvers.async_, host)
            except lookup.DNSTempError as e:
                last = (451, f"4.4.3 {e}", host)
                continue
            if not ips:
                last = (451, f"4.4.4 {host} has no address", host)
                continue
            for ip in ips:
                try:
                    return await self._transaction(host, ip, port, sender, raw, rcpts)
                except (OSError, asyncio.TimeoutError, aiosmtplib.SMTPException) as e:
                    # RFC 5321 §5.1: an address that cannot be reached, or a host that
                    # refuses the session, sends us on to the next one.
                    code = getattr(e, "code", 0)
                    if 500 <= code < 600:
                        return {r: (code, getattr(e, "message", str(e)), host) for r in rcpts}
                    last = (451, f"4.4.1 {host}[{ip}]:{port}: {e}", host)
        return {r: last for r in rcpts}

    async def _transaction(self, host: str, ip: str, port: int, sender: str, raw: bytes,
                           rcpts: list[str]) -> dict[str, Outcome]:
        # Opportunistic TLS (RFC 7435): STARTTLS when offered, certificate not checked, since
        # refusing to fall back would gain nothing over sending in the clear.
        client = aiosmtplib.SMTP(hostname=ip, port=port, local_hostname=self.hostname,
                                 timeout=COMMAND_TIMEOUT, start_tls=None, validate_certs=False)
        await client.connect()
        try:
            utf8 = any(not a.isascii() for a in [sender, *rcpts])
            options = []
            if client.supports_extension("size"):
                options.append(f"SIZE={len(raw)}")
            if not raw.isascii() and client.supports_extension("8bitmime"):
                options.append("BODY=8BITMIME")
            if utf8:
                if not client.supports_extension("smtputf8"):
                    # RFC 6531 §3.2: without SMTPUTF8 such addresses cannot be sent at all.
                    return {r: (553, "5.6.7 the server does not support SMTPUTF8", host)
                            for r in rcpts}
                options.append("SMTPUTF8")
            encoding = "utf-8" if utf8 else "ascii"
            try:
                await client.mail(sender, options=options, encoding=encoding)
            except aiosmtplib.SMTPResponseException as e:
                return {r: (e.code, e.message, host) for r in rcpts}
            outcomes: dict[str, Outcome] = {}
            accepted = []
            for rcpt in rcpts:
                try:
                    await client.rcpt(rcpt, encoding=encoding)
                    accepted.append(rcpt)
                except aiosmtplib.SMTPResponseException as e:
                    outcomes[rcpt] = (e.code, e.message, host)
            if accepted:
                try:
                    reply = await client.data(raw)
                    outcomes.update({r: (reply.code, reply.message, host) for r in accepted})
                except aiosmtplib.SMTPResponseException as e:
                    outcomes.update({r: (e.code, e.message, host) for r in accepted})
            try:
                await client.quit()
            except (OSError, aiosmtplib.SMTPException):
                pass
            return outcomes
        finally:
            client.close()

"""Mail arriving for our domains: the MX listener (RFC 5321) and LMTP (RFC 2033, one reply per
recipient after DATA). Recipients are checked at RCPT (no relaying, unknown users refused, quota),
SPF/DKIM/DMARC are verified on the MX, and the message is in the store, in one atomic delivery to
every recipient, before the 250 is sent.
"""

from __future__ import annotations

import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from postroom.context import ServerContext
from postroom.smtp import verify
from postroom.smtp.base import (BaseHandler, is_address, new_queue_id, peer_ip, protocol_name,
                                received_field, reverse_path)
from postroom.smtp.lookup import Resolvers
from postroom.store.api import Account, QuotaExceeded, Recipient, ROLE_JUNK, StoreError
from postroom.submission import deliver_local, domain_of, normalize, split_header

log = logging.getLogger("postroom.smtp")


def _declared_size(mail_options: list[str]) -> int:
    for option in mail_options:
        key, _, value = option.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


class InboundHandler(BaseHandler):
    """aiosmtpd hooks for the MX listener (``lmtp=False``) and the LMTP one."""

    def __init__(self, ctx: ServerContext, resolvers: Resolvers, *, lmtp: bool = False) -> None:
        super().__init__(ctx)
        self.resolvers = resolvers
        self.lmtp = lmtp

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        # No AUTH where mail only comes in: submission has its own ports (RFC 6409).
        return self.ehlo_lines(responses, [])

    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope,
                          args: list[str]) -> str:
        return "502 5.5.1 AUTH is offered on the submission ports only"

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if address != "<>" and not is_address(address):
            return "553 5.1.7 Malformed sender address"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.targets = {}           # RCPT address -> Account
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        store = self.ctx.store
        if len(envelope.rcpt_tos) >= self.config.smtp.max_recipients:
            return "452 4.5.3 Too many recipients"
        if address.lower() == "postmaster":
            # RFC 5321 §4.5.1: "postmaster" without a domain must be accepted.
            address = await self._postmaster()
            if not address:
                return "550 5.1.1 No postmaster here"
        if not is_address(address):
            return "553 5.1.3 Malformed recipient address"
        rcpt = normalize(address)
        if await store.get_domain(domain_of(rcpt)) is None:
            return "550 5.7.1 Relaying denied: not a local domain"
        account = await store.resolve_recipient(rcpt)
        if account is None:
            return f"550 5.1.1 <{rcpt}>: no such user here"
        refusal = self._quota_refusal(account, _declared_size(envelope.mail_options))
        if refusal:
            return refusal
        envelope.rcpt_tos.append(rcpt)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.targets[rcpt] = account
        return "250 2.1.5 OK"

    async def _postmaster(self) -> str:
        domains = await self.ctx.store.list_domains()
        for d in domains:
            if await self.ctx.store.resolve_recipient(f"postmaster@{d.name}"):
                return f"postmaster@{d.name}"
        return ""

    @staticmethod
    def _quota_refusal(account: Account, size: int) -> str | None:
        if not account.quota_bytes:
            return None
        if size > account.quota_bytes:
            return "552 5.2.2 Message larger than the recipient's mailbox quota"
        if account.used_bytes + max(size, 1) > account.quota_bytes:
            # Full now, maybe not after the user cleans up: a temporary refusal (RFC 3463).
            return "452 4.2.2 Mailbox full"
        return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw, refusal = self.message_bytes(envelope)
        if refusal:
            return refusal
        header, body = split_header(raw)
        mail_from = reverse_path(envelope)
        queue_id = new_queue_id()
        role_of = {}     # account id -> special-use role ("" for INBOX)
        prefix = b""
        if not self.lmtp and self.config.smtp.verify_inbound:
            authserv_id = self.ctx.hostname
            verdict = await verify.verify(raw, peer_ip=peer_ip(session) or "127.0.0.1",
                                          helo=session.host_name or "",
                                          mail_from=mail_from, authserv_id=authserv_id,
                                          resolvers=self.resolvers)
            action = verify.action(verdict, self.config.smtp.dmarc_policy)
            if action == "reject":
                return (f"550 5.7.1 Rejected by the DMARC policy of {verdict.from_domain}")
            if action == "quarantine":
                role_of = {a.id: ROLE_JUNK for a in envelope.targets.values()}
            header = verify.strip_our_results(header, authserv_id)
            prefix = verdict.header
        received = received_field(helo=session.host_name or "", ip=peer_ip(session),
                                  hostname=self.ctx.hostname,
                                  protocol=protocol_name(server, session, lmtp=self.lmtp),
                                  queue_id=queue_id, recipients=envelope.rcpt_tos)
        message = received + prefix + header + b"\r\n" + body
        if self.lmtp:
            return await self._deliver_lmtp(envelope, message, role_of)
        return await self._deliver(envelope, message, role_of, queue_id)

    async def _recipients(self, accounts: list[Account], role_of: dict[int, str]
                          ) -> list[Recipient]:
        store = self.ctx.store
        recipients = []
        seen = set()
        for account in accounts:
            if account.id in seen:       # two addresses of one account: one copy
                continue
            seen.add(account.id)
            mailbox = None
            if role_of.get(account.id):
                mailbox = await store.get_mailbox_by_role(account.id, role_of[account.id])
            if mailbox is None:
                mailbox = await store.get_mailbox(account.id, "INBOX")
            if mailbox is None:
                raise StoreError(f"{account.email} has no INBOX")
            recipients.append(Recipient(account.id, mailbox.id))
        return recipients

    async def _deliver(self, envelope: Envelope, message: bytes, role_of: dict[int, str],
                       queue_id: str) -> str:
        try:
            recipients = await self._recipients(list(envelope.targets.values()), role_of)
            await deliver_local(self.ctx.store, message, recipients)
        except QuotaExceeded:
            return "452 4.2.2 Mailbox full"
        except StoreError as e:
            log.error("delivery of %s failed: %s", queue_id, e)
            return "451 4.3.0 Local error in processing, try again later"
        log.info("delivered %s from <%s> to %s", queue_id, reverse_path(envelope),
                 ", ".join(envelope.rcpt_tos))
        return f"250 2.0.0 OK {queue_id}"

    async def _deliver_lmtp(self, envelope: Envelope, message: bytes,
                            role_of: dict[int, str]) -> str:
        """RFC 2033 §4.2: one reply per accepted RCPT, in order. One atomic delivery when every
        mailbox takes it; when one is full, each recipient is tried on its own so the others
        still get the message."""
        rcpts = list(envelope.rcpt_tos)
        accounts = [envelope.targets[r] for r in rcpts]
        replies: dict[str, str] = {}
        try:
            await deliver_local(self.ctx.store, message,
                                await self._recipients(accounts, role_of))
            replies = {r: f"250 2.0.0 <{r}> delivered" for r in rcpts}
        except QuotaExceeded:
            done: set[int] = set()
            for rcpt, account in zip(rcpts, accounts):
                if account.id in done:          # another address of an account served
                    replies[rcpt] = f"250 2.0.0 <{rcpt}> delivered"
                    continue
                try:
                    await deliver_local(
                        self.ctx.store, message, await self._recipients([account], role_of))
                    replies[rcpt] = f"250 2.0.0 <{rcpt}> delivered"
                    done.add(account.id)
                except QuotaExceeded:
                    replies[rcpt] = f"452 4.2.2 <{rcpt}> mailbox full"
                except StoreError:
                    replies[rcpt] = f"451 4.3.0 <{rcpt}> local error, try again later"
        except StoreError as e:
            log.error("LMTP delivery failed: %s", e)
            replies = {r: f"451 4.3.0 <{r}> local error, try again later" for r in rcpts}
        # aiosmtpd sends the returned text as one reply; CRLF-joined lines make it several.
        return "\r\n".join(replies[r] for r in rcpts)

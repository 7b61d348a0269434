"""Message submission (RFC 6409) on the STARTTLS port and the implicit-TLS port (RFC 8314 §3.3):
AUTH (RFC 4954) through the shared authenticator, then every message goes through
``postroom.submission.submit`` like mail sent from any other door.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, auth_mechanism

from postroom.auth.sasl import AuthFailed, UnknownMechanism
from postroom.context import ServerContext
from postroom.smtp.base import (BaseHandler, is_address, new_queue_id, peer_ip, protocol_name,
                                received_field, reverse_path, tls_active)
from postroom.store.api import Account
from postroom.smtp.dsn import FailedRecipient, build_dsn
from postroom.submission import SubmissionRefused, dispatch, domain_of, normalize, submit

log = logging.getLogger("postroom.smtp")

# How a refusal's RFC 3463 status becomes an SMTP reply code.
_REPLY_CODE = {"5.7.1": 550, "5.6.0": 550, "5.3.4": 552, "5.5.1": 554}


class SubmissionHandler(BaseHandler):
    def __init__(self, ctx: ServerContext) -> None:
        super().__init__(ctx)

    # aiosmtpd refuses a mechanism it has no ``auth_*`` method for before our handle_AUTH hook
    # runs; it knows PLAIN and LOGIN, and this name makes it pass SCRAM-SHA-256 on too.
    @auth_mechanism("SCRAM-SHA-256")
    async def auth_SCRAM_SHA_256(self, server: SMTP, args: list[str]) -> None:
        raise AssertionError("handle_AUTH runs every exchange")   # pragma: no cover

    def _auth_offered(self, server: SMTP, session: Session) -> list[str]:
        tls = tls_active(server)
        ip = peer_ip(session)
        # Credentials only over TLS, or where the authenticator counts the connection as
        # secure (loopback, by default): RFC 8314 §3 and the foundation's rule.
        if not (tls or self.ctx.auth.is_secure(tls=False, peer_ip=ip)):
            return []
        return list(self.ctx.auth.mechanisms(tls=tls, peer_ip=ip))

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        mechanisms = [] if session.authenticated else self._auth_offered(server, session)
        return self.ehlo_lines(responses, mechanisms)

    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope,
                          args: list[str]) -> str | None:
        """The whole SASL exchange (RFC 4954 §4); aiosmtpd has already checked EHLO, that the
        session is not authenticated yet, and the argument count."""
        mechanism = args[0].upper()
        offered = self._auth_offered(server, session)
        if not offered:
            return "538 5.7.11 Encryption required for requested authentication mechanism"
        if mechanism not in offered:
            return "504 5.5.4 Unrecognized authentication type"
        if envelope.mail_from:
            return "503 5.5.1 AUTH not allowed during a mail transaction"
        response: bytes | None = None
        if len(args) == 2:
            if args[1] == "=":
                response = b""       # RFC 4954 §4: "=" is an empty initial response
            else:
                try:
                    response = base64.b64decode(args[1], validate=True)
                except (binascii.Error, ValueError):
                    return "501 5.5.2 Cannot decode base64"
        tls = tls_active(server)
        ip = peer_ip(session)
        try:
            exchange = self.ctx.auth.sasl(mechanism, peer_ip=ip, tls=tls)
            while True:
                step = await exchange.step(response)
                if step.challenge is not None:
                    # A challenge, or with the account SCRAM's server-final-message, which
                    # RFC 4954 §4 sends as one more 334 that the client answers empty.
                    answer = await server.challenge_auth(step.challenge, encode_to_b64=True)
                    if answer is MISSING:
                        return None          # "*" or bad base64: aiosmtpd already replied 501
                    response = answer
                if step.account is not None:
                    session.authenticated = True
                    session.auth_data = step.account
                    log.info("AUTH %s as %s from %s", mechanism, step.account.email, ip)
                    return "235 2.7.0 Authentication successful"
                if step.challenge is None:
                    raise AuthFailed("the exchange stalled")
        except UnknownMechanism:
            return "504 5.5.4 Unrecognized authentication type"
        except AuthFailed as e:
            if e.temporary:
                return "454 4.7.0 Temporary authentication failure"
            log.info("AUTH %s failed from %s: %s", mechanism, ip, e.reason)
            return "535 5.7.8 Authentication credentials invalid"

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        account: Account | None = session.auth_data if session.authenticated else None
        if account is None:
            return "530 5.7.0 Authentication required"
        if address != "<>":
            if not is_address(address):
                return "553 5.1.7 Malformed sender address"
            own = {a.lower() for a in await self.ctx.store.addresses_of(account.id)}
            own.add(account.email.lower())
            local, _, domain = address.lower().rpartition("@")
            if address.lower() not in own and \
                    f"{local.split('+', 1)[0]}@{domain}" not in own:
                return f"553 5.7.1 <{address}>: sender address not owned by {account.email}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.smtp.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not is_address(address):
            return "553 5.1.3 Malformed recipient address"
        rcpt = normalize(address)
        store = self.ctx.store
        if await store.get_domain(domain_of(rcpt)) is not None \
                and await store.resolve_recipient(rcpt) is None:
            return f"550 5.1.1 <{rcpt}>: no such user here"
        envelope.rcpt_tos.append(rcpt)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw, refusal = self.message_bytes(envelope)
        if refusal:
            return refusal
        queue_id = new_queue_id()
        received = received_field(helo=session.host_name or "", ip=peer_ip(session),
                                  hostname=self.ctx.hostname,
                                  protocol=protocol_name(server, session),
                                  queue_id=queue_id, recipients=envelope.rcpt_tos)
        account: Account = session.auth_data
        try:
            result = await submit(self.ctx.store, account, reverse_path(envelope),
                                  list(envelope.rcpt_tos), received + raw,
                                  config=self.config)
        except SubmissionRefused as e:
            return f"{_REPLY_CODE.get(e.status, 550)} {e.status} {e.reason}"
        if result.rejected and not (result.delivered or result.queued):
            first = result.rejected[0]
            code = 452 if first.status.startswith("4") else 550
            return f"{code} {first.status} <{first.recipient}>: {first.reason}"
        if result.rejected:
            # Refused after RCPT was accepted (a mailbox filled up meanwhile) while the others
            # got the message: a 250 is due for them, so these are bounced to the sender.
            sender = reverse_path(envelope) or account.email
            failures = [FailedRecipient(r.recipient, r.status, f"{r.status} {r.reason}")
                        for r in result.rejected]
            await dispatch(self.ctx.store, "", [sender],
                           build_dsn(reporting_mta=self.ctx.hostname, sender=sender,
                                     original=result.message, failures=failures,
                                     arrival_date=int(time.time())))
        log.info("submitted %s by %s: %d local, %d queued", queue_id, account.email,
                 len(result.delivered), len(result.queued))
        return f"250 2.0.0 OK {queue_id}"

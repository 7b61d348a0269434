"""Two Postroom servers on 127.0.0.1, a.test and b.test, each with its own store, routed to each
other statically: signed mail goes across and verifies, temporary failures are retried,
permanent ones and expired ones bounce back to the sender as a DSN, the queue survives a
restart."""

from __future__ import annotations

import asyncio
import email

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP

from postroom.smtp import admin
from postroom.smtp import start as start_smtp

from tests.helpers import eventually

from .env import PASSWORD, message, running_smtp


async def submit_as_alice(env, rcpts: list[str], subject: str = "Hello") -> None:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=env.submission_port, start_tls=False,
                        timeout=10)
    await c.connect()
    await c.login(f"alice@{env.domain}", PASSWORD)
    await c.sendmail(f"alice@{env.domain}", rcpts,
                     message(f"Alice <alice@{env.domain}>", ", ".join(rcpts), subject=subject))
    await c.quit()


@pytest.fixture
async def pair(tmp_path, dns):
    """(a, b): a.test signs with DKIM and publishes SPF and DMARC p=reject."""
    async with running_smtp(tmp_path, "a.test", dns=dns, retry_schedule_seconds=[1]) as a, \
            running_smtp(tmp_path, "b.test", dns=dns, retry_schedule_seconds=[1]) as b:
        a.config.smtp.routes["b.test"] = f"127.0.0.1:{b.mx_port}"
        b.config.smtp.routes["a.test"] = f"127.0.0.1:{a.mx_port}"
        record = await admin.generate_dkim(a.store, "a.test", "pr1")
        domain = await a.store.get_domain("a.test")
        dns.add_txt("pr1._domainkey.a.test", admin.dkim_record_value(domain.dkim_private_key))
        assert "pr1._domainkey.a.test." in record
        dns.add_txt("a.test", "v=spf1 ip4:127.0.0.1 -all")
        dns.add_txt("_dmarc.a.test", "v=DMARC1; p=reject")
        yield a, b


async def test_mail_from_a_to_b_arrives_dkim_signed_and_verified(pair):
    a, b = pair
    await submit_as_alice(a, ["bob@b.test"])
    [stored] = await eventually(lambda: b.messages("bob"))
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    assert "dkim=pass header.d=a.test header.s=pr1" in header
    assert "spf=pass smtp.mailfrom=alice@a.test" in header
    assert "dmarc=pass header.from=a.test" in header
    await eventually(lambda: _queue_empty(a))


async def _queue_empty(env) -> bool:
    return not await env.store.queue_list()


async def test_permanent_failure_bounces_to_the_senders_inbox(pair):
    a, b = pair
    await submit_as_alice(a, ["nobody@b.test", "bob@b.test"], subject="partly wrong")
    await eventually(lambda: b.messages("bob"))
    [dsn_raw] = await eventually(lambda: a.messages("alice"))
    dsn = email.message_from_bytes(dsn_raw)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["Auto-Submitted"] == "auto-replied"
    parts = list(dsn.walk())
    status = next(p for p in parts if p.get_content_type() == "message/delivery-status")
    text = status.as_string()
    assert "Final-Recipient: rfc822; nobody@b.test" in text
    assert "Action: failed" in text and "Status: 5.1.1" in text
    assert "bob@b.test" not in text
    headers = next(p for p in parts if p.get_content_type() == "text/rfc822-headers")
    assert "Subject: partly wrong" in headers.get_payload()
    await eventually(lambda: _queue_empty(a))


class Flaky:
    """A remote server that says 451 to the first DATA, then accepts."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        reply = self.replies.pop(0) if self.replies else "250 2.0.0 OK"
        if reply.startswith("250"):
            self.received.append(envelope.original_content)
        return reply


async def flaky_server(handler):
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(handler, hostname="c.test", loop=loop),
                                    "127.0.0.1", 0)


async def test_temporary_failure_is_retried_until_it_succeeds(pair):
    a, _ = pair
    flaky = Flaky(["451 4.3.0 try later"])
    server = await flaky_server(flaky)
    try:
        a.config.smtp.routes["c.test"] = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        await submit_as_alice(a, ["carol@c.test"])
        [queued] = await eventually(lambda: _deferred(a))
        assert queued.attempts == 1 and "451" in queued.last_error
        await eventually(lambda: _received(flaky))
        await eventually(lambda: _queue_empty(a))
        assert a.config.smtp.retry_schedule_seconds == [1]
    finally:
        server.close()


async def _deferred(env):
    return [q for q in await env.store.queue_list() if q.attempts > 0]


async def _received(flaky):
    return flaky.received


async def test_queue_lifetime_exceeded_bounces_with_4_4_7(pair):
    a, _ = pair
    a.config.smtp.queue_lifetime_hours = 0
    server = await flaky_server(Flaky(["451 4.3.0 try later"] * 5))
    try:
        a.config.smtp.routes["c.test"] = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        await submit_as_alice(a, ["carol@c.test"])
        [dsn_raw] = await eventually(lambda: a.messages("alice"))
        assert b"Status: 4.4.7" in dsn_raw and b"Action: failed" in dsn_raw
        await eventually(lambda: _queue_empty(a))
    finally:
        server.close()


async def test_bounce_of_a_bounce_is_never_sent(pair):
    a, _ = pair
    from postroom.submission import dispatch
    await dispatch(a.store, "", ["nobody@b.test"], message("MAILER-DAEMON@a.test",
                                                           "nobody@b.test"))
    await eventually(lambda: _queue_empty(a))
    await asyncio.sleep(0.2)
    assert await a.messages("alice") == []


async def test_queued_mail_survives_a_restart(pair):
    a, _ = pair
    # Nothing listens on the route yet: the attempt fails with a connection error.
    placeholder = await flaky_server(Flaky([]))
    port = placeholder.sockets[0].getsockname()[1]
    placeholder.close()
    await placeholder.wait_closed()
    a.config.smtp.routes["c.test"] = f"127.0.0.1:{port}"
    a.config.smtp.retry_schedule_seconds = [3600]
    await submit_as_alice(a, ["carol@c.test"])
    [queued] = await eventually(lambda: _deferred(a))
    assert "4.4.1" in queued.last_error
    await a.door.stop()

    flaky = Flaky([])
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(flaky, hostname="c.test"), "127.0.0.1", port)
    try:
        a.door = await start_smtp(a.ctx)          # a new door over the same store
        assert await admin.queue_flush(a.store) == 1
        a.door.worker.wake()
        await eventually(lambda: _received(flaky))
        await eventually(lambda: _queue_empty(a))
    finally:
        server.close()


async def test_admin_queue_list_format_and_delete_with_bounce(pair):
    a, _ = pair
    a.config.smtp.routes["c.test"] = "127.0.0.1:1"     # refused at once
    a.config.smtp.retry_schedule_seconds = [3600]
    await submit_as_alice(a, ["carol@c.test"])
    [queued] = await eventually(lambda: _deferred(a))
    listing = admin.format_queue(await admin.queue_list(a.store))
    assert str(queued.id) in listing and "<carol@c.test>" in listing
    await admin.queue_delete(a.store, queued.id, bounce=True, reporting_mta="mx.a.test")
    assert await admin.queue_list(a.store) == []
    [dsn_raw] = await a.messages("alice")
    assert b"Final-Recipient: rfc822; carol@c.test" in dsn_raw

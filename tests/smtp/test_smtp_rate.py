"""Inbound delivery rate: 1,000 messages of 10 KB over the MX listener, from one sender and from
ten concurrent senders. Measured and printed (``-s`` shows it), never asserted: timings vary
by machine."""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
import pytest

from .env import message, running_smtp

MESSAGES = 1000
BODY = ("0123456789" * 7 + "\r\n") * 140          # 10,080 bytes


async def _sender(port: int, count: int, tag: str) -> None:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await c.connect()
    await c.ehlo()
    for i in range(count):
        await c.sendmail("load@example.org", ["alice@example.test"],
                         message("load@example.org", "alice@example.test",
                                 subject=f"load {tag} {i}", body=BODY))
    await c.quit()


@pytest.mark.slow
@pytest.mark.parametrize("senders", [1, 10])
async def test_inbound_delivery_rate(tmp_path, dns, senders, verify=True):
    async with running_smtp(tmp_path, dns=dns, verify_inbound=verify) as env:
        start = time.perf_counter()
        await asyncio.gather(*(_sender(env.mx_port, MESSAGES // senders, str(s))
                               for s in range(senders)))
        elapsed = time.perf_counter() - start
        status = await env.store.mailbox_status(
            env.accounts["alice"].id,
            (await env.store.get_mailbox(env.accounts["alice"].id, "INBOX")).id)
        assert status.messages == MESSAGES
        print(f"\nSMTP inbound, {senders} sender(s): {MESSAGES} x 10 KB in {elapsed:.1f} s = "
              f"{MESSAGES / elapsed:.0f} messages/s (SPF/DKIM/DMARC checks "
              f"{'on' if verify else 'off'})")

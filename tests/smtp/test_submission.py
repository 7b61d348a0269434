"""postroom.submission.submit, the path every door sends through (no SMTP involved)."""

from __future__ import annotations

import dkim
import pytest

from postroom.smtp import admin
from postroom.submission import SubmissionRefused, on_queued, submit, to_crlf

from .env import message


async def test_local_recipients_are_delivered_and_remote_ones_queued(smtp):
    woken = []
    unsubscribe = on_queued(smtp.store, lambda: woken.append(1))
    try:
        result = await submit(smtp.store, smtp.accounts["alice"], "alice@example.test",
                              ["bob@example.test", "x@far.example", "nobody@example.test"],
                              message("alice@example.test", "bob@example.test"),
                              config=smtp.config)
    finally:
        unsubscribe()
    assert result.delivered == ["bob@example.test"]
    assert result.queued == ["x@far.example"] and result.queue_id is not None
    assert [(r.recipient, r.status) for r in result.rejected] == [("nobody@example.test",
                                                                    "5.1.1")]
    assert woken == [1]
    assert len(await smtp.messages("bob")) == 1


@pytest.mark.parametrize("mail_from, from_header", [
    ("bob@example.test", "alice@example.test"),
    ("alice@example.test", "Bob <bob@example.test>"),
    ("alice@example.test", "alice@example.test, bob@example.test"),
])
async def test_sending_as_an_address_that_is_not_ones_own_is_refused(smtp, mail_from,
                                                                     from_header):
    with pytest.raises(SubmissionRefused) as e:
        await submit(smtp.store, smtp.accounts["alice"], mail_from, ["bob@example.test"],
                     message(from_header, "bob@example.test"), config=smtp.config)
    assert e.value.status == "5.7.1"
    assert await smtp.messages("bob") == []


async def test_missing_or_doubled_from_is_refused(smtp):
    for raw in (b"To: bob@example.test\r\nSubject: x\r\n\r\nhi\r\n",
                b"From: alice@example.test\r\nFrom: alice@example.test\r\n\r\nhi\r\n"):
        with pytest.raises(SubmissionRefused) as e:
            await submit(smtp.store, smtp.accounts["alice"], "alice@example.test",
                         ["bob@example.test"], raw, config=smtp.config)
        assert e.value.status == "5.6.0"


async def test_missing_date_and_message_id_are_added_and_lf_normalized(smtp):
    raw = b"From: alice@example.test\nTo: bob@example.test\nSubject: bare\n\nbody\n"
    await submit(smtp.store, smtp.accounts["alice"], "alice@example.test", ["bob@example.test"],
                 raw, config=smtp.config)
    [stored] = await smtp.messages("bob")
    assert b"\r\nDate: " in stored and b"\r\nMessage-ID: <" in stored
    assert b"\n" not in stored.replace(b"\r\n", b"")


async def test_message_is_dkim_signed_when_the_domain_has_a_key(smtp):
    record = await admin.generate_dkim(smtp.store, "example.test", "sel1")
    assert record.startswith('sel1._domainkey.example.test. IN TXT "v=DKIM1; k=rsa; p=')
    domain = await smtp.store.get_domain("example.test")
    value = admin.dkim_record_value(domain.dkim_private_key).encode()
    result = await submit(smtp.store, smtp.accounts["alice"], "alice@example.test",
                          ["bob@example.test"], message("alice@example.test", "bob@example.test"),
                          config=smtp.config)
    assert result.message.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    [stored] = await smtp.messages("bob")

    def dnsfunc(name, timeout=5):
        assert name == b"sel1._domainkey.example.test."
        return value
    assert dkim.verify(stored, dnsfunc=dnsfunc)
    assert await admin.show_dkim(smtp.store, "example.test") == record


async def test_save_to_sent_keeps_a_seen_copy(smtp):
    await submit(smtp.store, smtp.accounts["alice"], "alice@example.test", ["bob@example.test"],
                 message("alice@example.test", "bob@example.test"), config=smtp.config,
                 save_to_sent=True)
    assert len(await smtp.messages("alice", "Sent")) == 1


def test_to_crlf_fixes_bare_lf_and_cr_and_keeps_crlf():
    assert to_crlf(b"a\nb\r\nc\rd") == b"a\r\nb\r\nc\r\nd"
    assert to_crlf(b"ok\r\n") == b"ok\r\n"

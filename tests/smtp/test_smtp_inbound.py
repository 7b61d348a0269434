"""Inbound mail on the MX listener: local domains only, recipients checked at RCPT, limits, and
the message in the store before the 250."""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest

from postroom.auth.tls import client_context_insecure

from .env import message


async def client(env, *, ehlo: bool = True) -> aiosmtplib.SMTP:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=env.mx_port, start_tls=False,
                        local_hostname="client.example.org", timeout=10)
    await c.connect()
    if ehlo:
        await c.ehlo()
    return c


async def test_message_for_a_local_user_lands_in_their_inbox_with_trace_headers(smtp):
    raw = message("carol@example.org", "alice@example.test")
    errors, reply = await aiosmtplib.send(raw, sender="carol@example.org",
                                          recipients=["alice@example.test"],
                                          hostname="127.0.0.1", port=smtp.mx_port,
                                          start_tls=False)
    assert errors == {} and reply.startswith("2.0.0")
    [stored] = await smtp.messages("alice")
    assert stored.startswith(b"Received: from ")
    assert b"by mx.example.test (Postroom) with ESMTP" in stored
    assert b"Authentication-Results: mx.example.test;" in stored
    assert stored.endswith(raw)


async def test_relaying_to_a_foreign_domain_is_refused(smtp):
    c = await client(smtp)
    await c.mail("carol@example.org")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as e:
        await c.rcpt("someone@elsewhere.org")
    assert e.value.code == 550 and "5.7.1" in e.value.message
    await c.quit()


async def test_unknown_local_user_is_refused_at_rcpt(smtp):
    c = await client(smtp)
    await c.mail("carol@example.org")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as e:
        await c.rcpt("nobody@example.test")
    assert e.value.code == 550 and "5.1.1" in e.value.message
    await c.quit()


async def test_alias_catch_all_and_plus_tag_reach_their_accounts(smtp):
    await smtp.store.add_alias("sales@example.test", "bob@example.test")
    for rcpt in ("sales@example.test", "alice+lists@example.test", "ALICE@Example.TEST"):
        await aiosmtplib.send(message("c@example.org", rcpt), sender="c@example.org",
                              recipients=[rcpt], hostname="127.0.0.1", port=smtp.mx_port,
                              start_tls=False)
    assert len(await smtp.messages("bob")) == 1
    assert len(await smtp.messages("alice")) == 2
    c = await client(smtp)
    await c.mail("c@example.org")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused):
        await c.rcpt("whoever@example.test")
    await smtp.store.add_alias("@example.test", "bob@example.test")
    await c.rcpt("whoever@example.test")
    await c.quit()


async def test_one_transaction_to_two_users_is_one_delivery(smtp):
    raw = message("c@example.org", "alice@example.test, bob@example.test")
    await aiosmtplib.send(raw, sender="c@example.org",
                          recipients=["alice@example.test", "bob@example.test",
                                      "alice+x@example.test"],
                          hostname="127.0.0.1", port=smtp.mx_port, start_tls=False)
    [a] = await smtp.messages("alice")     # two addresses of alice: one copy
    [b] = await smtp.messages("bob")
    assert a == b


async def test_ehlo_offers_size_8bitmime_smtputf8_pipelining_starttls_but_no_auth(smtp):
    c = await client(smtp)
    ext = c.esmtp_extensions
    assert int(ext["size"]) == smtp.config.store.max_message_size
    for name in ("8bitmime", "smtputf8", "starttls", "pipelining"):
        assert name in ext
    assert "auth" not in ext and "chunking" not in ext
    await c.starttls(tls_context=client_context_insecure())
    await c.ehlo()
    assert "auth" not in c.esmtp_extensions
    await c.sendmail("c@example.org", ["alice@example.test"],
                     message("c@example.org", "alice@example.test"))
    await c.quit()
    [stored] = await smtp.messages("alice")
    assert b"with ESMTPS" in stored


async def test_smtputf8_addresses_and_8bit_body(smtp):
    await smtp.store.add_alias("jürgen@example.test", "alice@example.test")
    raw = message("ñoño@example.org", "jürgen@example.test", body="Grüße\r\n")
    c = await client(smtp)
    await c.mail("ñoño@example.org", options=["SMTPUTF8", "BODY=8BITMIME"], encoding="utf-8")
    await c.rcpt("jürgen@example.test", encoding="utf-8")
    await c.data(raw)
    await c.quit()
    [stored] = await smtp.messages("alice")
    assert "Grüße".encode() in stored


async def test_declared_and_actual_size_over_the_limit_are_refused(tmp_path, dns):
    from .env import running_smtp
    async with running_smtp(tmp_path, dns=dns, store_max_message_size=5000) as env:
        c = await client(env)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as e:
            await c.mail("c@example.org", options=["SIZE=6000"])
        assert e.value.code == 552
        await c.mail("c@example.org")
        await c.rcpt("alice@example.test")
        with pytest.raises(aiosmtplib.SMTPDataError) as e2:
            await c.data(message("c@example.org", "alice@example.test",
                                 body=("x" * 70 + "\r\n") * 100))
        assert e2.value.code == 552
        await c.quit()
        assert await env.messages("alice") == []


async def test_quota_full_is_temporary_and_too_big_for_quota_is_permanent(smtp):
    await smtp.add_user("carol", quota_bytes=2000)
    c = await client(smtp)
    await c.mail("x@example.org", options=["SIZE=3000"])
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as e:
        await c.rcpt("carol@example.test")
    assert e.value.code == 552 and "5.2.2" in e.value.message
    await c.rset()
    await c.mail("x@example.org")
    await c.rcpt("carol@example.test")
    await c.data(message("x@example.org", "carol@example.test", body=("y" * 70 + "\r\n") * 20))
    await c.mail("x@example.org", options=["SIZE=500"])
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as e:
        await c.rcpt("carol@example.test")    # would not fit now
    assert e.value.code == 452 and "4.2.2" in e.value.message
    await c.quit()


async def test_too_many_recipients_get_452(tmp_path, dns):
    from .env import running_smtp
    async with running_smtp(tmp_path, dns=dns, max_recipients=2) as env:
        c = await client(env)
        await c.mail("x@example.org")
        await c.rcpt("alice@example.test")
        await c.rcpt("bob@example.test")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as e:
            await c.rcpt("alice+2@example.test")
        assert e.value.code == 452 and "4.5.3" in e.value.message
        await c.quit()


async def test_commands_out_of_order_and_malformed_addresses(smtp):
    c = await client(smtp)
    for command, code in ((b"RCPT TO:<alice@example.test>", 503), (b"DATA", 503),
                          (b"MAIL FROM:<not an address>", 553),
                          (b"MAIL FROM:<nodomain>", 553)):
        reply = await c.execute_command(command)
        assert reply.code == code, (command, reply)
    await c.mail("x@example.org")
    for command in (b"RCPT TO:<@@example.test>", b"RCPT TO:<alice@>",
                    b"RCPT TO:<alice@-bad-.test>"):
        reply = await c.execute_command(command)
        assert reply.code in (501, 553), (command, reply)
    reply = await c.execute_command(b"MAIL FROM:<y@example.org>")
    assert reply.code == 503          # nested MAIL
    await c.quit()


async def test_null_sender_is_accepted_for_bounces(smtp):
    c = await client(smtp)
    await c.sendmail("", ["alice@example.test"],
                     message("MAILER-DAEMON@example.org", "alice@example.test"))
    await c.quit()
    assert len(await smtp.messages("alice")) == 1


async def test_postmaster_without_domain_reaches_the_postmaster(smtp):
    await smtp.add_user("postmaster")
    c = await client(smtp)
    await c.mail("x@example.org")
    reply = await c.execute_command(b"RCPT TO:<Postmaster>")
    assert reply.code == 250
    await c.quit()


async def raw_session(port: int, lines: list[bytes], *, close: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()
        for line in lines:
            writer.write(line)
        await writer.drain()
        if close:
            await asyncio.sleep(0.2)
            writer.close()
            return b""
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_bare_lf_in_data_is_normalized_to_crlf(smtp):
    out = await raw_session(smtp.mx_port, [
        b"EHLO c.example.org\r\n", b"MAIL FROM:<x@example.org>\r\n",
        b"RCPT TO:<alice@example.test>\r\n", b"DATA\r\n",
        b"From: x@example.org\nSubject: lf\r\n\r\nline one\nline two\n.\nstill data\r\n.\r\n"])
    assert b"250 2.0.0" in out
    [stored] = await smtp.messages("alice")
    assert b"\r\nline one\r\nline two\r\n.\r\nstill data\r\n" in stored
    # A bare-LF "dot" did not end DATA (no SMTP smuggling): one message, all of it.
    assert stored.count(b"Received:") == 1


async def test_client_that_disconnects_mid_data_delivers_nothing(smtp):
    await raw_session(smtp.mx_port, [
        b"EHLO c.example.org\r\n", b"MAIL FROM:<x@example.org>\r\n",
        b"RCPT TO:<alice@example.test>\r\n", b"DATA\r\n", b"Subject: half\r\n\r\nsome text\r\n"],
        close=True)
    await asyncio.sleep(0.2)
    assert await smtp.messages("alice") == []


async def test_huge_header_block_is_refused(smtp):
    header = "".join(f"X-Filler-{i}: {'v' * 900}\r\n" for i in range(400))   # ~360 KB
    c = await client(smtp)
    await c.mail("x@example.org")
    await c.rcpt("alice@example.test")
    with pytest.raises(aiosmtplib.SMTPDataError) as e:
        await c.data(message("x@example.org", "alice@example.test", extra=header))
    assert e.value.code == 552 and "5.3.4" in e.value.message
    await c.quit()
    assert await smtp.messages("alice") == []


async def test_over_long_line_is_refused(smtp):
    c = await client(smtp)
    await c.mail("x@example.org")
    await c.rcpt("alice@example.test")
    with pytest.raises(aiosmtplib.SMTPDataError) as e:
        await c.data(message("x@example.org", "alice@example.test", body="z" * 5000 + "\r\n"))
    assert e.value.code == 500
    await c.quit()
    assert await smtp.messages("alice") == []


async def test_auth_is_refused_on_the_mx_port(smtp):
    c = await client(smtp)
    reply = await c.execute_command(b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw==")
    assert reply.code == 502
    await c.quit()


async def test_pipelined_commands_get_their_replies_in_order(smtp):
    out = await raw_session(smtp.mx_port, [
        b"EHLO c.example.org\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<alice@example.test>\r\n"
        b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
        b"Subject: piped\r\n\r\nhi\r\n.\r\n"])
    codes = [line[:3] for line in out.split(b"\r\n") if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"550", b"250", b"354", b"250", b"221"]
    assert len(await smtp.messages("alice")) == 1 and len(await smtp.messages("bob")) == 1

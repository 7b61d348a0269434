"""Authenticated submission (RFC 6409) on the STARTTLS and implicit-TLS ports: AUTH first, only
one's own addresses, local recipients delivered at once and the rest queued."""

from __future__ import annotations

import aiosmtplib
import pytest

from postroom.auth.tls import client_context_insecure

from .env import PASSWORD, message, running_smtp


async def submission_client(env, *, port: int | None = None, implicit_tls: bool = False,
                            login: bool = True, user: str = "alice@example.test"
                            ) -> aiosmtplib.SMTP:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port or env.submission_port,
                        use_tls=implicit_tls, start_tls=False,
                        tls_context=client_context_insecure(), timeout=10)
    await c.connect()
    await c.ehlo()
    if login:
        await c.login(user, PASSWORD)
    return c


async def test_mail_without_auth_is_refused_with_530(smtp):
    c = await submission_client(smtp, login=False)
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as e:
        await c.mail("alice@example.test")
    assert e.value.code == 530
    await c.quit()


async def test_user_sends_to_a_local_user_and_a_remote_one(smtp):
    c = await submission_client(smtp)
    raw = message("Alice <alice@example.test>", "bob@example.test, zed@remote.example")
    errors, _ = await c.sendmail("alice@example.test", ["bob@example.test", "zed@remote.example"],
                                 raw)
    assert errors == {}
    await c.quit()
    [stored] = await smtp.messages("bob")
    assert b"with ESMTPA" in stored and stored.endswith(raw.split(b"\r\n\r\n", 1)[1])
    [queued] = await smtp.store.queue_list()
    assert queued.sender == "alice@example.test" and queued.recipients == ["zed@remote.example"]


async def test_sending_as_someone_else_is_refused(smtp):
    c = await submission_client(smtp)
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as e:
        await c.mail("bob@example.test")
    assert e.value.code == 553 and "5.7.1" in e.value.message
    await c.mail("alice@example.test")
    await c.rcpt("bob@example.test")
    with pytest.raises(aiosmtplib.SMTPDataError) as e2:
        await c.data(message("Bob <bob@example.test>", "bob@example.test"))
    assert e2.value.code == 550 and "5.7.1" in e2.value.message
    await c.quit()
    assert await smtp.messages("bob") == []


async def test_an_alias_and_a_plus_address_of_ones_own_may_be_used(smtp):
    await smtp.store.add_alias("sales@example.test", "alice@example.test")
    c = await submission_client(smtp)
    await c.sendmail("sales@example.test", ["bob@example.test"],
                     message("Sales <sales@example.test>", "bob@example.test"))
    await c.sendmail("alice+x@example.test", ["bob@example.test"],
                     message("alice+x@example.test", "bob@example.test", subject="tag"))
    await c.quit()
    assert len(await smtp.messages("bob")) == 2


async def test_unknown_local_recipient_is_refused_at_rcpt(smtp):
    c = await submission_client(smtp)
    await c.mail("alice@example.test")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as e:
        await c.rcpt("nobody@example.test")
    assert e.value.code == 550
    await c.quit()


async def test_wrong_password_gets_535(smtp):
    c = await submission_client(smtp, login=False)
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as e:
        await c.login("alice@example.test", "wrong")
    assert e.value.code == 535
    await c.quit()


async def test_implicit_tls_port_and_auth_login_mechanism(smtp):
    c = await submission_client(smtp, port=smtp.submissions_port, implicit_tls=True,
                                login=False)
    assert "LOGIN" in c.esmtp_extensions["auth"]
    await c.auth_login("alice@example.test", PASSWORD)
    await c.sendmail("alice@example.test", ["bob@example.test"],
                     message("alice@example.test", "bob@example.test"))
    await c.quit()
    [stored] = await smtp.messages("bob")
    assert b"with ESMTPSA" in stored


async def test_auth_is_offered_only_after_starttls_when_loopback_is_not_trusted(tmp_path, dns):
    async with running_smtp(tmp_path, dns=dns,
                            auth_settings={"loopback_is_secure": False}) as env:
        c = await submission_client(env, login=False)
        assert "auth" not in c.esmtp_extensions
        reply = await c.execute_command(b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABjb3JyZWN0IGhvcnNl")
        assert reply.code == 538
        await c.starttls()
        await c.ehlo()
        assert "PLAIN" in c.esmtp_extensions["auth"]
        await c.login("alice@example.test", PASSWORD)
        await c.sendmail("alice@example.test", ["bob@example.test"],
                         message("alice@example.test", "bob@example.test"))
        await c.quit()


async def test_scram_sha_256_over_smtp(smtp):
    import base64
    import hashlib
    import hmac
    import os
    c = await submission_client(smtp, login=False)
    assert "SCRAM-SHA-256" in c.esmtp_extensions["auth"]
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n=alice@example.test,r={nonce}"
    reply = await c.execute_command(
        b"AUTH SCRAM-SHA-256 " + base64.b64encode(f"n,,{first_bare}".encode()))
    assert reply.code == 334
    server_first = base64.b64decode(reply.message).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    final_bare = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    reply = await c.execute_command(base64.b64encode(f"{final_bare},p={proof}".encode()))
    assert reply.code == 334 and base64.b64decode(reply.message).startswith(b"v=")
    reply = await c.execute_command(b"")
    assert reply.code == 235
    await c.quit()


async def test_auth_aborted_with_star(smtp):
    c = await submission_client(smtp, login=False)
    reply = await c.execute_command(b"AUTH PLAIN")
    assert reply.code == 334
    reply = await c.execute_command(b"*")
    assert reply.code == 501
    await c.quit()

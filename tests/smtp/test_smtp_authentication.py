"""SPF, DKIM and DMARC of inbound mail, checked against the test DNS server, reported in
Authentication-Results, and the receiving policy (reject, quarantine to Junk, accept)."""

from __future__ import annotations

import aiosmtplib
import pytest

from postroom.smtp import admin, verify
from postroom.submission import dkim_sign

from .env import message, running_smtp


async def send(env, sender: str, raw: bytes, rcpt: str = "alice@example.test"):
    return await aiosmtplib.send(raw, sender=sender, recipients=[rcpt], hostname="127.0.0.1",
                                 port=env.mx_port, start_tls=False,
                                 local_hostname="mail.sender.test")


def ar_of(stored: bytes) -> str:
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    start = header.index("Authentication-Results:")
    lines = header[start:].split("\r\n")
    field = [lines[0]] + [l for l in lines[1:] if l[:1] in " \t"][:10]
    return " ".join(l.strip() for l in field)


@pytest.fixture
def signer(dns):
    """sender.test: SPF allows 127.0.0.1, a DKIM key published, DMARC p=reject."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    dns.add_txt("sel._domainkey.sender.test", admin.dkim_record_value(pem))
    dns.add_txt("sender.test", "v=spf1 ip4:127.0.0.1 -all")
    dns.add_txt("_dmarc.sender.test", "v=DMARC1; p=reject")
    return lambda raw: dkim_sign(raw, "sender.test", "sel", pem)


async def test_signed_mail_from_an_spf_host_passes_all_three(smtp, signer):
    await send(smtp, "news@sender.test", signer(message("news@sender.test",
                                                        "alice@example.test")))
    [stored] = await smtp.messages("alice")
    ar = ar_of(stored)
    assert "spf=pass smtp.mailfrom=news@sender.test" in ar
    assert "dkim=pass header.d=sender.test header.s=sel" in ar
    assert "dmarc=pass header.from=sender.test" in ar


async def test_tampered_body_fails_dkim_but_aligned_spf_still_passes_dmarc(smtp, signer):
    raw = signer(message("news@sender.test", "alice@example.test")) + b"appended\r\n"
    await send(smtp, "news@sender.test", raw)
    ar = ar_of((await smtp.messages("alice"))[0])
    assert "dkim=fail" in ar and "spf=pass" in ar and "dmarc=pass" in ar


async def test_spoofed_from_is_quarantined_to_junk_by_default(smtp, signer):
    # Sent from a host SPF does not allow and without a signature: DMARC fails, p=reject,
    # and the default receiving policy "quarantine" files it in Junk.
    smtp.dns.add_txt("other.test", "v=spf1 -all")
    await send(smtp, "x@other.test", message("ceo@sender.test", "alice@example.test"))
    assert await smtp.messages("alice") == []
    [junk] = await smtp.messages("alice", "Junk")
    ar = ar_of(junk)
    assert "spf=fail" in ar and "dkim=none" in ar and "dmarc=fail" in ar
    assert "policy.dmarc=reject" in ar


async def test_reject_policy_refuses_spoofed_mail_with_550(tmp_path, dns, signer):
    async with running_smtp(tmp_path, dns=dns, dmarc_policy="reject") as env:
        with pytest.raises(aiosmtplib.SMTPDataError) as e:
            await send(env, "x@other.test", message("ceo@sender.test", "alice@example.test"))
        assert e.value.code == 550 and "5.7.1" in e.value.message
        assert await env.messages("alice") == [] and await env.messages("alice", "Junk") == []


async def test_accept_policy_delivers_spoofed_mail_to_the_inbox_marked(tmp_path, dns, signer):
    async with running_smtp(tmp_path, dns=dns, dmarc_policy="accept") as env:
        await send(env, "x@other.test", message("ceo@sender.test", "alice@example.test"))
        [stored] = await env.messages("alice")
        assert "dmarc=fail" in ar_of(stored)


async def test_subdomain_inherits_the_organizational_sp_policy(smtp, dns):
    dns.add_txt("_dmarc.org.test", "v=DMARC1; p=none; sp=quarantine")
    await send(smtp, "x@mail.org.test", message("a@mail.org.test", "alice@example.test"))
    [junk] = await smtp.messages("alice", "Junk")
    assert "policy.dmarc=quarantine" in ar_of(junk)


async def test_p_none_fails_but_is_delivered(smtp, dns):
    dns.add_txt("_dmarc.lax.test", "v=DMARC1; p=none")
    await send(smtp, "x@lax.test", message("a@lax.test", "alice@example.test"))
    assert "dmarc=fail" in ar_of((await smtp.messages("alice"))[0])


async def test_forged_authentication_results_with_our_id_are_removed(smtp):
    forged = "Authentication-Results: mx.example.test; dkim=pass header.d=bank.test\r\n"
    kept = "Authentication-Results: elsewhere.test; spf=none\r\n"
    await send(smtp, "x@nowhere.test", message("a@nowhere.test", "alice@example.test",
                                                extra=forged + kept))
    [stored] = await smtp.messages("alice")
    assert b"header.d=bank.test" not in stored
    assert kept.encode() in stored
    assert stored.count(b"Authentication-Results: mx.example.test;") == 1


def test_dmarc_record_parsing():
    r = verify.parse_dmarc("v=DMARC1; p=Quarantine; adkim=s; pct=50")
    assert (r.p, r.sp, r.adkim, r.aspf, r.pct) == ("quarantine", "quarantine", "s", "r", 50)
    assert verify.parse_dmarc("v=DMARC1; p=bogus") is None
    assert verify.parse_dmarc("v=DMARC1; p=bogus; rua=mailto:x@y").p == "none"
    assert verify.parse_dmarc("v=spf1 -all") is None


def test_organizational_domain():
    assert verify.organizational_domain("a.b.example.com") == "example.com"
    if verify._public_suffixes()[0]:
        assert verify.organizational_domain("mail.shop.co.uk") == "shop.co.uk"


def test_receiving_policy_caps_the_domain_policy():
    v = verify.Verdict(dmarc="fail", dmarc_policy="reject")
    assert [verify.action(v, p) for p in ("reject", "quarantine", "accept")] == \
        ["reject", "quarantine", "accept"]
    assert verify.action(verify.Verdict(dmarc="pass", dmarc_policy="reject"), "reject") == \
        "accept"
    assert verify.action(verify.Verdict(dmarc="temperror"), "reject") == "accept"

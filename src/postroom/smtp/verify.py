"""Sender authentication of inbound mail: SPF (RFC 7208, pyspf), DKIM (RFC 6376, dkimpy) and
DMARC (RFC 7489 §6.6: policy discovery and identifier alignment, written here), reported in an
Authentication-Results header field (RFC 8601, authres).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import authres
import authres.dmarc
import dkim
import dkim.util
import spf

from postroom.smtp import lookup
from postroom.submission import header_fields, split_header

log = logging.getLogger(__name__)

MAX_DKIM_SIGNATURES = 5       # more are not checked: each costs DNS queries and hashing


@dataclass(slots=True)
class Verdict:
    spf: str = "none"                 # RFC 7208 §2.6 result
    spf_domain: str = ""              # the domain SPF authenticated (MAIL FROM's, or HELO's)
    dkim: list[tuple[str, str, str]] = field(default_factory=list)   # (result, d=, s=)
    dmarc: str = "none"               # pass, fail, none, temperror, permerror
    dmarc_policy: str = "none"        # the From domain's policy for this message (p= or sp=)
    from_domain: str = ""
    header: bytes = b""               # the Authentication-Results field, CRLF-terminated


# --- organizational domain (RFC 7489 §3.2) ------------------------------------------------------
# With the Public Suffix List when the system has it (Debian's "publicsuffix" package); without,
# the last two labels, which is right for most domains but treats "a.co.uk" and "b.co.uk" as
# one organization.

_PSL_PATHS = ("/usr/share/publicsuffix/public_suffix_list.dat",)


@functools.cache
def _public_suffixes() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    rules, wildcards, exceptions = set(), set(), set()
    for path in _PSL_PATHS:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            rule = line.split()[0].lower()
            if rule.startswith("!"):
                exceptions.add(rule[1:])
            elif rule.startswith("*."):
                wildcards.add(rule[2:])
            else:
                rules.add(rule)
        break
    return frozenset(rules), frozenset(wildcards), frozenset(exceptions)


def organizational_domain(domain: str) -> str:
    labels = domain.lower().rstrip(".").split(".")
    rules, wildcards, exceptions = _public_suffixes()
    if not rules:
        return ".".join(labels[-2:])
    suffix_len = 1
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in exceptions:
            suffix_len = len(labels) - i - 1
            break
        if candidate in rules:
            suffix_len = len(labels) - i
            break
        if i + 1 < len(labels) and ".".join(labels[i + 1:]) in wildcards:
            suffix_len = len(labels) - i
            break
    return ".".join(labels[-(suffix_len + 1):])


def _aligned(a: str, b: str, mode: str) -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


# --- DMARC policy discovery (RFC 7489 §6.6.3) ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class DMARCRecord:
    p: str
    sp: str
    adkim: str
    aspf: str
    pct: int


def parse_dmarc(text: str) -> DMARCRecord | None:
    tags: dict[str, str] = {}
    for part in text.split(";"):
        k, eq, v = part.strip().partition("=")
        if eq:
            tags.setdefault(k.strip().lower(), v.strip())
    if tags.get("v") != "DMARC1":
        return None
    p = tags.get("p", "").lower()
    if p not in ("none", "quarantine", "reject"):
        # §6.6.3: a record with a bad p= but a rua= is treated as p=none; without, as absent.
        if "rua" not in tags:
            return None
        p = "none"
    sp = tags.get("sp", p).lower()
    if sp not in ("none", "quarantine", "reject"):
        sp = p
    try:
        pct = max(0, min(100, int(tags.get("pct", "100"))))
    except ValueError:
        pct = 100
    return DMARCRecord(p, sp, tags.get("adkim", "r").lower()[:1] or "r",
                       tags.get("aspf", "r").lower()[:1] or "r", pct)


async def discover_dmarc(resolver, from_domain: str) -> tuple[DMARCRecord | None, bool]:
    """The record for ``from_domain`` and whether it came from the organizational domain
    (so ``sp=`` applies). Raises lookup.DNSTempError."""
    for name, inherited in ((from_domain, False), (organizational_domain(from_domain), True)):
        if inherited and name == from_domain:
            break
        records = [r for r in (await lookup.txt(resolver, f"_dmarc.{name}"))
                   if r.startswith(b"v=DMARC1")]
        if len(records) == 1:
            record = parse_dmarc(records[0].decode("ascii", "replace"))
            if record is not None:
                return record, inherited
        # §6.6.3: several records, or none, count as no policy at this name.
    return None, False


# --- the checks -------------------------------------------------------------------------------

def _check_spf(resolver, ip: str, mail_from: str, helo: str) -> tuple[str, str]:
    lookup.use_for_spf(resolver)
    # RFC 7208 §2.4: with a null reverse-path the identity checked is postmaster@HELO.
    sender = mail_from or f"postmaster@{helo}"
    try:
        result, _code, _explanation = spf.query(i=ip, s=sender, h=helo, timeout=20).check()
    except Exception as e:          # pyspf raises on some malformed input
        log.info("SPF check of %s from %s failed: %s", sender, ip, e)
        result = "permerror"
    domain = sender.rpartition("@")[2].lower()
    return result, domain


def _check_dkim(resolver, raw: bytes) -> list[tuple[str, str, str]]:
    dnsfunc = lookup.dkim_dnsfunc(resolver)
    d = dkim.DKIM(raw, minkey=1024)
    signatures = [v for n, v in d.headers if n.lower() == b"dkim-signature"]
    results = []
    for idx, sig in enumerate(signatures[:MAX_DKIM_SIGNATURES]):
        sig_domain = selector = ""
        try:
            tags = dkim.util.parse_tag_value(b"".join(sig.split()))
            sig_domain = tags.get(b"d", b"").decode("ascii", "replace").lower()
            selector = tags.get(b"s", b"").decode("ascii", "replace")
            result = "pass" if d.verify(idx=idx, dnsfunc=dnsfunc) else "fail"
        except dkim.DnsTimeoutError:
            result = "temperror"
        except (dkim.KeyFormatError, dkim.util.InvalidTagValueList):
            result = "permerror"
        except dkim.DKIMException:
            result = "fail"
        results.append((result, sig_domain, selector))
    return results


async def verify(raw: bytes, *, peer_ip: str, helo: str, mail_from: str, authserv_id: str,
                 resolvers: lookup.Resolvers) -> Verdict:
    """Checks SPF, DKIM and DMARC of one received message and builds its A-R header field."""
    v = Verdict()
    spf_task = asyncio.to_thread(_check_spf, resolvers.sync, peer_ip, mail_from, helo)
    dkim_task = asyncio.to_thread(_check_dkim, resolvers.sync, raw)
    (v.spf, v.spf_domain), v.dkim = await asyncio.gather(spf_task, dkim_task)

    header, _ = split_header(raw)
    froms = [val for n, val in header_fields(header) if n == "from"]
    from_addresses = [a for _, a in email.utils.getaddresses(froms) if "@" in a]
    from_domains = {a.rpartition("@")[2].lower() for a in from_addresses}
    if len(from_domains) == 1:
        v.from_domain = from_domains.pop()
        try:
            record, inherited = await discover_dmarc(resolvers.async_, v.from_domain)
        except lookup.DNSTempError:
            v.dmarc = "temperror"
        else:
            if record is not None:
                dkim_ok = any(r == "pass" and _aligned(d, v.from_domain, record.adkim)
                              for r, d, _ in v.dkim)
                spf_ok = v.spf == "pass" and _aligned(v.spf_domain, v.from_domain,
                                                      record.aspf)
                v.dmarc = "pass" if dkim_ok or spf_ok else "fail"
                v.dmarc_policy = record.sp if inherited else record.p
    elif from_domains:
        # RFC 7489 §6.6.1: several From domains cannot be evaluated; report it.
        v.dmarc = "permerror"
    v.header = _ar_header(authserv_id, v, mail_from, helo)
    return v


def _ar_header(authserv_id: str, v: Verdict, mail_from: str, helo: str) -> bytes:
    results: list = [authres.SPFAuthenticationResult(
        result=v.spf, smtp_mailfrom=mail_from or None, smtp_helo=None if mail_from else helo)]
    if v.dkim:
        for result, d, s in v.dkim:
            results.append(authres.DKIMAuthenticationResult(
                result=result, header_d=d or None, header_s=s or None))
    else:
        results.append(authres.DKIMAuthenticationResult(result="none"))
    results.append(authres.dmarc.DMARCAuthenticationResult(
        result=v.dmarc, header_from=v.from_domain or None,
        policy=v.dmarc_policy if v.dmarc in ("pass", "fail") else None))
    # One result per folded line keeps each under RFC 5322's 78-character advice.
    text = "Authentication-Results: " + authserv_id + "".join(
        ";\r\n\t" + str(r) for r in results) + "\r\n"
    return text.encode("utf-8")


def action(v: Verdict, local_policy: str) -> str:
    """What to do with the message: "accept", "quarantine" or "reject". The domain's DMARC
    policy is followed up to the receiving policy ``smtp.dmarc_policy``: with "quarantine" a
    p=reject message goes to Junk, with "accept" nothing is ever held back."""
    if v.dmarc != "fail":
        return "accept"
    order = ("none", "quarantine", "reject")
    wanted = order.index(v.dmarc_policy) if v.dmarc_policy in order else 0
    ceiling = {"accept": 0, "quarantine": 1, "reject": 2}[local_policy]
    return ("accept", "quarantine", "reject")[min(wanted, ceiling)]


def strip_our_results(header: bytes, authserv_id: str) -> bytes:
    """RFC 8601 §5: an incoming Authentication-Results field naming our authserv-id is forged
    (or stale) and is removed before ours is added."""
    if b"authentication-results" not in header.lower():
        return header
    out: list[bytes] = []
    drop = False
    for line in header.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            if not drop:
                out.append(line)
            continue
        drop = False
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authentication-results":
            ident = value.strip().split(b";", 1)[0].strip().split()[:1]
            drop = bool(ident) and ident[0].decode("ascii", "replace").lower() == \
                authserv_id.lower()
        if not drop:
            out.append(line)
    return b"\r\n".join(out) + b"\r\n"

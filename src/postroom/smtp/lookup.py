"""DNS look-ups for the SMTP door: MX routing (RFC 5321 §5.1, RFC 7505 null MX) and the TXT
records SPF, DKIM and DMARC read. One configurable server (``smtp.dns_server``) so tests answer
from a DNS server on 127.0.0.1 and never ask the internet.
"""

from __future__ import annotations

import contextvars
import ipaddress
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import spf

LOOKUP_TIMEOUT = 10.0


class DNSTempError(Exception):
    """The DNS did not answer (timeout, SERVFAIL): try again later."""


@dataclass(frozen=True, slots=True)
class Resolvers:
    """An async resolver for the event loop and a sync one for dkimpy and pyspf, which run in
    worker threads; both ask the same servers."""
    async_: dns.asyncresolver.Resolver
    sync: dns.resolver.Resolver


def _configure(resolver: dns.resolver.Resolver, server: str) -> None:
    host, port = server, 53
    if server.startswith("["):          # "[::1]:5353"
        host, _, rest = server[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif server.count(":") == 1:
        host, _, p = server.partition(":")
        port = int(p)
    ipaddress.ip_address(host)          # a name here would need a resolver to resolve it
    resolver.nameservers = [host]
    resolver.port = port
    resolver.lifetime = LOOKUP_TIMEOUT
    resolver.timeout = LOOKUP_TIMEOUT / 2


def make_resolvers(dns_server: str = "") -> Resolvers:
    """Resolvers asking ``dns_server`` ("host", "host:port", "[v6]:port"), or the system's.
    Both share one cache that honours the records' TTLs: a sender's SPF, DKIM key and DMARC
    policy are looked up once per TTL, not once per message."""
    if not dns_server:
        a, s = dns.asyncresolver.Resolver(), dns.resolver.Resolver()
    else:
        a = dns.asyncresolver.Resolver(configure=False)
        s = dns.resolver.Resolver(configure=False)
        _configure(a, dns_server)
        _configure(s, dns_server)
    cache = dns.resolver.LRUCache(50_000)
    a.cache = s.cache = cache
    return Resolvers(a, s)


async def txt(resolver: dns.asyncresolver.Resolver, name: str) -> list[bytes]:
    """The TXT records at ``name``, each with its strings joined; [] when there are none."""
    try:
        answer = await resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
        raise DNSTempError(f"{name} TXT: {e}") from None
    return [b"".join(r.strings) for r in answer]


async def mail_hosts(resolver: dns.asyncresolver.Resolver, domain: str) -> list[str]:
    """The hosts that accept mail for ``domain``, best first (RFC 5321 §5.1): its MX records, or
    the domain itself when it has none but has an address. [] for a null MX (RFC 7505) or a
    domain that does not exist."""
    try:
        answer = await resolver.resolve(domain, "MX", search=False)
    except dns.resolver.NXDOMAIN:
        return []
    except dns.resolver.NoAnswer:
        for rdtype in ("A", "AAAA"):
            try:
                await resolver.resolve(domain, rdtype, search=False)
                return [domain]
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
                raise DNSTempError(f"{domain} {rdtype}: {e}") from None
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
        raise DNSTempError(f"{domain} MX: {e}") from None
    records = sorted(answer, key=lambda r: r.preference)
    if len(records) == 1 and records[0].exchange == dns.name.root:
        return []
    return [r.exchange.to_text(omit_final_dot=True) for r in records
            if r.exchange != dns.name.root]


async def addresses(resolver: dns.asyncresolver.Resolver, host: str) -> list[str]:
    """IPv6 and IPv4 addresses of a mail host (an address literal is itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    found: list[str] = []
    for rdtype in ("AAAA", "A"):
        try:
            found += [r.address for r in await resolver.resolve(host, rdtype, search=False)]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
            raise DNSTempError(f"{host} {rdtype}: {e}") from None
    return found


# --- adapters for the sync libraries --------------------------------------------------------------

def dkim_dnsfunc(resolver: dns.resolver.Resolver):
    """dkimpy's ``dnsfunc(name: bytes, timeout) -> bytes | None`` over ``resolver``."""
    import dkim

    def get_txt(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode("ascii"), "TXT", search=False,
                                      lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, UnicodeDecodeError):
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
            raise dkim.DnsTimeoutError(str(e)) from None
        for r in answer:
            return b"".join(r.strings)
        return None
    return get_txt


# pyspf looks names up through its module-level ``DNSLookup``; it is replaced once by a function
# that asks the resolver of the calling context (a ContextVar survives asyncio.to_thread), and
# falls back to pyspf's own when none is set.
_spf_resolver: contextvars.ContextVar[dns.resolver.Resolver | None] = \
    contextvars.ContextVar("postroom_spf_resolver", default=None)
_spf_default_lookup = spf.DNSLookup


def _spf_lookup(name, qtype, strict=True, timeout=30):
    resolver = _spf_resolver.get()
    if resolver is None:
        return _spf_default_lookup(name, qtype, strict, timeout)
    found = []
    try:
        for rdata in resolver.resolve(name, qtype, search=False, lifetime=timeout):
            if qtype in ("A", "AAAA"):
                found.append(((name, qtype), rdata.address))
            elif qtype == "MX":
                found.append(((name, qtype), (rdata.preference, rdata.exchange)))
            elif qtype == "PTR":
                found.append(((name, qtype), rdata.target.to_text(True)))
            elif qtype in ("TXT", "SPF"):
                found.append(((name, qtype), rdata.strings))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        pass
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
        raise spf.TempError(f"DNS {e}") from None
    return found


spf.DNSLookup = _spf_lookup


def use_for_spf(resolver: dns.resolver.Resolver) -> None:
    """Makes pyspf ask ``resolver`` in the current context (and threads started from it)."""
    _spf_resolver.set(resolver)

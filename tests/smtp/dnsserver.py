"""A small authoritative DNS server on 127.0.0.1 (dnslib) answering from a dict, so SPF, DKIM,
DMARC and MX look-ups in tests never leave the machine."""

from __future__ import annotations

import threading
from collections import defaultdict

from dnslib import AAAA, MX, QTYPE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Zone(BaseResolver):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list] = defaultdict(list)

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        for rdata in self.records.get((name, qtype), []):
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=60))
        if not reply.rr and not any(n == name for n, _ in self.records):
            reply.header.rcode = 3      # NXDOMAIN
        return reply


class TestDNS:
    """``add_txt("_dmarc.a.test", "v=DMARC1; p=reject")``, then ``server`` ("127.0.0.1:port")
    goes into ``smtp.dns_server``."""

    __test__ = False

    def __init__(self) -> None:
        self.zone = _Zone()
        self._udp = DNSServer(self.zone, address="127.0.0.1", port=0,
                              logger=DNSLogger("-recv,-send,-request,-reply,-truncated,-error,"
                                               "-data"))
        self.port = self._udp.server.server_address[1]

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "TestDNS":
        # A short poll interval so that stop() returns at once rather than after 0.5 s.
        self._thread = threading.Thread(target=self._udp.server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._udp.stop()
        self._udp.server.server_close()

    def add_txt(self, name: str, value: str) -> None:
        # A TXT string holds 255 octets; longer values are several strings of one record.
        chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
        self.zone.records[(name.lower(), "TXT")].append(TXT(chunks))

    def add_mx(self, name: str, host: str, preference: int = 10) -> None:
        self.zone.records[(name.lower(), "MX")].append(MX(DNSLabel(host), preference))

    def add_a(self, name: str, address: str) -> None:
        self.zone.records[(name.lower(), "A")].append(A(address))

    def add_aaaa(self, name: str, address: str) -> None:
        self.zone.records[(name.lower(), "AAAA")].append(AAAA(address))

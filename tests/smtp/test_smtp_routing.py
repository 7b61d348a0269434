"""Outbound routing against the test DNS server: MX by preference, the implicit MX (RFC 5321
§5.1), null MX (RFC 7505); routes and smarthost first; DSN status codes."""

from __future__ import annotations

from postroom.config import Config
from postroom.smtp import lookup
from postroom.smtp.delivery import DeliveryWorker
from postroom.smtp.dsn import status_of


def worker(dns, **smtp) -> DeliveryWorker:
    config = Config()
    for k, v in smtp.items():
        setattr(config.smtp, k, v)
    return DeliveryWorker(None, config, lookup.make_resolvers(dns.server), "mx.test")


async def test_mx_hosts_best_first_then_implicit_mx_then_null_mx(dns):
    dns.add_mx("multi.test", "backup.multi.test", 20)
    dns.add_mx("multi.test", "primary.multi.test", 10)
    dns.add_a("plain.test", "127.0.0.9")
    dns.add_mx("nullmx.test", ".", 0)
    w = worker(dns)
    assert await w._route("multi.test") == [("primary.multi.test", 25),
                                           ("backup.multi.test", 25)]
    assert await w._route("plain.test") == [("plain.test", 25)]
    assert await w._route("nullmx.test") == []
    assert await w._route("nxdomain.test") == []


async def test_static_route_and_smarthost_come_before_mx(dns):
    dns.add_mx("routed.test", "mx.routed.test")
    w = worker(dns, routes={"routed.test": "127.0.0.1:2626"}, relay_host="relay.test:2587")
    assert await w._route("routed.test") == [("127.0.0.1", 2626)]
    assert await w._route("other.test") == [("relay.test", 2587)]


async def test_a_domain_without_mail_hosts_fails_permanently(dns):
    outcomes = await worker(dns)._send_domain("a@x.test", b"x", "nxdomain.test",
                                              ["u@nxdomain.test"])
    assert outcomes["u@nxdomain.test"][0] == 556


async def test_addresses_of_a_host(dns):
    dns.add_a("h.test", "127.0.0.5")
    dns.add_aaaa("h.test", "::1")
    r = lookup.make_resolvers(dns.server).async_
    assert sorted(await lookup.addresses(r, "h.test")) == ["127.0.0.5", "::1"]
    assert await lookup.addresses(r, "127.0.0.7") == ["127.0.0.7"]


def test_status_of_replies():
    assert status_of(550, "5.1.1 <x>: no such user") == "5.1.1"
    assert status_of(550, "mailbox unavailable") == "5.0.0"
    assert status_of(451, "4.7.1 greylisted") == "4.7.1"
    assert status_of(550, "4.7.1 inconsistent") == "5.0.0"


async def test_route_by_host_name_is_resolved_through_the_configured_dns(dns):
    import asyncio

    from aiosmtpd.smtp import SMTP

    class Sink:
        received: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):
            self.received.append(envelope.original_content)
            return "250 2.0.0 OK"

    loop = asyncio.get_running_loop()
    sink = Sink()
    server = await loop.create_server(lambda: SMTP(sink, hostname="mx.n.test", loop=loop),
                                      "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        dns.add_a("mx.n.test", "127.0.0.1")
        w = worker(dns, routes={"n.test": f"mx.n.test:{port}", "gone.test": f"nx.n.test:{port}"})
        outcomes = await w._send_domain("a@x.test", b"Subject: hi\r\n\r\nhi\r\n", "n.test",
                                        ["u@n.test"])
        assert outcomes["u@n.test"][:1] == (250,) and outcomes["u@n.test"][2] == "mx.n.test"
        assert sink.received
        outcomes = await w._send_domain("a@x.test", b"x\r\n", "gone.test", ["u@gone.test"])
        assert outcomes["u@gone.test"][0] == 451 and "4.4.4" in outcomes["u@gone.test"][1]
    finally:
        server.close()

"""A plain HTTP client for DAV tests (http.client, run off the event loop)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .env import ALICE, PASSWORD


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def request_sync(port: int, method: str, path: str, body: bytes | str = b"",
                 headers: dict | None = None, user: str | None = ALICE,
                 password: str = PASSWORD) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    if user is not None:
        h["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)


async def request(env, method: str, path: str, body: bytes | str = b"", headers=None,
                  user: str | None = ALICE, password: str = PASSWORD) -> Reply:
    return await asyncio.to_thread(request_sync, env.door.ports["http"], method, path, body,
                                   headers, user, password)


def hrefs(reply: Reply) -> list[str]:
    return [h.text for h in reply.xml().iter("{DAV:}href")]

"""A small ActiveSync client for the tests: requests built with our encoder, sent with httpx."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

import httpx

from postroom.eas.wbxml import E, Element, decode, encode

from ..dav.env import ALICE, PASSWORD


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    element: Element | None = None

    def text(self, path: str) -> str | None:
        return self.element.findtext(path) if self.element is not None else None


@dataclass
class EasClient:
    base_url: str                       # "https://127.0.0.1:PORT"
    user: str = ALICE
    password: str = PASSWORD
    device_id: str = "TESTDEVICE1"
    device_type: str = "TestPhone"
    version: str = "16.1"
    policy_key: str | None = None
    http: httpx.AsyncClient = field(default=None)

    def __post_init__(self) -> None:
        if self.http is None:
            self.http = httpx.AsyncClient(verify=False, timeout=60, trust_env=False)

    async def close(self) -> None:
        await self.http.aclose()

    @property
    def url(self) -> str:
        return f"{self.base_url}/Microsoft-Server-ActiveSync"

    async def post(self, cmd: str, element: Element | None = None, *, raw: bytes | None = None,
                   params: dict | None = None, headers: dict | None = None,
                   auth: tuple[str, str] | None = None, timeout: float | None = None) -> Answer:
        query = {"Cmd": cmd, "User": self.user, "DeviceId": self.device_id,
                 "DeviceType": self.device_type, **(params or {})}
        hdrs = {"MS-ASProtocolVersion": self.version,
                "Content-Type": "application/vnd.ms-sync.wbxml", "User-Agent": "TestPhone/1.0"}
        if self.policy_key:
            hdrs["X-MS-PolicyKey"] = self.policy_key
        hdrs.update(headers or {})
        body = raw if raw is not None else (encode(element) if element is not None else b"")
        r = await self.http.post(self.url, params=query, content=body, headers=hdrs,
                                 auth=auth or (self.user, self.password),
                                 timeout=timeout or 60)
        ans = Answer(r.status_code, r.headers, r.content)
        if r.content and r.headers.get("content-type", "").startswith(
                "application/vnd.ms-sync.wbxml"):
            ans.element = decode(r.content)
        return ans

    async def provision(self) -> str:
        policy = E("Provision:Policies", E("Provision:Policy",
                   E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML")))
        a = await self.post("Provision", E("Provision:Provision", policy))
        assert a.text("Provision:Status") == "1", a
        temp = a.text("Provision:Policies/Provision:Policy/Provision:PolicyKey")
        a = await self.post("Provision", E("Provision:Provision", E("Provision:Policies",
                            E("Provision:Policy",
                              E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML"),
                              E("Provision:PolicyKey", temp), E("Provision:Status", 1)))))
        self.policy_key = a.text("Provision:Policies/Provision:Policy/Provision:PolicyKey")
        assert self.policy_key and self.policy_key != temp
        return self.policy_key

    async def folder_sync(self, key: str = "0") -> Answer:
        return await self.post("FolderSync", E("FolderHierarchy:FolderSync",
                                               E("FolderHierarchy:SyncKey", key)))

    async def folders(self) -> dict[str, tuple[str, str, int]]:
        """DisplayName -> (ServerId, ParentId, Type) from a full FolderSync."""
        a = await self.folder_sync("0")
        out = {}
        for add in a.element.find("FolderHierarchy:Changes").findall("FolderHierarchy:Add"):
            out[add.findtext("FolderHierarchy:DisplayName")] = (
                add.findtext("FolderHierarchy:ServerId"), add.findtext("FolderHierarchy:ParentId"),
                int(add.findtext("FolderHierarchy:Type")))
        return out

    async def sync(self, collection_id: str, key: str, *, window: int | None = 100,
                   options: list[Element] | None = None, commands: list[Element] | None = None,
                   get_changes: bool | None = None, extra: list[Element] | None = None
                   ) -> Answer:
        coll = E("AirSync:Collection", E("AirSync:SyncKey", key),
                 E("AirSync:CollectionId", collection_id),
                 E("AirSync:GetChanges", get_changes) if get_changes is not None else None,
                 E("AirSync:WindowSize", window) if window else None,
                 E("AirSync:Options", *options) if options else None,
                 E("AirSync:Commands", *commands) if commands else None)
        return await self.post("Sync", E("AirSync:Sync", E("AirSync:Collections", coll),
                                         *(extra or [])))


def collection(answer: Answer, collection_id: str | None = None) -> Element:
    colls = answer.element.find("AirSync:Collections").findall("AirSync:Collection")
    for c in colls:
        if collection_id is None or c.findtext("AirSync:CollectionId") == collection_id:
            return c
    raise AssertionError(f"no collection {collection_id} in {answer.element.to_xml()}")


def base64_query(cmd_code: int, device_id: bytes, *, version: int = 141, policy_key: int | None
                 = None, device_type: bytes = b"SmartPhone", params: list[tuple[int, bytes]] = ()
                 ) -> str:
    """MS-ASHTTP §2.2.1.1.1.1: the base64 form of the query."""
    raw = bytes([version, cmd_code]) + struct.pack("<H", 0x0409)
    raw += bytes([len(device_id)]) + device_id
    raw += (bytes([4]) + struct.pack("<I", policy_key)) if policy_key is not None else b"\x00"
    raw += bytes([len(device_type)]) + device_type
    for tag, value in params:
        raw += bytes([tag, len(value)]) + value
    return base64.b64encode(raw).decode()

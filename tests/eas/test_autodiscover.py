"""Autodiscover as phones and Outlook mobile use it: the mobilesync XML schema (POST, Basic
auth) and the JSON form (GET), both naming the ActiveSync URL."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

from ..dav.env import ALICE, PASSWORD

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"


def _request(email: str, schema: str = RESPONSE_NS) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}">'
            f"<Request><EMailAddress>{email}</EMailAddress><AcceptableResponseSchema>{schema}"
            "</AcceptableResponseSchema></Request></Autodiscover>").encode()


async def _post(eas, body: bytes, auth=(ALICE, PASSWORD), path="/autodiscover/autodiscover.xml"):
    base = f"https://127.0.0.1:{eas.door.ports['https']}"
    async with httpx.AsyncClient(verify=False, trust_env=False) as http:
        return await http.post(base + path, content=body, auth=auth,
                               headers={"Content-Type": "text/xml"})


async def test_mobilesync_autodiscover_names_the_eas_url_and_the_user(eas):
    r = await _post(eas, _request(ALICE))
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    ns = {"r": RESPONSE_NS}
    assert root.findtext("r:Response/r:User/r:EMailAddress", namespaces=ns) == ALICE
    assert root.findtext("r:Response/r:User/r:DisplayName", namespaces=ns) == "alice"
    server = root.find("r:Response/r:Action/r:Settings/r:Server", ns)
    assert server.findtext("r:Type", namespaces=ns) == "MobileSync"
    url = server.findtext("r:Url", namespaces=ns)
    assert url == f"https://127.0.0.1:{eas.door.ports['https']}/Microsoft-Server-ActiveSync"
    # Windows-style capitals reach the same answer.
    r = await _post(eas, _request(ALICE), path="/Autodiscover/Autodiscover.xml")
    assert r.status_code == 200 and b"MobileSync" in r.content


async def test_mobilesync_autodiscover_refuses_strangers_and_bad_requests(eas):
    assert (await _post(eas, _request(ALICE), auth=(ALICE, "wrong"))).status_code == 401
    r = await _post(eas, _request("bob@example.test"))
    assert r.status_code == 200 and b"<Status>600</Status>" in r.content
    r = await _post(eas, _request(ALICE, schema="urn:other"))
    assert b"<Status>601</Status>" in r.content
    r = await _post(eas, b"<not xml")
    assert r.status_code == 200 and b"<Status>601</Status>" in r.content


async def test_json_autodiscover_as_outlook_mobile_asks(eas):
    base = f"https://127.0.0.1:{eas.door.ports['https']}"
    async with httpx.AsyncClient(verify=False, trust_env=False) as http:
        r = await http.get(base + "/autodiscover/autodiscover.json",
                           params={"Email": ALICE, "Protocol": "ActiveSync", "RedirectCount": 1})
        assert r.status_code == 200
        assert r.json() == {"Protocol": "ActiveSync",
                            "Url": f"{base}/Microsoft-Server-ActiveSync"}
        r = await http.get(base + f"/autodiscover/autodiscover.json/v1.0/{ALICE}",
                           params={"Protocol": "activesync"})
        assert r.json()["Protocol"] == "ActiveSync"
        r = await http.get(base + "/autodiscover/autodiscover.json",
                           params={"Email": ALICE, "Protocol": "Rest"})
        assert r.status_code == 400 and r.json()["ErrorCode"] == "InvalidProtocol"

"""MS-ASHTTP and MS-ASPROV: OPTIONS, authentication, the query forms, the two-step policy key
handshake, remote wipe and blocked devices."""

from __future__ import annotations

import pytest

from postroom.eas.wbxml import E
from postroom.store.api import WIPE_REQUESTED

from .client import EasClient, base64_query


def https(eas) -> str:
    return f"https://127.0.0.1:{eas.door.ports['https']}"


async def test_options_lists_versions_and_commands_after_basic_auth(eas):
    c = EasClient(https(eas))
    r = await c.http.options(c.url)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    r = await c.http.options(c.url, auth=(c.user, c.password))
    assert r.status_code == 200
    assert r.headers["ms-asprotocolversions"] == "12.1,14.0,14.1,16.0,16.1"
    commands = r.headers["ms-asprotocolcommands"].split(",")
    assert {"Sync", "FolderSync", "Provision"} <= set(commands)
    await c.close()


async def test_wrong_password_is_401_and_plain_http_from_loopback_is_allowed(eas):
    c = EasClient(https(eas))
    a = await c.post("FolderSync", auth=(c.user, "wrong"))
    assert a.status == 401
    plain = EasClient(f"http://127.0.0.1:{eas.door.ports['http']}")
    await plain.provision()
    eas.config.eas.allow_plain_http_loopback = False
    assert (await plain.folder_sync()).status == 403
    await c.close()
    await plain.close()


async def test_unprovisioned_device_gets_142_then_449_for_12_1(eas):
    c = EasClient(https(eas))
    a = await c.folder_sync()
    assert a.status == 200 and a.text("FolderHierarchy:Status") == "142"
    c.version = "12.1"
    assert (await c.folder_sync()).status == 449
    c.version = "16.1"
    key = await c.provision()
    assert (await c.folder_sync()).text("FolderHierarchy:Status") == "1"
    c.policy_key = str(int(key) + 1)
    assert (await c.folder_sync()).text("FolderHierarchy:Status") == "144"
    await c.close()


async def test_unsupported_version_and_unknown_command(eas):
    c = EasClient(https(eas), version="2.5")
    assert (await c.folder_sync()).status == 400
    c.version = "16.1"
    assert (await c.post("NoSuchCommand")).status == 501


async def test_policy_document_is_sent_with_the_temporary_key(eas):
    eas.config.eas.domain_policies = {"example.test": {"DevicePasswordEnabled": 1}}
    c = EasClient(https(eas))
    a = await c.post("Provision", E("Provision:Provision",
                     E("Settings:DeviceInformation", E("Settings:Set",
                       E("Settings:Model", "Pixel"), E("Settings:OS", "Android 15"))),
                     E("Provision:Policies", E("Provision:Policy",
                       E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML")))))
    doc = a.element.find("Provision:Policies/Provision:Policy/Provision:Data/"
                         "Provision:EASProvisionDoc")
    assert doc.findtext("Provision:DevicePasswordEnabled") == "1"
    assert a.text("Settings:DeviceInformation/Settings:Status") == "1"
    dev = await eas.store.eas_device(eas.accounts["alice@example.test"].id, c.device_id)
    assert dev.info["Model"] == "Pixel" and dev.policy_state == "pending"
    # acknowledging a key that was never sent
    a = await c.post("Provision", E("Provision:Provision", E("Provision:Policies",
                     E("Provision:Policy", E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML"),
                       E("Provision:PolicyKey", "1"), E("Provision:Status", 1)))))
    assert a.text("Provision:Policies/Provision:Policy/Provision:Status") == "5"
    await c.close()


async def test_remote_wipe_is_sent_acknowledged_and_blocks_the_device(eas, phone):
    acc = eas.accounts["alice@example.test"]
    await eas.store.eas_update_device(acc.id, phone.device_id, wipe=WIPE_REQUESTED)
    assert (await phone.folder_sync()).text("FolderHierarchy:Status") == "140"
    a = await phone.post("Provision", E("Provision:Provision", E("Provision:Policies",
                         E("Provision:Policy",
                           E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML")))))
    assert a.element.find("Provision:RemoteWipe") is not None
    a = await phone.post("Provision", E("Provision:Provision",
                         E("Provision:RemoteWipe", E("Provision:Status", 1))))
    assert a.text("Provision:Status") == "1"
    dev = await eas.store.eas_device(acc.id, phone.device_id)
    assert dev.wipe == "acknowledged" and dev.access == "blocked"
    assert (await phone.folder_sync()).status == 403


async def test_base64_query_form(eas, phone):
    query = base64_query(9, phone.device_id.encode(), version=161,
                         policy_key=int(phone.policy_key))
    r = await phone.http.post(f"{phone.url}?{query}",
                              content=bytes.fromhex("03016a00000756520330000101"),
                              auth=(phone.user, phone.password),
                              headers={"Content-Type": "application/vnd.ms-sync.wbxml"})
    assert r.status_code == 200
    from postroom.eas.wbxml import decode
    assert decode(r.content).findtext("FolderHierarchy:Status") == "1"


@pytest.mark.parametrize("body", [b"\x03\x01\x6a\x00\x45", b"garbage", b"\x03\x01\x6a\x00\x00\x63"])
async def test_malformed_wbxml_gets_status_102_never_500(eas, phone, body):
    a = await phone.post("Sync", raw=body)
    assert a.status == 200 and a.text("AirSync:Status") == "102"
    phone.version = "12.1"
    assert (await phone.post("Sync", raw=body)).status == 400


async def test_oversized_request_is_413(eas, phone):
    eas.config.eas.max_request_bytes = 1000
    assert (await phone.post("Sync", raw=b"x" * 5000)).status == 413

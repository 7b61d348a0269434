"""Fuzzing the HTTP doors end to end: mutated CalDAV/CardDAV and ActiveSync requests (bytes
flipped, cut, doubled) sent to a live server. Every answer must be a 2xx-4xx (or an EAS status
inside a 200), never a 500, and the server must still serve a clean request afterwards."""

from __future__ import annotations

import os
import random
from urllib.parse import quote

import httpx

from postroom.eas.wbxml import E, encode
from tests.dav.client import request
from tests.dav.env import ALICE, running_dav
from tests.eas.client import EasClient

HOME = f"/dav/{ALICE}/"

DAV_TEMPLATES = [
    ("PROPFIND", HOME, '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" '
     'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:resourcetype/><d:getetag/>'
     '<c:calendar-home-set/><d:sync-token/></d:prop></d:propfind>', {"Depth": "1"}),
    ("REPORT", HOME + "calendar/", '<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
     'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data>'
     '<c:expand start="20300101T000000Z" end="20300201T000000Z"/></c:calendar-data></d:prop>'
     '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range '
     'start="20300101T000000Z" end="20300201T000000Z"/></c:comp-filter></c:comp-filter>'
     '</c:filter></c:calendar-query>', {"Depth": "1"}),
    ("REPORT", HOME + "calendar/", '<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:">'
     '<d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop>'
     '</d:sync-collection>', {}),
    ("PUT", HOME + "calendar/fz.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//f//EN\r\n"
     "BEGIN:VEVENT\r\nUID:fz\r\nDTSTAMP:20300101T000000Z\r\nDTSTART:20300105T100000Z\r\n"
     "DURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:fuzz\r\nEND:VEVENT\r\n"
     "END:VCALENDAR\r\n", {"Content-Type": "text/calendar"}),
    ("PUT", HOME + "contacts/fz.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:fz\r\nFN:F Z\r\n"
     "N:Z;F;;;\r\nEMAIL:f@z.test\r\nEND:VCARD\r\n", {"Content-Type": "text/vcard"}),
    ("PROPPATCH", HOME + "calendar/", '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:">'
     '<d:set><d:prop><d:displayname>Fuzz</d:displayname></d:prop></d:set></d:propertyupdate>',
     {}),
    ("MKCALENDAR", HOME + "fuzzcal/", '<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" '
     'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>x</d:displayname>'
     '</d:prop></d:set></c:mkcalendar>', {}),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        i = rng.randrange(len(data))
        op = rng.randrange(4)
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            del data[i:i + rng.randint(1, 20)]
        elif op == 2:
            data[i:i] = data[i:i + rng.randint(1, 20)]
        else:
            data = data[:i]
    return bytes(data)


async def test_mutated_dav_requests_never_get_a_server_error(tmp_path):
    rng = random.Random(int(os.environ.get("FUZZ_SEED", 1234)))
    async with running_dav(tmp_path) as env:
        for _ in range(120):
            method, path, body, headers = rng.choice(DAV_TEMPLATES)
            raw = mutate(rng, body.encode())
            if rng.random() < 0.2:
                path = "/" + quote(mutate(rng, path.encode()), safe="/%@").lstrip("/")
            r = await request(env, method, path, raw, headers)
            assert r.status < 500, (method, path, raw, r.status, r.body[:300])
        r = await request(env, "PROPFIND", HOME, DAV_TEMPLATES[0][2], {"Depth": "0"})
        assert r.status == 207


async def test_mutated_activesync_requests_never_get_a_server_error(tmp_path):
    rng = random.Random(int(os.environ.get("FUZZ_SEED", 4321)))
    async with running_dav(tmp_path, tls=True) as env:
        env.config.eas.min_heartbeat_seconds = 1
        phone = EasClient(f"https://127.0.0.1:{env.door.ports['https']}")
        try:
            await phone.provision()
            folders = await phone.folders()
            inbox = folders["Inbox"][0]
            first = await phone.sync(inbox, "0")
            key = first.text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey") or "0"
            templates = [
                ("FolderSync", encode(E("FolderHierarchy:FolderSync",
                                        E("FolderHierarchy:SyncKey", "0")))),
                ("Sync", encode(E("AirSync:Sync", E("AirSync:Collections", E(
                    "AirSync:Collection", E("AirSync:SyncKey", key),
                    E("AirSync:CollectionId", inbox), E("AirSync:WindowSize", 10)))))),
                ("GetItemEstimate", encode(E("GetItemEstimate:GetItemEstimate", E(
                    "GetItemEstimate:Collections", E("GetItemEstimate:Collection",
                                                     E("AirSync:SyncKey", key),
                                                     E("GetItemEstimate:CollectionId",
                                                       inbox)))))),
                ("Ping", encode(E("Ping:Ping", E("Ping:HeartbeatInterval", 1), E(
                    "Ping:Folders", E("Ping:Folder", E("Ping:Id", inbox),
                                      E("Ping:Class", "Email")))))),
                ("FolderCreate", encode(E("FolderHierarchy:FolderCreate",
                                          E("FolderHierarchy:SyncKey", "1"),
                                          E("FolderHierarchy:ParentId", "0"),
                                          E("FolderHierarchy:DisplayName", "Fz"),
                                          E("FolderHierarchy:Type", 12)))),
            ]
            for _ in range(120):
                cmd, body = rng.choice(templates)
                raw = mutate(rng, body) if rng.random() < 0.9 else rng.randbytes(40)
                try:
                    a = await phone.post(cmd, raw=raw, timeout=20)
                except httpx.ReadTimeout:
                    # A mutated Ping that is still valid long-polls for its heartbeat: fine.
                    assert cmd == "Ping", (cmd, raw)
                    continue
                assert a.status < 500, (cmd, raw, a.status, a.body[:200])
            assert (await phone.folder_sync("0")).status == 200
        finally:
            await phone.close()

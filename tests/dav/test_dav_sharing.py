"""Calendar sharing the way Apple Calendar and Thunderbird understand it (calendarserver-sharing):
POST CS:share with set/remove, CS:invite on the owner's calendar, the shared calendar in the
sharee's home with CS:shared-url and owner, privileges that say read or read-write, and a
refused write that names the missing privilege (RFC 3744 §7.1.1)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .client import request
from .env import BOB, CAROL

OWNER_CAL = "/dav/alice@example.test/calendar/"
BOB_HOME = "/dav/bob@example.test/"
D, CS = "{DAV:}", "{http://calendarserver.org/ns/}"

SHARE = """<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:set><D:href>mailto:{who}</D:href><CS:summary>Team</CS:summary>{access}</CS:set>
</CS:share>"""
UNSHARE = """<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:remove><D:href>mailto:{who}</D:href></CS:remove></CS:share>"""
PROPS = """<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop>
  <D:resourcetype/><D:owner/><D:current-user-privilege-set/><CS:invite/><CS:shared-url/>
  <CS:allowed-sharing-modes/></D:prop></D:propfind>"""
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20240101T000000Z\r\nDTSTART:20240110T100000Z\r\nDTEND:20240110T110000Z\r\n"
         "SUMMARY:Team sync\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


async def share(dav, who: str, access: str = "") -> None:
    r = await request(dav, "POST", OWNER_CAL, SHARE.format(who=who, access=access),
                      {"Content-Type": "application/xml"})
    assert r.status == 200


def responses(body: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(body)
    return {r.findtext(f"{D}href"): r for r in root.iter(f"{D}response")}


def privileges(response: ET.Element) -> set[str]:
    return {p[0].tag.split("}")[1] for p in response.iter(f"{D}privilege")}


async def shared_view(dav) -> tuple[str, ET.Element]:
    r = await request(dav, "PROPFIND", BOB_HOME, PROPS, {"Depth": "1"}, user=BOB)
    assert r.status == 207
    [(path, resp)] = [(p, x) for p, x in responses(r.body).items() if "/shared-" in p]
    return path, resp


async def test_owner_sees_who_the_calendar_is_shared_with(dav):
    await share(dav, BOB)
    await share(dav, CAROL, "<CS:read-write/>")
    r = await request(dav, "PROPFIND", OWNER_CAL, PROPS, {"Depth": "0"})
    [resp] = responses(r.body).values()
    assert resp.find(f".//{D}resourcetype/{CS}shared-owner") is not None
    assert resp.find(f".//{CS}allowed-sharing-modes/{CS}can-be-shared") is not None
    invite = resp.find(f".//{CS}invite")
    assert invite.findtext(f"{CS}organizer/{D}href") == "mailto:alice@example.test"
    users = {u.findtext(f"{D}href"): u for u in invite.findall(f"{CS}user")}
    assert users[f"mailto:{BOB}"].find(f"{CS}access/{CS}read") is not None
    assert users[f"mailto:{CAROL}"].find(f"{CS}access/{CS}read-write") is not None
    assert users[f"mailto:{BOB}"].find(f"{CS}invite-accepted") is not None


async def test_read_share_appears_in_the_sharees_home_and_refuses_writes(dav):
    await request(dav, "PUT", OWNER_CAL + "s.ics", EVENT.format(uid="s"))
    await share(dav, BOB)
    path, resp = await shared_view(dav)
    assert resp.find(f".//{D}resourcetype/{CS}shared") is not None
    assert resp.findtext(f".//{CS}shared-url/{D}href") == OWNER_CAL
    assert resp.findtext(f".//{D}owner/{D}href") == "/dav/principals/alice@example.test/"
    assert "read" in privileges(resp) and not {"write-content", "bind"} & privileges(resp)
    [me] = resp.find(f".//{CS}invite").findall(f"{CS}user")      # only oneself, not others
    assert me.findtext(f"{D}href") == f"mailto:{BOB}"

    r = await request(dav, "GET", path + "s.ics", user=BOB)
    assert r.status == 200 and b"UID:s" in r.body
    r = await request(dav, "GET", OWNER_CAL + "s.ics", user=BOB)       # the shared-url too
    assert r.status == 200
    r = await request(dav, "PUT", path + "new.ics", EVENT.format(uid="new"), user=BOB)
    assert r.status == 403
    need = ET.fromstring(r.body).find(f"{D}need-privileges/{D}resource")
    assert need.findtext(f"{D}href") == path and need.find(f"{D}privilege/{D}bind") is not None
    r = await request(dav, "PUT", path + "s.ics", EVENT.format(uid="s"), user=BOB)
    assert r.status == 403 and b"write-content" in r.body
    r = await request(dav, "DELETE", OWNER_CAL + "s.ics", user=BOB)
    assert r.status == 403 and b"unbind" in r.body
    r = await request(dav, "GET", path + "s.ics", user=CAROL)
    assert r.status == 404


async def test_read_write_share_accepts_writes_and_remove_takes_it_back(dav):
    await share(dav, BOB, "<CS:read-write/>")
    path, resp = await shared_view(dav)
    assert {"write-content", "bind", "unbind"} <= privileges(resp)
    r = await request(dav, "PUT", path + "b.ics", EVENT.format(uid="b"), user=BOB)
    assert r.status == 201
    r = await request(dav, "GET", OWNER_CAL + "b.ics")
    assert r.status == 200 and b"UID:b" in r.body

    r = await request(dav, "POST", OWNER_CAL, UNSHARE.format(who=BOB))
    assert r.status == 200
    r = await request(dav, "PROPFIND", BOB_HOME, PROPS, {"Depth": "1"}, user=BOB)
    assert not [p for p in responses(r.body) if "/shared-" in p]
    r = await request(dav, "GET", path + "b.ics", user=BOB)
    assert r.status == 404


async def test_bad_share_requests_are_refused_with_a_reason(dav):
    r = await request(dav, "POST", OWNER_CAL, SHARE.format(who="nobody@nowhere.test", access=""))
    assert r.status == 403 and b"valid-sharee" in r.body
    r = await request(dav, "POST", OWNER_CAL, "<not-xml")
    assert r.status == 400
    await share(dav, BOB)
    path, _ = await shared_view(dav)
    r = await request(dav, "POST", path, SHARE.format(who=CAROL, access=""), user=BOB)
    assert r.status == 403                      # only the owner shares

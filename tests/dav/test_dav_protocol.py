"""The DAV door over plain HTTP: CardDAV, preconditions, bad input, authentication, sharing."""

from __future__ import annotations

from .client import hrefs, request
from .env import ALICE, BOB, CAROL

HOME = "/dav/alice@example.test/"

CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann-1\r\nFN:Ann Example\r\nN:Example;Ann;;;\r\n"
        "EMAIL;TYPE=WORK:ann@example.org\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n")
CARD2 = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:bob-2\r\nFN:Bob Builder\r\n"
         "EMAIL:bob@builder.example\r\nEND:VCARD\r\n")
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20240101T000000Z\r\nDTSTART:20240110T100000Z\r\nDTEND:20240110T110000Z\r\n"
         "SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")

PROPFIND_CTAG = """<?xml version="1.0"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop><D:resourcetype/><D:displayname/><CS:getctag/><D:sync-token/><D:getetag/></D:prop>
</D:propfind>"""


def ev(uid: str, summary: str = "Meeting") -> str:
    return EVENT.format(uid=uid, summary=summary)


async def test_unauthenticated_request_is_challenged(dav):
    r = await request(dav, "PROPFIND", "/dav/", user=None)
    assert r.status == 401 and r.headers["www-authenticate"].startswith("Basic")
    r = await request(dav, "PROPFIND", "/dav/", password="wrong")
    assert r.status == 401


async def test_well_known_redirects_to_dav_root(dav):
    r = await request(dav, "PROPFIND", "/.well-known/carddav", user=None)
    assert r.status == 301 and r.headers["location"] == "/dav/"


async def test_options_advertises_calendar_and_addressbook_access(dav):
    r = await request(dav, "OPTIONS", HOME, user=None)
    assert "calendar-access" in r.headers["dav"] and "addressbook" in r.headers["dav"]


async def test_home_lists_collections_with_ctag_and_sync_token(dav):
    r = await request(dav, "PROPFIND", HOME, PROPFIND_CTAG, {"Depth": "1"})
    assert r.status == 207
    paths = hrefs(r)
    for seg in ("calendar/", "tasks/", "contacts/", "inbox/", "outbox/", "gal/"):
        assert HOME + seg in paths
    assert b"getctag" in r.body and b"urn:postroom:sync:" in r.body


async def test_vcard_put_get_query_and_multiget(dav):
    book = HOME + "contacts/"
    r = await request(dav, "PUT", book + "ann.vcf", CARD, {"Content-Type": "text/vcard",
                                                           "If-None-Match": "*"})
    assert r.status == 201 and r.headers["etag"]
    r = await request(dav, "PUT", book + "bob.vcf", CARD2, {"Content-Type": "text/vcard"})
    assert r.status == 201
    r = await request(dav, "GET", book + "ann.vcf")
    assert r.status == 200 and r.text == CARD and r.headers["content-type"].startswith("text/vcard")
    query = """<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
      <D:prop><D:getetag/><C:address-data/></D:prop>
      <C:filter><C:prop-filter name="EMAIL"><C:text-match match-type="contains">builder</C:text-match>
      </C:prop-filter></C:filter></C:addressbook-query>"""
    r = await request(dav, "REPORT", book, query, {"Depth": "1"})
    assert r.status == 207 and hrefs(r) == [book + "bob.vcf"] and b"Bob Builder" in r.body
    multiget = f"""<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
      <D:prop><D:getetag/><C:address-data/></D:prop>
      <D:href>{book}ann.vcf</D:href><D:href>{book}missing.vcf</D:href></C:addressbook-multiget>"""
    r = await request(dav, "REPORT", book, multiget)
    assert b"Ann Example" in r.body and b"404" in r.body


async def test_invalid_data_is_refused_with_a_precondition(dav):
    r = await request(dav, "PUT", HOME + "calendar/bad.ics", "BEGIN:VCALENDAR\r\nnonsense")
    assert r.status in (400, 403) and b"calendar" in r.body
    r = await request(dav, "PUT", HOME + "contacts/bad.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\n")
    assert r.status == 403 and b"valid-address-data" in r.body
    # A VTODO in an events-only calendar.
    todo = ev("t1").replace("VEVENT", "VTODO")
    r = await request(dav, "PUT", HOME + "calendar/t1.ics", todo)
    assert r.status == 403 and b"supported-calendar-component" in r.body
    r = await request(dav, "GET", HOME + "calendar/bad.ics")
    assert r.status == 404


async def test_etag_preconditions_on_put_and_delete(dav):
    path = HOME + "calendar/m.ics"
    r = await request(dav, "PUT", path, ev("m"), {"If-None-Match": "*"})
    assert r.status == 201
    etag = r.headers["etag"]
    r = await request(dav, "PUT", path, ev("m"), {"If-None-Match": "*"})
    assert r.status == 412
    r = await request(dav, "PUT", path, ev("m", "changed"), {"If-Match": '"1"'})
    assert r.status == 412
    r = await request(dav, "PUT", path, ev("m", "changed"), {"If-Match": etag})
    assert r.status == 204 and r.headers["etag"] != etag
    r = await request(dav, "DELETE", path, headers={"If-Match": etag})
    assert r.status == 412
    r = await request(dav, "PUT", HOME + "calendar/other.ics", ev("m"))
    assert r.status == 403 and b"no-uid-conflict" in r.body
    r = await request(dav, "DELETE", path)
    assert r.status == 204


async def test_malicious_xml_is_refused(dav):
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><D:propfind xmlns:D="DAV:"><D:prop>'
            '<D:displayname>&b;</D:displayname></D:prop></D:propfind>')
    r = await request(dav, "PROPFIND", HOME, bomb, {"Depth": "0"})
    assert r.status == 400
    r = await request(dav, "PROPFIND", HOME, "<not-closed", {"Depth": "0"})
    assert r.status == 400


async def test_stranger_cannot_reach_another_users_collections(dav):
    await request(dav, "PUT", HOME + "calendar/s.ics", ev("s"))
    for method in ("GET", "PROPFIND", "DELETE"):
        r = await request(dav, method, HOME + "calendar/s.ics", user=BOB)
        assert r.status in (403, 404), method
    r = await request(dav, "PUT", HOME + "calendar/x.ics", ev("x"), user=BOB)
    assert r.status in (403, 404)
    r = await request(dav, "PROPFIND", HOME, headers={"Depth": "1"}, user=BOB)
    assert r.status in (403, 404)


SHARE = """<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:set><D:href>mailto:{who}</D:href><CS:summary>cal</CS:summary>{access}</CS:set>
</CS:share>"""


async def test_read_only_share_refuses_writes_and_read_write_share_accepts_them(dav):
    await request(dav, "PUT", HOME + "calendar/s.ics", ev("s"))
    r = await request(dav, "POST", HOME + "calendar/",
                      SHARE.format(who=BOB, access=""), {"Content-Type": "application/xml"})
    assert r.status in (200, 204)
    r = await request(dav, "PROPFIND", "/dav/bob@example.test/", PROPFIND_CTAG,
                      {"Depth": "1"}, user=BOB)
    [shared] = [h for h in hrefs(r) if "/shared-" in h]
    r = await request(dav, "GET", shared + "s.ics", user=BOB)
    assert r.status == 200 and b"UID:s" in r.body
    r = await request(dav, "PUT", shared + "s.ics", ev("s", "by bob"), user=BOB)
    assert r.status == 403
    r = await request(dav, "DELETE", shared + "s.ics", user=BOB)
    assert r.status == 403
    r = await request(dav, "GET", shared + "s.ics", user=CAROL)
    assert r.status in (403, 404)

    r = await request(dav, "POST", HOME + "calendar/",
                      SHARE.format(who=BOB, access="<CS:read-write/>"))
    assert r.status in (200, 204)
    r = await request(dav, "PUT", shared + "s.ics", ev("s", "by bob"), user=BOB)
    assert r.status == 204
    r = await request(dav, "GET", HOME + "calendar/s.ics")
    assert b"by bob" in r.body


async def test_gal_lists_every_user_of_the_domain(dav):
    r = await request(dav, "PROPFIND", HOME + "gal/", headers={"Depth": "1"})
    assert r.status == 207 and len([h for h in hrefs(r) if h.endswith(".vcf")]) == 3
    query = """<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
      <D:prop><C:address-data/></D:prop><C:filter><C:prop-filter name="EMAIL">
      <C:text-match>carol</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"""
    r = await request(dav, "REPORT", HOME + "gal/", query, {"Depth": "1"})
    assert b"carol@example.test" in r.body and b"bob@example.test" not in r.body
    r = await request(dav, "PUT", HOME + "gal/x.vcf", CARD)
    assert r.status == 403


async def test_mkcol_extended_creates_an_address_book_and_proppatch_renames(dav):
    body = """<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
      <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
      <D:displayname>Friends</D:displayname></D:prop></D:set></D:mkcol>"""
    r = await request(dav, "MKCOL", HOME + "friends/", body)
    assert r.status == 201
    r = await request(dav, "MKCOL", HOME + "friends/", body)
    assert r.status == 405
    patch = """<D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x"><D:set><D:prop>
      <D:displayname>Best friends</D:displayname><X:color>red</X:color></D:prop></D:set>
      </D:propertyupdate>"""
    r = await request(dav, "PROPPATCH", HOME + "friends/", patch)
    assert r.status == 207 and b"200 OK" in r.body
    r = await request(dav, "PROPFIND", HOME + "friends/", """<D:propfind xmlns:D="DAV:"
      xmlns:X="urn:x"><D:prop><D:displayname/><X:color/></D:prop></D:propfind>""",
                      {"Depth": "0"})
    assert b"Best friends" in r.body and b"red" in r.body
    r = await request(dav, "DELETE", HOME + "friends/")
    assert r.status == 204


async def test_put_over_quota_is_507(dav):
    await dav.store.update_account(dav.accounts[ALICE].id, quota_bytes=300)
    r = await request(dav, "PUT", HOME + "calendar/big.ics",
                      ev("big", "x" * 400))
    assert r.status == 507


async def test_move_and_copy_between_calendars(dav):
    await request(dav, "MKCALENDAR", HOME + "second/")
    await request(dav, "PUT", HOME + "calendar/mv.ics", ev("mv"))
    r = await request(dav, "COPY", HOME + "calendar/mv.ics",
                      headers={"Destination": f"{dav.url}{HOME}second/mv.ics"})
    assert r.status == 201
    r = await request(dav, "MOVE", HOME + "calendar/mv.ics",
                      headers={"Destination": f"{HOME}second/mv.ics", "Overwrite": "F"})
    assert r.status == 412
    r = await request(dav, "MOVE", HOME + "calendar/mv.ics",
                      headers={"Destination": f"{HOME}second/mv2.ics"})
    assert r.status == 403 and b"no-uid-conflict" in r.body


async def test_basic_auth_refused_in_the_clear_where_plaintext_is_not_allowed(tmp_path):
    import http.client
    import ssl
    import base64
    from .env import running_dav, PASSWORD
    async with running_dav(tmp_path, tls=True) as env:
        env.config.auth.loopback_is_secure = False
        r = await request(env, "PROPFIND", "/dav/", headers={"Depth": "0"})
        assert r.status in (401, 403)

        def over_tls():
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", env.door.ports["https"],
                                               context=ctx, timeout=30)
            auth = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
            conn.request("PROPFIND", "/dav/", headers={"Depth": "0",
                                                       "Authorization": f"Basic {auth}"})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            return resp.status, body
        import asyncio
        status, body = await asyncio.to_thread(over_tls)
        assert status == 207 and b"current-user-principal" in body


SYNC = """<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>
  <D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""


async def test_sync_token_older_than_pruned_tombstones_is_refused(dav):
    cal = HOME + "calendar/"
    for uid in ("a", "b", "c"):
        await request(dav, "PUT", cal + f"{uid}.ics", ev(uid))
    r = await request(dav, "REPORT", cal, SYNC.format(token=""), {"Depth": "1"})
    old = r.xml().findtext("{DAV:}sync-token")
    await request(dav, "DELETE", cal + "a.ics")
    r = await request(dav, "REPORT", cal, SYNC.format(token=old), {"Depth": "1"})
    middle = r.xml().findtext("{DAV:}sync-token")
    await request(dav, "DELETE", cal + "b.ics")
    acc = dav.accounts[ALICE]
    c = await dav.store.get_collection(acc.id, "calendar")
    assert await dav.store.prune_tombstones(acc.id, c.id, keep=1) == 1
    r = await request(dav, "REPORT", cal, SYNC.format(token=middle), {"Depth": "1"})
    assert r.status == 207 and any(h.endswith("/b.ics") for h in hrefs(r))
    r = await request(dav, "REPORT", cal, SYNC.format(token=old), {"Depth": "1"})
    assert r.status == 403 and b"valid-sync-token" in r.body
    r = await request(dav, "REPORT", cal, SYNC.format(token=""), {"Depth": "1"})
    assert r.status == 207 and sorted(hrefs(r)) == [cal + "c.ics"]

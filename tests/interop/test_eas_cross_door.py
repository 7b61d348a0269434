"""ActiveSync next to the other doors on one store: a flag set on the phone is seen by an IMAP
client in IDLE, mail delivered to the store wakes a Ping, two devices of one account see each
other's changes exactly once, and the 5,000-message initial Sync."""

from __future__ import annotations

import asyncio
import time

import pytest

imapclient = pytest.importorskip("imapclient")

from postroom.eas.wbxml import E  # noqa: E402
from postroom.imap import start as start_imap  # noqa: E402
from postroom.store.api import Recipient  # noqa: E402
from tests.conftest import make_message  # noqa: E402
from tests.dav.env import ALICE, PASSWORD, running_dav  # noqa: E402
from tests.eas.client import EasClient, collection  # noqa: E402


async def _phone(env, device="PHONE1") -> EasClient:
    c = EasClient(f"https://127.0.0.1:{env.door.ports['https']}", device_id=device)
    await c.provision()
    await c.folders()
    return c


async def _first_sync(c: EasClient, sid: str, window: int = 100) -> tuple[str, list]:
    key = collection(await c.sync(sid, "0")).findtext("AirSync:SyncKey")
    items = []
    while True:
        coll = collection(await c.sync(sid, key, window=window))
        key = coll.findtext("AirSync:SyncKey")
        cmds = coll.find("AirSync:Commands")
        items += cmds.findall("AirSync:Add") if cmds else []
        if coll.find("AirSync:MoreAvailable") is None:
            return key, items


async def test_read_flag_set_over_eas_is_seen_by_imap_idle(tmp_path):
    async with running_dav(tmp_path, tls=True) as env:
        env.config.imap.port, env.config.imap.tls_port = 0, 0
        imap = await start_imap(env.ctx)
        acc = env.accounts[ALICE]
        inbox = await env.store.get_mailbox(acc.id, "INBOX")
        await env.store.append(acc.id, inbox.id, make_message(subject="read me on the phone"))
        phone = await _phone(env)
        sid = f"m{inbox.id}"
        key, _ = await _first_sync(phone, sid)

        def idle_until_seen(ready) -> float:
            c = imapclient.IMAPClient("127.0.0.1", port=imap.ports["imap"], ssl=False)
            c.login(ALICE, PASSWORD)
            c.select_folder("INBOX")
            c.idle()
            ready.set()
            t0 = time.perf_counter()
            try:
                while time.perf_counter() - t0 < 5:
                    for resp in c.idle_check(timeout=1):
                        if b"FETCH" in resp and b"\\Seen" in repr(resp).encode():
                            return time.perf_counter()
                return 0.0
            finally:
                c.idle_done()
                c.logout()

        import threading
        ready = threading.Event()
        watcher = asyncio.create_task(asyncio.to_thread(idle_until_seen, ready))
        await asyncio.to_thread(ready.wait, 5)
        await asyncio.sleep(0.1)
        t0 = time.perf_counter()
        coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Change",
                          E("AirSync:ServerId", f"{sid}:1"),
                          E("AirSync:ApplicationData", E("Email:Read", 1)))]))
        assert coll.findtext("AirSync:Status") == "1"
        seen_at = await watcher
        assert seen_at and seen_at - t0 < 1.0
        print(f"\nEAS read flag seen in IMAP IDLE after {(seen_at - t0) * 1000:.0f} ms")
        await phone.close()
        await imap.stop()


async def test_delivered_mail_wakes_ping_and_two_devices_each_get_changes_once(tmp_path):
    async with running_dav(tmp_path, tls=True) as env:
        acc = env.accounts[ALICE]
        inbox = await env.store.get_mailbox(acc.id, "INBOX")
        sid = f"m{inbox.id}"
        a, b = await _phone(env, "PHONE_A"), await _phone(env, "PHONE_B")
        key_a, _ = await _first_sync(a, sid)
        key_b, _ = await _first_sync(b, sid)
        ping = asyncio.create_task(b.post("Ping", E("Ping:Ping", E("Ping:HeartbeatInterval", 60),
                                   E("Ping:Folders", E("Ping:Folder", E("Ping:Id", sid),
                                                       E("Ping:Class", "Email"))))))
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        # what the SMTP door does for a local recipient
        await env.store.deliver(make_message(subject="over smtp"), [Recipient(acc.id, inbox.id)])
        answer = await asyncio.wait_for(ping, 5)
        assert answer.text("Ping:Status") == "2" and time.perf_counter() - t0 < 1.0
        key_a, adds_a = await _first_sync_continue(a, sid, key_a)
        key_b, adds_b = await _first_sync_continue(b, sid, key_b)
        assert len(adds_a) == len(adds_b) == 1
        coll = collection(await a.sync(sid, key_a, commands=[E("AirSync:Change",
                          E("AirSync:ServerId", f"{sid}:1"),
                          E("AirSync:ApplicationData", E("Email:Read", 1)))]))
        key_a = coll.findtext("AirSync:SyncKey")
        coll = collection(await b.sync(sid, key_b))
        changes = coll.find("AirSync:Commands").findall("AirSync:Change")
        assert len(changes) == 1
        key_b = coll.findtext("AirSync:SyncKey")
        assert collection(await b.sync(sid, key_b)).find("AirSync:Commands") is None
        assert collection(await a.sync(sid, key_a)).find("AirSync:Commands") is None
        await a.close()
        await b.close()


async def _first_sync_continue(c: EasClient, sid: str, key: str) -> tuple[str, list]:
    coll = collection(await c.sync(sid, key))
    cmds = coll.find("AirSync:Commands")
    return coll.findtext("AirSync:SyncKey"), cmds.findall("AirSync:Add") if cmds else []


async def test_initial_sync_of_5000_messages_in_windows_of_100(tmp_path):
    async with running_dav(tmp_path, tls=True) as env:
        acc = env.accounts[ALICE]
        inbox = await env.store.get_mailbox(acc.id, "INBOX")
        batch = [(make_message(subject=f"bulk {i}", body=f"message number {i}\r\n" * 20), (),
                  None) for i in range(5000)]
        for i in range(0, 5000, 500):
            await env.store.append_many(acc.id, inbox.id, batch[i:i + 500])
        phone = await _phone(env)
        t0 = time.perf_counter()
        _, items = await _first_sync(phone, f"m{inbox.id}", window=100)
        elapsed = time.perf_counter() - t0
        ids = [i.findtext("AirSync:ServerId") for i in items]
        assert len(ids) == 5000 and len(set(ids)) == 5000
        print(f"\ninitial Sync of 5,000 messages in windows of 100: {elapsed:.1f} s")
        await phone.close()


async def test_event_put_over_caldav_reaches_the_phone_and_its_edit_is_served_back(tmp_path):
    from tests.dav.client import request
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:ny-1\r\n"
            "DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=America/New_York:20260310T090000\r\n"
            "DTEND;TZID=America/New_York:20260310T093000\r\n"
            "RRULE:FREQ=MONTHLY;BYDAY=2TU;COUNT=5\r\nSUMMARY:Board call\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    async with running_dav(tmp_path, tls=True) as env:
        r = await request(env, "PUT", f"/dav/{ALICE}/calendar/ny-1.ics", text,
                          {"Content-Type": "text/calendar"})
        assert r.status == 201
        phone = await _phone(env)
        try:
            sid = (await phone.folders())["Calendar"][0]
            key, adds = await _first_sync(phone, sid)
            data = adds[0].find("AirSync:ApplicationData")
            assert data.findtext("Calendar:StartTime") == "20260310T130000Z"   # EDT
            rec = data.find("Calendar:Recurrence")
            assert (rec.findtext("Calendar:Type"), rec.findtext("Calendar:WeekOfMonth"),
                    rec.findtext("Calendar:DayOfWeek")) == ("3", "2", "4")
            for el in data.children:
                if el.tag == "Calendar:Subject":
                    el.text = "Board call (moved room)"
            a = await phone.sync(sid, key, commands=[
                E("AirSync:Change", E("AirSync:ServerId", f"{sid}:ny-1.ics"), data)])
            assert collection(a).find("AirSync:Responses") is None
            r = await request(env, "GET", f"/dav/{ALICE}/calendar/ny-1.ics")
            assert "SUMMARY:Board call (moved room)" in r.text
            assert "DTSTART;TZID=America/New_York:20260310T090000" in r.text
            assert "RRULE:FREQ=MONTHLY;COUNT=5;BYDAY=2TU" in r.text
        finally:
            await phone.close()

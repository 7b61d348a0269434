"""Ping, Sync with Wait, GetItemEstimate, MoveItems, ItemOperations, SendMail/SmartReply/
SmartForward over the live HTTP door."""

from __future__ import annotations

import asyncio
import base64
import statistics
import time

from postroom.eas.wbxml import E, decode

from ..conftest import make_message
from .client import collection

ALICE = "alice@example.test"
BOB = "bob@example.test"


async def _synced_inbox(eas, phone, messages=0):
    acc = eas.accounts[ALICE]
    inbox = await eas.store.get_mailbox(acc.id, "INBOX")
    for i in range(messages):
        await eas.store.append(acc.id, inbox.id, make_message(subject=f"m{i}"))
    sid = f"m{inbox.id}"
    await phone.folders()
    key = collection(await phone.sync(sid, "0")).findtext("AirSync:SyncKey")
    key = collection(await phone.sync(sid, key)).findtext("AirSync:SyncKey")
    return acc, inbox, sid, key


def _ping(sid, beat=30):
    return E("Ping:Ping", E("Ping:HeartbeatInterval", beat),
             E("Ping:Folders", E("Ping:Folder", E("Ping:Id", sid), E("Ping:Class", "Email"))))


async def test_ping_wakes_within_a_second_of_a_delivery(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone)
    latencies = []
    for i in range(100):
        task = asyncio.create_task(phone.post("Ping", _ping(sid)))
        await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        await eas.store.append(acc.id, inbox.id, make_message(subject=f"push {i}"))
        a = await task
        latencies.append(time.perf_counter() - t0)
        assert a.text("Ping:Status") == "2" and a.text("Ping:Folders/Ping:Folder") == sid
        key = collection(await phone.sync(sid, key)).findtext("AirSync:SyncKey")
    median, worst = statistics.median(latencies), max(latencies)
    print(f"\nPing wake-up latency over 100: median {median * 1000:.1f} ms, "
          f"worst {worst * 1000:.1f} ms")
    assert worst < 1.0


async def test_ping_expires_reuses_parameters_and_checks_bounds(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone)
    a = await phone.post("Ping", _ping(sid, beat=1))
    assert a.text("Ping:Status") == "1"
    a = await phone.post("Ping")      # empty: the last folders and heartbeat
    assert a.text("Ping:Status") == "1"
    eas.config.eas.min_heartbeat_seconds = 60
    a = await phone.post("Ping", _ping(sid, beat=5))
    assert a.text("Ping:Status") == "5" and a.text("Ping:HeartbeatInterval") == "60"
    eas.config.eas.min_heartbeat_seconds = 1
    a = await phone.post("Ping", _ping("m99999", beat=5))
    assert a.text("Ping:Status") == "7"


async def test_a_second_ping_of_the_device_ends_the_first(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone)
    first = asyncio.create_task(phone.post("Ping", _ping(sid, beat=60)))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(phone.post("Ping", _ping(sid, beat=2)))
    a = await asyncio.wait_for(first, 5)
    assert a.text("Ping:Status") == "1"
    await second


async def test_sync_wait_answers_empty_then_with_the_new_mail(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone)
    a = await phone.sync(sid, key, extra=[E("AirSync:HeartbeatInterval", 1)])
    assert a.status == 200 and a.body == b""
    task = asyncio.create_task(phone.sync(sid, key, extra=[E("AirSync:HeartbeatInterval", 30)]))
    await asyncio.sleep(0.2)
    await eas.store.append(acc.id, inbox.id, make_message(subject="waited for"))
    coll = collection(await asyncio.wait_for(task, 5))
    assert coll.findtext("AirSync:Commands/AirSync:Add/AirSync:ApplicationData/Email:Subject") \
        == "waited for"
    a = await phone.sync(sid, key, extra=[E("AirSync:HeartbeatInterval", 99999)])
    assert a.text("AirSync:Status") == "14"


async def test_get_item_estimate(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone, 2)
    for i in range(3):
        await eas.store.append(acc.id, inbox.id, make_message())
    a = await phone.post("GetItemEstimate", E("GetItemEstimate:GetItemEstimate",
                         E("GetItemEstimate:Collections", E("GetItemEstimate:Collection",
                           E("AirSync:SyncKey", key), E("GetItemEstimate:CollectionId", sid)),
                           E("GetItemEstimate:Collection", E("AirSync:SyncKey", "1"),
                             E("GetItemEstimate:CollectionId", "m4242")))))
    responses = a.element.findall("GetItemEstimate:Response")
    assert responses[0].findtext("GetItemEstimate:Collection/GetItemEstimate:Estimate") == "3"
    assert responses[1].findtext("GetItemEstimate:Status") == "2"


async def test_move_items_answers_3_with_the_new_id_and_is_not_synced_back(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone, 2)
    folders = await phone.folders()
    archive = folders["Archive"][0]
    k_arch = collection(await phone.sync(archive, "0")).findtext("AirSync:SyncKey")
    a = await phone.post("MoveItems", E("Move:MoveItems", E("Move:Move",
                         E("Move:SrcMsgId", f"{sid}:1"), E("Move:SrcFldId", sid),
                         E("Move:DstFldId", archive)), E("Move:Move",
                         E("Move:SrcMsgId", f"{sid}:77"), E("Move:SrcFldId", sid),
                         E("Move:DstFldId", archive))))
    ok, missing = a.element.findall("Move:Response")
    assert ok.findtext("Move:Status") == "3" and ok.findtext("Move:DstMsgId") == f"{archive}:1"
    assert missing.findtext("Move:Status") == "1"
    assert collection(await phone.sync(sid, key)).find("AirSync:Commands") is None
    assert collection(await phone.sync(archive, k_arch)).find("AirSync:Commands") is None


ATTACHED = (b"From: a@example.org\r\nTo: alice@example.test\r\nSubject: with file\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: "
            b"application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"%PDF-1.4 hello")
            + b"\r\n--b--\r\n")


async def test_item_operations_fetch_item_attachment_and_multipart(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone)
    await eas.store.append(acc.id, inbox.id, ATTACHED)
    coll = collection(await phone.sync(sid, key))
    add = coll.find("AirSync:Commands/AirSync:Add/AirSync:ApplicationData")
    ref = add.findtext("AirSyncBase:Attachments/AirSyncBase:Attachment/AirSyncBase:FileReference")
    fetch = E("ItemOperations:ItemOperations", E("ItemOperations:Fetch",
              E("ItemOperations:Store", "Mailbox"), E("AirSyncBase:FileReference", ref)))
    a = await phone.post("ItemOperations", fetch)
    data = a.text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Properties/"
                  "ItemOperations:Data")
    assert base64.b64decode(data) == b"%PDF-1.4 hello"
    a = await phone.post("ItemOperations", fetch, headers={"MS-ASAcceptMultiPart": "T"})
    assert a.headers["content-type"] == "application/vnd.ms-sync.multipart"
    import struct
    count, = struct.unpack("<i", a.body[:4])
    off0, len0, off1, len1 = struct.unpack("<iiii", a.body[4:20])
    assert count == 2 and a.body[off1:off1 + len1] == b"%PDF-1.4 hello"
    assert decode(a.body[off0:off0 + len0]).findtext("ItemOperations:Status") == "1"
    a = await phone.post("ItemOperations", E("ItemOperations:ItemOperations",
                         E("ItemOperations:Fetch", E("ItemOperations:Store", "Mailbox"),
                           E("AirSync:CollectionId", sid), E("AirSync:ServerId", f"{sid}:1"),
                           E("ItemOperations:Options", E("AirSyncBase:BodyPreference",
                                                         E("AirSyncBase:Type", 1))))))
    props = a.element.find("ItemOperations:Response/ItemOperations:Fetch/"
                           "ItemOperations:Properties")
    assert props.findtext("Email:Subject") == "with file"
    assert "see attached" in props.findtext("AirSyncBase:Body/AirSyncBase:Data")


async def test_send_mail_delivers_saves_to_sent_and_refuses_a_resent_client_id(eas, phone):
    bob = eas.accounts[BOB]
    acc = eas.accounts[ALICE]
    mime = (b"From: alice@example.test\r\nTo: bob@example.test\r\nBcc: carol@example.test\r\n"
            b"Subject: from the phone\r\n\r\nhello bob\r\n")
    send = E("ComposeMail:SendMail", E("ComposeMail:ClientId", "c1"),
             E("ComposeMail:SaveInSentItems"), E("ComposeMail:Mime", mime))
    a = await phone.post("SendMail", send)
    assert a.status == 200 and a.body == b""
    bob_inbox = await eas.store.get_mailbox(bob.id, "INBOX")
    (row,) = await eas.store.fetch(bob.id, bob_inbox.id, await eas.store.uids(bob.id,
                                                                              bob_inbox.id))
    raw = await eas.store.read_blob(row.blob)
    assert b"hello bob" in raw and b"Bcc" not in raw
    carol = eas.accounts["carol@example.test"]
    assert await eas.store.uids(carol.id, (await eas.store.get_mailbox(carol.id, "INBOX")).id)
    sent = await eas.store.get_mailbox(acc.id, "Sent")
    assert len(await eas.store.uids(acc.id, sent.id)) == 1
    a = await phone.post("SendMail", send)
    assert a.text("ComposeMail:Status") == "118"


async def test_smart_reply_and_forward_include_the_original(eas, phone):
    acc, inbox, sid, key = await _synced_inbox(eas, phone, 1)
    bob = eas.accounts[BOB]
    reply = (b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: Re: m0\r\n\r\n"
             b"my answer\r\n")
    a = await phone.post("SmartReply", E("ComposeMail:SmartReply",
                         E("ComposeMail:ClientId", "r1"), E("ComposeMail:Source",
                           E("ComposeMail:FolderId", sid), E("ComposeMail:ItemId", f"{sid}:1")),
                         E("ComposeMail:Mime", reply)))
    assert a.status == 200, a
    a = await phone.post("SmartForward", E("ComposeMail:SmartForward",
                         E("ComposeMail:ClientId", "f1"), E("ComposeMail:Source",
                           E("ComposeMail:FolderId", sid), E("ComposeMail:ItemId", f"{sid}:1")),
                         E("ComposeMail:Mime", reply.replace(b"Re:", b"Fwd:"))))
    assert a.status == 200
    bob_inbox = await eas.store.get_mailbox(bob.id, "INBOX")
    rows = await eas.store.fetch(bob.id, bob_inbox.id, await eas.store.uids(bob.id, bob_inbox.id))
    replied, forwarded = [await eas.store.read_blob(r.blob) for r in rows]
    assert b"> Hello world" in replied and b"In-Reply-To" in replied
    assert b"message/rfc822" in forwarded
    (entry,) = await eas.store.entries(acc.id, inbox.id, [1])
    assert "\\Answered" in entry.flags and "$Forwarded" in entry.flags
    a = await phone.post("SmartReply", E("ComposeMail:SmartReply",
                         E("ComposeMail:ClientId", "r2"), E("ComposeMail:Source",
                           E("ComposeMail:FolderId", sid), E("ComposeMail:ItemId", f"{sid}:99")),
                         E("ComposeMail:Mime", reply)))
    assert a.text("ComposeMail:Status") == "150"


async def test_send_mail_12_1_raw_mime(eas, phone):
    phone.version = "12.1"
    a = await phone.post("SendMail", raw=b"From: alice@example.test\r\nTo: bob@example.test\r\n"
                         b"Subject: old style\r\n\r\nhi\r\n", params={"SaveInSent": "T"},
                         headers={"Content-Type": "message/rfc822"})
    assert a.status == 200

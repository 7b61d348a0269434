"""FolderSync and Email Sync (MS-ASCMD FolderSync/Sync, MS-ASEMAIL, MS-ASAIRS)."""

from __future__ import annotations

from postroom.eas.wbxml import E
from postroom.store.api import FLAGGED, SEEN

from ..conftest import make_message
from .client import collection

ALICE = "alice@example.test"


async def _inbox(eas):
    acc = eas.accounts[ALICE]
    return acc, await eas.store.get_mailbox(acc.id, "INBOX")


async def test_folder_sync_types_and_repeated_sync_key_0_keeps_folder_keys(eas, phone):
    folders = await phone.folders()
    assert folders["Inbox"][2] == 2 and folders["Drafts"][2] == 3
    assert folders["Trash"][2] == 4 and folders["Sent"][2] == 5
    assert folders["Calendar"][2] == 8 and folders["Contacts"][2] == 9
    assert folders["Tasks"][2] == 7 and folders["Junk"][2] == 12
    inbox = folders["Inbox"][0]
    a = await phone.sync(inbox, "0")
    key = collection(a).findtext("AirSync:SyncKey")
    await phone.folders()          # SyncKey 0 again, as some clients do on every start
    a = await phone.sync(inbox, key)
    assert collection(a).findtext("AirSync:Status") == "1"


async def test_folder_sync_reports_changes_made_elsewhere(eas, phone):
    acc = eas.accounts[ALICE]
    a = await phone.folder_sync("0")
    key = a.text("FolderHierarchy:SyncKey")
    a = await phone.folder_sync(key)
    assert a.text("FolderHierarchy:Changes/FolderHierarchy:Count") == "0"
    mb = await eas.store.create_mailbox(acc.id, "INBOX/Projects")
    a = await phone.folder_sync(key)
    add = a.element.find("FolderHierarchy:Changes/FolderHierarchy:Add")
    assert add.findtext("FolderHierarchy:DisplayName") == "Projects"
    assert add.findtext("FolderHierarchy:ParentId") == f"m{(await _inbox(eas))[1].id}"
    key = a.text("FolderHierarchy:SyncKey")
    await eas.store.delete_mailbox(acc.id, mb.id)
    a = await phone.folder_sync(key)
    assert a.text("FolderHierarchy:Changes/FolderHierarchy:Delete/FolderHierarchy:ServerId") \
        == f"m{mb.id}"
    assert (await phone.folder_sync("12345")).text("FolderHierarchy:Status") == "9"


async def test_folder_create_update_delete(eas, phone):
    key = (await phone.folder_sync("0")).text("FolderHierarchy:SyncKey")
    a = await phone.post("FolderCreate", E("FolderHierarchy:FolderCreate",
                         E("FolderHierarchy:SyncKey", key), E("FolderHierarchy:ParentId", "0"),
                         E("FolderHierarchy:DisplayName", "Receipts"),
                         E("FolderHierarchy:Type", 12)))
    assert a.text("FolderHierarchy:Status") == "1"
    sid, key = a.text("FolderHierarchy:ServerId"), a.text("FolderHierarchy:SyncKey")
    acc = eas.accounts[ALICE]
    assert await eas.store.get_mailbox(acc.id, "Receipts") is not None
    assert (await phone.folder_sync(key)).text("FolderHierarchy:Changes/FolderHierarchy:Count") \
        == "0"
    a = await phone.post("FolderUpdate", E("FolderHierarchy:FolderUpdate",
                         E("FolderHierarchy:SyncKey", key), E("FolderHierarchy:ServerId", sid),
                         E("FolderHierarchy:ParentId", "0"),
                         E("FolderHierarchy:DisplayName", "Bills")))
    assert a.text("FolderHierarchy:Status") == "1"
    key = a.text("FolderHierarchy:SyncKey")
    assert await eas.store.get_mailbox(acc.id, "Bills") is not None
    a = await phone.post("FolderDelete", E("FolderHierarchy:FolderDelete",
                         E("FolderHierarchy:SyncKey", key), E("FolderHierarchy:ServerId", sid)))
    assert a.text("FolderHierarchy:Status") == "1"
    assert await eas.store.get_mailbox(acc.id, "Bills") is None
    inbox = (await phone.folders())["Inbox"][0]
    a = await phone.post("FolderDelete", E("FolderHierarchy:FolderDelete",
                         E("FolderHierarchy:SyncKey", a.text("FolderHierarchy:SyncKey")),
                         E("FolderHierarchy:ServerId", inbox)))
    assert a.text("FolderHierarchy:Status") in ("3", "9")


def _adds(coll):
    cmds = coll.find("AirSync:Commands")
    return cmds.findall("AirSync:Add") if cmds else []


async def test_initial_sync_in_windows_sends_every_message_once(eas, phone):
    acc, inbox = await _inbox(eas)
    for i in range(25):
        await eas.store.append(acc.id, inbox.id, make_message(subject=f"msg {i}"))
    sid = f"m{inbox.id}"
    await phone.folders()
    key = collection(await phone.sync(sid, "0")).findtext("AirSync:SyncKey")
    subjects = []
    rounds = 0
    while True:
        coll = collection(await phone.sync(sid, key, window=10))
        key = coll.findtext("AirSync:SyncKey")
        subjects += [a.findtext("AirSync:ApplicationData/Email:Subject") for a in _adds(coll)]
        rounds += 1
        if coll.find("AirSync:MoreAvailable") is None:
            break
    assert rounds == 3 and sorted(subjects) == sorted(f"msg {i}" for i in range(25))
    assert subjects[0] == "msg 24"


async def test_resent_previous_key_gets_the_same_window_and_unknown_key_gets_3(eas, phone):
    acc, inbox = await _inbox(eas)
    for i in range(3):
        await eas.store.append(acc.id, inbox.id, make_message(subject=f"m{i}"))
    sid = f"m{inbox.id}"
    await phone.folders()
    k0 = collection(await phone.sync(sid, "0")).findtext("AirSync:SyncKey")
    first = collection(await phone.sync(sid, k0, window=2))
    again = collection(await phone.sync(sid, k0, window=2))   # our answer was lost
    assert [a.findtext("AirSync:ServerId") for a in _adds(first)] == \
        [a.findtext("AirSync:ServerId") for a in _adds(again)]
    assert collection(await phone.sync(sid, "999")).findtext("AirSync:Status") == "3"
    assert collection(await phone.sync("m99999", "1")).findtext("AirSync:Status") == "12"


async def test_flags_and_deletes_both_ways(eas, phone):
    acc, inbox = await _inbox(eas)
    for i in range(3):
        await eas.store.append(acc.id, inbox.id, make_message(subject=f"m{i}"))
    sid = f"m{inbox.id}"
    await phone.folders()
    key = collection(await phone.sync(sid, "0")).findtext("AirSync:SyncKey")
    key = collection(await phone.sync(sid, key)).findtext("AirSync:SyncKey")
    # device -> store
    coll = collection(await phone.sync(sid, key, commands=[
        E("AirSync:Change", E("AirSync:ServerId", f"{sid}:1"), E("AirSync:ApplicationData",
          E("Email:Read", 1), E("Email:Flag", E("Email:Status", 2),
                                E("Email:FlagType", "Flag for follow up")))),
        E("AirSync:Delete", E("AirSync:ServerId", f"{sid}:2"))]))
    assert coll.find("AirSync:Commands") is None   # nothing echoed back
    key = coll.findtext("AirSync:SyncKey")
    (entry,) = await eas.store.entries(acc.id, inbox.id, [1])
    assert SEEN in entry.flags and FLAGGED in entry.flags
    assert await eas.store.entries(acc.id, inbox.id, [2]) == []
    trash = await eas.store.get_mailbox(acc.id, "Trash")
    assert len(await eas.store.uids(acc.id, trash.id)) == 1   # DeletesAsMoves
    # store -> device
    await eas.store.store_flags(acc.id, inbox.id, [3], "add", [SEEN])
    await eas.store.remove(acc.id, inbox.id, [1])
    coll = collection(await phone.sync(sid, key))
    cmds = coll.find("AirSync:Commands")
    assert cmds.find("AirSync:Change/AirSync:ApplicationData/Email:Read").text == "1"
    assert cmds.findtext("AirSync:Delete/AirSync:ServerId") == f"{sid}:1"


async def test_body_preferences_truncation_and_mime(eas, phone):
    acc, inbox = await _inbox(eas)
    await eas.store.append(acc.id, inbox.id, make_message(body="é" * 3000 + "\r\n"))
    sid = f"m{inbox.id}"
    await phone.folders()
    opts = [E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1),
              E("AirSyncBase:TruncationSize", 101), E("AirSyncBase:Preview", 20))]
    key = collection(await phone.sync(sid, "0", options=opts)).findtext("AirSync:SyncKey")
    body = _adds(collection(await phone.sync(sid, key, options=opts)))[0].find(
        "AirSync:ApplicationData/AirSyncBase:Body")
    assert body.findtext("AirSyncBase:Truncated") == "1"
    assert len(body.findtext("AirSyncBase:Data").encode()) == 100   # never half a character
    assert int(body.findtext("AirSyncBase:EstimatedDataSize")) == 6002
    assert body.findtext("AirSyncBase:Preview") == "é" * 20
    phone.device_id = "MIMEPHONE"
    await phone.provision()
    await phone.folders()
    opts = [E("AirSync:MIMESupport", 2), E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 4))]
    key = collection(await phone.sync(sid, "0", options=opts)).findtext("AirSync:SyncKey")
    body = _adds(collection(await phone.sync(sid, key)))[0].find(
        "AirSync:ApplicationData/AirSyncBase:Body")   # Options remembered from SyncKey 0
    assert body.findtext("AirSyncBase:Type") == "4"
    assert "Subject: Hello" in body.findtext("AirSyncBase:Data")

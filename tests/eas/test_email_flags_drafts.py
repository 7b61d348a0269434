"""Follow-up flags with dates (MS-ASEMAIL §2.2.2.27) and 16.x drafts (MS-ASEMAIL §3.1.5.3):
the flag is \\Flagged for every door, its dates are kept with the message and reach every
device; a draft changed on the phone is replaced in the store under the same ServerId."""

from __future__ import annotations

from postroom.eas.wbxml import E, encode
from postroom.store.api import FLAGGED

from ..conftest import make_message
from .client import EasClient, collection
from .wbxml_tool import libwbxml_tree, needs_libwbxml, our_tree

ALICE = "alice@example.test"


def _flag(status: int, **dates: str):
    return E("Email:Flag", E("Email:Status", status), E("Email:FlagType", "Flag for follow up"),
             *[E(f"Tasks:{k}", v) for k, v in dates.items()])


DATES = dict(StartDate="2026-06-01T00:00:00.000Z", UtcStartDate="2026-05-31T22:00:00.000Z",
             DueDate="2026-06-05T00:00:00.000Z", UtcDueDate="2026-06-04T22:00:00.000Z",
             ReminderSet="1", ReminderTime="2026-06-04T07:00:00.000Z")


async def _synced(phone, sid):
    key = collection(await phone.sync(sid, "0")).findtext("AirSync:SyncKey")
    return collection(await phone.sync(sid, key)).findtext("AirSync:SyncKey")


async def _inbox_message(eas, phone, subject: str = "Hello"):
    """One message in Alice's Inbox, already on the phone: (account, mailbox, folder, key)."""
    acc = eas.accounts[ALICE]
    inbox = await eas.store.get_mailbox(acc.id, "INBOX")
    await eas.store.append(acc.id, inbox.id, make_message(subject=subject))
    sid = f"m{inbox.id}"
    await phone.folders()
    return acc, inbox, sid, await _synced(phone, sid)


async def _second_phone(eas) -> EasClient:
    other = EasClient(f"https://127.0.0.1:{eas.door.ports['https']}", device_id="TESTDEVICE2")
    await other.provision()
    await other.folders()
    return other


async def test_flag_dates_set_on_one_phone_reach_the_other_and_imap_sees_flagged(eas, phone):
    acc, inbox, sid, key = await _inbox_message(eas, phone, "call back")
    other = await _second_phone(eas)
    try:
        other_key = await _synced(other, sid)
        coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Change",
                          E("AirSync:ServerId", f"{sid}:1"),
                          E("AirSync:ApplicationData", _flag(2, Subject="call back", **DATES)))]))
        assert coll.findtext("AirSync:Status") == "1" and coll.find("AirSync:Responses") is None
        key = coll.findtext("AirSync:SyncKey")
        (entry,) = await eas.store.entries(acc.id, inbox.id, [1])
        assert FLAGGED in entry.flags
        a = await other.sync(sid, other_key)
        flag = collection(a).find("AirSync:Commands/AirSync:Change/AirSync:ApplicationData"
                                  "/Email:Flag")
        assert flag.findtext("Email:Status") == "2"
        assert flag.findtext("Tasks:Subject") == "call back"
        for name, value in DATES.items():
            assert flag.findtext(f"Tasks:{name}") == value
        other_key = collection(a).findtext("AirSync:SyncKey")
        # The phone that set it is not sent its own change back.
        assert collection(await phone.sync(sid, key)).find("AirSync:Commands") is None

        # IMAP clears \Flagged: the phones see no flag, whatever dates were kept.
        await eas.store.store_flags(acc.id, inbox.id, [1], "remove", [FLAGGED])
        flag = collection(await other.sync(sid, other_key)).find(
            "AirSync:Commands/AirSync:Change/AirSync:ApplicationData/Email:Flag")
        assert flag is not None and not flag.children
    finally:
        await other.close()


async def test_completed_flag_is_kept_without_flagged_and_cleared_flag_drops_dates(eas, phone):
    acc, inbox, sid, key = await _inbox_message(eas, phone, "done")
    done = E("Email:Flag", E("Email:Status", 1), E("Email:FlagType", "Flag for follow up"),
             E("Email:CompleteTime", "2026-06-02T10:00:00.000Z"),
             E("Tasks:DateCompleted", "2026-06-02T10:00:00.000Z"))
    coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Change",
                      E("AirSync:ServerId", f"{sid}:1"), E("AirSync:ApplicationData", done))]))
    key = coll.findtext("AirSync:SyncKey")
    (entry,) = await eas.store.entries(acc.id, inbox.id, [1])
    assert FLAGGED not in entry.flags
    kept = await eas.store.follow_ups(acc.id, inbox.id, [1])
    assert kept[1]["Email:Status"] == "1"
    assert kept[1]["Email:CompleteTime"] == "2026-06-02T10:00:00.000Z"
    # A new device sees the completed flag in its first Sync.
    other = await _second_phone(eas)
    try:
        k = collection(await other.sync(sid, "0")).findtext("AirSync:SyncKey")
        flag = collection(await other.sync(sid, k)).find(
            "AirSync:Commands/AirSync:Add/AirSync:ApplicationData/Email:Flag")
        assert flag.findtext("Email:Status") == "1"
        assert flag.findtext("Email:CompleteTime") == "2026-06-02T10:00:00.000Z"
    finally:
        await other.close()
    # An empty Flag clears it, dates and all.
    await phone.sync(sid, key, commands=[E("AirSync:Change", E("AirSync:ServerId", f"{sid}:1"),
                                           E("AirSync:ApplicationData", E("Email:Flag")))])
    assert await eas.store.follow_ups(acc.id, inbox.id, [1]) == {}


async def test_bad_flag_date_gets_status_6_and_changes_nothing(eas, phone):
    acc, inbox, sid, key = await _inbox_message(eas, phone)
    coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Change",
                      E("AirSync:ServerId", f"{sid}:1"),
                      E("AirSync:ApplicationData", _flag(2, DueDate="next tuesday")))]))
    assert coll.findtext("AirSync:Responses/AirSync:Change/AirSync:Status") == "6"
    (entry,) = await eas.store.entries(acc.id, inbox.id, [1])
    assert FLAGGED not in entry.flags


async def test_follow_up_goes_with_the_message(eas):
    acc = eas.accounts[ALICE]
    inbox = await eas.store.get_mailbox(acc.id, "INBOX")
    res = await eas.store.append(acc.id, inbox.id, make_message())
    modseq = await eas.store.set_follow_up(acc.id, inbox.id, res.uid, {"Email:Status": "2"})
    assert modseq > res.modseq
    (entry,) = await eas.store.entries(acc.id, inbox.id, [res.uid])
    assert entry.modseq == modseq
    await eas.store.remove(acc.id, inbox.id, [res.uid])
    count = await eas.store._run(lambda: eas.store._conn.execute(
        "SELECT count(*) FROM follow_ups").fetchone()[0])
    assert count == 0


@needs_libwbxml
def test_flag_with_dates_encodes_as_libwbxml_reads_it():
    el = E("AirSync:ApplicationData", _flag(2, Subject="x", **DATES))
    assert libwbxml_tree(encode(el)) == our_tree(el)


async def _drafts(eas, phone):
    acc = eas.accounts[ALICE]
    drafts = await eas.store.get_mailbox(acc.id, "Drafts")
    sid = (await phone.folders())["Drafts"][0]
    return acc, drafts, sid


async def test_draft_changed_on_the_phone_is_replaced_under_the_same_server_id(eas, phone):
    acc, drafts, sid = await _drafts(eas, phone)
    key = await _synced(phone, sid)
    coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Add",
                      E("AirSync:ClientId", "d1"), E("AirSync:ApplicationData",
                        E("Email:To", "bob@example.test"), E("Email:Subject", "Plan"),
                        E("AirSyncBase:Body", E("AirSyncBase:Type", 1),
                          E("AirSyncBase:Data", "first words"))))]))
    server_id = coll.findtext("AirSync:Responses/AirSync:Add/AirSync:ServerId")
    key = coll.findtext("AirSync:SyncKey")
    # Change the subject only: To and the body stay (16.x ghosting).
    coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Change",
                      E("AirSync:ServerId", server_id),
                      E("AirSync:ApplicationData", E("Email:Subject", "Plan v2")))]))
    assert coll.findtext("AirSync:Status") == "1" and coll.find("AirSync:Responses") is None
    assert coll.find("AirSync:Commands") is None   # no Delete/Add of its own draft
    key = coll.findtext("AirSync:SyncKey")
    (uid,) = await eas.store.uids(acc.id, drafts.id)
    assert server_id != f"{sid}:{uid}"
    (row,) = await eas.store.fetch(acc.id, drafts.id, [uid], [])
    raw = await eas.store.read_blob(row.blob)
    assert b"Subject: Plan v2" in raw and b"To: bob@example.test" in raw
    assert b"first words" in raw
    # The same ServerId goes on working: a body change, then a Fetch, then a Delete.
    coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Change",
                      E("AirSync:ServerId", server_id), E("AirSync:ApplicationData",
                        E("AirSyncBase:Body", E("AirSyncBase:Type", 1),
                          E("AirSyncBase:Data", "second words"))))]))
    assert coll.find("AirSync:Responses") is None and coll.find("AirSync:Commands") is None
    key = coll.findtext("AirSync:SyncKey")
    coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Fetch",
                      E("AirSync:ServerId", server_id))]))
    fetched = coll.find("AirSync:Responses/AirSync:Fetch/AirSync:ApplicationData")
    assert fetched.findtext("Email:Subject") == "Plan v2"
    assert "second words" in fetched.findtext("AirSyncBase:Body/AirSyncBase:Data")
    # Read on the server side: the Change goes out under the ServerId the phone knows.
    (uid,) = await eas.store.uids(acc.id, drafts.id)
    await eas.store.store_flags(acc.id, drafts.id, [uid], "add", [FLAGGED])
    coll = collection(await phone.sync(sid, coll.findtext("AirSync:SyncKey")))
    assert coll.findtext("AirSync:Commands/AirSync:Change/AirSync:ServerId") == server_id
    coll = collection(await phone.sync(sid, coll.findtext("AirSync:SyncKey"), commands=[
        E("AirSync:Delete", E("AirSync:ServerId", server_id))], extra=None))
    assert list(await eas.store.uids(acc.id, drafts.id)) == []

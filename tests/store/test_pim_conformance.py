"""Store conformance for collections, items, tombstones and the ACL (store/api.py,
"collaboration"); runs against every backend in tests.conftest.BACKENDS."""

from __future__ import annotations

import pytest

from postroom.pim.model import index_text
from postroom.store.api import (
    ACL_COLLECTION, ACL_MAILBOX, COLLECTION_ADDRESSBOOK, COLLECTION_CALENDAR, AlreadyExists,
    InvalidName, NotFound, PreconditionFailed, QuotaExceeded, RIGHTS_READ, RIGHTS_READ_WRITE,
    UidConflict,
)


def event(uid: str, start: str = "20240110T100000Z", end: str = "20240110T110000Z",
          extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
            f"SUMMARY:Event {uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def card(uid: str, fn: str = "Ann Example", email: str = "ann@example.org") -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{fn}\r\nN:Example;Ann;;;\r\n"
            f"EMAIL:{email}\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n")


async def put(store, acc, col, name, text, **kw):
    kind = "addressbook" if text.startswith("BEGIN:VCARD") else "calendar"
    return await store.put_item(acc.id, col.id, name, text, index_text(text, kind), **kw)


@pytest.fixture
async def acc(store):
    return await store.create_account("user@example.test", "x")


async def test_new_account_has_default_calendar_tasks_and_contacts(store, acc):
    cols = {c.role: c for c in await store.list_collections(acc.id)}
    assert cols["calendar"].components == ("VEVENT",)
    assert cols["tasks"].components == ("VTODO",)
    assert cols["contacts"].kind == COLLECTION_ADDRESSBOOK
    assert (await store.get_collection_by_role(acc.id, "calendar")).name == "calendar"
    assert [c.name for c in await store.list_collections(acc.id, COLLECTION_ADDRESSBOOK)] \
        == ["contacts"]


async def test_create_update_delete_collection_bumps_modseq(store, acc):
    before = await store.account_modseq(acc.id)
    col = await store.create_collection(acc.id, COLLECTION_CALENDAR, "work",
                                        display_name="Work", color="#ff0000")
    assert col.modseq > before and col.components == ("VEVENT", "VTODO")
    with pytest.raises(AlreadyExists):
        await store.create_collection(acc.id, COLLECTION_CALENDAR, "work")
    with pytest.raises(InvalidName):
        await store.create_collection(acc.id, COLLECTION_CALENDAR, "a/b")
    col2 = await store.update_collection(acc.id, col.id, display_name="Office",
                                         properties={"{urn:x}p": "<p/>"})
    assert col2.display_name == "Office" and col2.color == "#ff0000"
    assert col2.properties == {"{urn:x}p": "<p/>"} and col2.modseq > col.modseq
    col3 = await store.update_collection(acc.id, col.id, properties={"{urn:x}p": None})
    assert col3.properties == {}
    await store.delete_collection(acc.id, col.id)
    assert await store.get_collection(acc.id, "work") is None
    with pytest.raises(NotFound):
        await store.delete_collection(acc.id, col.id)


async def test_put_get_item_with_etag_preconditions(store, acc):
    col = await store.get_collection_by_role(acc.id, "calendar")
    item = await put(store, acc, col, "a.ics", event("a"), if_none_match=True)
    assert item.index.uid == "a" and item.index.summary == "Event a"
    got = await store.get_item(acc.id, col.id, "a.ics")
    assert got.text == event("a") and got.modseq == item.modseq
    with pytest.raises(PreconditionFailed):
        await put(store, acc, col, "a.ics", event("a"), if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await put(store, acc, col, "a.ics", event("a"), if_match=item.modseq - 1)
    item2 = await put(store, acc, col, "a.ics", event("a", extra="LOCATION:Here\r\n"),
                      if_match=item.modseq)
    assert item2.modseq > item.modseq
    assert (await store.get_collection(acc.id, "calendar")).modseq == item2.modseq
    with pytest.raises(UidConflict) as e:
        await put(store, acc, col, "other.ics", event("a"))
    assert e.value.name == "a.ics"
    with pytest.raises(PreconditionFailed):
        await store.delete_item(acc.id, col.id, "a.ics", if_match=item.modseq)
    await store.delete_item(acc.id, col.id, "a.ics", if_match=item2.modseq)
    assert await store.get_item(acc.id, col.id, "a.ics") is None
    with pytest.raises(NotFound):
        await store.delete_item(acc.id, col.id, "a.ics")


async def test_item_changes_report_changes_and_tombstones(store, acc):
    col = await store.get_collection_by_role(acc.id, "calendar")
    a = await put(store, acc, col, "a.ics", event("a"))
    await put(store, acc, col, "b.ics", event("b"))
    token = (await store.get_collection_by_id(acc.id, col.id)).modseq
    await put(store, acc, col, "c.ics", event("c"))
    await store.delete_item(acc.id, col.id, "b.ics")
    ch = await store.item_changes(acc.id, col.id, token)
    assert [i.name for i in ch.changed] == ["c.ics"] and ch.deleted == ["b.ics"]
    assert ch.modseq > token
    full = await store.item_changes(acc.id, col.id, 0)
    assert [i.name for i in full.changed] == ["a.ics", "c.ics"]
    # Re-creating a deleted name clears its tombstone.
    await put(store, acc, col, "b.ics", event("b"))
    ch = await store.item_changes(acc.id, col.id, token)
    assert [i.name for i in ch.changed] == ["b.ics", "c.ics"] and ch.deleted == []
    assert (await store.item_changes(acc.id, col.id, ch.modseq)).changed == []
    assert a.modseq <= token


async def test_pruned_tombstones_raise_the_sync_horizon(store, acc):
    col = await store.get_collection_by_role(acc.id, "calendar")
    for n in "abcd":
        await put(store, acc, col, f"{n}.ics", event(n))
    before = (await store.get_collection_by_id(acc.id, col.id)).modseq
    for n in "abc":
        await store.delete_item(acc.id, col.id, f"{n}.ics")
    middle = (await store.item_changes(acc.id, col.id, before)).modseq
    await store.delete_item(acc.id, col.id, "d.ics")
    assert await store.prune_tombstones(acc.id, col.id, keep=1) == 3
    assert await store.prune_tombstones(acc.id, col.id, keep=1) == 0
    recent = await store.item_changes(acc.id, col.id, middle)
    assert recent.deleted == ["d.ics"] and recent.horizon <= middle
    old = await store.item_changes(acc.id, col.id, before)
    assert old.horizon > before          # the caller must refuse that token
    # Re-creating a name never brings the horizon back, nor shows it as an item.
    await put(store, acc, col, "a.ics", event("a"))
    full = await store.item_changes(acc.id, col.id, 0)
    assert [i.name for i in full.changed] == ["a.ics"] and full.deleted == ["d.ics"]
    assert full.horizon == old.horizon


async def test_item_change_wakes_subscribers(store, acc):
    col = await store.get_collection_by_role(acc.id, "calendar")
    with store.notifier.subscribe(acc.id) as sub:
        await put(store, acc, col, "a.ics", event("a"))
        assert await sub.wait(1.0)


async def test_query_items_by_time_range(store, acc):
    col = await store.get_collection_by_role(acc.id, "calendar")
    await put(store, acc, col, "jan.ics", event("jan"))
    await put(store, acc, col, "mar.ics", event("mar", "20240310T100000Z", "20240310T110000Z"))
    await put(store, acc, col, "weekly.ics", event("weekly", extra="RRULE:FREQ=WEEKLY\r\n"))
    await put(store, acc, col, "count.ics", event("count", extra="RRULE:FREQ=DAILY;COUNT=3\r\n"))
    feb1, mar1 = 1706745600, 1709251200   # 2024-02-01, 2024-03-01 UTC
    names = [i.name for i in await store.query_items(acc.id, col.id, start=feb1, end=mar1)]
    assert names == ["weekly.ics"]
    names = [i.name for i in await store.query_items(acc.id, col.id, start=feb1)]
    assert names == ["mar.ics", "weekly.ics"]
    names = [i.name for i in await store.query_items(acc.id, col.id, end=feb1)]
    assert names == ["count.ics", "jan.ics", "weekly.ics"]


async def test_addressbook_items_index_names_and_emails(store, acc):
    col = await store.get_collection_by_role(acc.id, "contacts")
    it = await put(store, acc, col, "ann.vcf", card("ann"))
    assert it.index.component == "VCARD" and it.index.summary == "Ann Example"
    assert it.index.emails == ("ann@example.org",) and it.index.phones == ("+1 555 0100",)
    [found] = await store.list_items(acc.id, col.id, ["ann.vcf", "nope.vcf"], with_text=True)
    assert found.text == card("ann")
    assert (await store.find_items_by_uid(acc.id, "ann", COLLECTION_ADDRESSBOOK))[0].name \
        == "ann.vcf"


async def test_move_and_copy_items(store, acc):
    cal = await store.get_collection_by_role(acc.id, "calendar")
    other = await store.create_collection(acc.id, COLLECTION_CALENDAR, "other")
    await put(store, acc, cal, "a.ics", event("a"))
    await store.move_item(acc.id, cal.id, "a.ics", other.id, "a.ics", copy=True)
    assert len(await store.find_items_by_uid(acc.id, "a")) == 2
    await put(store, acc, cal, "b.ics", event("b"))
    with pytest.raises(PreconditionFailed):
        await store.move_item(acc.id, cal.id, "b.ics", other.id, "a.ics", overwrite=False)
    await store.move_item(acc.id, cal.id, "b.ics", other.id, "b.ics")
    assert await store.get_item(acc.id, cal.id, "b.ics") is None
    assert (await store.item_changes(acc.id, cal.id, 0)).deleted == ["b.ics"]


async def test_items_count_against_quota(store):
    acc = await store.create_account("small@example.test", "x", quota_bytes=600)
    col = await store.get_collection_by_role(acc.id, "calendar")
    await put(store, acc, col, "a.ics", event("a"))
    used = (await store.get_account_by_id(acc.id)).used_bytes
    assert used == len(event("a")) == await store.collection_usage(acc.id)
    with pytest.raises(QuotaExceeded):
        await put(store, acc, col, "b.ics", event("b", extra="DESCRIPTION:" + "x" * 400 + "\r\n"))
    await store.delete_item(acc.id, col.id, "a.ics")
    assert (await store.get_account_by_id(acc.id)).used_bytes == 0


async def test_acl_grants_rights_and_lists_shares(store, acc):
    bob = await store.create_account("bob@example.test", "x")
    col = await store.get_collection_by_role(acc.id, "calendar")
    assert await store.rights_of(bob.id, acc.id, ACL_COLLECTION, col.id) == ""
    assert "a" in await store.rights_of(acc.id, acc.id, ACL_COLLECTION, col.id)
    await store.set_rights(acc.id, ACL_COLLECTION, col.id, bob.id, RIGHTS_READ)
    assert await store.rights_of(bob.id, acc.id, ACL_COLLECTION, col.id) == "lr"
    await store.set_rights(acc.id, ACL_COLLECTION, col.id, bob.id, RIGHTS_READ_WRITE)
    [share] = await store.shared_with(bob.id, ACL_COLLECTION)
    assert (share.owner_account_id, share.object_id, share.rights) == (acc.id, col.id, "lrwit")
    assert [s.grantee_account_id for s in await store.list_rights(acc.id, ACL_COLLECTION,
                                                                   col.id)] == [bob.id]
    # The same table serves IMAP ACL on mailboxes (RFC 4314).
    inbox = await store.get_mailbox(acc.id, "INBOX")
    await store.set_rights(acc.id, ACL_MAILBOX, inbox.id, bob.id, "lrs")
    assert await store.rights_of(bob.id, acc.id, ACL_MAILBOX, inbox.id) == "lrs"
    with pytest.raises(InvalidName):
        await store.set_rights(acc.id, ACL_MAILBOX, inbox.id, bob.id, "lr!")
    await store.set_rights(acc.id, ACL_COLLECTION, col.id, bob.id, "")
    assert await store.shared_with(bob.id, ACL_COLLECTION) == []
    await store.set_rights(acc.id, ACL_COLLECTION, col.id, bob.id, "lr")
    await store.delete_collection(acc.id, col.id)
    assert await store.shared_with(bob.id, ACL_COLLECTION) == []


async def test_delete_account_removes_collections_and_grants(store, acc):
    bob = await store.create_account("bob@example.test", "x")
    col = await store.get_collection_by_role(acc.id, "calendar")
    await put(store, acc, col, "a.ics", event("a"))
    await store.set_rights(acc.id, ACL_COLLECTION, col.id, bob.id, "lr")
    await store.delete_account(acc.id)
    assert await store.list_collections(acc.id) == []
    assert await store.shared_with(bob.id, ACL_COLLECTION) == []

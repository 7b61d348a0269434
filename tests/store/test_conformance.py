"""Store conformance: the behaviour every backend must share (DESIGN.md, "Storage backends").
Runs against each backend in tests/conftest.py BACKENDS."""

from __future__ import annotations

import asyncio

import pytest

from postroom.store import search as S
from postroom.store.api import (
    DELETED, FLAGGED, SEEN, AlreadyExists, Conflict, InvalidName, NotFound, QuotaExceeded,
    ORDER_KEYS, Recipient, ROLE_TRASH,
)
from tests.conftest import BODY_SIZES, make_message, open_store, stored_blobs


async def new_account(store, email="user@example.test", quota=0):
    return await store.create_account(email, "$argon2id$fake", None, quota)


async def inbox(store, account):
    return await store.get_mailbox(account.id, "INBOX")


async def test_new_account_gets_special_use_mailboxes_and_subscriptions(store):
    acct = await new_account(store)
    names = {m.name: m.special_use for m in await store.list_mailboxes(acct.id)}
    assert names == {"INBOX": "\\Inbox", "Sent": "\\Sent", "Drafts": "\\Drafts",
                     "Trash": "\\Trash", "Junk": "\\Junk", "Archive": "\\Archive"}
    assert "INBOX" in await store.list_subscriptions(acct.id)
    assert (await store.get_mailbox_by_role(acct.id, ROLE_TRASH)).name == "Trash"
    assert (await store.get_mailbox(acct.id, "inbox")).name == "INBOX"


async def test_account_needs_domain_and_unique_email(store):
    with pytest.raises(NotFound):
        await store.create_account("x@nowhere.test", "h")
    await new_account(store)
    with pytest.raises(AlreadyExists):
        await new_account(store, "USER@example.test")
    assert (await store.get_account("User@Example.Test")).email == "user@example.test"
    with pytest.raises(Conflict):
        await store.remove_domain("example.test")


async def test_resolve_recipient_aliases_plus_and_catch_all(store):
    user = await new_account(store)
    other = await new_account(store, "other@example.test")
    await store.add_alias("sales@example.test", "user@example.test")
    assert (await store.resolve_recipient("Sales@example.test")).id == user.id
    assert (await store.resolve_recipient("user+news@example.test")).id == user.id
    assert (await store.resolve_recipient("sales+x@example.test")).id == user.id
    assert await store.resolve_recipient("nobody@example.test") is None
    await store.add_alias("@example.test", "other@example.test")
    assert (await store.resolve_recipient("nobody@example.test")).id == other.id
    assert await store.resolve_recipient("user@elsewhere.test") is None
    assert await store.addresses_of(user.id) == ["user@example.test", "sales@example.test"]


async def test_create_rename_delete_mailboxes(store):
    acct = await new_account(store)
    await store.create_mailbox(acct.id, "Projects/2026/Q1")
    names = [m.name for m in await store.list_mailboxes(acct.id)]
    assert {"Projects", "Projects/2026", "Projects/2026/Q1"} <= set(names)
    with pytest.raises(AlreadyExists):
        await store.create_mailbox(acct.id, "Projects")
    for bad in ("", "a//b", "/a", "a/", "x\x00y"):
        with pytest.raises(InvalidName):
            await store.create_mailbox(acct.id, bad)
    projects = await store.get_mailbox(acct.id, "Projects")
    uidvalidity = projects.uidvalidity
    renamed = await store.rename_mailbox(acct.id, projects.id, "Work")
    assert renamed.uidvalidity == uidvalidity
    names = {m.name for m in await store.list_mailboxes(acct.id)}
    assert {"Work", "Work/2026", "Work/2026/Q1"} <= names and "Projects" not in names
    with pytest.raises(Conflict):
        await store.delete_mailbox(acct.id, (await inbox(store, acct)).id)
    await store.delete_mailbox(acct.id, renamed.id)
    names = {m.name for m in await store.list_mailboxes(acct.id)}
    assert "Work" not in names and "Work/2026" in names  # children stay (RFC 9051 §6.3.5)


async def test_rename_inbox_moves_messages_and_leaves_inbox(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    await store.append(acct.id, box.id, make_message("one"))
    await store.append(acct.id, box.id, make_message("two"))
    old = await store.rename_mailbox(acct.id, box.id, "Old Inbox")
    assert len(await store.uids(acct.id, old.id)) == 2
    assert list(await store.uids(acct.id, box.id)) == []
    assert (await inbox(store, acct)).id == box.id


async def test_append_fetch_and_status(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    raw = make_message("Quarterly report", "Numbers are up\r\n")
    r = await store.append(acct.id, box.id, raw, [SEEN, "$Important"], internal_date=1700000000)
    assert r.uid == 1 and r.uidvalidity == box.uidvalidity
    r2 = await store.append(acct.id, box.id, make_message("second"))
    assert r2.uid == 2 and r2.modseq > r.modseq
    rows = await store.fetch(acct.id, box.id, [1, 2, 99], ["envelope", "bodystructure", "parts",
                                                           "preview", "sort"])
    assert [x.uid for x in rows] == [1, 2]
    assert rows[0].flags == (SEEN, "$Important")
    assert rows[0].internal_date == 1700000000 and rows[0].size == len(raw)
    assert b"Quarterly report" in rows[0].envelope
    assert rows[0].bodystructure.startswith(b"(")
    assert "Numbers are up" in rows[0].preview
    assert rows[0].sort_subject.lower() == "quarterly report"
    assert await store.read_blob(rows[0].blob) == raw
    assert await store.read_blob(rows[0].blob, 0, 5) == raw[:5]
    st = await store.mailbox_status(acct.id, box.id)
    assert (st.messages, st.unseen, st.uidnext, st.first_unseen_uid) == (2, 1, 3, 2)
    assert st.size == len(raw) + rows[1].size
    assert (await store.get_account_by_id(acct.id)).used_bytes == st.size


@pytest.mark.parametrize("size,body", BODY_SIZES)
async def test_deliver_is_one_blob_for_many_recipients_and_atomic(store, size, body):
    a = await new_account(store, "a@example.test")
    b = await new_account(store, "b@example.test", quota=10)
    raw = make_message("to both", body)
    with pytest.raises(QuotaExceeded):
        await store.deliver(raw, [Recipient(a.id, (await inbox(store, a)).id),
                                  Recipient(b.id, (await inbox(store, b)).id)])
    assert list(await store.uids(a.id, (await inbox(store, a)).id)) == []  # nothing half-delivered
    await store.update_account(b.id, quota_bytes=0)
    res = await store.deliver(raw, [Recipient(a.id, (await inbox(store, a)).id),
                                    Recipient(b.id, (await inbox(store, b)).id, (SEEN,))])
    assert [r.uid for r in res] == [1, 1]
    assert await stored_blobs(store) == 1
    rows = await store.fetch(b.id, (await inbox(store, b)).id, [1])
    assert await store.read_blob(rows[0].blob) == raw
    assert await store.read_blob(rows[0].blob, 3, 10) == raw[3:10]


@pytest.mark.parametrize("size,body", BODY_SIZES)
async def test_blob_is_removed_when_last_reference_goes(store, size, body):
    acct = await new_account(store)
    box = await inbox(store, acct)
    trash = await store.get_mailbox(acct.id, "Trash")
    await store.append(acct.id, box.id, make_message("bye", body))
    await store.copy(acct.id, box.id, [1], trash.id)
    assert await stored_blobs(store) == 1
    await store.store_flags(acct.id, box.id, [1], "add", [DELETED])
    assert await store.expunge(acct.id, box.id) == [1]
    assert await stored_blobs(store) == 1  # still in Trash
    await store.remove(acct.id, trash.id, [1])
    assert await stored_blobs(store) == 0
    assert (await store.get_account_by_id(acct.id)).used_bytes == 0


async def test_store_flags_add_remove_set_and_unchangedsince(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    for i in range(3):
        await store.append(acct.id, box.id, make_message(f"m{i}"))
    r = await store.store_flags(acct.id, box.id, [1, 2], "add", [SEEN, "Work"])
    assert [c.uid for c in r.changed] == [1, 2] and r.changed[0].flags == (SEEN, "Work")
    again = await store.store_flags(acct.id, box.id, [1, 2], "add", ["\\seen", "work"])
    assert again.changed == []  # nothing really changed: no new modseq
    m1 = r.changed[0].modseq
    r = await store.store_flags(acct.id, box.id, [1], "remove", ["WORK"])
    assert r.changed[0].flags == (SEEN,)
    r = await store.store_flags(acct.id, box.id, [1, 2, 3], "set", [FLAGGED],
                                unchanged_since=m1)
    assert r.modified == [1] and [c.uid for c in r.changed] == [2, 3]
    entries = await store.entries(acct.id, box.id)
    assert [e.flags for e in entries] == [(SEEN,), (FLAGGED,), (FLAGGED,)]


async def test_copy_and_move_keep_flags_and_blob(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    arch = await store.get_mailbox(acct.id, "Archive")
    for i in range(3):
        await store.append(acct.id, box.id, make_message(f"m{i}"), [FLAGGED])
    c = await store.copy(acct.id, box.id, [1, 3], arch.id)
    assert c.pairs == [(1, 1), (3, 2)] and c.uidvalidity == arch.uidvalidity
    m = await store.move(acct.id, box.id, [2], arch.id)
    assert m.pairs == [(2, 3)]
    assert list(await store.uids(acct.id, box.id)) == [1, 3]
    assert [e.flags for e in await store.entries(acct.id, arch.id)] == [(FLAGGED,)] * 3
    src = await store.fetch(acct.id, box.id, [1])
    dst = await store.fetch(acct.id, arch.id, [1])
    assert src[0].message_id == dst[0].message_id and src[0].blob == dst[0].blob


async def test_changes_since_reports_flag_changes_adds_and_vanished(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    for i in range(4):
        await store.append(acct.id, box.id, make_message(f"m{i}"))
    base = (await store.get_mailbox_by_id(acct.id, box.id)).highestmodseq
    await store.store_flags(acct.id, box.id, [2], "add", [SEEN])
    await store.remove(acct.id, box.id, [3])
    await store.append(acct.id, box.id, make_message("new"))
    ch = await store.changes_since(acct.id, box.id, base)
    assert [e.uid for e in ch.changed] == [2, 5]
    assert ch.vanished == [3]
    assert ch.modseq == (await store.get_mailbox_by_id(acct.id, box.id)).highestmodseq
    none = await store.changes_since(acct.id, box.id, ch.modseq)
    assert none.changed == [] and none.vanished == []


@pytest.mark.parametrize("indexed", [False, True], ids=["text-pending", "text-indexed"])
async def test_search_text_flags_size_dates_and_headers(store, indexed):
    acct = await new_account(store)
    box = await inbox(store, acct)
    await store.append(acct.id, box.id, make_message(
        "Budget 2027", "Please review the spreadsheet\r\n", sender="Bob <bob@corp.test>",
        extra_headers="X-Tracker: ticket-4711\r\n"), internal_date=1_000_000)
    await store.append(acct.id, box.id, make_message(
        "Lunch?", "Pizza at noon. Ünïcödé text\r\n"), [SEEN], internal_date=2_000_000)
    await store.append(acct.id, box.id, make_message(
        "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "x" * 5000 + "\r\n"), internal_date=3_000_000)
    if indexed:
        await store.flush_index()

    async def q(c):
        return await store.search(acct.id, box.id, c)
    assert await q(S.Text("body", "SPREADSHEET")) == [1]
    assert await q(S.Text("text", "budget")) == [1]
    assert await q(S.Text("from", "bob@corp")) == [1]
    assert await q(S.Text("subject", "grüße")) == [3]
    assert await q(S.Text("body", "ünïcödé")) == [2]
    assert await q(S.Text("subject", "?")) == [2]       # short needles work too
    assert await q(S.Text("header:x-tracker", "4711")) == [1]
    assert await q(S.Text("header:x-tracker", "")) == [1]
    assert await q(S.Text("header:subject", "4711")) == []
    assert await q(S.Flag(SEEN)) == [2]
    assert await q(S.Not(S.Flag(SEEN))) == [1, 3]
    assert await q(S.Size(larger=4000)) == [3]
    assert await q(S.DateRange("internal", 1_500_000, 2_500_000)) == [2]
    assert await q(S.Or((S.UidSet(((1, 1),)), S.Flag(SEEN)))) == [1, 2]
    assert await q(S.And((S.Text("text", "e"), S.UidSet(((2, 3),))))) == [2, 3]
    assert await q(S.All()) == [1, 2, 3]
    many = S.UidSet(tuple((i, i) for i in range(1, 40, 2)))
    assert await q(many) == [1, 3]


async def test_quota_refuses_append(store):
    acct = await new_account(store, quota=1000)
    box = await inbox(store, acct)
    with pytest.raises(QuotaExceeded):
        await store.append(acct.id, box.id, make_message(body="y" * 2000))
    assert list(await store.uids(acct.id, box.id)) == []


async def test_append_many_is_all_or_nothing(store):
    acct = await new_account(store, quota=3000)
    box = await inbox(store, acct)
    with pytest.raises(QuotaExceeded):
        await store.append_many(acct.id, box.id, [(make_message(body="z" * 1000), [], None)] * 3)
    res = await store.append_many(acct.id, box.id, [(make_message(f"s{i}"), [], None)
                                                    for i in range(3)])
    assert [r.uid for r in res] == [1, 2, 3]


async def test_notifier_wakes_a_waiter_on_change(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    with store.notifier.subscribe(acct.id) as sub:
        assert await sub.wait(0.05) is False
        waiter = asyncio.create_task(sub.wait(5))
        await asyncio.sleep(0)
        await store.append(acct.id, box.id, make_message())
        assert await waiter is True


async def test_change_by_another_process_reaches_waiters(store, tmp_path):
    acct = await new_account(store)
    box = await inbox(store, acct)
    other = await open_store("sqlite", tmp_path)  # same data directory: another "process"
    try:
        with store.notifier.subscribe(acct.id) as sub:
            await other.append(acct.id, box.id, make_message("from the CLI"))
            assert await sub.wait(5) is True
        assert list(await store.uids(acct.id, box.id)) == [1]
    finally:
        await other.close()


async def test_hidden_entries_are_hidden_only_from_pop3(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    await store.append(acct.id, box.id, make_message())
    await store.set_hidden(acct.id, box.id, [1])
    assert await store.hidden_uids(acct.id, box.id) == {1}
    assert [e.flags for e in await store.entries(acct.id, box.id)] == [()]
    await store.store_flags(acct.id, box.id, [1], "set", [SEEN])
    assert await store.hidden_uids(acct.id, box.id) == {1}
    await store.append(acct.id, box.id, make_message())
    assert list((await store.visible_sizes(acct.id, box.id)).uids) == [2]
    await store.set_hidden(acct.id, box.id, [1], hidden=False)
    listing = await store.visible_sizes(acct.id, box.id)
    assert list(listing.uids) == [1, 2] and listing.total == sum(listing.sizes) > 0


async def test_mailbox_snapshot_is_status_uids_and_keywords(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    for i in range(3):
        await store.append(acct.id, box.id, make_message(f"m{i}"), flags=["$Work"] if i else [])
    await store.store_flags(acct.id, box.id, [1], "add", [SEEN])
    status, uids, keywords = await store.mailbox_snapshot(acct.id, box.id)
    assert status == await store.mailbox_status(acct.id, box.id)
    assert (status.messages, status.unseen, status.first_unseen_uid) == (3, 2, 2)
    assert list(uids) == [1, 2, 3] and keywords == ["$Work"]


async def test_listings_follow_every_change_including_another_process(store, tmp_path):
    """uids() and visible_sizes() may be shared while a mailbox is unchanged; any change to it,
    here or in another process on the same data, shows at the next call."""
    acct = await new_account(store)
    box = await inbox(store, acct)
    for i in range(3):
        await store.append(acct.id, box.id, make_message(f"m{i}"))
    assert list(await store.uids(acct.id, box.id)) == [1, 2, 3]
    assert list((await store.visible_sizes(acct.id, box.id)).uids) == [1, 2, 3]
    await store.remove(acct.id, box.id, [2])
    assert list(await store.uids(acct.id, box.id)) == [1, 3]
    await store.set_hidden(acct.id, box.id, [3])
    assert list((await store.visible_sizes(acct.id, box.id)).uids) == [1]
    other = await open_store("sqlite", tmp_path)  # same data directory: another "process"
    try:
        await other.append(acct.id, box.id, make_message("from the CLI"))
        await other.set_hidden(acct.id, box.id, [3], hidden=False)
        assert list(await store.uids(acct.id, box.id)) == [1, 3, 4]
        assert list((await store.visible_sizes(acct.id, box.id)).uids) == [1, 3, 4]
    finally:
        await other.close()


async def test_metadata_set_get_delete(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    await store.set_metadata(acct.id, None, {"/private/comment": b"hi"})
    await store.set_metadata(acct.id, box.id, {"/shared/comment": b"box"})
    assert await store.get_metadata(acct.id, None) == {"/private/comment": b"hi"}
    assert await store.get_metadata(acct.id, box.id, ["/shared/comment"]) == {
        "/shared/comment": b"box"}
    await store.set_metadata(acct.id, None, {"/private/comment": None})
    assert await store.get_metadata(acct.id, None) == {}


async def test_outbound_queue_claim_update_delete(store):
    raw = make_message()
    qid = await store.queue_put("a@example.test", ["x@remote.test", "y@remote.test"], raw)
    claimed = await store.queue_claim(now=10**10, lease_seconds=60)
    assert [q.id for q in claimed] == [qid]
    assert await store.queue_claim(now=10**10, lease_seconds=60) == []  # leased
    await store.queue_update(qid, ["y@remote.test"], 0, "451 try later")
    (item,) = await store.queue_list()
    assert item.recipients == ["y@remote.test"] and item.attempts == 1
    assert await store.read_blob(item.blob) == raw
    await store.queue_delete(qid)
    assert await store.queue_list() == []
    assert await stored_blobs(store) == 0


async def test_unknown_mailbox_and_foreign_account_are_refused(store):
    a = await new_account(store, "a@example.test")
    b = await new_account(store, "b@example.test")
    box_b = await inbox(store, b)
    with pytest.raises(NotFound):
        await store.uids(a.id, box_b.id)
    with pytest.raises(NotFound):
        await store.fetch(a.id, box_b.id, [1])
    with pytest.raises(NotFound):
        await store.append(a.id, box_b.id, make_message())


async def test_threads_join_replies(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    await store.append(acct.id, box.id, make_message("start", message_id="<root@x>"))
    await store.append(acct.id, box.id, make_message(
        "Re: start", message_id="<reply@x>", extra_headers="In-Reply-To: <root@x>\r\n"
                                                          "References: <root@x>\r\n"))
    await store.append(acct.id, box.id, make_message("other"))
    rows = await store.fetch(acct.id, box.id, [1, 2, 3], ["threading"])
    assert rows[0].thread_id == rows[1].thread_id != rows[2].thread_id
    assert rows[1].in_reply_to == "root@x"


# --- hot-path reads (fetch_tuples, read_blobs), SELECT keywords, NOTIFY's changed mailboxes ---

async def test_fetch_tuples_match_fetch_rows(store):
    from postroom.store.api import MESSAGE_FIELDS
    acct = await new_account(store)
    box = await inbox(store, acct)
    await store.append(acct.id, box.id, make_message("one"), [SEEN, "$Work"], 1700000000)
    await store.append(acct.id, box.id, make_message("two"))
    rows = await store.fetch(acct.id, box.id, [1, 2, 7],
                             ["envelope", "bodystructure", "body", "parts", "preview", "sort"])
    tuples = await store.fetch_tuples(acct.id, box.id, [7, 2, 1], MESSAGE_FIELDS)
    assert tuples == [(r.uid, r.modseq, r.flags, *(getattr(r, f) for f in MESSAGE_FIELDS))
                      for r in rows]
    assert await store.fetch_tuples(acct.id, box.id, [2]) == [(2, rows[1].modseq, ())]
    spans = [(rows[0].blob, 0, None), (rows[1].blob, 0, 4), (rows[0].blob, 5, 9)]
    raw = await store.read_blob(rows[0].blob)
    assert await store.read_blobs(spans) == [raw, (await store.read_blob(rows[1].blob))[:4],
                                             raw[5:9]]
    other = await new_account(store, "other@example.test")
    with pytest.raises(NotFound):
        await store.fetch_tuples(other.id, box.id, [1])


async def test_fetch_tuples_give_packed_common_spans_and_wire_readiness(store):
    from postroom.mail.parse import parse_message
    from postroom.mail.sections import pack_common_spans
    acct = await new_account(store)
    box = await inbox(store, acct)
    clean = make_message("clean")
    stuffed = clean + b".needs a dot more\r\n"
    bare_lf = clean.replace(b"\r\n", b"\n")
    for raw in (clean, stuffed, bare_lf):
        await store.append(acct.id, box.id, raw)
    rows = await store.fetch_tuples(acct.id, box.id, [1, 2, 3], ["spans", "wire_ready"])
    assert [r[3] for r in rows] == [pack_common_spans(parse_message(raw).parts)
                                    for raw in (clean, stuffed, bare_lf)]
    assert [r[4] for r in rows] == [1, 0, 0]


async def test_entry_flags_are_the_entries_flags_as_bits_and_keywords(store):
    from postroom.store.api import flags_of
    acct = await new_account(store)
    box = await inbox(store, acct)
    await store.append(acct.id, box.id, make_message("one"), [SEEN, FLAGGED, "$Work"])
    await store.append(acct.id, box.id, make_message("two"))
    await store.append(acct.id, box.id, make_message("three"), [DELETED])
    await store.set_hidden(acct.id, box.id, [3], True)   # internal state, never a flag
    rows = await store.entry_flags(acct.id, box.id, [3, 1, 2, 9])
    entries = await store.entries(acct.id, box.id)
    assert [(u, m, flags_of(b, k)) for u, m, b, k in rows] == [
        (e.uid, e.modseq, e.flags) for e in entries]
    assert rows[0][2:] == (1 | 4, "$Work") and rows[1][2:] == (0, "")
    assert await store.entry_flags(acct.id, box.id, [5, 6]) == []
    with pytest.raises(NotFound):
        await store.entry_flags(acct.id, box.id + 1000, [1])


async def test_mailbox_keywords_are_the_distinct_keywords_in_use(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    assert await store.mailbox_keywords(acct.id, box.id) == []
    await store.append(acct.id, box.id, make_message("a"), [SEEN, "$Work", "todo"])
    await store.append(acct.id, box.id, make_message("b"), ["$work", "Later"])
    assert [k.lower() for k in await store.mailbox_keywords(acct.id, box.id)] == \
        ["$work", "later", "todo"]
    await store.store_flags(acct.id, box.id, [1, 2], "set", [FLAGGED])
    assert await store.mailbox_keywords(acct.id, box.id) == []


async def test_mailboxes_changed_since_names_each_changed_mailbox(store):
    acct = await new_account(store)
    box = await inbox(store, acct)
    start = await store.account_modseq(acct.id)
    assert await store.mailboxes_changed_since(acct.id, start) == []
    await store.append(acct.id, box.id, make_message("a"))
    work = await store.create_mailbox(acct.id, "Work")
    assert await store.mailboxes_changed_since(acct.id, start) == sorted([box.id, work.id])
    mark = await store.account_modseq(acct.id)
    await store.store_flags(acct.id, box.id, [1], "add", [SEEN])
    assert await store.mailboxes_changed_since(acct.id, mark) == [box.id]
    mark = await store.account_modseq(acct.id)
    await store.delete_mailbox(acct.id, work.id)
    assert await store.mailboxes_changed_since(acct.id, mark) == [work.id]


async def test_ids_of_deleted_accounts_and_mailboxes_are_never_given_again(store):
    a = await new_account(store, "a@example.test")
    box = await store.create_mailbox(a.id, "Projects")
    await store.delete_mailbox(a.id, box.id)
    again = await store.create_mailbox(a.id, "Projects")
    assert again.id != box.id
    await store.delete_account(a.id)
    b = await new_account(store, "b@example.test")
    assert b.id != a.id


async def test_search_order_matches_rfc5256_rules(store):
    """Every ORDER_KEYS key, ascending and descending, against the rule written out in Python:
    missing values sort as empty (or, for "date", as the internal date), ties by uid."""
    import random
    acct = await new_account(store)
    box = await inbox(store, acct)
    rnd = random.Random(7)
    for i in range(40):
        date = 1_700_000_000 + rnd.choice([0, 86400, 3 * 86400])
        raw = make_message(rnd.choice(["Re: b", "a", "Fwd: c", "A", "é"]),
                           "x" * rnd.choice([10, 200, 10]),
                           sender=rnd.choice(["Zed <z@example.org>", "amy@example.org",
                                              "Émile <e@example.org>"]),
                           to=rnd.choice(["b@example.test", "Ann <a@example.test>"]),
                           date=date)
        if i % 7 == 0:  # no Date: header; "date" then falls back to the internal date
            raw = raw.replace(b"Date: ", b"X-Old-Date: ")
        await store.append(acct.id, box.id, raw, internal_date=1_600_000_000 + rnd.randrange(9))
    fields = {"arrival": "internal_date", "date": "sent_date", "size": "size",
              "subject": "sort_subject", "from": "sort_from", "to": "sort_to", "cc": "sort_cc",
              "display_from": "display_from", "display_to": "display_to"}
    assert set(fields) == set(ORDER_KEYS)
    names = list(fields.values())
    rows = await store.fetch_tuples(acct.id, box.id, range(1, 41), names)

    def value(row, key):
        v = row[3 + names.index(fields[key])]
        if key == "date" and v is None:
            return row[3 + names.index("internal_date")]
        return v if key in ("arrival", "date", "size") else (v or "")
    for key in ORDER_KEYS:
        for desc in (False, True):
            want = sorted(rows, key=lambda r: value(r, key), reverse=desc)  # stable: uid ties
            got = await store.search(acct.id, box.id, S.All(), [(key, desc)])
            assert got == [r[0] for r in want], (key, desc)
    two = sorted(sorted(rows, key=lambda r: value(r, "size"), reverse=True),
                 key=lambda r: value(r, "subject"))
    assert await store.search(acct.id, box.id, S.All(), [("subject", False), ("size", True)]) \
        == [r[0] for r in two]


async def test_sort_of_a_whole_mailbox_follows_every_change(store):
    """The order of ALL may be kept between calls; after any change it is the order that an
    uncached search (the same criteria in another form) gives."""
    acct = await new_account(store)
    box = await inbox(store, acct)
    every = S.And((S.All(), S.All()))       # same meaning, never served from a kept order

    async def check():
        for order in ([("date", False)], [("size", True)], [("subject", False)]):
            assert await store.search(acct.id, box.id, S.All(), order) == \
                await store.search(acct.id, box.id, every, order), order
    for i in range(5):
        await store.append(acct.id, box.id, make_message(f"s{5 - i}", "x" * (i * 37 % 5),
                                                         date=1_700_000_000 - i * 3600))
    await check()
    await check()
    await store.append(acct.id, box.id, make_message("a first", date=1_600_000_000))
    await check()
    await store.remove(acct.id, box.id, [2])
    await check()
    other = await store.create_mailbox(acct.id, "Other")
    await store.copy(acct.id, box.id, [1, 3], other.id)
    await check()
    assert len(await store.search(acct.id, other.id, S.All(), [("date", False)])) == 2


async def test_store_flags_follows_a_model_of_add_remove_set(store):
    """Random STOREs of system flags (the one-UPDATE path) and keywords (the per-message path)
    against a plain Python model: final flags, which uids each call reports changed, and
    UNCHANGEDSINCE's refusals."""
    import random
    rng = random.Random(3)
    acct = await new_account(store)
    box = await inbox(store, acct)
    for i in range(12):
        await store.append(acct.id, box.id, make_message(f"m{i}"))
    model = {uid: set() for uid in range(1, 13)}
    modseqs = {e.uid: e.modseq for e in await store.entries(acct.id, box.id)}
    choices = ["\\Seen", "\\Deleted", "\\Flagged", "\\Answered", "$Work"]
    for _ in range(60):
        uids = sorted(rng.sample(range(1, 13), rng.randint(1, 12)))
        op = rng.choice(["add", "remove", "set"])
        flags = set(rng.sample(choices[:4] if rng.random() < 0.7 else choices,
                               rng.randint(0, 2)))
        since = rng.choice([None, None, max(modseqs.values()) - rng.randint(0, 3)])
        result = await store.store_flags(acct.id, box.id, uids, op, flags, since)
        refused = [u for u in uids if since is not None and modseqs[u] > since]
        assert result.modified == refused
        changed = []
        for u in uids:
            if u in refused:
                continue
            new = model[u] | flags if op == "add" else model[u] - flags if op == "remove" \
                else set(flags)
            if new != model[u]:
                changed.append(u)
                model[u] = new
        assert [c.uid for c in result.changed] == changed
        for c in result.changed:
            assert set(c.flags) == model[c.uid]
            modseqs[c.uid] = c.modseq
    assert {e.uid: set(e.flags) for e in await store.entries(acct.id, box.id)} == model

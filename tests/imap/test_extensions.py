"""Extensions through raw bytes: UTF-7 and UTF-8 names, LIST-EXTENDED/LIST-STATUS, SORT, THREAD,
SEARCHRES, CONDSTORE UNCHANGEDSINCE, QUOTA, BINARY APPEND."""

from tests.conftest import make_message
from tests.imap.test_session import Raw


async def logged_in(imap) -> Raw:
    c = await Raw.connect(imap.port)
    await c.login()
    return c


async def test_mailbox_names_are_utf7_for_rev1_and_utf8_after_enable(imap):
    c = await logged_in(imap)
    assert (await c.cmd("a CREATE Entw&APw-rfe"))[-1].startswith(b"a OK")
    res = await c.cmd('b LIST "" "Entw*"')
    assert res[0] == b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"\r\n'
    assert (await c.cmd("e ENABLE UTF8=ACCEPT"))[0] == b"* ENABLED UTF8=ACCEPT\r\n"
    res = await c.cmd('c LIST "" "Entw*"')
    assert res[0] == '* LIST (\\HasNoChildren) "/" "Entwürfe"\r\n'.encode()
    assert await imap.store.get_mailbox(imap.account.id, "Entwürfe") is not None


async def test_list_extended_special_use_and_status(imap):
    c = await logged_in(imap)
    await c.cmd("a CREATE Work/Deep")
    res = await c.cmd('b LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UIDNEXT SIZE))')
    text = b"".join(res)
    assert b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in text
    assert b'* STATUS "Sent" (MESSAGES 0 UIDNEXT 1 SIZE 0)' in text
    assert b'"Work"' not in text
    res = await c.cmd('c LIST "" "%"')
    assert b'* LIST (\\HasChildren) "/" "Work"\r\n' in res
    res = await c.cmd('d LIST (SUBSCRIBED) "" "*"')
    assert all(b"\\Subscribed" in l for l in res[:-1])
    res = await c.cmd("e CREATE MyTrash (USE (\\Trash))")
    assert res[-1].startswith(b"e NO [USEATTR]")


async def test_sort_thread_and_searchres(imap):
    await imap.deliver(make_message(subject="beta", message_id="<a@x>"))
    await imap.deliver(make_message(subject="Re: beta", message_id="<b@x>",
                                    extra_headers="In-Reply-To: <a@x>\r\nReferences: <a@x>\r\n"))
    await imap.deliver(make_message(subject="alpha", message_id="<c@x>"))
    c = await logged_in(imap)
    await c.cmd("s SELECT INBOX")
    assert (await c.cmd("a SORT (SUBJECT) UTF-8 ALL"))[0] == b"* SORT 3 1 2\r\n"
    assert (await c.cmd("b SORT (REVERSE SIZE) UTF-8 ALL"))[0] == b"* SORT 2 3 1\r\n"
    assert (await c.cmd("c THREAD REFERENCES UTF-8 ALL"))[0] == b"* THREAD (1 2)(3)\r\n"
    assert (await c.cmd("d THREAD ORDEREDSUBJECT UTF-8 ALL"))[0] == b"* THREAD (1 2)(3)\r\n"
    res = await c.cmd('e SEARCH RETURN (SAVE) SUBJECT beta')
    assert res[0].startswith(b"e OK")
    res = await c.cmd("f FETCH $ (UID)")
    assert res[:2] == [b"* 1 FETCH (UID 1)\r\n", b"* 2 FETCH (UID 2)\r\n"]


async def test_conditional_store_reports_modified(imap):
    await imap.deliver()
    await imap.deliver()
    c = await logged_in(imap)
    await c.cmd("s SELECT INBOX (CONDSTORE)")
    res = await c.cmd("f FETCH 1:2 (MODSEQ)")
    modseq = int(res[0].split(b"MODSEQ (")[1].split(b")")[0])
    await imap.store.store_flags(imap.account.id, imap.inbox.id, [2], "add", ["$X"])
    res = await c.cmd(f"g STORE 1:2 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Seen)")
    assert res[-1].startswith(b"g OK [MODIFIED 2]"), res


async def test_quota_and_binary_append(imap):
    await imap.store.update_account(imap.account.id, quota_bytes=10 * 1024 * 1024)
    c = await logged_in(imap)
    res = await c.cmd("q GETQUOTAROOT INBOX")
    assert res[0] == b'* QUOTAROOT "INBOX" ""\r\n'
    assert res[1].startswith(b'* QUOTA "" (STORAGE 0 10240)')
    msg = b"Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\r\n"
    res = await c.cmd(b"a APPEND INBOX ~{%d+}\r\n" % len(msg) + msg)
    assert res[-1].startswith(b"a OK [APPENDUID")


async def test_flags_list_the_keywords_in_use_and_grow_when_one_is_added(imap):
    await imap.deliver(subject="a", flags=["$Work", "\\Seen"])
    await imap.deliver(subject="b")
    c = await logged_in(imap)
    other = await logged_in(imap)
    res = b"".join(await c.cmd("s SELECT INBOX"))
    assert b"* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Work)\r\n" in res
    assert b"[PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Work \\*)]" in res
    assert b"$Forwarded" not in res
    res = b"".join(await other.cmd("x EXAMINE INBOX"))
    assert b"[PERMANENTFLAGS ()]" in res
    res = b"".join(await c.cmd("t STORE 2 +FLAGS (Later $work)"))
    assert b"* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Work Later)\r\n" in res
    res = b"".join(await c.cmd("u STORE 1 +FLAGS (Later)"))
    assert b"* FLAGS" not in res                     # nothing new: not announced again
    res = b"".join(await other.cmd("y NOOP"))        # the other session learns it too
    assert b"* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Work Later)\r\n" in res
    c.close()
    other.close()

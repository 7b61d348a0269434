"""NOTIFY (RFC 5465) through raw sockets: changes made by another session or delivered by the
store (as SMTP does) are pushed to a waiting session within a second, without a command."""

import asyncio
import time

from postroom.store.api import Recipient
from tests.conftest import make_message
from tests.imap.test_session import Raw


async def logged_in(imap) -> Raw:
    c = await Raw.connect(imap.port)
    await c.login()
    return c


async def pushed(c: Raw, want: bytes, within: float = 1.0) -> list[bytes]:
    """Lines the server sends on its own until one holds ``want``; fails after ``within``."""
    lines = []
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        assert left > 0, (want, lines)
        try:
            line = await asyncio.wait_for(c.r.readline(), left)
        except asyncio.TimeoutError:
            raise AssertionError((want, lines)) from None
        lines.append(line)
        if want in line:
            return lines


async def silent(c: Raw, seconds: float = 0.4) -> None:
    try:
        line = await asyncio.wait_for(c.r.readline(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected push {line!r}")


async def test_selected_mailbox_gets_new_messages_with_fetch_attributes_and_expunges(imap):
    await imap.deliver(subject="old")
    c = await logged_in(imap)
    other = await logged_in(imap)
    await c.cmd("s SELECT INBOX")
    res = await c.cmd("n NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS "
                      "(SUBJECT)]) MessageExpunge FlagChange))")
    assert res[-1].startswith(b"n OK"), res
    start = time.monotonic()
    await imap.deliver(subject="fresh")
    lines = await pushed(c, b"FETCH")
    assert b"* 2 EXISTS\r\n" in lines
    assert lines[-1].startswith(b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {")
    assert time.monotonic() - start < 1.0
    assert b"Subject: fresh" in await c.line()
    await c.line()                          # the blank line and ")"
    await other.cmd("o SELECT INBOX")
    await other.cmd("p STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert b"FLAGS (\\Deleted)" in (await pushed(c, b"FETCH"))[-1]
    await other.cmd("q EXPUNGE")
    assert (await pushed(c, b"EXPUNGE"))[-1] == b"* 1 EXPUNGE\r\n"   # SELECTED: at once
    c.close()
    other.close()


async def test_other_mailboxes_get_status_on_delivery_and_flag_change(imap):
    work = await imap.store.create_mailbox(imap.account.id, "Work")
    c = await logged_in(imap)
    await c.cmd("s SELECT INBOX")
    res = await c.cmd("n NOTIFY SET STATUS (MAILBOXES Work (MessageNew MessageExpunge "
                      "FlagChange))")
    assert res[0] == b'* STATUS "Work" (MESSAGES 0 UIDNEXT 1 UNSEEN 0)\r\n', res
    # Delivered as the SMTP door does, straight through the store.
    await imap.store.deliver(make_message("hi"), [Recipient(imap.account.id, work.id)])
    line = (await pushed(c, b"STATUS"))[-1]
    assert line == b'* STATUS "Work" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\r\n'
    await imap.store.store_flags(imap.account.id, work.id, [1], "add", ["\\Seen"])
    line = (await pushed(c, b"STATUS"))[-1]
    assert line == b'* STATUS "Work" (MESSAGES 1 UIDNEXT 2 UNSEEN 0)\r\n'
    await imap.deliver(subject="to inbox")  # INBOX is selected but not asked for: no push
    await silent(c)
    c.close()


async def test_mailbox_names_and_subscriptions_are_pushed(imap):
    c = await logged_in(imap)
    other = await logged_in(imap)
    res = await c.cmd("n NOTIFY SET (PERSONAL (MailboxName SubscriptionChange))")
    assert res[-1].startswith(b"n OK"), res
    await other.cmd("a CREATE Projects")
    assert (await pushed(c, b"Projects"))[-1] == b'* LIST () "/" "Projects"\r\n'
    await other.cmd("b RENAME Projects Done")
    assert (await pushed(c, b"Done"))[-1] == \
        b'* LIST () "/" "Done" ("OLDNAME" ("Projects"))\r\n'
    await other.cmd("c SUBSCRIBE Done")
    assert (await pushed(c, b"Subscribed"))[-1] == b'* LIST (\\Subscribed) "/" "Done"\r\n'
    await other.cmd("d DELETE Done")
    lines = await pushed(c, b"NonExistent")
    assert b'* LIST (\\NonExistent) "/" "Done"\r\n' in lines
    c.close()
    other.close()


async def test_notify_none_stops_pushes_and_bad_event_sets_are_refused(imap):
    c = await logged_in(imap)
    await c.cmd("s SELECT INBOX")
    assert (await c.cmd("a NOTIFY SET (SELECTED (MessageNew))"))[-1].startswith(b"a BAD")
    assert (await c.cmd("b NOTIFY SET (PERSONAL (FlagChange))"))[-1].startswith(b"b BAD")
    res = await c.cmd("c NOTIFY SET (PERSONAL (MessageNew MessageExpunge AnnotationChange))")
    assert res[-1].startswith(b"c NO [BADEVENT (MessageNew MessageExpunge FlagChange "
                              b"MailboxName SubscriptionChange)]")
    assert (await c.cmd("d NOTIFY SET (SELECTED (MessageNew MessageExpunge))"))[-1] \
        .startswith(b"d OK")
    await imap.deliver()
    assert (await pushed(c, b"EXISTS"))[-1] == b"* 1 EXISTS\r\n"
    assert (await c.cmd("e NOTIFY NONE"))[-1].startswith(b"e OK")
    await imap.deliver()
    await silent(c)
    res = await c.cmd("f NOOP")             # the normal rules still apply
    assert res[0] == b"* 2 EXISTS\r\n"
    c.close()


async def test_notify_events_reach_a_session_in_idle(imap):
    work = await imap.store.create_mailbox(imap.account.id, "Work")
    c = await logged_in(imap)
    await c.cmd("n NOTIFY SET (INBOXES (MessageNew MessageExpunge)) "
                "(MAILBOXES Work (MessageNew MessageExpunge))")
    c.w.write(b"i IDLE\r\n")
    assert (await c.line()).startswith(b"+ ")
    await imap.store.append(imap.account.id, work.id, make_message("x"))
    assert (await pushed(c, b"STATUS"))[-1].startswith(b'* STATUS "Work" (MESSAGES 1 ')
    await imap.deliver()
    assert (await pushed(c, b"STATUS"))[-1].startswith(b'* STATUS "INBOX" (MESSAGES 1 ')
    c.w.write(b"DONE\r\n")
    assert (await c.line()).startswith(b"i OK")
    c.close()

"""QUOTA (RFC 9208): one quota root "" per account with the STORAGE resource, in KiB, from the
account's quota and usage. SETQUOTA is for administrators (the CLI), so it is refused here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.imap.args import Args, No, as_text, mailbox_name
from postroom.imap.commands.mailboxes import name_out
from postroom.imap.wire import Command

if TYPE_CHECKING:
    from postroom.imap.session import Session


async def _quota_line(s: "Session") -> str | None:
    account = await s.store.get_account_by_id(s.account_id)
    if account is None or account.quota_bytes <= 0:
        return None
    used = (account.used_bytes + 1023) // 1024
    return f'QUOTA "" (STORAGE {used} {account.quota_bytes // 1024})'


async def getquotaroot(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    a.end()
    mbox = await s.store.get_mailbox(s.account_id, name)
    if mbox is None:
        raise No("No such mailbox", "NONEXISTENT")
    line = await _quota_line(s)
    s.send(b"* QUOTAROOT " + name_out(s, mbox.name) + (b' ""' if line else b"") + b"\r\n")
    if line:
        s.untagged(line)
    return "GETQUOTAROOT completed"


async def getquota(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    root = as_text(a.next("quota root"))
    a.end()
    line = await _quota_line(s)
    if root != "" or line is None:
        raise No("No such quota root", "NONEXISTENT")
    s.untagged(line)
    return "GETQUOTA completed"


async def setquota(s: "Session", cmd: Command) -> str:
    raise No("Quotas are set by the administrator", "NOPERM")


HANDLERS = {"GETQUOTAROOT": getquotaroot, "GETQUOTA": getquota, "SETQUOTA": setquota}

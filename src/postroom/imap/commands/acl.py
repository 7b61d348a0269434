"""ACL (RFC 4314 §3): SETACL, DELETEACL, GETACL, LISTRIGHTS and MYRIGHTS on the store's generic
share table (object kind "mailbox"). An identifier is a user's login address; the owner holds
every right implicitly and is listed first. "anyone" and negative rights are not kept by the
store, so they are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.imap.args import Args, Bad, No, as_text, mailbox_name
from postroom.imap.commands.mailboxes import name_out
from postroom.imap.shared import Place, find_or_fail
from postroom.imap.wire import Command, astring
from postroom.store.api import ACL_MAILBOX, Account

if TYPE_CHECKING:
    from postroom.imap.session import Session

# RFC 4314 §2.1.1: the RFC 2086 rights "c" and "d" stand for these.
OBSOLETE = {"c": "kx", "d": "xte"}


async def setacl(s: "Session", cmd: Command) -> str:
    place, grantee, mod = await _acl_args(s, cmd, with_rights=True)
    every = await _owner_rights(s, place)
    op = mod[:1] if mod[:1] in ("+", "-") else ""
    asked = _rights(mod[len(op):], every)
    now = set(await s.store.rights_of(grantee.id, place.account_id, ACL_MAILBOX,
                                      place.mailbox.id))
    new = now | asked if op == "+" else now - asked if op == "-" else asked
    await s.store.set_rights(place.account_id, ACL_MAILBOX, place.mailbox.id, grantee.id,
                             "".join(r for r in every if r in new))
    return "SETACL completed"


async def deleteacl(s: "Session", cmd: Command) -> str:
    place, grantee, _ = await _acl_args(s, cmd)
    await s.store.set_rights(place.account_id, ACL_MAILBOX, place.mailbox.id, grantee.id, "")
    return "DELETEACL completed"


async def getacl(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    place = await _place(s, a)
    a.end()
    place.require("a", "reading the access list")
    owner = await s.store.get_account_by_id(place.account_id)
    assert owner is not None
    out = [b"* ACL", name_out(s, place.name), astring(owner.email),
           (await _owner_rights(s, place)).encode()]
    for share in await s.store.list_rights(place.account_id, ACL_MAILBOX, place.mailbox.id):
        grantee = await s.store.get_account_by_id(share.grantee_account_id)
        if grantee is not None:
            out += [astring(grantee.email), _rights_out(share.rights)]
    s.send(b" ".join(out) + b"\r\n")
    return "GETACL completed"


async def listrights(s: "Session", cmd: Command) -> str:
    place, grantee, _ = await _acl_args(s, cmd, owner_ok=True)
    every = await _owner_rights(s, place)
    if grantee.id == place.account_id:
        rights = [every]                    # the owner's are fixed
    else:
        rights = [""] + list(every)         # none required, each one grantable alone
    s.send(b"* LISTRIGHTS " + name_out(s, place.name) + b" " + astring(grantee.email) + b" "
           + b" ".join(_rights_out(r) for r in rights) + b"\r\n")
    return "LISTRIGHTS completed"


async def myrights(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    place = await _place(s, a)
    a.end()
    s.send(b"* MYRIGHTS " + name_out(s, place.name) + b" " + _rights_out(place.rights)
           + b"\r\n")
    return "MYRIGHTS completed"


def _rights_out(rights: str) -> bytes:
    """Rights as an atom of letters; none as the empty string (RFC 4314 §4 rights)."""
    return rights.encode() if rights else b'""'


async def _acl_args(s: "Session", cmd: Command, *, with_rights: bool = False,
                    owner_ok: bool = False) -> tuple[Place, Account, str]:
    """``mailbox identifier [rights]`` of SETACL, DELETEACL and LISTRIGHTS, which need the
    "a" right (RFC 4314 §4)."""
    a = Args(cmd.args)
    place = await _place(s, a)
    who = as_text(a.next("identifier"))
    rights = as_text(a.next("rights")) if with_rights else ""
    a.end()
    place.require("a", "the access list is the owner's and its administrators'")
    return place, await _grantee(s, place, who, owner_ok), rights


async def _place(s: "Session", a: Args) -> Place:
    return await find_or_fail(s, mailbox_name(a.next("mailbox name"), utf8=s.utf8))


async def _grantee(s: "Session", place: Place, who: str, owner_ok: bool = False) -> Account:
    if who.lower() == "anyone" or who.startswith("-"):
        raise No("Only users can be granted rights, not groups or negative rights", "CANNOT")
    account = await s.store.get_account(who)
    if account is None:
        raise No("No such user", "NONEXISTENT")
    if account.id == place.account_id and not owner_ok:
        raise No("The owner's rights cannot change", "CANNOT")
    return account


async def _owner_rights(s: "Session", place: Place) -> str:
    """Every right there is: the owner's, in RFC 4314 order."""
    return await s.store.rights_of(place.account_id, place.account_id, ACL_MAILBOX,
                                   place.mailbox.id)


def _rights(text: str, every: str) -> set[str]:
    out: set[str] = set()
    for r in text:
        if r in OBSOLETE:
            out.update(OBSOLETE[r])
        elif r in every:
            out.add(r)
        else:
            raise Bad(f"Unknown right {r!r}")   # RFC 4314 §3.1
    return out


HANDLERS = {"SETACL": setacl, "DELETEACL": deleteacl, "GETACL": getacl,
            "LISTRIGHTS": listrights, "MYRIGHTS": myrights}

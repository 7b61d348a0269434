"""Mailboxes other users shared (RFC 4314 ACL, RFC 2342 NAMESPACE): a colleague's folder
appears as ``Other Users/<owner's address>/<folder>``; the door checks the session user's rights
from the store's ACL table, then reads and writes it through the owner's account id.

The rights are RFC 4314 §2.1 letters: l lookup, r read, s keep \\Seen, w write other flags,
i insert, p post, k create children, x delete mailbox, t delete messages, e expunge, a admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from postroom.imap.args import No
from postroom.store.api import ACL_MAILBOX, DELETED, SEEN, SEPARATOR, Mailbox

if TYPE_CHECKING:
    from postroom.imap.session import Session

OTHER_USERS = "Other Users"       # the other users' namespace prefix (RFC 2342 §5)


@dataclass(frozen=True, slots=True)
class Place:
    """A mailbox as one session sees it: whose it is, and what the session may do there."""
    account_id: int               # the owner's: every store call on the mailbox uses it
    mailbox: Mailbox
    rights: str
    name: str                     # the name the client uses

    @property
    def shared(self) -> bool:
        return self.name.startswith(OTHER_USERS + SEPARATOR)

    def require(self, rights: str, what: str) -> None:
        """NO [NOPERM] unless every right in ``rights`` is held (RFC 4314 §4)."""
        if any(r not in self.rights for r in rights):
            raise No(f"Permission denied: {what}", "NOPERM")


def right_for_flag(flag: str) -> str:
    """RFC 4314 §4: setting \\Seen needs "s", \\Deleted "t", any other flag "w"."""
    return "s" if flag == SEEN else "t" if flag == DELETED else "w"


def shared_name(owner_email: str, name: str) -> str:
    return f"{OTHER_USERS}{SEPARATOR}{owner_email}{SEPARATOR}{name}"


async def find(s: "Session", name: str) -> Place | None:
    """The mailbox a client names, own or shared. A shared mailbox the user may neither look
    up nor read is reported as absent, so its existence is not revealed (RFC 4314 §4)."""
    prefix = OTHER_USERS + SEPARATOR
    if not name.startswith(prefix):
        mbox = await s.store.get_mailbox(s.account_id, name)
        if mbox is None:
            return None
        rights = await s.store.rights_of(s.account_id, s.account_id, ACL_MAILBOX, mbox.id)
        return Place(s.account_id, mbox, rights, mbox.name)
    email, _, inner = name[len(prefix):].partition(SEPARATOR)
    owner = await s.store.get_account(email)
    if owner is None or owner.id == s.account_id or not inner:
        return None
    mbox = await s.store.get_mailbox(owner.id, inner)
    if mbox is None:
        return None
    rights = await s.store.rights_of(s.account_id, owner.id, ACL_MAILBOX, mbox.id)
    if "l" not in rights and "r" not in rights:
        return None
    return Place(owner.id, mbox, rights, shared_name(owner.email, mbox.name))


async def find_or_fail(s: "Session", name: str, code: str = "NONEXISTENT") -> Place:
    place = await find(s, name)
    if place is None:
        raise No("No such mailbox", code)
    return place


async def shared_with_me(s: "Session") -> list[Place]:
    """Every mailbox shared with the session's user that it may look up (LIST)."""
    out = []
    owners: dict[int, str | None] = {}
    for share in await s.store.shared_with(s.account_id, ACL_MAILBOX):
        if "l" not in share.rights:
            continue
        if share.owner_account_id not in owners:
            owner = await s.store.get_account_by_id(share.owner_account_id)
            owners[share.owner_account_id] = owner.email if owner else None
        email = owners[share.owner_account_id]
        mbox = await s.store.get_mailbox_by_id(share.owner_account_id, share.object_id) \
            if email else None
        if mbox is not None:
            out.append(Place(share.owner_account_id, mbox, share.rights,
                             shared_name(email, mbox.name)))
    return out

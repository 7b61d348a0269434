"""What a POP3 DELE does to the mailbox: the delete policy, applied in the UPDATE state
(RFC 1939 §6) and only there, so a connection dropped before QUIT deletes nothing.

The policy is the account's ``pop3_delete`` setting, else the server's ``pop3.delete_policy``:

- ``hide`` (the default): the message disappears from POP3 only (``Store.set_hidden``) and stays
  in the INBOX for IMAP, ActiveSync and the web app. A POP3 client set to "delete after
  download" on one device can then never destroy the mail another device still reads, which is
  the classic way POP3 loses mail; the user deletes it from the other doors when done.
- ``trash``: the message moves to the account's \\Trash role mailbox, recoverable from there. If
  the account has no Trash (or the maildrop *is* the Trash), it is hidden instead.
- ``expunge``: classic POP3, the message is removed from the mailbox for every door.

An unknown value in an account's settings counts as ``hide``: a typo must not lose mail.
Messages another session removed meanwhile are skipped, whatever the policy.
"""

from __future__ import annotations

import logging
from typing import Sequence

from postroom.context import ServerContext
from postroom.store.api import ROLE_TRASH, Account, Mailbox

log = logging.getLogger("postroom.pop3")

HIDE = "hide"
TRASH = "trash"
EXPUNGE = "expunge"
POLICIES = (HIDE, TRASH, EXPUNGE)


def delete_policy(ctx: ServerContext, account: Account) -> str:
    policy = account.settings.get("pop3_delete") or ctx.config.pop3.delete_policy
    if policy not in POLICIES:
        log.warning("pop3: unknown delete policy %r for %s, hiding instead", policy,
                    account.email)
        return HIDE
    return policy


async def apply_delete_policy(ctx: ServerContext, account: Account, mailbox: Mailbox,
                              uids: Sequence[int]) -> str:
    """Applies the account's policy to the messages marked deleted; returns the policy used."""
    store = ctx.store
    present = set(await store.uids(account.id, mailbox.id))
    uids = [u for u in uids if u in present]
    policy = delete_policy(ctx, account)
    if not uids:
        return policy
    if policy == TRASH:
        trash = await store.get_mailbox_by_role(account.id, ROLE_TRASH)
        if trash is not None and trash.id != mailbox.id:
            await store.move(account.id, mailbox.id, uids, trash.id)
            return TRASH
        policy = HIDE
    if policy == EXPUNGE:
        await store.remove(account.id, mailbox.id, uids)
    else:
        await store.set_hidden(account.id, mailbox.id, uids)
    return policy

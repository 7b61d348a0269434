"""Mailbox commands: NAMESPACE, LIST (RFC 9051 §6.3.9 with LIST-EXTENDED RFC 5258, LIST-STATUS
RFC 5819, SPECIAL-USE RFC 6154), LSUB, CREATE (CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE and STATUS (STATUS=SIZE RFC 8438, CONDSTORE HIGHESTMODSEQ, OBJECTID MAILBOXID)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from postroom.imap.args import Args, Bad, No, as_text, encode_mailbox, mailbox_name
from postroom.imap.shared import OTHER_USERS, find_or_fail, shared_with_me
from postroom.imap.wire import Command, astring
from postroom.store.api import ROLE_INBOX, SEPARATOR, Mailbox, MailboxStatus

if TYPE_CHECKING:
    from postroom.imap.session import Session

SPECIAL_USES = {"\\ALL": "\\All", "\\ARCHIVE": "\\Archive", "\\DRAFTS": "\\Drafts",
                "\\FLAGGED": "\\Flagged", "\\JUNK": "\\Junk", "\\SENT": "\\Sent",
                "\\TRASH": "\\Trash"}
STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT",
                "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID")


def mailbox_objectid(mailbox: Mailbox) -> str:
    """RFC 8474 MAILBOXID: stable across RENAME, never reused."""
    return f"M{mailbox.id}"


def name_out(s: "Session", name: str) -> bytes:
    return astring(encode_mailbox(name, utf8=s.utf8), utf8=s.utf8)


async def namespace(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    # RFC 2342: the personal namespace and the folders other users shared (RFC 4314).
    s.untagged(f'NAMESPACE (("" "{SEPARATOR}")) (("{OTHER_USERS}{SEPARATOR}" "{SEPARATOR}")) '
               f'NIL')
    return "NAMESPACE completed"


def _pattern(pattern: str) -> re.Pattern:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(SEPARATOR)}]*")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _matches(rx: re.Pattern, name: str) -> bool:
    if rx.match(name):
        return True
    # INBOX is case-insensitive (RFC 9051 §5.1): "inbox" and "Inbox/%" find it.
    return name == "INBOX" and rx.match("inbox") is not None or \
        name.startswith("INBOX/") and rx.match("inbox" + name[5:]) is not None


def _pattern_rx(pattern: str) -> re.Pattern:
    if pattern[:5].upper() == "INBOX":
        pattern = "INBOX" + pattern[5:]
    return _pattern(pattern)


async def list_(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    selection: set[str] = set()
    tok = a.peek()
    if isinstance(tok, list):
        a.next()
        selection = {as_text(t).upper() for t in tok}
        unknown = selection - {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}
        if unknown:
            raise Bad(f"Unknown LIST selection option {sorted(unknown)[0][:30]}")
        if selection == {"RECURSIVEMATCH"} or selection == {"RECURSIVEMATCH", "REMOTE"}:
            raise Bad("RECURSIVEMATCH needs another selection option")   # RFC 5258 §3
    reference = mailbox_name(a.next("reference"), utf8=s.utf8)
    pats = a.next("mailbox pattern")
    patterns = pats if isinstance(pats, list) else [pats]
    if not patterns:
        raise Bad("Empty pattern list")
    ret: set[str] = set()
    status_items: list[str] = []
    if a.more():
        if str(a.next()).upper() != "RETURN":
            raise Bad("Expected RETURN")
        for i, t in enumerate(opts := a.list("return options")):
            if isinstance(t, list):
                continue
            name = as_text(t).upper()
            if name == "STATUS":
                if i + 1 >= len(opts) or not isinstance(opts[i + 1], list):
                    raise Bad("STATUS needs a list of items")
                status_items = [as_text(x).upper() for x in opts[i + 1]]
                for item in status_items:
                    if item not in STATUS_ITEMS:
                        raise Bad(f"Unknown STATUS item {item[:30]}")
            elif name not in ("SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "MYRIGHTS"):
                raise Bad(f"Unknown LIST return option {name[:30]}")
            ret.add(name)
    a.end()
    names = [mailbox_name(p, utf8=s.utf8) if not (isinstance(p, str) and p in ("*", "%"))
             else str(p) for p in patterns]
    if len(names) == 1 and names[0] == "" and not selection:
        # RFC 9051 §6.3.9: an empty pattern asks for the hierarchy delimiter.
        s.untagged(f'LIST (\\Noselect) "{SEPARATOR}" ""')
        return "LIST completed"
    await emit_list(s, "LIST", reference, names, selection, ret, status_items)
    return "LIST completed"


async def emit_list(s: "Session", verb: str, reference: str, patterns: list[str],
                    selection: set[str], ret: set[str], status_items: list[str]) -> None:
    mailboxes = await s.store.list_mailboxes(s.account_id)
    by_name: dict[str, Mailbox | None] = {m.name: m for m in mailboxes}
    # Shared folders under "Other Users/<owner>/", their two levels of parents not selectable.
    for place in await shared_with_me(s):
        by_name[place.name] = place.mailbox
        owner_level = place.name[:-len(place.mailbox.name) - 1]
        by_name.setdefault(owner_level, None)
        by_name.setdefault(OTHER_USERS, None)
    subscribed = set(await s.store.list_subscriptions(s.account_id)) \
        if ("SUBSCRIBED" in selection or "SUBSCRIBED" in ret or verb == "LSUB") else set()
    has_children = {n.rsplit(SEPARATOR, 1)[0] for n in by_name if SEPARATOR in n}
    rxs = [_pattern_rx(reference + p) for p in patterns if p != ""]
    candidates = sorted(set(by_name) | (subscribed if "SUBSCRIBED" in selection
                                         or verb == "LSUB" else set()),
                        key=lambda n: (n != "INBOX", n))
    emitted: set[str] = set()
    for name in candidates:
        if not any(_matches(rx, name) for rx in rxs):
            continue
        mbox = by_name.get(name)
        attrs: list[str] = []
        extended = ""
        if "SUBSCRIBED" in selection or verb == "LSUB":
            if name not in subscribed:
                if "RECURSIVEMATCH" in selection and any(
                        x.startswith(name + SEPARATOR) for x in subscribed):
                    extended = ' ("CHILDINFO" ("SUBSCRIBED"))'
                else:
                    continue
        if "SPECIAL-USE" in selection and (mbox is None or not _use_attr(mbox)):
            continue
        if mbox is None and name in by_name:
            attrs += ["\\Noselect", "\\HasChildren"] if verb == "LIST" else ["\\Noselect"]
        elif mbox is None:
            attrs.append("\\NonExistent" if verb == "LIST" else "\\Noselect")
        elif verb == "LIST":
            attrs.append("\\HasChildren" if name in has_children else "\\HasNoChildren")
            use = _use_attr(mbox)
            if use and (verb == "LIST"):
                attrs.append(use)
        if verb == "LIST" and name in subscribed and ("SUBSCRIBED" in selection
                                                      or "SUBSCRIBED" in ret):
            attrs.append("\\Subscribed")
        s.send(f"* {verb} ({' '.join(attrs)}) \"{SEPARATOR}\" ".encode() + name_out(s, name)
               + extended.encode() + b"\r\n")
        emitted.add(name)
        if status_items and mbox is not None:
            await status_response(s, mbox, status_items, name=name)
        await s.maybe_flush()


def _use_attr(mbox: Mailbox) -> str | None:
    if mbox.special_use and mbox.special_use != ROLE_INBOX:
        return mbox.special_use
    return None


async def lsub(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    reference = mailbox_name(a.next("reference"), utf8=s.utf8)
    pat = a.next("pattern")
    a.end()
    pattern = str(pat) if isinstance(pat, str) and pat in ("*", "%") \
        else mailbox_name(pat, utf8=s.utf8)
    await emit_list(s, "LSUB", reference, [pattern], set(), set(), [])
    return "LSUB completed"


async def create(s: "Session", cmd: Command) -> tuple[str, str]:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8).rstrip(SEPARATOR)
    use = None
    if a.more():
        params = a.list("CREATE parameters")
        # RFC 6154 §3: CREATE name (USE (\Sent))
        if len(params) != 2 or str(params[0]).upper() != "USE" or \
                not isinstance(params[1], list):
            raise Bad("Unknown CREATE parameters")
        uses = [SPECIAL_USES.get(str(u).upper()) for u in params[1]]
        if None in uses or len(uses) > 1:
            raise No("Unsupported special-use attribute", "USEATTR")
        use = uses[0] if uses else None
    a.end()
    if not name or name.upper() == "INBOX":
        raise No("Cannot create that mailbox", "ALREADYEXISTS" if name else "CANNOT")
    _not_other_users(name)
    if use is not None and await s.store.get_mailbox_by_role(s.account_id, use) is not None:
        raise No(f"A mailbox already has the {use} role", "USEATTR")
    mbox = await s.store.create_mailbox(s.account_id, name, special_use=use)
    return (f"MAILBOXID ({mailbox_objectid(mbox)})", "CREATE completed")


async def delete(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    a.end()
    if name == "INBOX":
        raise No("INBOX cannot be deleted", "CANNOT")
    mbox = await _mailbox(s, name)
    if s.selected is not None and s.selected.id == mbox.id:
        raise No("Cannot delete the selected mailbox; close it first", "INUSE")
    await s.store.delete_mailbox(s.account_id, mbox.id)
    return "DELETE completed"


async def rename(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    old = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    new = mailbox_name(a.next("new name"), utf8=s.utf8).rstrip(SEPARATOR)
    a.end()
    mbox = await _mailbox(s, old)
    if not new or new == "INBOX":
        raise No("Cannot rename to that name", "ALREADYEXISTS" if new else "CANNOT")
    _not_other_users(new)
    if await s.store.get_mailbox(s.account_id, new) is not None:
        raise No("A mailbox with that name exists", "ALREADYEXISTS")
    await s.store.rename_mailbox(s.account_id, mbox.id, new)
    return "RENAME completed"


async def subscribe(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    a.end()
    await find_or_fail(s, name)
    await s.store.subscribe(s.account_id, name, True)
    return "SUBSCRIBE completed"


async def unsubscribe(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    a.end()
    # Unsubscribing a name that no longer exists must work (RFC 9051 §6.3.8).
    await s.store.subscribe(s.account_id, name, False)
    return "UNSUBSCRIBE completed"


async def status(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    items = [as_text(t).upper() for t in a.list("status items")]
    a.end()
    if not items:
        raise Bad("No STATUS items")
    for item in items:
        if item not in STATUS_ITEMS:
            raise Bad(f"Unknown STATUS item {item[:30]}")
    place = await find_or_fail(s, name)
    place.require("r", "reading this mailbox")
    await status_response(s, place.mailbox, items, name=place.name)
    return "STATUS completed"


async def status_response(s: "Session", mbox: Mailbox, items: list[str],
                          st: MailboxStatus | None = None, name: str | None = None) -> None:
    """``* STATUS`` with ``items``, from ``st`` when the caller has read it already; ``name``
    is how the client names the mailbox when it is another user's (imap/shared.py)."""
    if st is None:
        st = await s.store.mailbox_status(mbox.account_id, mbox.id)
    values = {"MESSAGES": st.messages, "UIDNEXT": st.uidnext, "UIDVALIDITY": st.uidvalidity,
              "UNSEEN": st.unseen, "DELETED": st.deleted, "SIZE": st.size, "RECENT": 0,
              "HIGHESTMODSEQ": st.highestmodseq,
              "APPENDLIMIT": s.settings.max_literal_size,
              "MAILBOXID": f"({mailbox_objectid(mbox)})"}
    if "HIGHESTMODSEQ" in items and "CONDSTORE" not in s.enabled:
        # RFC 7162 §3.1.2: asking for it is a CONDSTORE-enabling command.
        s.enabled.add("CONDSTORE")
    body = " ".join(f"{i} {values[i]}" for i in dict.fromkeys(items))
    s.send(b"* STATUS " + name_out(s, name or mbox.name) + f" ({body})\r\n".encode())


def _not_other_users(name: str) -> None:
    """Names under "Other Users/" are other users' folders, never one of the user's own."""
    if name == OTHER_USERS or name.startswith(OTHER_USERS + SEPARATOR):
        raise No(f"Names under {OTHER_USERS} are other users' folders", "CANNOT")


async def _mailbox(s: "Session", name: str) -> Mailbox:
    mbox = await s.store.get_mailbox(s.account_id, name)
    if mbox is None:
        raise No("No such mailbox", "NONEXISTENT")
    return mbox


HANDLERS = {
    "NAMESPACE": namespace, "LIST": list_, "LSUB": lsub, "CREATE": create, "DELETE": delete,
    "RENAME": rename, "SUBSCRIBE": subscribe, "UNSUBSCRIBE": unsubscribe, "STATUS": status,
}

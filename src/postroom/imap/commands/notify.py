"""NOTIFY (RFC 5465): the client names mailboxes and the events it wants pushed; the session
then reports them while it waits for the next command (and during IDLE), off the store's change
log - never by polling.

The selected mailbox (SELECTED, SELECTED-DELAYED) gets EXISTS, EXPUNGE/VANISHED and FETCH as for
IDLE, plus the MessageNew fetch attributes; other mailboxes get a STATUS response when messages
arrive, go or change flags (§5.2-§5.4), and LIST responses when they are created, deleted or
renamed (MailboxName, §5.5) or (un)subscribed (SubscriptionChange, §5.6). The first event group
whose filter matches a mailbox decides what it reports (§6).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postroom.imap.args import Args, Bad, No, as_text, mailbox_name
from postroom.imap.commands.fetch import Plan, emit_fetch, parse_items
from postroom.imap.commands.mailboxes import name_out, status_response
from postroom.imap.wire import Command
from postroom.store.api import SEPARATOR, Mailbox, MailboxStatus, Subscription

if TYPE_CHECKING:
    from postroom.imap.selected import SelectedMailbox
    from postroom.imap.session import Session

MESSAGE_NEW = "MessageNew"
MESSAGE_EXPUNGE = "MessageExpunge"
FLAG_CHANGE = "FlagChange"
MAILBOX_NAME = "MailboxName"
SUBSCRIPTION_CHANGE = "SubscriptionChange"
EVENTS = {e.upper(): e for e in (MESSAGE_NEW, MESSAGE_EXPUNGE, FLAG_CHANGE, MAILBOX_NAME,
                                 SUBSCRIPTION_CHANGE)}
# Known to RFC 5465/5464 but not reported here: answered NO [BADEVENT] (§5).
UNSUPPORTED = {"ANNOTATIONCHANGE", "MAILBOXMETADATACHANGE", "SERVERMETADATACHANGE"}
SELECTED_FILTERS = ("SELECTED", "SELECTED-DELAYED")
OTHER_FILTERS = ("INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE", "MAILBOXES")


@dataclass(slots=True)
class EventGroup:
    """One ``(filter-mailboxes events)`` of NOTIFY SET."""
    filter: str                      # one of SELECTED_FILTERS or OTHER_FILTERS
    names: tuple[str, ...] = ()      # SUBTREE and MAILBOXES
    events: frozenset[str] = frozenset()
    fetch: Plan | None = None        # MessageNew's fetch attributes (selected mailbox only)

    def matches(self, name: str, subscriptions: set[str]) -> bool:
        if self.filter == "PERSONAL":
            return True
        if self.filter == "INBOXES":
            # Mail is delivered to INBOX only (no Sieve filing yet).
            return name == "INBOX"
        if self.filter == "SUBSCRIBED":
            return name in subscriptions
        if self.filter == "MAILBOXES":
            return name in self.names
        return any(name == n or name.startswith(n + SEPARATOR) for n in self.names)

    @property
    def message_events(self) -> bool:
        return MESSAGE_NEW in self.events


@dataclass
class Notify:
    """A session's NOTIFY state: its event groups, its wait on the account's changes, and what
    it last told the client of each mailbox (names, STATUS, subscriptions)."""
    selected: EventGroup | None
    others: list[EventGroup]
    subscription: Subscription
    modseq: int
    names: dict[int, str]
    subscriptions: set[str]
    told: dict[int, MailboxStatus] = field(default_factory=dict)

    def group_for(self, name: str) -> EventGroup | None:
        for g in self.others:
            if g.matches(name, self.subscriptions):
                return g
        return None

    def wants(self, event: str) -> bool:
        return any(event in g.events for g in self.others)

    async def wait(self) -> bool:
        return await self.subscription.wait()

    def close(self) -> None:
        self.subscription.close()

    async def deliver(self, s: "Session") -> None:
        """Reports what changed since the last look, as the event groups ask."""
        top = await s.store.account_modseq(s.account_id)
        changed = await s.store.mailboxes_changed_since(s.account_id, self.modseq) \
            if top > self.modseq else []
        self.modseq = max(self.modseq, top)
        mailboxes: dict[int, Mailbox] | None = None
        if changed:
            mailboxes = {m.id: m for m in await s.store.list_mailboxes(s.account_id)}
            self._names_changed(s, changed, mailboxes)
        if self.wants(SUBSCRIPTION_CHANGE):
            await self._subscriptions_changed(s)
        view = s.selected
        for mailbox_id in changed:
            if view is not None and mailbox_id == view.id:
                if self.selected is not None and self.selected.message_events:
                    await _selected_changed(s, view, self.selected)
                continue
            mbox = mailboxes.get(mailbox_id) if mailboxes else None
            group = self.group_for(mbox.name) if mbox is not None else None
            if mbox is None or group is None or not group.message_events:
                continue
            st = await s.store.mailbox_status(s.account_id, mbox.id)
            before = self.told.get(mbox.id)
            if before is None or (before.messages, before.uidnext) != (st.messages, st.uidnext) \
                    or (FLAG_CHANGE in group.events and before != st):
                await self.send_status(s, mbox, st)

    async def send_status(self, s: "Session", mbox: Mailbox,
                          st: MailboxStatus | None = None) -> None:
        """§5.2-§5.4: MESSAGES and UIDNEXT (new or expunged), UNSEEN (flags), and with CONDSTORE
        HIGHESTMODSEQ."""
        if st is None:
            st = await s.store.mailbox_status(s.account_id, mbox.id)
        items = ["MESSAGES", "UIDNEXT", "UNSEEN"] + (["HIGHESTMODSEQ"] if s.condstore else [])
        await status_response(s, mbox, items, st)
        self.told[mbox.id] = st

    def _names_changed(self, s: "Session", changed: list[int],
                       mailboxes: dict[int, Mailbox]) -> None:
        """§5.5: LIST for a created mailbox, LIST (\\NonExistent) for a deleted one, LIST with
        OLDNAME (RFC 5465 §5.4, RFC 5258 §3.1.1's extended data) for a renamed one."""
        sep = f' "{SEPARATOR}" '.encode()
        for mailbox_id in changed:
            old = self.names.get(mailbox_id)
            new = mailboxes.get(mailbox_id)
            if old is None and new is None or new is not None and new.name == old:
                continue
            name = new.name if new is not None else old
            group = self.group_for(name) or (self.group_for(old) if old else None)
            if group is not None and MAILBOX_NAME in group.events:
                if new is None:
                    s.send(b"* LIST (\\NonExistent)" + sep + name_out(s, name) + b"\r\n")
                elif old is None:
                    s.send(b"* LIST ()" + sep + name_out(s, name) + b"\r\n")
                else:
                    s.send(b"* LIST ()" + sep + name_out(s, name) + b' ("OLDNAME" ('
                           + name_out(s, old) + b"))\r\n")
            if new is None:
                self.names.pop(mailbox_id, None)
                self.told.pop(mailbox_id, None)
            else:
                self.names[mailbox_id] = new.name

    async def _subscriptions_changed(self, s: "Session") -> None:
        now = set(await s.store.list_subscriptions(s.account_id))
        sep = f' "{SEPARATOR}" '.encode()
        for name in sorted(now ^ self.subscriptions):
            group = self.group_for(name)
            if group is not None and SUBSCRIPTION_CHANGE in group.events:
                attrs = b"(\\Subscribed)" if name in now else b"()"
                s.send(b"* LIST " + attrs + sep + name_out(s, name) + b"\r\n")
        self.subscriptions = now


async def _selected_changed(s: "Session", view: "SelectedMailbox", group: EventGroup) -> None:
    """EXISTS, FETCH FLAGS and (unless SELECTED-DELAYED) expunges at once, then the MessageNew
    fetch attributes of the new messages."""
    top = view.uids[-1] if view.uids else 0
    await view.report_changes(s, allow_expunge=group.filter == "SELECTED")
    if group.fetch is not None:
        new = list(view.uids[bisect_right(view.uids, top):])
        if new:
            await emit_fetch(s, view, new, group.fetch)


# --- the command --------------------------------------------------------------------------------

async def notify(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    verb = a.atom("NONE or SET").upper()
    if verb == "NONE":
        a.end()
        _stop(s)
        return "NOTIFY completed"
    if verb != "SET":
        raise Bad("NOTIFY takes SET or NONE")
    send_status = False
    if isinstance(a.peek(), str) and a.peek().upper() == "STATUS":
        a.next()
        send_status = True
    groups = [_event_group(tok, s.utf8) for tok in a.tokens[a.i:]]
    if not groups:
        raise Bad("NOTIFY SET needs event groups")
    selected = [g for g in groups if g.filter in SELECTED_FILTERS]
    if len(selected) > 1:
        raise Bad("SELECTED given more than once")
    _stop(s)
    mailboxes = await s.store.list_mailboxes(s.account_id)
    subscriptions = set(await s.store.list_subscriptions(s.account_id))
    sub = s.store.notifier.subscribe(s.account_id)
    s.notify = Notify(selected[0] if selected else None,
                      [g for g in groups if g.filter not in SELECTED_FILTERS], sub,
                      await s.store.account_modseq(s.account_id),
                      {m.id: m.name for m in mailboxes}, subscriptions)
    if send_status:
        # §3: STATUS at once for every mailbox with message events, the selected one aside.
        for mbox in mailboxes:
            group = s.notify.group_for(mbox.name)
            if group is not None and group.message_events and \
                    (s.selected is None or s.selected.id != mbox.id):
                await s.notify.send_status(s, mbox)
    return "NOTIFY completed"


def _stop(s: "Session") -> None:
    if s.notify is not None:
        s.notify.close()
        s.notify = None


def _event_group(tok, utf8: bool) -> EventGroup:
    """``(filter-mailboxes events)``; events are a list or NONE (RFC 5465 §8)."""
    if not isinstance(tok, list) or not tok:
        raise Bad("Each event group is a parenthesized list")
    kind = as_text(tok[0]).upper()
    rest = tok[1:]
    names: tuple[str, ...] = ()
    if kind in ("SUBTREE", "MAILBOXES"):
        if not rest:
            raise Bad(f"{kind} needs mailbox names")
        one = rest[0]
        names = tuple(mailbox_name(n, utf8=utf8) for n in (one if isinstance(one, list)
                                                          else [one]))
        rest = rest[1:]
    elif kind not in SELECTED_FILTERS + OTHER_FILTERS:
        raise Bad(f"Unknown NOTIFY filter {kind[:30]}")
    if len(rest) == 1 and isinstance(rest[0], list):
        rest = rest[0]
    elif len(rest) == 1 and as_text(rest[0]).upper() == "NONE":
        rest = []
    events: set[str] = set()
    fetch: Plan | None = None
    i = 0
    while i < len(rest):
        name = as_text(rest[i]).upper()
        i += 1
        if name in UNSUPPORTED:
            raise No("Unsupported event", "BADEVENT (" + " ".join(EVENTS.values()) + ")")
        if name not in EVENTS:
            raise Bad(f"Unknown NOTIFY event {name[:30]}")
        events.add(EVENTS[name])
        if name == "MESSAGENEW" and i < len(rest) and isinstance(rest[i], list):
            if kind not in SELECTED_FILTERS:
                raise Bad("Fetch attributes are for the selected mailbox only")
            fetch = parse_items(rest[i])
            if fetch.sets_seen:
                raise Bad("MessageNew fetch attributes may not set \\Seen")   # §5.2
            i += 1
    # §5: MessageNew and MessageExpunge go together; FlagChange needs both.
    if (MESSAGE_NEW in events) != (MESSAGE_EXPUNGE in events):
        raise Bad("MessageNew and MessageExpunge must be given together")
    if FLAG_CHANGE in events and MESSAGE_NEW not in events:
        raise Bad("FlagChange needs MessageNew and MessageExpunge")
    if kind in SELECTED_FILTERS and events - {MESSAGE_NEW, MESSAGE_EXPUNGE, FLAG_CHANGE}:
        raise Bad("Only message events apply to the selected mailbox")
    return EventGroup(kind, names, frozenset(events), fetch)


HANDLERS = {"NOTIFY": notify}

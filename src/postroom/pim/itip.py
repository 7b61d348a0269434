"""Scheduling like Exchange: iTIP (RFC 5546) with server-side delivery as in CalDAV
auto-schedule (RFC 6638 §3.2) and iMIP mail (RFC 6047) for attendees elsewhere.

- An organizer saves an event with attendees (any door): local attendees get it in their default
  calendar (PARTSTAT=NEEDS-ACTION), in their schedule inbox and as an invitation mail; others get
  the iMIP mail through ``postroom.submission.submit``. Removed attendees and deleted events get
  a CANCEL.
- An attendee changes their PARTSTAT (or deletes the event: DECLINED): the organizer's copy is
  updated directly when the organizer is local, else a REPLY goes out by iMIP. A delegate with
  write access to the attendee's calendar replies on the owner's behalf (SENT-BY).
- iMIP arriving by SMTP is applied by :func:`handle_incoming_imip` (the SMTP door calls it on
  local delivery): REPLY updates the organizer's copy, REQUEST and CANCEL the attendee's.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import functools
import hashlib
import logging
import uuid
from email.message import EmailMessage
from typing import TYPE_CHECKING

import icalendar

from postroom.pim.model import UTC, InvalidData, index_calendar, parse_calendar
from postroom.store.api import (
    COLLECTION_CALENDAR, COLLECTION_INBOX, Account, Collection, Item, Store, StoreError,
)

if TYPE_CHECKING:
    from postroom.config import Config
    from postroom.context import ServerContext

log = logging.getLogger("postroom.itip")

PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")


# --- helpers ------------------------------------------------------------------------------------

def _addr(value) -> str:
    return str(value).strip().lower().removeprefix("mailto:")


def _attendees(comp) -> list:
    a = comp.get("ATTENDEE") or []
    return a if isinstance(a, list) else [a]


def _partstat(comp, address: str) -> str | None:
    for a in _attendees(comp):
        if _addr(a) == address:
            return str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return None


def _set_partstat(comp, address: str, partstat: str, sent_by: str | None = None) -> bool:
    changed = False
    for a in _attendees(comp):
        if _addr(a) == address:
            if str(a.params.get("PARTSTAT", "")).upper() != partstat:
                changed = True
            a.params["PARTSTAT"] = partstat
            a.params.pop("RSVP", None)
            if sent_by:
                a.params["SENT-BY"] = f"mailto:{sent_by}"
    return changed


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def _times(comp) -> tuple:
    return tuple(str(comp.get(k).to_ical()) if comp.get(k) is not None else ""
                 for k in ("DTSTART", "DTEND", "DURATION", "RRULE"))


async def own_addresses(store: Store, account: Account) -> set[str]:
    """The lower-case addresses that are ``account`` in ORGANIZER and ATTENDEE."""
    return {a.lower() for a in await store.addresses_of(account.id)} | {account.email}


def _itip_calendar(method: str, components: list) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("PRODID", "-//Postroom//iTIP//EN")
    cal.add("VERSION", "2.0")
    cal.add("METHOD", method)
    for c in components:
        cal.add_component(c)
    return cal


def _copy_component(comp):
    return type(comp).from_ical(comp.to_ical())


def _with_timezones(source: icalendar.Calendar, cal: icalendar.Calendar) -> icalendar.Calendar:
    for tz in source.walk("VTIMEZONE"):
        cal.subcomponents.insert(0, tz)
    return cal


# --- building iMIP mail (RFC 6047) --------------------------------------------------------------

def imip_message(method: str, cal: icalendar.Calendar, sender: str, recipients: list[str],
                 summary: str) -> bytes:
    verb = {"REQUEST": "Invitation", "CANCEL": "Cancelled", "REPLY": "Reply",
            "COUNTER": "New time proposed"}.get(method, method)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = f"{verb}: {summary}" if summary else verb
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or "postroom")
    msg.set_content(f"{verb}: {summary}\n")
    msg.add_alternative(cal.to_ical().decode("utf-8"), subtype="calendar",
                        params={"method": method})
    return msg.as_bytes(policy=email.policy.SMTP)


async def _send_imip(ctx: "ServerContext | None", store: Store, sender: Account, method: str,
                     cal: icalendar.Calendar, recipients: list[str], summary: str) -> None:
    if not recipients or ctx is None:
        return
    raw = imip_message(method, cal, sender.email, recipients, summary)
    try:
        from postroom.submission import submit
        await submit(store, sender, sender.email, recipients, raw, config=ctx.config)
    except Exception as e:  # a failed mail must not fail the calendar change
        log.warning("iMIP %s from %s to %s not sent: %s", method, sender.email, recipients, e)


# --- delivery into a local calendar -------------------------------------------------------------

async def _default_calendar(store: Store, account: Account) -> Collection | None:
    c = await store.get_collection_by_role(account.id, "calendar")
    if c is None:
        cals = [c for c in await store.list_collections(account.id, COLLECTION_CALENDAR)
                if "VEVENT" in c.components]
        c = cals[0] if cals else None
    return c


async def _to_schedule_inbox(store: Store, account: Account, cal: icalendar.Calendar) -> None:
    inbox = await store.get_collection_by_role(account.id, "schedule-inbox")
    if inbox is None or inbox.kind != COLLECTION_INBOX:
        return
    try:
        obj = parse_calendar(cal.to_ical().decode(), allow_methods=True)
        await store.put_item(account.id, inbox.id, f"{uuid.uuid4()}.ics", obj.to_ical(),
                             index_calendar(obj))
    except (InvalidData, StoreError) as e:
        log.info("schedule inbox of %s: %s", account.email, e)


async def _save(store: Store, account: Account, collection: Collection, name: str,
                cal: icalendar.Calendar, if_match: int | None) -> Item | None:
    text = cal.to_ical().decode("utf-8")
    obj = parse_calendar(text)
    try:
        return await store.put_item(account.id, collection.id, name, text, index_calendar(obj),
                                    if_match=if_match, if_none_match=if_match is None)
    except StoreError as e:
        log.info("scheduling into %s's calendar: %s", account.email, e)
        return None


async def deliver_request(store: Store, attendee: Account, cal: icalendar.Calendar) -> None:
    """An organizer's REQUEST lands in a local attendee's calendar (new or updated); the
    attendee's own PARTSTAT survives an update that does not move the event."""
    comps = [c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO")]
    if not comps:
        return
    uid = str(comps[0].get("UID"))
    me = attendee.email
    existing = await store.find_items_by_uid(attendee.id, uid)
    new = icalendar.Calendar()
    for k, v in cal.property_items(recursive=False):
        if k not in ("BEGIN", "END", "METHOD"):
            new.add(k, v, encode=0)
    old_by_rid = {}
    if existing:
        old_cal = parse_calendar(existing[0].text).calendar
        old_by_rid = {str(c.get("RECURRENCE-ID", "")): c for c in old_cal.subcomponents
                      if c.name in ("VEVENT", "VTODO")}
    for tz in cal.walk("VTIMEZONE"):
        new.add_component(tz)
    for comp in comps:
        c = _copy_component(comp)
        old = old_by_rid.get(str(c.get("RECURRENCE-ID", "")))
        prev = _partstat(old, me) if old is not None else None
        if prev and prev != "NEEDS-ACTION" and _times(old) == _times(c):
            _set_partstat(c, me, prev)
        new.add_component(c)
    if existing:
        item = existing[0]
        collection = await store.get_collection_by_id(attendee.id, item.collection_id)
        await _save(store, attendee, collection, item.name, new, item.modseq)
    else:
        collection = await _default_calendar(store, attendee)
        if collection is not None:
            await _save(store, attendee, collection, f"{_safe_name(uid)}.ics", new, None)


def _safe_name(uid: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in uid)[:200]
    return name or str(uuid.uuid4())


async def deliver_cancel(store: Store, attendee: Account, cal: icalendar.Calendar) -> None:
    comps = [c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO")]
    if not comps:
        return
    uid = str(comps[0].get("UID"))
    for item in await store.find_items_by_uid(attendee.id, uid):
        mine = parse_calendar(item.text).calendar
        rids = {str(c.get("RECURRENCE-ID", "")) for c in comps}
        for c in mine.subcomponents:
            if c.name in ("VEVENT", "VTODO") and ("" in rids or
                                                 str(c.get("RECURRENCE-ID", "")) in rids):
                c["STATUS"] = "CANCELLED"
        collection = await store.get_collection_by_id(attendee.id, item.collection_id)
        if collection is not None and collection.kind == COLLECTION_CALENDAR:
            await _save(store, attendee, collection, item.name, mine, item.modseq)


async def apply_reply(store: Store, organizer: Account, cal: icalendar.Calendar,
                      from_address: str | None = None) -> bool:
    """An attendee's REPLY updates PARTSTAT in the organizer's copy. ``from_address``, when
    given (iMIP), must be the replying attendee (or its SENT-BY)."""
    comps = [c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO")]
    if not comps:
        return False
    uid = str(comps[0].get("UID"))
    items = await store.find_items_by_uid(organizer.id, uid)
    if not items:
        return False
    item = items[0]
    mine = parse_calendar(item.text).calendar
    changed = False
    for reply in comps:
        rid = str(reply.get("RECURRENCE-ID", ""))
        for att in _attendees(reply):
            who = _addr(att)
            sent_by = _addr(att.params.get("SENT-BY", "")) if att.params.get("SENT-BY") else ""
            if from_address and from_address.lower() not in (who, sent_by):
                log.info("iMIP REPLY for %s from %s ignored", who, from_address)
                continue
            partstat = str(att.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
            if partstat not in PARTSTATS:
                continue
            for c in mine.subcomponents:
                if c.name in ("VEVENT", "VTODO") and (str(c.get("RECURRENCE-ID", "")) == rid
                                                      or (rid and not c.get("RECURRENCE-ID"))):
                    if _set_partstat(c, who, partstat):
                        c["SCHEDULE-STATUS"] = "2.0"
                        changed = True
                    if rid:
                        break
    if not changed:
        return False
    collection = await store.get_collection_by_id(organizer.id, item.collection_id)
    return await _save(store, organizer, collection, item.name, mine, item.modseq) is not None


# --- Schedule-Tag (RFC 6638 §3.2.10 and §3.3) ----------------------------------------------------

# What the organizer does not own, so a change to it leaves the tag as it was: each attendee's
# answer (merged from replies, or set by the attendee in their own copy), the server's
# SCHEDULE-STATUS, per-user TRANSP and alarms, timestamps and client bookkeeping (X-).
_NOT_ORGANIZERS = {"DTSTAMP", "LAST-MODIFIED", "CREATED", "SCHEDULE-STATUS", "TRANSP"}
_ANSWER_PARAMS = {"PARTSTAT", "RSVP", "SCHEDULE-STATUS", "SENT-BY"}


def is_scheduling_object(index) -> bool:
    """RFC 6638 §2.3.4: a calendar object with an ORGANIZER is a scheduling object resource."""
    return index.component in ("VEVENT", "VTODO") and bool(index.organizer)


@functools.lru_cache(maxsize=2048)
def schedule_tag(text: str) -> str | None:
    """The Schedule-Tag of a scheduling object resource: a digest of what the organizer
    decides (times, attendees, summary, SEQUENCE...). It is derived rather than stored, so it
    moves with an organizer's change whichever door made it, and stays put when a reply only
    changes a PARTSTAT or an attendee sets an alarm, as §3.2.10 asks."""
    digest = hashlib.sha256()
    try:
        cal = parse_calendar(text).calendar
    except InvalidData:
        return None
    comps = sorted((c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO")),
                   key=lambda c: str(c.get("RECURRENCE-ID", "")))
    for comp in comps:
        digest.update(f"BEGIN:{comp.name}\n".encode())
        for name, value in comp.property_items(recursive=False):
            if name in _NOT_ORGANIZERS or name.startswith("X-") or name in ("BEGIN", "END"):
                continue
            params = {k: v for k, v in getattr(value, "params", {}).items()
                      if k not in _ANSWER_PARAMS} if name in ("ATTENDEE", "ORGANIZER") else \
                getattr(value, "params", {})
            raw = value.to_ical() if hasattr(value, "to_ical") else str(value).encode()
            digest.update(f"{name};{sorted(params.items())}:".encode() + raw + b"\n")
    return f'"{digest.hexdigest()[:24]}"'


def keep_replies(stored_text: str, new_text: str, own: set[str]) -> str:
    """An organizer's PUT made under If-Schedule-Tag-Match was written against a copy that may
    predate replies merged since (the tag did not move for them): the attendees' answers in
    the stored copy are kept (RFC 6638 §3.2.10), other changes are the organizer's."""
    stored = parse_calendar(stored_text).calendar
    new = parse_calendar(new_text).calendar
    answers = {}
    for c in stored.subcomponents:
        if c.name in ("VEVENT", "VTODO"):
            rid = str(c.get("RECURRENCE-ID", ""))
            for a in _attendees(c):
                answers[(rid, _addr(a))] = str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    changed = False
    for c in new.subcomponents:
        if c.name not in ("VEVENT", "VTODO"):
            continue
        rid = str(c.get("RECURRENCE-ID", ""))
        for a in _attendees(c):
            who = _addr(a)
            kept = answers.get((rid, who))
            if who not in own and kept and kept != "NEEDS-ACTION" and \
                    str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper() != kept:
                a.params["PARTSTAT"] = kept
                changed = True
    return new.to_ical().decode("utf-8") if changed else new_text


# --- hooks the doors call -----------------------------------------------------------------------

def _scheduled(item: Item) -> bool:
    """An event or task with an organizer: a scheduling object resource (RFC 6638 §3.1)."""
    return item.index.component in ("VEVENT", "VTODO") and bool(item.index.organizer)


async def _owner(ctx: "ServerContext", actor: Account, collection: Collection
                 ) -> tuple[Account, set[str]]:
    """The collection's owner (the actor, or the account a delegate acts for) and the
    addresses that are theirs."""
    owner = actor if actor.id == collection.account_id else \
        await ctx.store.get_account_by_id(collection.account_id)
    return owner, await own_addresses(ctx.store, owner)


async def after_put(ctx: "ServerContext | None", actor: Account, collection: Collection,
                    old: Item | None, item: Item) -> None:
    """Called after an event was stored in ``collection`` by ``actor`` (the owner or a
    delegate)."""
    if not _scheduled(item):
        return
    owner, own = await _owner(ctx, actor, collection)
    try:
        new_cal = parse_calendar(item.text).calendar
        old_cal = parse_calendar(old.text).calendar if old is not None and old.text else None
    except InvalidData:
        return
    if item.index.organizer in own:
        await _organizer_changed(ctx, owner, own, old_cal, new_cal)
    elif own & set(item.index.attendees):
        me = next(a for a in item.index.attendees if a in own)
        await _attendee_changed(ctx, owner, actor, me, item.index.organizer, old_cal, new_cal)


async def after_delete(ctx: "ServerContext | None", actor: Account, collection: Collection,
                       item: Item) -> None:
    if not _scheduled(item):
        return
    owner, own = await _owner(ctx, actor, collection)
    try:
        cal = parse_calendar(item.text).calendar
    except InvalidData:
        return
    if item.index.organizer in own:
        await _organizer_changed(ctx, owner, own, cal, None)
    elif own & set(item.index.attendees):
        me = next(a for a in item.index.attendees if a in own)
        declined = icalendar.Calendar.from_ical(cal.to_ical())
        for c in declined.subcomponents:
            if c.name in ("VEVENT", "VTODO"):
                _set_partstat(c, me, "DECLINED")
        await _attendee_changed(ctx, owner, actor, me, item.index.organizer, cal, declined)


def _attendee_map(cal: icalendar.Calendar | None) -> dict[str, object]:
    out: dict[str, object] = {}
    if cal is None:
        return out
    for c in cal.subcomponents:
        if c.name in ("VEVENT", "VTODO"):
            for a in _attendees(c):
                if str(a.params.get("SCHEDULE-AGENT", "SERVER")).upper() == "SERVER":
                    out.setdefault(_addr(a), a)
    return out


async def _organizer_changed(ctx, organizer: Account, own: set[str],
                             old_cal: icalendar.Calendar | None,
                             new_cal: icalendar.Calendar | None) -> None:
    old_att = {a for a in _attendee_map(old_cal) if a not in own}
    new_att = {a for a in _attendee_map(new_cal) if a not in own}
    summary = ""
    if new_cal is not None:
        comps = [c for c in new_cal.subcomponents if c.name in ("VEVENT", "VTODO")]
        summary = str(comps[0].get("SUMMARY", "")) if comps else ""
        request = _with_timezones(new_cal, _itip_calendar(
            "REQUEST", [_copy_component(c) for c in comps]))
        await _dispatch(ctx, organizer, "REQUEST", request, sorted(new_att), summary)
    removed = sorted(old_att - new_att)
    if old_cal is not None and removed:
        comps = [c for c in old_cal.subcomponents if c.name in ("VEVENT", "VTODO")]
        summary = summary or (str(comps[0].get("SUMMARY", "")) if comps else "")
        cancel = []
        for c in comps:
            cc = _copy_component(c)
            cc["STATUS"] = "CANCELLED"
            cc["SEQUENCE"] = int(c.get("SEQUENCE", 0)) + 1
            cc["DTSTAMP"] = icalendar.vDDDTypes(_now())
            cancel.append(cc)
        await _dispatch(ctx, organizer, "CANCEL", _itip_calendar("CANCEL", cancel), removed,
                        summary)


async def _dispatch(ctx, sender: Account, method: str, cal: icalendar.Calendar,
                    recipients: list[str], summary: str) -> None:
    """Local recipients are scheduled directly; everybody also gets the iMIP mail (for local
    ones it is the notification in their inbox)."""
    store = ctx.store
    for address in recipients:
        local = await store.resolve_recipient(address)
        if local is None:
            continue
        try:
            if method == "REQUEST":
                await deliver_request(store, local, cal)
            elif method == "CANCEL":
                await deliver_cancel(store, local, cal)
            elif method == "REPLY":
                await apply_reply(store, local, cal)
            await _to_schedule_inbox(store, local, cal)
        except (InvalidData, StoreError) as e:
            log.warning("scheduling %s to %s: %s", method, address, e)
    await _send_imip(ctx, store, sender, method, cal, recipients, summary)


async def _attendee_changed(ctx, owner: Account, actor: Account, me: str, organizer: str,
                            old_cal, new_cal) -> None:
    replies = []
    old_by_rid = {}
    if old_cal is not None:
        old_by_rid = {str(c.get("RECURRENCE-ID", "")): c for c in old_cal.subcomponents
                      if c.name in ("VEVENT", "VTODO")}
    for c in new_cal.subcomponents:
        if c.name not in ("VEVENT", "VTODO"):
            continue
        now = _partstat(c, me)
        before = _partstat(old_by_rid[str(c.get("RECURRENCE-ID", ""))], me) \
            if str(c.get("RECURRENCE-ID", "")) in old_by_rid else None
        if now is None or now == before or (old_cal is None and now == "NEEDS-ACTION"):
            continue
        r = type(c)()
        r.name = c.name
        for key in ("UID", "RECURRENCE-ID", "DTSTART", "DTEND", "DUE", "SEQUENCE", "SUMMARY",
                    "ORGANIZER"):
            if c.get(key) is not None:
                r.add(key, c[key], encode=0)
        r.add("DTSTAMP", _now())
        att = next(a for a in _attendees(c) if _addr(a) == me)
        reply_att = icalendar.vCalAddress(f"mailto:{me}")
        reply_att.params["PARTSTAT"] = now
        if att.params.get("CN"):
            reply_att.params["CN"] = att.params["CN"]
        if actor.id != owner.id:
            reply_att.params["SENT-BY"] = f"mailto:{actor.email}"
        r.add("ATTENDEE", reply_att, encode=0)
        replies.append(r)
    if not replies:
        return
    summary = str(replies[0].get("SUMMARY", ""))
    reply = _itip_calendar("REPLY", replies)
    await _dispatch(ctx, owner, "REPLY", reply, [organizer], summary)


async def reply(ctx: "ServerContext", account: Account, uid: str, partstat: str,
                *, actor: Account | None = None, notify: bool = True) -> bool:
    """Answers an invitation (accept/tentative/decline) from any door (EAS MeetingResponse,
    the web app): sets the account's PARTSTAT in its copy and, unless ``notify`` is false (the
    user chose to send no response), tells the organizer."""
    partstat = partstat.upper()
    if partstat not in PARTSTATS:
        raise ValueError(partstat)
    store = ctx.store
    items = await store.find_items_by_uid(account.id, uid)
    items = [i for i in items if i.index.organizer]
    if not items:
        return False
    item = items[0]
    own = await own_addresses(store, account)
    me = next((a for a in item.index.attendees if a in own), None)
    if me is None:
        return False
    cal = parse_calendar(item.text).calendar
    for c in cal.subcomponents:
        if c.name in ("VEVENT", "VTODO"):
            _set_partstat(c, me, partstat)
    collection = await store.get_collection_by_id(account.id, item.collection_id)
    saved = await _save(store, account, collection, item.name, cal, item.modseq)
    if saved is None:
        return False
    if notify:
        await after_put(ctx, actor or account, collection, item, saved)
    return True


async def counter(ctx: "ServerContext", account: Account, uid: str, start: dt.datetime,
                  end: dt.datetime) -> bool:
    """Proposes a new time for a meeting the account is invited to (RFC 5546 §3.2.7 COUNTER):
    the organizer gets the event as the attendee has it, with the proposed DTSTART/DTEND."""
    store = ctx.store
    items = [i for i in await store.find_items_by_uid(account.id, uid) if i.index.organizer]
    own = await own_addresses(store, account)
    me = next((a for a in items[0].index.attendees if a in own), None) if items else None
    if me is None:
        return False
    cal = parse_calendar(items[0].text).calendar
    master = next(c for c in cal.subcomponents
                  if c.name == "VEVENT" and c.get("RECURRENCE-ID") is None)
    proposal = _copy_component(master)
    for name in ("DTSTART", "DTEND", "DURATION", "DTSTAMP", "ATTENDEE"):
        proposal.pop(name, None)
    proposal.add("DTSTART", start.astimezone(UTC))
    proposal.add("DTEND", end.astimezone(UTC))
    proposal.add("DTSTAMP", _now())
    proposal.add("ATTENDEE", next(a for a in _attendees(master) if _addr(a) == me), encode=0)
    await _dispatch(ctx, account, "COUNTER", _itip_calendar("COUNTER", [proposal]),
                    [items[0].index.organizer], str(master.get("SUMMARY", "")))
    return True


# --- iMIP arriving by mail ----------------------------------------------------------------------

def calendar_part(raw: bytes) -> tuple[str, icalendar.Calendar, str] | None:
    """(METHOD, calendar, From address) of the first text/calendar part with a METHOD."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    sender = email.utils.parseaddr(str(msg.get("From", "")))[1].lower()
    for part in msg.walk():
        if part.get_content_type() != "text/calendar":
            continue
        try:
            text = part.get_content()
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            cal = icalendar.Calendar.from_ical(text)
        except Exception:
            continue
        method = str(cal.get("METHOD", part.get_param("method") or "")).upper()
        if method:
            return method, cal, sender
    return None


async def handle_incoming_imip(store: Store, account: Account, raw_message: bytes) -> bool:
    """Applies an iMIP message delivered to ``account`` (RFC 6047): a REPLY to an event the
    account organizes updates the attendee's PARTSTAT; a REQUEST adds or updates the event in the
    account's calendar as NEEDS-ACTION; a CANCEL marks it cancelled. Returns True when the
    calendar changed. Never raises for bad input: the mail is delivered either way."""
    try:
        found = calendar_part(raw_message)
        if found is None:
            return False
        method, cal, sender = found
        own = await own_addresses(store, account)
        comps = [c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO")]
        if not comps:
            return False
        organizer = _addr(comps[0].get("ORGANIZER", ""))
        if method == "REPLY":
            if organizer and organizer not in own:
                return False
            return await apply_reply(store, account, cal, from_address=sender or None)
        if organizer in own:
            return False           # our own invitation coming back
        if sender and organizer and sender != organizer:
            # Only the organizer may invite or cancel (RFC 6047 §3: spoofing).
            log.info("iMIP %s for %s from %s (organizer %s) ignored", method, account.email,
                     sender, organizer)
            return False
        if method == "REQUEST":
            if not any(_addr(a) in own for c in comps for a in _attendees(c)):
                return False
            await deliver_request(store, account, cal)
            await _to_schedule_inbox(store, account, cal)
            return True
        if method == "CANCEL":
            await deliver_cancel(store, account, cal)
            return True
    except Exception:
        log.exception("iMIP for %s not applied", account.email)
    return False

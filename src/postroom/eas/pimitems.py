"""Calendar, contact and task folders over the collaboration store (MS-ASCAL, MS-ASCNTC,
MS-ASTASK): the item adapter Sync and ItemOperations use for collection folders.

A :class:`Converter` per class turns an item's stored text into ApplicationData and a device's
ApplicationData into new text merged over the stored one (so what the device cannot show is
kept). Writes go through the store as the DAV door's do - ``put_item``/``delete_item`` with the
index from ``pim.model`` - and then through ``pim.itip`` so an organizer's change sends the
invitations and an attendee's answer reaches the organizer.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

import icalendar

from postroom.eas import calendar, contacts, tasks
from postroom.eas import email as mail
from postroom.eas.hierarchy import CLASS_CALENDAR, CLASS_CONTACTS, Folder
from postroom.eas.items import ITEM_CONFLICT, ITEM_CONVERSION_ERROR, ITEM_NOT_FOUND, ITEM_OK
from postroom.eas.items import ClientResult
from postroom.eas.protocol import Request, compact_date
from postroom.eas.wbxml import E, Element, encode
from postroom.pim import contact, itip
from postroom.pim.fields import Fields, Person, apply, fields_of, replace_instance
from postroom.pim.model import InvalidData, index_text, parse_calendar, resource_name
from postroom.store.api import COLLECTION_ADDRESSBOOK, Collection, Item, NotFound, StoreError

log = logging.getLogger("postroom.eas")


@dataclass
class Context:
    """What a conversion needs beyond the item: who asks, in which version and options."""
    version: tuple[int, int]
    opts: mail.Options
    own: set[str]                      # the account's addresses, lower-case
    account_email: str
    default_tz: dt.tzinfo | None       # the collection's zone: for all-day and floating times
    ghost: bool = True                 # absent elements mean "unchanged"
    instance: str | None = None        # 16.x: the InstanceId a Change or Delete aims at
    instance_deleted: bool = False


class Converter(Protocol):
    extension: str

    def to_wire(self, text: str, ctx: Context) -> list[Element | None]: ...

    def from_wire(self, data: Element, base: str | None, ctx: Context) -> str: ...


def _collection_tz(col: Collection) -> dt.tzinfo | None:
    if not col.timezone:
        return None
    try:
        zones = icalendar.Calendar.from_ical(col.timezone).walk("VTIMEZONE")
        return zones[0].to_tz() if zones else None
    except Exception:
        return None


class EventConverter:
    extension = "ics"

    def to_wire(self, text: str, ctx: Context) -> list[Element | None]:
        return calendar.application_data(fields_of(parse_calendar(text)), ctx.opts, ctx.version,
                                         ctx.own, ctx.default_tz)

    def from_wire(self, data: Element, base: str | None, ctx: Context) -> str:
        if ctx.instance is not None:
            return self._one_instance(data, base, ctx)
        f = calendar.parse(data, ctx.version, ghost=ctx.ghost, default_tz=ctx.default_tz)
        obj = parse_calendar(base) if base is not None else None
        if obj is None and f.start is None:
            raise ValueError("an appointment needs a StartTime (MS-ASCAL §2.2.2.42)")
        if obj is not None:
            # What the device sends back unchanged keeps its stored form: the zone's own TZID
            # and VTIMEZONE, an RRULE richer than EAS can say.
            old = fields_of(obj)
            shown = _shown(calendar.application_data(old, ctx.opts, ctx.version, ctx.own,
                                                     ctx.default_tz))
            if old.tz is not None and _unchanged(data, shown, "Calendar:TimeZone"):
                f.timezone = None
                f.start, f.end = (v.astimezone(old.tz) if isinstance(v, dt.datetime) else v
                                  for v in (f.start, f.end))
            if f.rrule is not None and _unchanged(data, shown, "Calendar:Recurrence"):
                f.rrule = None
        elif f.attendees and f.organizer is None:
            f.organizer = Person(ctx.account_email)
        return apply(f, obj, "VEVENT")


    @staticmethod
    def _one_instance(data: Element | None, base: str | None, ctx: Context) -> str:
        """One occurrence changed (a RECURRENCE-ID override) or cancelled (an EXDATE)."""
        if base is None:
            raise ValueError("an InstanceId needs a stored series")
        obj = parse_calendar(base)
        master = fields_of(obj)
        inst = calendar.instance_change(data, ctx.instance, ctx.instance_deleted, master,
                                        ctx.version, ctx.default_tz)
        return apply(Fields(exceptions=replace_instance(master.exceptions, inst)), obj)


def _unchanged(data: Element, shown: dict[str, bytes], *tags: str) -> bool:
    """The device sent these elements back as we showed them (absent ones too)."""
    for tag in tags:
        el = data.find(tag)
        if (encode(el) if el is not None else None) != shown.get(tag):
            return False
    return True


def _shown(elements: list[Element | None]) -> dict[str, bytes]:
    return {el.tag: encode(el) for el in elements if el is not None}


class TaskConverter:
    extension = "ics"

    def to_wire(self, text: str, ctx: Context) -> list[Element | None]:
        return tasks.application_data(fields_of(parse_calendar(text)), ctx.opts, ctx.version,
                                      ctx.default_tz)

    def from_wire(self, data: Element, base: str | None, ctx: Context) -> str:
        obj = parse_calendar(base) if base is not None else None
        old = fields_of(obj) if obj is not None else None
        f = tasks.parse(data, ctx.version, ghost=ctx.ghost,
                        default_tz=(old.tz if old else None) or ctx.default_tz)
        if old is not None:
            shown = _shown(self.to_wire(base, ctx))
            for name, tags in (("start", ("Tasks:UtcStartDate", "Tasks:StartDate")),
                               ("due", ("Tasks:UtcDueDate", "Tasks:DueDate")),
                               ("priority", ("Tasks:Importance",)),
                               ("rrule", ("Tasks:Recurrence",)),
                               ("alarm", ("Tasks:ReminderTime", "Tasks:ReminderSet"))):
                if _unchanged(data, shown, *tags):
                    setattr(f, name, None)
                    f.cleared.discard(name)
        elif not f.summary:
            raise ValueError("a task needs a Subject (MS-ASTASK §2.2.2.27)")
        return apply(f, obj, "VTODO")


class ContactConverter:
    extension = "vcf"

    def to_wire(self, text: str, ctx: Context) -> list[Element | None]:
        return contacts.application_data(contact.read(text).slots, ctx.opts)

    def from_wire(self, data: Element, base: str | None, ctx: Context) -> str:
        old = contact.read(base).slots if base is not None else {}
        return contact.write(contacts.parse(data, old, ghost=ctx.ghost), base)


def _fallback(item: Item) -> list[Element | None]:
    """An item whose text no longer parses still shows, from its index fields."""
    ix = item.index
    if ix.component == "VCARD":
        return [E("Contacts:FileAs", ix.summary)]
    if ix.component == "VTODO":
        return [E("Tasks:Subject", ix.summary)]
    return [E("Calendar:Subject", ix.summary), E("Calendar:UID", ix.uid),
            E("Calendar:StartTime", compact_date(ix.start or 0)),
            E("Calendar:EndTime", compact_date(ix.end or ix.start or 0))]


class CollectionItems:
    """The item adapter (eas/items.py ItemAdapter) of one class over collections."""

    def __init__(self, converter: Converter) -> None:
        self.converter = converter

    async def _context(self, req: Request, collection: Collection, opts: mail.Options,
                       ghost: bool = True) -> Context:
        own = {a.lower() for a in await req.store.addresses_of(req.account.id)}
        own.add(req.account.email.lower())
        return Context(req.v, opts, own, req.account.email, _collection_tz(collection), ghost)

    async def render(self, req: Request, folder: Folder, keys: list[str],
                     opts: mail.Options, change: bool = False) -> dict[str, Element]:
        store, acc = req.store, req.account
        col = await store.get_collection_by_id(acc.id, folder.source_id)
        if col is None:
            return {}
        ctx = await self._context(req, col, opts)
        out = {}
        for it in await store.list_items(acc.id, folder.source_id, keys, with_text=True):
            try:
                children = self.converter.to_wire(it.text or "", ctx)
            except (InvalidData, ValueError, TypeError, KeyError, AttributeError):
                log.warning("item %s of collection %d not converted", it.name, col.id,
                            exc_info=True)
                children = _fallback(it)
            out[it.name] = E("AirSync:ApplicationData", *children)
        return out

    async def _write(self, req: Request, col: Collection, name: str, data: Element | None,
                     old: Item | None, opts: mail.Options,
                     instance: tuple[str, bool] | None = None) -> ClientResult:
        ghost = old is None or req.v >= (16, 0)
        ctx = await self._context(req, col, opts, ghost)
        if instance is not None:
            if not isinstance(self.converter, EventConverter):
                return ClientResult(ITEM_CONVERSION_ERROR)
            ctx.instance, ctx.instance_deleted = instance
        try:
            text = self.converter.from_wire(data, old.text if old is not None else None, ctx)
            index = index_text(text, col.kind)
        except (InvalidData, ValueError, TypeError, KeyError, AttributeError, OverflowError):
            log.info("%s: %s item not converted", req.account.email, col.kind, exc_info=True)
            return ClientResult(ITEM_CONVERSION_ERROR)
        if old is None:
            name = resource_name(index.uid, self.converter.extension)
        try:
            item = await req.store.put_item(req.account.id, col.id, name, text, index,
                                            if_match=old.modseq if old is not None else None,
                                            if_none_match=old is None)
        except StoreError:
            # UID already in the folder, quota, or changed meanwhile: nothing was written.
            return ClientResult(ITEM_CONVERSION_ERROR)
        if col.kind != COLLECTION_ADDRESSBOOK:
            await itip.after_put(req.ctx, req.account, col, old, item)
            item = await req.store.get_item(req.account.id, col.id, name) or item
        return ClientResult(ITEM_OK, name, item.modseq)

    async def client_add(self, req: Request, folder: Folder, data: Element) -> ClientResult:
        col = await req.store.get_collection_by_id(req.account.id, folder.source_id)
        if col is None:
            return ClientResult(ITEM_NOT_FOUND)
        return await self._write(req, col, "", data, None, mail.Options())

    async def client_change(self, req: Request, folder: Folder, key: str, data: Element,
                            held: int | None, opts: mail.Options,
                            instance_id: str | None = None) -> ClientResult:
        store, acc = req.store, req.account
        col = await store.get_collection_by_id(acc.id, folder.source_id)
        old = await store.get_item(acc.id, folder.source_id, key) if col is not None else None
        if old is None:
            return ClientResult(ITEM_NOT_FOUND)
        if opts.conflict == 1 and held is not None and old.modseq > held:
            # The server's object wins (MS-ASCMD §2.2.3.35): the device gets ours instead.
            return ClientResult(ITEM_CONFLICT, key, held)
        return await self._write(req, col, key, data, old, opts,
                                 (instance_id, False) if instance_id is not None else None)

    async def client_delete(self, req: Request, folder: Folder, key: str,
                            as_move: bool, instance_id: str | None = None) -> ClientResult:
        store, acc = req.store, req.account
        col = await store.get_collection_by_id(acc.id, folder.source_id)
        item = await store.get_item(acc.id, folder.source_id, key) if col is not None else None
        if item is None:
            return ClientResult(ITEM_NOT_FOUND)
        if instance_id is not None:
            # One occurrence cancelled: the series stays, with an EXDATE.
            return await self._write(req, col, key, None, item, mail.Options(),
                                     (instance_id, True))
        try:
            await store.delete_item(acc.id, col.id, key, if_match=item.modseq)
        except NotFound:
            return ClientResult(ITEM_NOT_FOUND)
        except StoreError:
            return ClientResult(ITEM_CONVERSION_ERROR)
        if col.kind != COLLECTION_ADDRESSBOOK:
            await itip.after_delete(req.ctx, req.account, col, item)
        return ClientResult(ITEM_OK, key, None)


_ADAPTERS = {CLASS_CALENDAR: CollectionItems(EventConverter()),
             CLASS_CONTACTS: CollectionItems(ContactConverter())}
_TASKS = CollectionItems(TaskConverter())


def adapter(folder: Folder) -> CollectionItems:
    return _ADAPTERS.get(folder.cls, _TASKS)

"""Calendar, contact and task folders over the collaboration store (MS-ASCAL, MS-ASCNTC,
MS-ASTASK) - for now read-only and from the store's index fields alone (summary, times, UID,
emails, phones, due and completion), so a device shows every item; the full conversion to and
from iCalendar/vCard (time zones, recurrence, attendees, photos) and client writes are still to
come, and a client's Add/Change/Delete gets Status 6 without touching the store.
"""

from __future__ import annotations

from postroom.eas import email as mail
from postroom.eas.hierarchy import CLASS_CALENDAR, CLASS_CONTACTS, Folder
from postroom.eas.items import ITEM_CONVERSION_ERROR, ClientResult
from postroom.eas.protocol import Request, compact_date, eas_date
from postroom.eas.wbxml import E, Element
from postroom.store.api import Item


def _calendar(item: Item) -> list:
    ix = item.index
    all_day = (ix.start is not None and ix.end is not None and ix.start % 86400 == 0
               and (ix.end - ix.start) % 86400 == 0)
    return [E("Calendar:DtStamp", compact_date(ix.start or 0)),
            E("Calendar:StartTime", compact_date(ix.start)) if ix.start is not None else None,
            E("Calendar:Subject", ix.summary),
            E("Calendar:UID", ix.uid),
            E("Calendar:OrganizerEmail", ix.organizer) if ix.organizer else None,
            E("Calendar:EndTime", compact_date(ix.end if ix.end is not None else ix.start))
            if ix.start is not None else None,
            E("Calendar:AllDayEvent", 1 if all_day else 0),
            E("Calendar:BusyStatus", 0 if ix.transparent else 2),
            E("Calendar:Sensitivity", 0),
            E("Calendar:MeetingStatus", 1 if ix.attendees else 0)]


def _contact(item: Item) -> list:
    ix = item.index
    first, _, last = ix.summary.rpartition(" ") if " " in ix.summary else ("", "", ix.summary)
    tags = ("Contacts:Email1Address", "Contacts:Email2Address", "Contacts:Email3Address")
    phones = ("Contacts:MobilePhoneNumber", "Contacts:HomePhoneNumber",
              "Contacts:BusinessPhoneNumber")
    return [E("Contacts:FileAs", ix.summary), E("Contacts:FirstName", first) if first else None,
            E("Contacts:LastName", last) if last else None,
            *[E(t, e) for t, e in zip(tags, ix.emails)],
            *[E(t, p) for t, p in zip(phones, ix.phones)]]


def _task(item: Item) -> list:
    ix = item.index
    return [E("Tasks:Subject", ix.summary),
            E("Tasks:Complete", 1 if ix.completed else 0),
            E("Tasks:DateCompleted", eas_date(ix.completed)) if ix.completed else None,
            E("Tasks:DueDate", eas_date(ix.due)) if ix.due else None,
            E("Tasks:UtcDueDate", eas_date(ix.due)) if ix.due else None,
            E("Tasks:Importance", 1), E("Tasks:Sensitivity", 0)]


class IndexedItems:
    def __init__(self, render) -> None:
        self._render = render

    async def render(self, req: Request, folder: Folder, keys: list[str],
                     opts: mail.Options, change: bool = False) -> dict[str, Element]:
        items = await req.store.list_items(req.account.id, folder.source_id, keys)
        return {it.name: E("AirSync:ApplicationData", *self._render(it)) for it in items}

    async def client_add(self, req, folder, data) -> ClientResult:
        return ClientResult(ITEM_CONVERSION_ERROR)

    async def client_change(self, req, folder, key, data, held, opts) -> ClientResult:
        return ClientResult(ITEM_CONVERSION_ERROR)

    async def client_delete(self, req, folder, key, as_move) -> ClientResult:
        return ClientResult(ITEM_CONVERSION_ERROR)


_ADAPTERS = {CLASS_CALENDAR: IndexedItems(_calendar), CLASS_CONTACTS: IndexedItems(_contact)}
_TASKS = IndexedItems(_task)


def adapter(folder: Folder) -> IndexedItems:
    return _ADAPTERS.get(folder.cls, _TASKS)

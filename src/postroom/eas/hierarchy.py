"""The account's folders as EAS sees them (MS-ASCMD §2.2.3.186.3, FolderHierarchy Type).

Mailboxes become mail folders (server id ``m<mailbox id>``) and calendars, task lists and address
books become folders of those classes (``c<collection id>``); the one folder of each default role
gets the default type (Inbox 2, Drafts 3, Deleted Items 4, Sent Items 5, Tasks 7, Calendar 8,
Contacts 9), every other one a user-created type (12 to 15). An item's server id is
``<folder id>:<uid or item name>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.store.api import (
    COLLECTION_ADDRESSBOOK, COLLECTION_CALENDAR, EAS_SOURCE_COLLECTION, EAS_SOURCE_MAILBOX,
    ROLE_DRAFTS, ROLE_INBOX, ROLE_SENT, ROLE_TRASH, SEPARATOR, Account, Store,
)

TYPE_GENERIC = 1
TYPE_INBOX = 2
TYPE_DRAFTS = 3
TYPE_DELETED = 4
TYPE_SENT = 5
TYPE_OUTBOX = 6
TYPE_TASKS = 7
TYPE_CALENDAR = 8
TYPE_CONTACTS = 9
TYPE_USER_MAIL = 12
TYPE_USER_CALENDAR = 13
TYPE_USER_CONTACTS = 14
TYPE_USER_TASKS = 15

CLASS_EMAIL = "Email"
CLASS_CALENDAR = "Calendar"
CLASS_CONTACTS = "Contacts"
CLASS_TASKS = "Tasks"

_MAIL_ROLE_TYPES = {ROLE_INBOX: TYPE_INBOX, ROLE_DRAFTS: TYPE_DRAFTS, ROLE_TRASH: TYPE_DELETED,
                    ROLE_SENT: TYPE_SENT}
_COLLECTION_ROLE_TYPES = {"calendar": TYPE_CALENDAR, "tasks": TYPE_TASKS,
                          "contacts": TYPE_CONTACTS}
DEFAULT_TYPES = {TYPE_INBOX, TYPE_DRAFTS, TYPE_DELETED, TYPE_SENT, TYPE_TASKS, TYPE_CALENDAR,
                 TYPE_CONTACTS}
CLASS_OF_TYPE = {TYPE_GENERIC: CLASS_EMAIL, TYPE_INBOX: CLASS_EMAIL, TYPE_DRAFTS: CLASS_EMAIL,
                 TYPE_DELETED: CLASS_EMAIL, TYPE_SENT: CLASS_EMAIL, TYPE_OUTBOX: CLASS_EMAIL,
                 TYPE_USER_MAIL: CLASS_EMAIL, TYPE_TASKS: CLASS_TASKS,
                 TYPE_USER_TASKS: CLASS_TASKS, TYPE_CALENDAR: CLASS_CALENDAR,
                 TYPE_USER_CALENDAR: CLASS_CALENDAR, TYPE_CONTACTS: CLASS_CONTACTS,
                 TYPE_USER_CONTACTS: CLASS_CONTACTS}


@dataclass(frozen=True, slots=True)
class Folder:
    server_id: str
    parent_id: str          # "0" at the top
    name: str               # DisplayName
    type: int
    source: str             # EAS_SOURCE_MAILBOX or EAS_SOURCE_COLLECTION
    source_id: int          # mailbox or collection id
    path: str = ""          # the mailbox's full name; the collection's name

    @property
    def cls(self) -> str:
        return CLASS_OF_TYPE[self.type]

    def wire(self) -> list:
        """What the hierarchy state keeps per folder."""
        return [self.parent_id, self.name, self.type]


def mailbox_folder_id(mailbox_id: int) -> str:
    return f"m{mailbox_id}"


def item_id(folder_id: str, key: str | int) -> str:
    return f"{folder_id}:{key}"


def split_item_id(server_id: str) -> tuple[str, str] | None:
    folder, sep, key = (server_id or "").partition(":")
    return (folder, key) if sep and folder and key else None


async def current(store: Store, account: Account) -> list[Folder]:
    """Every folder of the account, parents before children."""
    folders: list[Folder] = []
    mailboxes = await store.list_mailboxes(account.id)
    by_name = {mb.name: mb for mb in mailboxes}
    used_defaults: set[int] = set()
    for mb in sorted(mailboxes, key=lambda m: (m.name.count(SEPARATOR), m.id)):
        ftype = _MAIL_ROLE_TYPES.get(mb.special_use or "", TYPE_USER_MAIL)
        if mb.name == "INBOX":
            ftype = TYPE_INBOX
        if ftype in used_defaults:
            ftype = TYPE_USER_MAIL
        used_defaults.add(ftype)
        parent_name, sep, leaf = mb.name.rpartition(SEPARATOR)
        parent = by_name.get(parent_name) if sep else None
        folders.append(Folder(mailbox_folder_id(mb.id),
                              mailbox_folder_id(parent.id) if parent else "0",
                              leaf if sep else ("Inbox" if mb.name == "INBOX" else mb.name),
                              ftype, EAS_SOURCE_MAILBOX, mb.id, mb.name))
    for col in sorted(await store.list_collections(account.id), key=lambda c: c.id):
        if col.kind == COLLECTION_ADDRESSBOOK:
            ftype = TYPE_CONTACTS if col.role == "contacts" else TYPE_USER_CONTACTS
        elif col.kind == COLLECTION_CALENDAR:
            if "VEVENT" in col.components or not col.components:
                ftype = TYPE_CALENDAR if col.role == "calendar" else TYPE_USER_CALENDAR
            else:
                ftype = TYPE_TASKS if col.role == "tasks" else TYPE_USER_TASKS
        else:
            continue   # the scheduling inbox is iTIP plumbing, not a folder
        if ftype in used_defaults:
            ftype = {TYPE_CONTACTS: TYPE_USER_CONTACTS, TYPE_CALENDAR: TYPE_USER_CALENDAR,
                     TYPE_TASKS: TYPE_USER_TASKS}[ftype]
        used_defaults.add(ftype)
        folders.append(Folder(f"c{col.id}", "0", col.display_name or col.name, ftype,
                              EAS_SOURCE_COLLECTION, col.id, col.name))
    return folders


async def resolve(store: Store, account: Account, server_id: str | None) -> Folder | None:
    """The folder with this server id, or None (unknown folder: the command's Status)."""
    if not server_id or len(server_id) < 2 or not server_id[1:].isdigit():
        return None
    for f in await current(store, account):
        if f.server_id == server_id:
            return f
    return None


async def by_type(store: Store, account: Account, ftype: int) -> Folder | None:
    return next((f for f in await current(store, account) if f.type == ftype), None)

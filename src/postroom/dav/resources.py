"""Where a DAV path leads: the URL layout of the CalDAV/CardDAV door and the access check.

    /dav/                               root (current-user-principal)
    /dav/principals/<email>/            a principal (RFC 3744 §2, RFC 5397)
    /dav/<email>/                       the user's home: calendar-home-set and addressbook-home-set
    /dav/<email>/<collection>/          a calendar, task list, address book or the schedule inbox
    /dav/<email>/<collection>/<item>    one calendar object resource or vCard
    /dav/<email>/outbox/                the RFC 6638 schedule outbox (free/busy and iTIP POSTs)
    /dav/<email>/gal/                   the global address list of the user's domain (read-only)
    /dav/<email>/shared-<owner id>-<collection id>/   a collection another user shared

Rights come from the store's ACL (RFC 4314 letters): "r" to read, "i" to create, "w" to change,
"t" to delete. Without any right a foreign path answers 404, so existence is not revealed; a
missing right on a reachable resource answers 403 with DAV:need-privileges (RFC 3744 §7.1.1).
A sharee reaches a shared collection through their own home, and also at the owner's URL (the
CS:shared-url of calendarserver-sharing).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote as _quote, unquote


def quote(segment: str) -> str:
    return _quote(segment, safe="@+")


from postroom.dav import xmlutil as X
from postroom.store.api import (
    ACL_COLLECTION, COLLECTION_ADDRESSBOOK, COLLECTION_INBOX, Account, Collection, Store,
)

PREFIX = "/dav"
GAL = "gal"
OUTBOX = "outbox"
SHARED = "shared-"
RESERVED_NAMES = (GAL, OUTBOX)


class DavError(Exception):
    """Answered as ``status`` with an optional precondition body (RFC 4918 §16)."""

    def __init__(self, status: int, message: str = "", body: bytes | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class Target:
    kind: str                       # root, principals, principal, home, collection, item, gal,
    #                                 gal-item, outbox
    path: str                       # the canonical path (collections end with "/")
    owner: Account | None = None    # whose home / principal / collection
    home: Account | None = None     # the home the path goes through (the viewer's for shares)
    collection: Collection | None = None
    segment: str = ""               # the collection's segment in this home
    item: str = ""                  # item name
    rights: str = ""

    @property
    def is_collection(self) -> bool:
        return self.kind != "item" and self.kind != "gal-item"

    def can(self, right: str) -> bool:
        return right in self.rights

    def require(self, right: str, privilege: str = "") -> None:
        """Raises 403 with DAV:need-privileges (naming ``privilege``, by default the one of
        ``right``) unless the viewer holds ``right``. Creating and deleting an item are bind
        and unbind on its collection (RFC 3744 §3.9, §3.10)."""
        if right in self.rights:
            return
        path = self.path
        if not self.is_collection and right in "it":
            path = path[:path.rindex("/") + 1]
        raise DavError(403, body=X.error(X.DAV, "need-privileges", X.el(
            X.tag(X.DAV, "resource"), children=[
                X.href(path), X.el(X.tag(X.DAV, "privilege"),
                                   children=[X.el(X.tag(X.DAV, privilege or PRIVILEGES[right]))])])))


# The DAV privilege (RFC 3744 §3) that each ACL letter grants.
PRIVILEGES = {"r": "read", "w": "write-content", "i": "bind", "t": "unbind",
              "a": "write-acl"}


def home_path(email: str) -> str:
    return f"{PREFIX}/{quote(email)}/"


def principal_path(email: str) -> str:
    return f"{PREFIX}/principals/{quote(email)}/"


def collection_path(home_email: str, segment: str) -> str:
    return f"{home_path(home_email)}{quote(segment)}/"


def item_path(collection_href: str, name: str) -> str:
    return collection_href + quote(name)


def shared_segment(owner_id: int, collection_id: int) -> str:
    return f"{SHARED}{owner_id}-{collection_id}"


def split_path(path: str) -> list[str]:
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        raise DavError(404)
    rest = path[len(PREFIX):]
    return [unquote(s) for s in rest.split("/") if s]


async def resolve(store: Store, account: Account, path: str) -> Target:
    """The target of ``path`` for ``account``; raises DavError(404) when it cannot be reached.
    A missing item or collection in a reachable place resolves (PUT/MKCOL create them)."""
    segs = split_path(path)
    if not segs:
        return Target("root", PREFIX + "/", rights="lr")
    if segs[0] == "principals":
        if len(segs) == 1:
            return Target("principals", f"{PREFIX}/principals/", rights="lr")
        if len(segs) > 2:
            raise DavError(404)
        owner = await store.get_account(segs[1])
        if owner is None:
            raise DavError(404)
        return Target("principal", principal_path(owner.email), owner=owner, home=owner,
                      rights="lr")
    home = await store.get_account(segs[0])
    if home is None:
        raise DavError(404)
    if home.id != account.id:
        return await _resolve_foreign(store, account, home, segs)
    if len(segs) == 1:
        return Target("home", home_path(home.email), owner=home, home=home, rights="lrik")
    seg = segs[1]
    cpath = collection_path(home.email, seg)
    if seg == GAL:
        if len(segs) == 2:
            return Target("gal", cpath, owner=home, home=home, segment=seg, rights="lr")
        if len(segs) == 3:
            return Target("gal-item", cpath + quote(segs[2]), owner=home, home=home, segment=seg,
                          item=segs[2], rights="lr")
        raise DavError(404)
    if seg == OUTBOX:
        if len(segs) != 2:
            raise DavError(404)
        return Target("outbox", cpath, owner=home, home=home, segment=seg, rights="lri")
    if seg.startswith(SHARED):
        try:
            owner_id, cid = (int(x) for x in seg[len(SHARED):].split("-", 1))
        except ValueError:
            raise DavError(404) from None
        rights = await store.rights_of(account.id, owner_id, ACL_COLLECTION, cid)
        collection = await store.get_collection_by_id(owner_id, cid) if "r" in rights else None
        if collection is None:
            raise DavError(404)
        owner = await store.get_account_by_id(owner_id)
    else:
        owner = home
        collection = await store.get_collection(home.id, seg)
        rights = "lrswipkxtea"
    if len(segs) == 2:
        return Target("collection", cpath, owner=owner, home=home, collection=collection,
                      segment=seg, rights=rights)
    if len(segs) == 3 and collection is not None:
        return Target("item", cpath + quote(segs[2]), owner=owner, home=home,
                      collection=collection, segment=seg, item=segs[2], rights=rights)
    raise DavError(404 if collection is None else 404)


async def _resolve_foreign(store: Store, account: Account, owner: Account, segs: list[str]
                           ) -> Target:
    """A path in another user's home: only a collection shared with ``account`` (and its
    items) is there for them."""
    if len(segs) not in (2, 3) or segs[1] in RESERVED_NAMES or segs[1].startswith(SHARED):
        raise DavError(404)
    collection = await store.get_collection(owner.id, segs[1])
    rights = await store.rights_of(account.id, owner.id, ACL_COLLECTION, collection.id) \
        if collection is not None else ""
    if "r" not in rights:
        raise DavError(404)
    cpath = collection_path(owner.email, segs[1])
    if len(segs) == 2:
        return Target("collection", cpath, owner=owner, home=owner, collection=collection,
                      segment=segs[1], rights=rights)
    return Target("item", cpath + quote(segs[2]), owner=owner, home=owner,
                  collection=collection, segment=segs[1], item=segs[2], rights=rights)


def is_calendar(c: Collection | None) -> bool:
    return c is not None and c.kind != COLLECTION_ADDRESSBOOK


def is_addressbook(c: Collection | None) -> bool:
    return c is not None and c.kind == COLLECTION_ADDRESSBOOK


def is_inbox(c: Collection | None) -> bool:
    return c is not None and c.kind == COLLECTION_INBOX

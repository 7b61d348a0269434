"""Live properties of every kind of DAV resource (RFC 4918 §15, RFC 3744, RFC 4791 §5.2 and
§6.2, RFC 6352 §6.2, RFC 6578 §4, RFC 6638 §2 and §9, RFC 4331 quota, and the sharing
properties of calendarserver-sharing: CS:invite, CS:shared-url, CS:allowed-sharing-modes), and
dead properties kept by PROPPATCH in the collection's ``properties``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Callable

from postroom.dav import xmlutil as X
from postroom.dav.resources import (
    GAL, OUTBOX, Target, collection_path, home_path, is_addressbook, is_calendar, is_inbox,
    principal_path,
)
from postroom.pim import itip
from postroom.store.api import RIGHT_WRITE, Account, Collection, Item

T = X.tag
MAX_RESOURCE_SIZE = 2 * 1024 * 1024

CALENDAR_DATA = T(X.CALDAV, "calendar-data")
ADDRESS_DATA = T(X.CARDDAV, "address-data")
GETETAG = T(X.DAV, "getetag")
SCHEDULE_TAG = T(X.CALDAV, "schedule-tag")
# Properties whose value is computed from an item's text, so a listing must read it.
NEEDS_TEXT = (CALENDAR_DATA, ADDRESS_DATA, SCHEDULE_TAG)

# What allprop returns (RFC 4918 §9.1: live properties the server defines; calendar-data and
# address-data are left out as RFC 4791 §9.6 asks).
ALLPROP = [T(X.DAV, n) for n in ("resourcetype", "displayname", "getetag", "getcontenttype",
                                 "getcontentlength", "sync-token", "owner",
                                 "current-user-principal")] + [
    T(X.CS, "getctag"), T(X.CALDAV, "calendar-description"),
    T(X.CALDAV, "supported-calendar-component-set"), T(X.CARDDAV, "addressbook-description"),
    T(X.ICAL, "calendar-color")]


def etag(modseq: int) -> str:
    return f'"{modseq}"'


def sync_token(collection: Collection) -> str:
    return f"urn:postroom:sync:{collection.id}:{collection.modseq}"


def parse_sync_token(token: str, collection: Collection) -> int | None:
    """The modseq in a token we issued for this collection, else None."""
    prefix = f"urn:postroom:sync:{collection.id}:"
    if not token.startswith(prefix):
        return None
    try:
        m = int(token[len(prefix):])
    except ValueError:
        return None
    return m if 0 <= m <= collection.modseq else None


def _hrefs(*paths: str) -> list[ET.Element]:
    return [X.href(p) for p in paths]


def _privileges(rights: str) -> ET.Element:
    names = []
    if "r" in rights:
        names += [(X.DAV, "read"), (X.DAV, "read-current-user-privilege-set"),
                  (X.CALDAV, "read-free-busy")]
    if "i" in rights or "w" in rights:
        names += [(X.DAV, "write-content"), (X.DAV, "bind"), (X.DAV, "write-properties")]
    if "w" in rights and "i" in rights and "t" in rights:
        names += [(X.DAV, "write")]
    if "t" in rights:
        names += [(X.DAV, "unbind")]
    if "a" in rights:
        names += [(X.DAV, "all"), (X.DAV, "write-acl")]
    if "i" in rights:
        names += [(X.CALDAV, "schedule-deliver"), (X.CALDAV, "schedule-send")]
    return X.el(T(X.DAV, "current-user-privilege-set"), children=[
        X.el(T(X.DAV, "privilege"), children=[X.el(T(ns, n))]) for ns, n in names])


def _report_set(reports: list[tuple[str, str]]) -> ET.Element:
    return X.el(T(X.DAV, "supported-report-set"), children=[
        X.el(T(X.DAV, "supported-report"), children=[
            X.el(T(X.DAV, "report"), children=[X.el(T(ns, n))])]) for ns, n in reports])


EXPAND_PROPERTY = (X.DAV, "expand-property")
CAL_REPORTS = [(X.CALDAV, "calendar-query"), (X.CALDAV, "calendar-multiget"),
               (X.CALDAV, "free-busy-query"), (X.DAV, "sync-collection"), EXPAND_PROPERTY]
PRINCIPAL_REPORTS = [(X.DAV, "principal-property-search"),
                     (X.DAV, "principal-search-property-set"),
                     (X.CS, "calendarserver-principal-search"), EXPAND_PROPERTY]
CARD_REPORTS = [(X.CARDDAV, "addressbook-query"), (X.CARDDAV, "addressbook-multiget"),
                (X.DAV, "sync-collection"), EXPAND_PROPERTY]


class PropContext:
    """What property values need besides the target: the viewer, the home, usage, and for a
    collection who it is shared with ((account, RFC 4314 rights) pairs)."""

    def __init__(self, account, used_bytes: int, quota_bytes: int,
                 sharees: list[tuple[Account, str]] = ()) -> None:
        self.account = account
        self.used_bytes = used_bytes
        self.quota_bytes = quota_bytes
        self.sharees = list(sharees)


def _is_shared_view(target: Target) -> bool:
    """A sharee's view of someone else's collection, through the sharee's own home."""
    c = target.collection
    return c is not None and c.account_id != (target.home.id if target.home else c.account_id)


def resourcetype(target: Target, pc: PropContext | None = None) -> ET.Element:
    rt = X.el(T(X.DAV, "resourcetype"))
    kind = target.kind
    if kind in ("item", "gal-item"):
        return rt
    rt.append(X.el(T(X.DAV, "collection")))
    if kind == "principal":
        rt.append(X.el(T(X.DAV, "principal")))
    elif kind == "gal":
        rt.append(X.el(T(X.CARDDAV, "addressbook")))
    elif kind == "outbox":
        rt.append(X.el(T(X.CALDAV, "schedule-outbox")))
    elif kind == "collection" and target.collection is not None:
        c = target.collection
        if is_inbox(c):
            rt.append(X.el(T(X.CALDAV, "schedule-inbox")))
        elif is_calendar(c):
            rt.append(X.el(T(X.CALDAV, "calendar")))
        elif is_addressbook(c):
            rt.append(X.el(T(X.CARDDAV, "addressbook")))
        if _is_shared_view(target):
            rt.append(X.el(T(X.CS, "shared")))
        elif pc is not None and pc.sharees and c.account_id == pc.account.id:
            rt.append(X.el(T(X.CS, "shared-owner")))
    return rt


def value(name: str, target: Target, pc: PropContext, item: Item | None = None
          ) -> ET.Element | None:
    """The property ``name`` of ``target`` (``item`` for item targets), or None."""
    fn = _PROPS.get(name)
    if fn is not None:
        v = fn(target, pc, item)
        if v is not None:
            return v
    c = target.collection
    if target.kind == "collection" and c is not None and name in c.properties:
        try:
            return ET.fromstring(c.properties[name])
        except ET.ParseError:
            return None
    return None


def _principal_for(target: Target, pc: PropContext) -> str:
    return principal_path(pc.account.email)


def _owner(target, pc, item):
    owner = target.owner or pc.account
    return X.el(T(X.DAV, "owner"), children=_hrefs(principal_path(owner.email)))


def _displayname(target, pc, item):
    if target.kind in ("collection",) and target.collection is not None:
        c = target.collection
        name = c.display_name or c.name
        if c.account_id != pc.account.id and target.owner is not None:
            name = f"{name} ({target.owner.email})"
        return X.el(T(X.DAV, "displayname"), name)
    if target.kind == "principal":
        return X.el(T(X.DAV, "displayname"),
                    target.owner.settings.get("display_name") or target.owner.email)
    if target.kind == "gal":
        return X.el(T(X.DAV, "displayname"), "Global address list")
    if target.kind == "outbox":
        return X.el(T(X.DAV, "displayname"), "Outbox")
    if target.kind == "home":
        return X.el(T(X.DAV, "displayname"), target.owner.email)
    return None


def _getetag(target, pc, item):
    if item is not None:
        return X.el(GETETAG, etag(item.modseq))
    if target.kind == "collection" and target.collection is not None:
        return X.el(GETETAG, etag(target.collection.modseq))
    return None


def schedule_tag_of(item: Item | None) -> str | None:
    """The Schedule-Tag of a scheduling object resource (RFC 6638 §3.2.10), else None."""
    if item is None or item.text is None or not itip.is_scheduling_object(item.index):
        return None
    return itip.schedule_tag(item.text)


def _schedule_tag(target, pc, item):
    tag = schedule_tag_of(item) if target.kind == "item" else None
    return X.el(SCHEDULE_TAG, tag) if tag else None


def _contenttype(target, pc, item):
    if item is None:
        return None
    if item.index.component == "VCARD":
        return X.el(T(X.DAV, "getcontenttype"), "text/vcard; charset=utf-8")
    return X.el(T(X.DAV, "getcontenttype"),
                f"text/calendar; charset=utf-8; component={item.index.component.lower()}")


def _contentlength(target, pc, item):
    return X.el(T(X.DAV, "getcontentlength"), str(item.size)) if item is not None else None


def _sync_token(target, pc, item):
    if target.kind == "collection" and target.collection is not None:
        return X.el(T(X.DAV, "sync-token"), sync_token(target.collection))
    return None


def _ctag(target, pc, item):
    if target.kind == "collection" and target.collection is not None:
        return X.el(T(X.CS, "getctag"), str(target.collection.modseq))
    return None


def _cups(target, pc, item):
    return X.el(T(X.DAV, "current-user-principal"), children=_hrefs(_principal_for(target, pc)))


def _principal_url(target, pc, item):
    if target.kind == "principal":
        return X.el(T(X.DAV, "principal-URL"), children=_hrefs(target.path))
    return None


def _home_set(ns, name):
    def fn(target, pc, item):
        if target.kind == "principal":
            return X.el(T(ns, name), children=_hrefs(home_path(target.owner.email)))
        return None
    return fn


def _user_address_set(target, pc, item):
    if target.kind == "principal":
        return X.el(T(X.CALDAV, "calendar-user-address-set"), children=_hrefs(
            f"mailto:{target.owner.email}", principal_path(target.owner.email)))
    return None


def _inbox_url(target, pc, item):
    if target.kind == "principal":
        return X.el(T(X.CALDAV, "schedule-inbox-URL"),
                    children=_hrefs(collection_path(target.owner.email, "inbox")))
    return None


def _outbox_url(target, pc, item):
    if target.kind == "principal":
        return X.el(T(X.CALDAV, "schedule-outbox-URL"),
                    children=_hrefs(collection_path(target.owner.email, OUTBOX)))
    return None


def _cutype(target, pc, item):
    if target.kind == "principal":
        return X.el(T(X.CALDAV, "calendar-user-type"), "INDIVIDUAL")
    return None


def _email_set(target, pc, item):
    if target.kind == "principal":
        return X.el(T(X.CS, "email-address-set"),
                    children=[X.el(T(X.CS, "email-address"), target.owner.email)])
    return None


def _proxy_for(name: str):
    # Apple Calendar asks every principal whose calendars it may act on (calendarserver
    # delegation); shares are listed in the home instead, so these groups stay empty.
    def fn(target, pc, item):
        if target.kind == "principal":
            return X.el(T(X.CS, name))
        return None
    return fn


def _collection_set(target, pc, item):
    return X.el(T(X.DAV, "principal-collection-set"), children=_hrefs("/dav/principals/"))


def _sharee(account: Account, rights: str) -> ET.Element:
    access = "read-write" if RIGHT_WRITE in rights else "read"
    return X.el(T(X.CS, "user"), children=[
        X.href(f"mailto:{account.email}"),
        X.el(T(X.CS, "common-name"), account.settings.get("display_name") or account.email),
        X.el(T(X.CS, "invite-accepted")),
        X.el(T(X.CS, "access"), children=[X.el(T(X.CS, access))])])


def _invite(target, pc, item):
    """Who the collection is shared with: every sharee for the owner, oneself for a sharee
    (calendarserver-sharing §5.2.2). Shares are accepted when made, so all say accepted."""
    c = target.collection
    if target.kind != "collection" or c is None or is_inbox(c):
        return None
    owner = target.owner
    shown = [(a, r) for a, r in pc.sharees
             if c.account_id == pc.account.id or a.id == pc.account.id]
    return X.el(T(X.CS, "invite"), children=[
        X.el(T(X.CS, "organizer"), children=[
            X.href(f"mailto:{owner.email}"),
            X.el(T(X.CS, "common-name"), owner.settings.get("display_name") or owner.email)]),
        *(_sharee(a, r) for a, r in shown)])


def _shared_url(target, pc, item):
    if target.kind == "collection" and _is_shared_view(target):
        return X.el(T(X.CS, "shared-url"), children=_hrefs(
            collection_path(target.owner.email, target.collection.name)))
    return None


def _sharing_modes(target, pc, item):
    c = target.collection
    if target.kind != "collection" or c is None or is_inbox(c):
        return None
    modes = [X.el(T(X.CS, "can-be-shared"))] if c.account_id == pc.account.id else []
    return X.el(T(X.CS, "allowed-sharing-modes"), children=modes)


def _privset(target, pc, item):
    return _privileges(target.rights)


def _report_set_prop(target, pc, item):
    c = target.collection
    if target.kind == "gal" or (target.kind == "collection" and is_addressbook(c)):
        return _report_set(CARD_REPORTS)
    if target.kind == "collection" and is_calendar(c):
        return _report_set(CAL_REPORTS)
    if target.kind in ("root", "principals", "principal"):
        return _report_set(PRINCIPAL_REPORTS)
    return _report_set([EXPAND_PROPERTY])


def _calendar_only(fn):
    def wrapped(target, pc, item):
        c = target.collection
        if target.kind == "collection" and is_calendar(c) and not is_inbox(c):
            return fn(target, c)
        return None
    return wrapped


def _addressbook_only(fn):
    def wrapped(target, pc, item):
        c = target.collection
        if target.kind == "gal" or (target.kind == "collection" and is_addressbook(c)):
            return fn(target, c)
        return None
    return wrapped


def _components(target, c):
    return X.el(T(X.CALDAV, "supported-calendar-component-set"), children=[
        X.el(T(X.CALDAV, "comp"), name=n) for n in (c.components or ("VEVENT", "VTODO"))])


def _quota(available: bool):
    def fn(target, pc, item):
        if target.kind not in ("collection", "home"):
            return None
        if available:
            free = (pc.quota_bytes - pc.used_bytes) if pc.quota_bytes else 10 ** 12
            return X.el(T(X.DAV, "quota-available-bytes"), str(max(0, free)))
        return X.el(T(X.DAV, "quota-used-bytes"), str(pc.used_bytes))
    return fn


_PROPS: dict[str, Callable] = {
    T(X.DAV, "resourcetype"): lambda t, pc, i: resourcetype(t, pc),
    T(X.DAV, "displayname"): _displayname,
    T(X.DAV, "getetag"): _getetag,
    T(X.DAV, "getcontenttype"): _contenttype,
    SCHEDULE_TAG: _schedule_tag,
    T(X.DAV, "getcontentlength"): _contentlength,
    T(X.DAV, "sync-token"): _sync_token,
    T(X.DAV, "owner"): _owner,
    T(X.DAV, "current-user-principal"): _cups,
    T(X.DAV, "principal-URL"): _principal_url,
    T(X.DAV, "principal-collection-set"): _collection_set,
    T(X.DAV, "current-user-privilege-set"): _privset,
    T(X.DAV, "supported-report-set"): _report_set_prop,
    T(X.DAV, "quota-available-bytes"): _quota(True),
    T(X.DAV, "quota-used-bytes"): _quota(False),
    T(X.CS, "getctag"): _ctag,
    T(X.CS, "email-address-set"): _email_set,
    T(X.CS, "invite"): _invite,
    T(X.CS, "calendar-proxy-read-for"): _proxy_for("calendar-proxy-read-for"),
    T(X.CS, "calendar-proxy-write-for"): _proxy_for("calendar-proxy-write-for"),
    T(X.CS, "shared-url"): _shared_url,
    T(X.CS, "allowed-sharing-modes"): _sharing_modes,
    T(X.CALDAV, "calendar-home-set"): _home_set(X.CALDAV, "calendar-home-set"),
    T(X.CARDDAV, "addressbook-home-set"): _home_set(X.CARDDAV, "addressbook-home-set"),
    T(X.CALDAV, "calendar-user-address-set"): _user_address_set,
    T(X.CALDAV, "schedule-inbox-URL"): _inbox_url,
    T(X.CALDAV, "schedule-outbox-URL"): _outbox_url,
    T(X.CALDAV, "calendar-user-type"): _cutype,
    T(X.CALDAV, "supported-calendar-component-set"): _calendar_only(_components),
    T(X.CALDAV, "calendar-description"): _calendar_only(
        lambda t, c: X.el(T(X.CALDAV, "calendar-description"), c.description)),
    T(X.CALDAV, "calendar-timezone"): _calendar_only(
        lambda t, c: X.el(T(X.CALDAV, "calendar-timezone"), c.timezone) if c.timezone else None),
    T(X.CALDAV, "supported-calendar-data"): _calendar_only(
        lambda t, c: X.el(T(X.CALDAV, "supported-calendar-data"), children=[
            X.el(T(X.CALDAV, "calendar-data"), **{"content-type": "text/calendar",
                                                  "version": "2.0"})])),
    T(X.CALDAV, "max-resource-size"): _calendar_only(
        lambda t, c: X.el(T(X.CALDAV, "max-resource-size"), str(MAX_RESOURCE_SIZE))),
    T(X.CALDAV, "schedule-calendar-transp"): _calendar_only(
        lambda t, c: X.el(T(X.CALDAV, "schedule-calendar-transp"),
                          children=[X.el(T(X.CALDAV, "opaque"))])),
    T(X.ICAL, "calendar-color"): _calendar_only(
        lambda t, c: X.el(T(X.ICAL, "calendar-color"), c.color) if c.color else None),
    T(X.CARDDAV, "addressbook-description"): _addressbook_only(
        lambda t, c: X.el(T(X.CARDDAV, "addressbook-description"),
                          c.description if c is not None else "All users of the domain")),
    T(X.CARDDAV, "supported-address-data"): _addressbook_only(
        lambda t, c: X.el(T(X.CARDDAV, "supported-address-data"), children=[
            X.el(T(X.CARDDAV, "address-data-type"), **{"content-type": "text/vcard",
                                                       "version": v}) for v in ("3.0", "4.0")])),
    T(X.CARDDAV, "max-resource-size"): _addressbook_only(
        lambda t, c: X.el(T(X.CARDDAV, "max-resource-size"), str(MAX_RESOURCE_SIZE))),
}

# Property names a client may set (dead properties we store and the writable live ones).
WRITABLE_LIVE = {
    T(X.DAV, "displayname"): "display_name",
    T(X.CALDAV, "calendar-description"): "description",
    T(X.CARDDAV, "addressbook-description"): "description",
    T(X.ICAL, "calendar-color"): "color",
    T(X.CALDAV, "calendar-timezone"): "timezone",
}
PROTECTED = set(_PROPS) - set(WRITABLE_LIVE)

__all__ = ["ALLPROP", "CALENDAR_DATA", "ADDRESS_DATA", "GAL", "value", "etag", "sync_token"]

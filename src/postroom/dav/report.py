"""REPORT: calendar-query, calendar-multiget and free-busy-query (RFC 4791 §7.8-7.10),
addressbook-query and addressbook-multiget (RFC 6352 §8.6-8.7), sync-collection (RFC 6578)
read off the store's change log; the principal searches are in dav/principal_search.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

from starlette.responses import Response

from postroom.dav import collation, expand_property, principal_search
from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.caldata import DataRequest, parse_utc
from postroom.dav.app import DavRequest, xml_response
from postroom.dav.propfind import build, children, item_target, prop_context
from postroom.dav.resources import DavError, Target, is_addressbook, is_calendar
from postroom.pim import freebusy
from postroom.pim.model import InvalidData, parse_calendar, parse_vcard
from postroom.pim.recurrence import alarm_fires_in, item_overlaps
from postroom.store.api import Item

T = X.tag


def _prop_names(root: ET.Element) -> tuple[str, list[str], DataRequest | None]:
    prop = root.find(T(X.DAV, "prop"))
    if root.find(T(X.DAV, "allprop")) is not None:
        return "allprop", [], None
    if prop is None:
        return "prop", [T(X.DAV, "getetag")], None
    names = [p.tag for p in prop]
    data = prop.find(P.CALENDAR_DATA)
    if data is None:
        data = prop.find(P.ADDRESS_DATA)
    return "prop", names, DataRequest(data) if data is not None else None


def _data_override(item: Item, data: DataRequest | None) -> dict[str, ET.Element]:
    return data.element(item) if data is not None else {}


async def handle(req: DavRequest) -> Response:
    root = X.parse(req.body)
    if root is None:
        raise X.BadXML("empty REPORT")
    target = req.target
    target.require("r")
    name = root.tag
    if name == T(X.CALDAV, "calendar-query"):
        return await calendar_query(req, root)
    if name in (T(X.CALDAV, "calendar-multiget"), T(X.CARDDAV, "addressbook-multiget")):
        return await multiget(req, root)
    if name == T(X.CARDDAV, "addressbook-query"):
        return await addressbook_query(req, root)
    if name == T(X.DAV, "sync-collection"):
        return await sync_collection(req, root)
    if name == T(X.CALDAV, "free-busy-query"):
        return await free_busy_query(req, root)
    if name == T(X.DAV, "expand-property"):
        return await expand_property.handle(req, root)
    if name == T(X.DAV, "principal-property-search"):
        return await principal_search.principal_property_search(req, root)
    if name == T(X.DAV, "principal-search-property-set"):
        return await principal_search.principal_search_property_set(req)
    if name == T(X.CS, "calendarserver-principal-search"):
        return await principal_search.calendarserver_principal_search(req, root)
    raise DavError(403, body=X.error(X.DAV, "supported-report"))


def _collection_target(req: DavRequest) -> Target:
    t = req.target
    if t.kind == "gal":
        return t
    if t.kind != "collection" or t.collection is None:
        raise DavError(403, body=X.error(X.DAV, "supported-report"))
    return t


# --- calendar-query -----------------------------------------------------------------------------

class CompFilter:
    """RFC 4791 §9.7.1, reduced to what clients send: component name, is-not-defined,
    time-range, and nested prop-filters with text-match / is-not-defined."""

    def __init__(self, el: ET.Element) -> None:
        self.name = el.get("name", "").upper()
        self.not_defined = el.find(T(X.CALDAV, "is-not-defined")) is not None
        tr = el.find(T(X.CALDAV, "time-range"))
        self.start = parse_utc(tr.get("start")) if tr is not None else None
        self.end = parse_utc(tr.get("end")) if tr is not None else None
        self.has_range = tr is not None
        self.children = [CompFilter(c) for c in el.findall(T(X.CALDAV, "comp-filter"))]
        self.props = [PropFilter(p, X.CALDAV) for p in el.findall(T(X.CALDAV, "prop-filter"))]


class PropFilter:
    """A prop-filter with its text-matches (RFC 4791 §9.7.2 and §9.7.5, RFC 6352 §10.5)."""

    def __init__(self, el: ET.Element, ns: str) -> None:
        self.name = el.get("name", "").upper()
        self.not_defined = el.find(T(ns, "is-not-defined")) is not None
        self.matches = []
        for tm in el.findall(T(ns, "text-match")):
            fold = collation.fold_for(tm.get("collation"))
            if fold is None:
                raise DavError(403, body=X.error(ns, "supported-collation"))
            self.matches.append((fold(tm.text or ""), tm.get("match-type", "contains"),
                                 tm.get("negate-condition", "no") == "yes", fold))
        self.test = el.get("test", "anyof")

    def matches_values(self, values: list[str]) -> bool:
        if self.not_defined:
            return not values
        if not values:
            return False
        if not self.matches:
            return True
        results = []
        for needle, kind, negate, fold in self.matches:
            hit = any(collation.text_match(fold(v), needle, kind) for v in values)
            results.append(hit != negate)
        return all(results) if self.test == "allof" else any(results)


def _component_values(comp, name: str) -> list[str]:
    v = comp.get(name)
    if v is None:
        return []
    vs = v if isinstance(v, list) else [v]
    return [str(x.to_ical().decode() if hasattr(x, "to_ical") and not isinstance(x, str)
                else x) for x in vs]


def matches_calendar(item: Item, f: CompFilter) -> bool:
    """Whether an item passes the VCALENDAR filter."""
    if f.name != "VCALENDAR":
        return False
    if not f.children:
        return True
    for sub in f.children:
        if sub.name != item.index.component:
            if not sub.not_defined:
                return False
            continue
        if sub.not_defined:
            return False
        if sub.has_range:
            s = int(sub.start.timestamp()) if sub.start else None
            e = int(sub.end.timestamp()) if sub.end else None
            if not item_overlaps(item, s, e):
                return False
        if sub.props or sub.children:
            try:
                obj = parse_calendar(item.text)
            except InvalidData:
                return False
            comps = obj.components
            if not any(all(p.matches_values(_component_values(c, p.name)) for p in sub.props)
                       for c in comps):
                return False
            for alarm_filter in sub.children:
                has = any(s.name == alarm_filter.name for c in comps for s in c.subcomponents)
                if has == alarm_filter.not_defined:
                    return False
                if alarm_filter.has_range and alarm_filter.name == "VALARM" and \
                        not alarm_fires_in(item.text, alarm_filter.start, alarm_filter.end,
                                           (sub.name,)):
                    return False
    return True


async def calendar_query(req: DavRequest, root: ET.Element) -> Response:
    target = _collection_target(req)
    c = target.collection
    if not is_calendar(c):
        raise DavError(403, body=X.error(X.DAV, "supported-report"))
    mode, names, data_el = _prop_names(root)
    filt_el = root.find(T(X.CALDAV, "filter"))
    top = filt_el.find(T(X.CALDAV, "comp-filter")) if filt_el is not None else None
    f = CompFilter(top) if top is not None else None
    component = start = end = None
    if f is not None and len(f.children) == 1 and not f.children[0].not_defined:
        sub = f.children[0]
        component = sub.name
        start = int(sub.start.timestamp()) if sub.start else None
        end = int(sub.end.timestamp()) if sub.end else None
    # The index narrows the candidates; recurring ones and finer filters are checked here.
    items = await req.store.query_items(c.account_id, c.id, component=component, start=start,
                                        end=end, with_text=True)
    pc = await prop_context(req, target)
    responses = []
    for item in items:
        if f is not None and not matches_calendar(item, f):
            continue
        responses.append(build(item_target(target, item.name), item, mode, names, pc,
                               _data_override(item, data_el)))
    return xml_response(X.multistatus(responses))


# --- multiget -----------------------------------------------------------------------------------

async def multiget(req: DavRequest, root: ET.Element) -> Response:
    target = _collection_target(req)
    mode, names, data_el = _prop_names(root)
    pc = await prop_context(req, target)
    wanted: dict[str, str] = {}
    for h in root.findall(T(X.DAV, "href")):
        path = urlsplit((h.text or "").strip()).path
        if path.startswith(target.path) and "/" not in path[len(target.path):].strip("/"):
            wanted[unquote(path[len(target.path):])] = path
        else:
            wanted[f"\0{path}"] = path
    if target.kind == "gal":
        items = {it.name: it for _, it in await children(req, target)}
    else:
        c = target.collection
        items = {it.name: it for it in await req.store.list_items(
            c.account_id, c.id, [n for n in wanted if not n.startswith("\0")], with_text=True)}
    responses = []
    for name, path in wanted.items():
        item = items.get(name)
        if item is None:
            responses.append(X.status_response(path, 404))
            continue
        t = item_target(target, name)
        if target.kind == "gal":
            t.kind = "gal-item"
        responses.append(build(t, item, mode, names, pc, _data_override(item, data_el)))
    return xml_response(X.multistatus(responses))


# --- addressbook-query --------------------------------------------------------------------------

def matches_card(item: Item, filters: list[PropFilter], test: str) -> bool:
    if not filters:
        return True
    try:
        card = parse_vcard(item.text)
    except InvalidData:
        return False
    results = [f.matches_values(card.values(f.name)) for f in filters]
    return all(results) if test == "allof" else any(results)


async def addressbook_query(req: DavRequest, root: ET.Element) -> Response:
    target = _collection_target(req)
    if target.kind != "gal" and not is_addressbook(target.collection):
        raise DavError(403, body=X.error(X.DAV, "supported-report"))
    mode, names, data_el = _prop_names(root)
    filt = root.find(T(X.CARDDAV, "filter"))
    filters = [PropFilter(p, X.CARDDAV) for p in filt.findall(T(X.CARDDAV, "prop-filter"))] \
        if filt is not None else []
    test = filt.get("test", "anyof") if filt is not None else "anyof"
    limit_el = root.find(f"{T(X.CARDDAV, 'limit')}/{T(X.CARDDAV, 'nresults')}")
    limit = int(limit_el.text) if limit_el is not None and (limit_el.text or "").isdigit() \
        else None
    if target.kind == "gal":
        items = [it for _, it in await children(req, target)]
    else:
        c = target.collection
        items = await req.store.list_items(c.account_id, c.id, with_text=True)
    pc = await prop_context(req, target)
    responses = []
    for item in items:
        if not matches_card(item, filters, test):
            continue
        if limit is not None and len(responses) >= limit:
            break
        t = item_target(target, item.name)
        if target.kind == "gal":
            t.kind = "gal-item"
        responses.append(build(t, item, mode, names, pc, _data_override(item, data_el)))
    return xml_response(X.multistatus(responses))


# --- sync-collection ----------------------------------------------------------------------------

async def sync_collection(req: DavRequest, root: ET.Element) -> Response:
    target = _collection_target(req)
    c = target.collection
    if c is None:
        raise DavError(403, body=X.error(X.DAV, "supported-report"))
    token_el = root.find(T(X.DAV, "sync-token"))
    token = (token_el.text or "").strip() if token_el is not None else ""
    level = root.find(T(X.DAV, "sync-level"))
    if level is not None and (level.text or "").strip() not in ("1", ""):
        raise DavError(403, body=X.error(X.DAV, "supported-sync-level"))
    since = 0
    if token:
        parsed = P.parse_sync_token(token, c)
        if parsed is None:
            raise DavError(403, body=X.error(X.DAV, "valid-sync-token"))
        since = parsed
    mode, names, data_el = _prop_names(root)
    changes = await req.store.item_changes(c.account_id, c.id, since)
    if since and since < changes.horizon:
        # The deletions since then were pruned: the client must sync from scratch.
        raise DavError(403, body=X.error(X.DAV, "valid-sync-token"))
    needs_text = data_el is not None or P.SCHEDULE_TAG in names
    texts = {}
    if needs_text and changes.changed:
        texts = {it.name: it for it in await req.store.list_items(
            c.account_id, c.id, [i.name for i in changes.changed], with_text=True)}
    pc = await prop_context(req, target)
    responses = []
    for item in changes.changed:
        item = texts.get(item.name, item)
        responses.append(build(item_target(target, item.name), item, mode, names, pc,
                               _data_override(item, data_el)))
    if since:
        for name in changes.deleted:
            responses.append(X.status_response(item_target(target, name).path, 404))
    fresh = await req.store.get_collection_by_id(c.account_id, c.id)
    return xml_response(X.multistatus(responses, P.sync_token(fresh)))


# --- free-busy-query ----------------------------------------------------------------------------

async def free_busy_query(req: DavRequest, root: ET.Element) -> Response:
    target = _collection_target(req)
    c = target.collection
    if not is_calendar(c):
        raise DavError(403, body=X.error(X.DAV, "supported-report"))
    tr = root.find(T(X.CALDAV, "time-range"))
    if tr is None:
        raise DavError(400, body=X.error(X.CALDAV, "valid-filter"))
    start, end = parse_utc(tr.get("start")), parse_utc(tr.get("end"))
    if start is None or end is None:
        raise DavError(400, body=X.error(X.CALDAV, "valid-filter"))
    owner = await req.store.get_account_by_id(c.account_id)
    periods = await freebusy.busy_periods(req.store, owner, start, end, collections=[c])
    text = freebusy.vfreebusy(periods, start, end, organizer=req.account.email,
                              attendee=owner.email)
    return Response(text.encode(), media_type="text/calendar; charset=utf-8")


__all__ = ["handle"]

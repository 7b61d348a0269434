"""PROPFIND (RFC 4918 §9.1): allprop, propname or a list of properties, Depth 0 or 1."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from postroom.dav import props as P
from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest, xml_response
from postroom.dav.resources import (
    GAL, OUTBOX, DavError, Target, collection_path, quote, home_path, principal_path, shared_segment,
)
from postroom.pim import gal
from postroom.store.api import ACL_COLLECTION, Item

T = X.tag


def parse_request(root: ET.Element | None) -> tuple[str, list[str]]:
    """("allprop" | "propname" | "prop", names)."""
    if root is None:
        return "allprop", []
    if root.tag != T(X.DAV, "propfind"):
        raise X.BadXML("expected DAV:propfind")
    for child in root:
        if child.tag == T(X.DAV, "propname"):
            return "propname", []
        if child.tag == T(X.DAV, "allprop"):
            include = root.find(T(X.DAV, "include"))
            return "allprop", [c.tag for c in include] if include is not None else []
        if child.tag == T(X.DAV, "prop"):
            return "prop", [c.tag for c in child]
    return "allprop", []


async def prop_context(req: DavRequest, target: Target) -> P.PropContext:
    owner = target.owner if target.owner is not None else req.account
    c = target.collection
    if c is not None and owner.id != c.account_id:
        owner = await req.store.get_account_by_id(c.account_id)
    fresh = await req.store.get_account_by_id(owner.id) or owner
    sharees = []
    if target.kind == "collection" and c is not None:
        for share in await req.store.list_rights(c.account_id, ACL_COLLECTION, c.id):
            who = await req.store.get_account_by_id(share.grantee_account_id)
            if who is not None:
                sharees.append((who, share.rights))
    return P.PropContext(req.account, fresh.used_bytes, fresh.quota_bytes, sharees)


def build(target: Target, item: Item | None, mode: str, names: list[str], pc: P.PropContext,
          overrides: dict[str, ET.Element] | None = None) -> ET.Element:
    overrides = overrides or {}
    if mode == "propname":
        found = [ET.Element(n) for n in P.ALLPROP + list(P._PROPS)
                 if P.value(n, target, pc, item) is not None]
        return X.response(target.path, list({e.tag: e for e in found}.values()))
    wanted = (P.ALLPROP + names) if mode == "allprop" else names
    found, missing = [], []
    for name in dict.fromkeys(wanted):
        v = overrides.get(name)
        if v is None:
            v = P.value(name, target, pc, item)
        if v is not None:
            found.append(v)
        elif mode != "allprop":
            missing.append(name)
    return X.response(target.path, found, missing)


def with_data(item: Item) -> dict[str, ET.Element]:
    if item.text is None:
        return {}
    if item.index.component == "VCARD":
        return {P.ADDRESS_DATA: X.el(P.ADDRESS_DATA, item.text)}
    return {P.CALENDAR_DATA: X.el(P.CALENDAR_DATA, item.text)}


async def children(req: DavRequest, target: Target, with_text: bool = False
                   ) -> list[tuple[Target, Item | None]]:
    store = req.store
    out: list[tuple[Target, Item | None]] = []
    if target.kind == "root":
        out.append((Target("principals", "/dav/principals/", rights="lr"), None))
        out.append((Target("home", home_path(req.account.email), owner=req.account,
                           home=req.account, rights="lrik"), None))
    elif target.kind == "principals":
        out.append((Target("principal", principal_path(req.account.email), owner=req.account,
                           home=req.account, rights="lr"), None))
    elif target.kind == "home":
        home = target.home
        for c in await store.list_collections(home.id):
            out.append((Target("collection", collection_path(home.email, c.name), owner=home,
                               home=home, collection=c, segment=c.name,
                               rights=target.rights + "rswiptea"), None))
        out.append((Target("outbox", collection_path(home.email, OUTBOX), owner=home, home=home,
                           segment=OUTBOX, rights="lri"), None))
        out.append((Target("gal", collection_path(home.email, GAL), owner=home, home=home,
                           segment=GAL, rights="lr"), None))
        for share in await store.shared_with(home.id, ACL_COLLECTION):
            c = await store.get_collection_by_id(share.owner_account_id, share.object_id)
            owner = await store.get_account_by_id(share.owner_account_id)
            if c is None or owner is None or "r" not in share.rights:
                continue
            seg = shared_segment(owner.id, c.id)
            out.append((Target("collection", collection_path(home.email, seg), owner=owner,
                               home=home, collection=c, segment=seg, rights=share.rights), None))
    elif target.kind == "collection" and target.collection is not None:
        c = target.collection
        for item in await store.list_items(c.account_id, c.id, with_text=with_text):
            out.append((item_target(target, item.name), item))
    elif target.kind == "gal":
        for item in await gal.items(store, req.account):
            out.append((Target("gal-item", target.path + quote(item.name), owner=target.owner,
                               home=target.home, segment=GAL, item=item.name, rights="lr"),
                        item))
    return out


def item_target(collection: Target, name: str) -> Target:
    return Target("item", collection.path + quote(name), owner=collection.owner,
                  home=collection.home, collection=collection.collection,
                  segment=collection.segment, item=name, rights=collection.rights)


async def load_item(req: DavRequest, target: Target) -> Item | None:
    if target.kind == "item":
        c = target.collection
        return await req.store.get_item(c.account_id, c.id, target.item)
    if target.kind == "gal-item":
        return await gal.item(req.store, req.account, target.item)
    return None


async def handle(req: DavRequest):
    target = req.target
    target.require("r")
    mode, names = parse_request(X.parse(req.body))
    depth = req.depth
    if depth not in ("0", "1"):
        if target.kind in ("root", "principals", "home"):
            raise DavError(403, body=X.error(X.DAV, "propfind-finite-depth"))
        depth = "1"
    item = None
    if target.kind in ("item", "gal-item"):
        item = await load_item(req, target)
        if item is None:
            raise DavError(404)
    want_data = any(n in names for n in P.NEEDS_TEXT)
    pc = await prop_context(req, target)
    responses = [build(target, item, mode, names, pc,
                       with_data(item) if (item and want_data) else None)]
    if depth == "1" and target.kind not in ("item", "gal-item"):
        for child, child_item in await children(req, target, with_text=want_data):
            cpc = pc if child.kind in ("item", "gal-item") else await prop_context(req, child)
            responses.append(build(child, child_item, mode, names, cpc,
                                   with_data(child_item) if (child_item and want_data) else None))
    return xml_response(X.multistatus(responses))

"""Finding principals: the DAV:principal-property-search and DAV:principal-search-property-set
REPORTs (RFC 3744 §9.4-9.5), and CalendarServer's calendarserver-principal-search that Apple
Calendar sends while one types an attendee. The principals searched are the users of the
viewer's domain, the same people the global address list shows (pim/gal.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from starlette.responses import Response

from postroom.dav import collation
from postroom.dav import xmlutil as X
from postroom.dav.app import DavRequest, xml_response
from postroom.dav.propfind import build, prop_context
from postroom.dav.resources import DavError, Target, principal_path
from postroom.pim import gal
from postroom.store.api import Account

T = X.tag
DISPLAYNAME = T(X.DAV, "displayname")
ADDRESS_SET = T(X.CALDAV, "calendar-user-address-set")
EMAIL_SET = T(X.CS, "email-address-set")

# What a principal may be searched by, with the description §9.5 asks for.
SEARCHABLE = {DISPLAYNAME: "Display name", ADDRESS_SET: "Calendar user address",
              EMAIL_SET: "Email address"}
# Principals answered at most, so a one-letter search of a large domain stays small.
MAX_RESULTS = 200
# Where a search of the principals is meaningful without apply-to-principal-collection-set.
_PRINCIPAL_PLACES = ("root", "principals", "principal")


def _name(account: Account) -> str:
    return account.settings.get("display_name") or account.email


def _values(account: Account, prop: str) -> list[str]:
    """The strings of ``prop`` a match is tested against."""
    if prop == DISPLAYNAME:
        return [_name(account)]
    if prop == ADDRESS_SET:
        return [f"mailto:{account.email}", principal_path(account.email)]
    if prop == EMAIL_SET:
        return [account.email]
    return []


_STRUCTURE = {T(X.DAV, "prop"), T(X.DAV, "property-search"),
              T(X.DAV, "apply-to-principal-collection-set"), T(X.CS, "search-token"),
              T(X.CS, "limit")}


def _answer_names(root: ET.Element) -> list[str]:
    """The properties asked for. The caldav library (3.x) sends an empty DAV:prop followed by
    the properties as its siblings, so those count too."""
    prop = root.find(T(X.DAV, "prop"))
    names = [p.tag for p in prop] if prop is not None else []
    names += [c.tag for c in root if c.tag not in _STRUCTURE]
    return names or [DISPLAYNAME]


async def _answer(req: DavRequest, accounts: list[Account], names: list[str]) -> Response:
    responses = []
    for account in accounts[:MAX_RESULTS]:
        target = Target("principal", principal_path(account.email), owner=account,
                        home=account, rights="lr")
        responses.append(build(target, None, "prop", names, await prop_context(req, target)))
    return xml_response(X.multistatus(responses))


async def principal_property_search(req: DavRequest, root: ET.Element) -> Response:
    """RFC 3744 §9.4. Each property-search holds when any of its properties matches (a term is
    found in a name or in an address alike); ``test`` (CalendarServer's attribute, "allof" by
    default as RFC 3744 has it) joins the property-searches. None at all lists every
    principal, which the caldav library's principal listing relies on."""
    searches = []
    for ps in root.findall(T(X.DAV, "property-search")):
        prop = ps.find(T(X.DAV, "prop"))
        match = ps.find(T(X.DAV, "match"))
        if prop is None or match is None:
            raise DavError(400, body=X.error(X.DAV, "valid-property-search"))
        fold = collation.fold_for(match.get("collation"))
        if fold is None:
            raise DavError(403, body=X.error(X.DAV, "supported-collation"))
        searches.append(([p.tag for p in prop], fold(match.text or ""),
                         match.get("match-type", "contains"), fold))
    everywhere = root.find(T(X.DAV, "apply-to-principal-collection-set")) is not None
    if not everywhere and req.target.kind not in _PRINCIPAL_PLACES:
        return xml_response(X.multistatus([]))
    join = any if root.get("test") == "anyof" else all

    def matches(account: Account) -> bool:
        return join(any(collation.text_match(fold(v), needle, match_type)
                        for p in props for v in _values(account, p))
                    for props, needle, match_type, fold in searches)
    accounts = [a for a in await gal.domain_accounts(req.store, req.account) if matches(a)]
    return await _answer(req, accounts, _answer_names(root))


async def principal_search_property_set(req: DavRequest) -> Response:
    """RFC 3744 §9.5: the properties principal-property-search can search by."""
    body = X.el(T(X.DAV, "principal-search-property-set"), children=[
        X.el(T(X.DAV, "principal-search-property"), children=[
            X.el(T(X.DAV, "prop"), children=[X.el(name)]),
            X.el(T(X.DAV, "description"), text, **{"{http://www.w3.org/XML/1998/namespace}lang":
                                                   "en"})])
        for name, text in SEARCHABLE.items()])
    return xml_response(body, status=200)


async def calendarserver_principal_search(req: DavRequest, root: ET.Element) -> Response:
    """CalendarServer's principal search: every search-token must be found (caselessly) in a
    principal's name or address; CS:limit/CS:nresults caps the answer."""
    tokens = [collation.DEFAULT(t.text or "") for t in root.findall(T(X.CS, "search-token"))]
    limit_el = root.find(f"{T(X.CS, 'limit')}/{T(X.CS, 'nresults')}")
    limit = int(limit_el.text) if limit_el is not None and (limit_el.text or "").isdigit() \
        else MAX_RESULTS

    def matches(account: Account) -> bool:
        haystack = [collation.DEFAULT(v) for p in SEARCHABLE for v in _values(account, p)]
        return all(any(t in v for v in haystack) for t in tokens)
    accounts = [a for a in await gal.domain_accounts(req.store, req.account) if matches(a)]
    return await _answer(req, accounts[:limit], _answer_names(root))

"""Search (MS-ASCMD §2.2.1.16): the Mailbox store through the store's search index (the same
trigram search IMAP SEARCH uses) and the GAL store over the domain's users (``pim.gal``)."""

from __future__ import annotations

from postroom.eas import email as mail
from postroom.eas import hierarchy
from postroom.eas.hierarchy import CLASS_EMAIL, Folder, item_id
from postroom.eas.items import adapter
from postroom.eas.protocol import CommandError, Request, eas_date, parse_date
from postroom.eas.wbxml import E, Element
from postroom.pim import contact, gal
from postroom.store import search as S
from postroom.store.api import EAS_SOURCE_MAILBOX, FETCH_PREVIEW, SEEN, Item

# Search Status (MS-ASCMD §2.2.3.177.14)
OK = 1
PROTOCOL_ERROR = 2
SERVER_ERROR = 3
BAD_LINK = 4
TOO_COMPLEX = 8
DEFAULT_RANGE = (0, 99)
MAX_RESULTS = 1000


def _range(text: str | None) -> tuple[int, int]:
    if not text:
        return DEFAULT_RANGE
    a, _, b = text.partition("-")
    if not a.isdigit() or not b.isdigit() or int(a) > int(b):
        raise CommandError(PROTOCOL_ERROR)
    return int(a), min(int(b), int(a) + MAX_RESULTS - 1)


def _answer(store_status: int, results: list[Element], span: tuple[int, int] | None = None,
            total: int | None = None) -> Element:
    return E("Search:Search", E("Search:Status", OK), E("Search:Response", E("Search:Store",
             E("Search:Status", store_status), *results,
             E("Search:Range", f"{span[0]}-{span[1]}") if span and results else None,
             E("Search:Total", total) if total is not None else None)))


async def handle_search(req: Request) -> Element:
    store_el = req.body.find("Search:Store") if req.body is not None else None
    if store_el is None:
        raise CommandError(PROTOCOL_ERROR)
    name = (store_el.findtext("Search:Name") or "").lower()
    options = store_el.find("Search:Options")
    span = _range(options.findtext("Search:Range") if options is not None else None)
    if name == "gal":
        return await _gal(req, store_el.findtext("Search:Query") or "", span)
    if name == "mailbox":
        return await _mailbox(req, store_el.find("Search:Query"), options, span)
    return _answer(BAD_LINK, [])


async def _gal(req: Request, query: str, span: tuple[int, int]) -> Element:
    if not query.strip():
        return _answer(PROTOCOL_ERROR, [])
    found = await gal.search(req.store, req.account, query.strip(), limit=MAX_RESULTS)
    results = []
    for it in found[span[0]:span[1] + 1]:
        results.append(E("Search:Result", E("Search:Properties", *gal_properties(it))))
    return _answer(OK, results, (span[0], span[0] + len(results) - 1), len(found))


def gal_properties(it: Item) -> list[Element | None]:
    """A GAL entry's properties (MS-ASCMD §2.2.3.130.1) from the user's GAL card: names and
    the phones of the account settings."""
    slots = contact.read(it.text or "").slots
    family, given = (slots.get("n") or ("", ""))[:2]
    name = it.index.summary
    if not given and not family:
        given, _, family = name.partition(" ")
    email = it.index.emails[0] if it.index.emails else None
    org = slots.get("org") or ("",)
    return [E("GAL:DisplayName", name),
            E("GAL:Phone", slots["tel.work"]) if slots.get("tel.work") else None,
            E("GAL:Title", slots["title"]) if slots.get("title") else None,
            E("GAL:Company", org[0]) if org[0] else None,
            E("GAL:Alias", email.split("@")[0]) if email else None,
            E("GAL:FirstName", given) if given else None,
            E("GAL:LastName", family) if family else None,
            E("GAL:HomePhone", slots["tel.home"]) if slots.get("tel.home") else None,
            E("GAL:MobilePhone", slots["tel.mobile"]) if slots.get("tel.mobile") else None,
            E("GAL:EmailAddress", email) if email else None]


def _criteria(cond: Element) -> S.Criteria | None:
    """FreeText words, and DateReceived bounds (GreaterThan/LessThan, MS-ASCMD §2.2.3.79)."""
    items: list[S.Criteria] = []
    for el in cond.iter():
        if el.tag in ("Search:FreeText", "Find:FreeText") and isinstance(el.text, str):
            items += [S.Text("text", w) for w in el.text.split()]
        elif el.tag in ("Search:GreaterThan", "Search:LessThan"):
            when = parse_date(el.findtext("Search:Value"))
            if el.find("Email:DateReceived") is None or when is None:
                return None
            t = int(when.timestamp())
            items.append(S.DateRange("internal", start=t + 1) if el.tag == "Search:GreaterThan"
                         else S.DateRange("internal", end=t))
    return S.And(tuple(items)) if items else None


async def _mail_hits(req: Request, cond: Element) -> list[tuple[int, Folder, int]] | None:
    """(internal date, folder, uid) of matching messages, newest first; None: bad query."""
    criteria = _criteria(cond)
    if criteria is None:
        return None
    folder_ids = [el.text for el in cond.iter() if el.tag == "AirSync:CollectionId"]
    folders = [f for f in await hierarchy.current(req.store, req.account)
               if f.source == EAS_SOURCE_MAILBOX and f.cls == CLASS_EMAIL
               and (not folder_ids or f.server_id in folder_ids)]
    hits: list[tuple[int, Folder, int]] = []
    for f in folders:
        uids = await req.store.search(req.account.id, f.source_id, criteria)
        rows = await req.store.fetch(req.account.id, f.source_id, uids) if uids else []
        hits += [(r.internal_date, f, r.uid) for r in rows]
    hits.sort(key=lambda h: -h[0])   # newest first, as Exchange orders results
    return hits


async def _mailbox(req: Request, query: Element | None, options: Element | None,
                   span: tuple[int, int]) -> Element:
    if query is None or not query.children:
        return _answer(PROTOCOL_ERROR, [])
    hits = await _mail_hits(req, query.children[0])
    if hits is None:
        return _answer(TOO_COMPLEX, [])
    opts = mail.parse_options(options)
    results = []
    for _, f, uid in hits[span[0]:span[1] + 1]:
        rendered = await adapter(f).render(req, f, [str(uid)], opts)
        data = rendered.get(str(uid))
        if data is None:
            continue
        results.append(E("Search:Result", E("AirSync:Class", CLASS_EMAIL),
                         E("Search:LongId", item_id(f.server_id, uid)),
                         E("AirSync:CollectionId", f.server_id),
                         E("Search:Properties", *data.children)))
    return _answer(OK, results, (span[0], span[0] + len(results) - 1), len(hits))


async def handle_find(req: Request) -> Element:
    """Find (16.1, MS-ASCMD §2.2.1.8): mailbox or GAL, with short result properties."""
    execute = req.body.find("Find:ExecuteSearch") if req.body is not None else None
    if execute is None:
        raise CommandError(PROTOCOL_ERROR)
    mailbox = execute.find("Find:MailBoxSearchCriterion")
    gal_query = execute.find("Find:GALSearchCriterion")
    criterion = mailbox or gal_query
    options = criterion.find("Find:Options") if criterion is not None else None
    rng = options.findtext("Find:Range") if options is not None else None
    span = _range(rng)
    results: list[Element] = []
    total = 0
    if mailbox is not None:
        query = mailbox.find("Find:Query")
        hits = await _mail_hits(req, query) if query is not None else None
        if hits is None:
            raise CommandError(PROTOCOL_ERROR)
        total = len(hits)
        for _, f, uid in hits[span[0]:span[1] + 1]:
            rows = await req.store.fetch(req.account.id, f.source_id, [uid], [FETCH_PREVIEW])
            if not rows:
                continue
            row = rows[0]
            raw = await req.store.read_blob(row.blob)
            h = mail.headers_of(raw)
            results.append(E("Find:Result", E("AirSync:Class", CLASS_EMAIL),
                             E("AirSync:ServerId", item_id(f.server_id, uid)),
                             E("AirSync:CollectionId", f.server_id),
                             E("Find:Properties", E("Email:Subject", h.get("subject", "")),
                               E("Email:DateReceived", eas_date(row.internal_date)),
                               E("Email:DisplayTo", h.get("to", "")),
                               E("Email:From", h.get("from", "")),
                               E("Email:Read", 1 if SEEN in row.flags else 0),
                               E("Find:Preview", row.preview or ""))))
    elif gal_query is not None:
        text = gal_query.findtext("Find:Query") or ""
        found = await gal.search(req.store, req.account, text.strip(), limit=MAX_RESULTS)
        total = len(found)
        for it in found[span[0]:span[1] + 1]:
            results.append(E("Find:Result", E("Find:Properties", *gal_properties(it))))
    else:
        raise CommandError(PROTOCOL_ERROR)
    return E("Find:Find", E("Find:Status", OK), E("Find:Response", E("Find:Status", OK),
             *results, E("Find:Range", f"{span[0]}-{span[0] + len(results) - 1}")
             if results else None, E("Find:Total", total)))

"""ResolveRecipients (MS-ASCMD §2.2.1.15): addresses and names of the domain's users (and their
aliases), with free/busy from the collaboration store when Availability is asked
(MergedFreeBusy: one digit per 30 minutes, 0 free, 1 tentative, 2 busy, 3 away;
MS-ASCMD §2.2.3.106)."""

from __future__ import annotations

import datetime as dt

from postroom.eas.protocol import CommandError, Request, parse_date
from postroom.eas.wbxml import E, Element
from postroom.pim import gal
from postroom.pim.freebusy import busy_periods

OK = 1
AMBIGUOUS = 2
AMBIGUOUS_PARTIAL = 3
UNRESOLVED = 4
PROTOCOL_ERROR = 5
SLOT = dt.timedelta(minutes=30)
_DIGITS = {"BUSY-TENTATIVE": "1", "BUSY": "2", "BUSY-UNAVAILABLE": "3"}


async def handle_resolve_recipients(req: Request) -> Element:
    if req.body is None or req.body.tag != "ResolveRecipients:ResolveRecipients":
        raise CommandError(PROTOCOL_ERROR)
    options = req.body.find("ResolveRecipients:Options")
    availability = options.find("ResolveRecipients:Availability") if options else None
    window = None
    if availability is not None:
        start = parse_date(availability.findtext("ResolveRecipients:StartTime"))
        end = parse_date(availability.findtext("ResolveRecipients:EndTime"))
        if start is None or end is None or end <= start or end - start > dt.timedelta(days=42):
            raise CommandError(PROTOCOL_ERROR)
        window = (start, end)
    responses = []
    for to in req.body.findall("ResolveRecipients:To"):
        query = (to.text or "").strip() if isinstance(to.text, str) else ""
        found = await gal.search(req.store, req.account, query, limit=10) if query else []
        exact = [it for it in found if query.lower() in it.index.emails]
        found = exact or found
        recipients = []
        for it in found:
            email = it.index.emails[0] if it.index.emails else ""
            fb = await _merged_free_busy(req, email, window) if window else None
            recipients.append(E("ResolveRecipients:Recipient",
                                E("ResolveRecipients:Type", 2),   # 2: from the GAL
                                E("ResolveRecipients:DisplayName", it.index.summary),
                                E("ResolveRecipients:EmailAddress", email),
                                E("ResolveRecipients:Availability",
                                  E("ResolveRecipients:Status", 1),
                                  E("ResolveRecipients:MergedFreeBusy", fb))
                                if fb is not None else None))
        status = OK if len(recipients) == 1 else (UNRESOLVED if not recipients else AMBIGUOUS)
        responses.append(E("ResolveRecipients:Response", E("ResolveRecipients:To", query),
                           E("ResolveRecipients:Status", status),
                           E("ResolveRecipients:RecipientCount", len(recipients)),
                           *recipients))
    return E("ResolveRecipients:ResolveRecipients", E("ResolveRecipients:Status", OK),
             *responses)


async def _merged_free_busy(req: Request, email: str, window) -> str | None:
    account = await req.store.get_account(email)
    if account is None:
        return None
    start, end = window
    periods = await busy_periods(req.store, account, start, end)
    slots = []
    t = start
    while t < end:
        kinds = {p.fbtype for p in periods if p.start < t + SLOT and p.end > t}
        slots.append(next((_DIGITS[k] for k in ("BUSY-UNAVAILABLE", "BUSY", "BUSY-TENTATIVE")
                           if k in kinds), "0"))
        t += SLOT
    return "".join(slots)

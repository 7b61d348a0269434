"""ResolveRecipients (MS-ASCMD §2.2.1.15): addresses and names of the domain's users (and their
aliases), with free/busy from the collaboration store when Availability is asked
(MergedFreeBusy: one digit per 30 minutes, 0 free, 1 tentative, 2 busy, 3 away, 4 no data;
MS-ASCMD §2.2.3.106) and, since no S/MIME certificates are kept, Certificates that say so
(MS-ASCMD §2.2.3.24.1) when a device asks for them."""

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
# Availability Status (MS-ASCMD §2.2.3.177.13)
FREE_BUSY_OK = 1
FREE_BUSY_NOT_FOUND = 163
# Certificates Status (MS-ASCMD §2.2.3.177.13): no valid certificate for the recipient
NO_CERTIFICATE = 7
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
    retrieval = options.findtext("ResolveRecipients:CertificateRetrieval") if options else None
    if retrieval not in (None, "1", "2", "3"):
        raise CommandError(PROTOCOL_ERROR)
    responses = []
    for to in req.body.findall("ResolveRecipients:To"):
        query = (to.text or "").strip() if isinstance(to.text, str) else ""
        found = await gal.search(req.store, req.account, query, limit=10) if query else []
        exact = [it for it in found if query.lower() in it.index.emails]
        found = exact or found
        recipients = []
        for it in found:
            email = it.index.emails[0] if it.index.emails else ""
            recipients.append(E("ResolveRecipients:Recipient",
                                E("ResolveRecipients:Type", 2),   # 2: from the GAL
                                E("ResolveRecipients:DisplayName", it.index.summary),
                                E("ResolveRecipients:EmailAddress", email),
                                await _availability(req, email, window) if window else None,
                                E("ResolveRecipients:Certificates",
                                  E("ResolveRecipients:Status", NO_CERTIFICATE),
                                  E("ResolveRecipients:CertificateCount", 0),
                                  E("ResolveRecipients:RecipientCount", 1))
                                if retrieval in ("2", "3") else None))
        status = OK if len(recipients) == 1 else (UNRESOLVED if not recipients else AMBIGUOUS)
        responses.append(E("ResolveRecipients:Response", E("ResolveRecipients:To", query),
                           E("ResolveRecipients:Status", status),
                           E("ResolveRecipients:RecipientCount", len(recipients)),
                           *recipients))
    return E("ResolveRecipients:ResolveRecipients", E("ResolveRecipients:Status", OK),
             *responses)


async def _availability(req: Request, email: str, window) -> Element:
    fb, status = await _merged_free_busy(req, email, window), FREE_BUSY_OK
    if fb is None:
        fb, status = "4" * _slots(*window), FREE_BUSY_NOT_FOUND
    return E("ResolveRecipients:Availability", E("ResolveRecipients:Status", status),
             E("ResolveRecipients:MergedFreeBusy", fb))


def _slots(start: dt.datetime, end: dt.datetime) -> int:
    return -(-(end - start) // SLOT)


async def _merged_free_busy(req: Request, email: str, window) -> str | None:
    """None when nobody's calendar here answers for ``email``."""
    account = await req.store.get_account(email)
    if account is None:
        return None
    start, end = window
    periods = await busy_periods(req.store, account, start, end)
    slots = []
    for i in range(_slots(start, end)):
        t = start + i * SLOT
        kinds = {p.fbtype for p in periods if p.start < t + SLOT and p.end > t}
        slots.append(next((_DIGITS[k] for k in ("BUSY-UNAVAILABLE", "BUSY", "BUSY-TENTATIVE")
                           if k in kinds), "0"))
    return "".join(slots)

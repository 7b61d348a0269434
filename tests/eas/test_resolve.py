"""ResolveRecipients (MS-ASCMD §2.2.1.15) with Availability and Certificates, and GAL entries
(Search, MS-ASCMD §2.2.1.16) with the names and phones of the account settings."""

from __future__ import annotations

from postroom.eas.wbxml import E

from .test_calendar import _put
from .wbxml_tool import WBXML2XML, libwbxml_tree, needs_libwbxml, our_tree

BOB = "bob@example.test"

BUSY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:busy-1\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260504T100000Z\r
DTEND:20260504T110000Z\r
SUMMARY:Review\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:maybe-1\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260504T110000Z\r
DTEND:20260504T113000Z\r
STATUS:TENTATIVE\r
SUMMARY:Perhaps\r
END:VEVENT\r
END:VCALENDAR\r
"""


def _resolve(*to: str, availability: bool = True, certificates: int | None = None):
    return E("ResolveRecipients:ResolveRecipients",
             *[E("ResolveRecipients:To", t) for t in to],
             E("ResolveRecipients:Options",
               E("ResolveRecipients:CertificateRetrieval", certificates)
               if certificates is not None else None,
               E("ResolveRecipients:Availability",
                 E("ResolveRecipients:StartTime", "2026-05-04T09:00:00.000Z"),
                 E("ResolveRecipients:EndTime", "2026-05-04T12:00:00.000Z"))
               if availability else None))


async def test_availability_is_merged_free_busy_in_half_hours_and_no_certificates(eas, phone):
    for i, text in enumerate(BUSY.split("BEGIN:VEVENT\r\n")[1:]):
        head = BUSY.split("BEGIN:VEVENT\r\n")[0]
        await _put(eas, head + "BEGIN:VEVENT\r\n" + text.replace("END:VCALENDAR\r\n", "")
                   + "END:VCALENDAR\r\n", f"e{i}.ics", BOB)
    a = await phone.post("ResolveRecipients", _resolve(BOB, "nobody@elsewhere.example",
                                                       certificates=2))
    assert a.text("ResolveRecipients:Status") == "1"
    bob, nobody = a.element.findall("ResolveRecipients:Response")
    r = bob.find("ResolveRecipients:Recipient")
    assert r.findtext("ResolveRecipients:EmailAddress") == BOB
    av = r.find("ResolveRecipients:Availability")
    assert av.findtext("ResolveRecipients:Status") == "1"
    assert av.findtext("ResolveRecipients:MergedFreeBusy") == "002210"
    assert r.findtext("ResolveRecipients:Certificates/ResolveRecipients:Status") == "7"
    assert r.findtext("ResolveRecipients:Certificates/ResolveRecipients:CertificateCount") == "0"
    assert nobody.findtext("ResolveRecipients:Status") == "4"
    if WBXML2XML:   # the answer, as an independent decoder reads it
        assert libwbxml_tree(a.body) == our_tree(a.element)


async def test_bad_availability_window_gets_status_5(eas, phone):
    bad = E("ResolveRecipients:ResolveRecipients", E("ResolveRecipients:To", BOB),
            E("ResolveRecipients:Options", E("ResolveRecipients:Availability",
              E("ResolveRecipients:StartTime", "2026-05-04T12:00:00.000Z"),
              E("ResolveRecipients:EndTime", "2026-05-04T09:00:00.000Z"))))
    a = await phone.post("ResolveRecipients", bad)
    assert a.status == 200 and a.text("ResolveRecipients:Status") == "5"


async def test_gal_entry_has_the_name_and_phone_of_the_account_settings(eas, phone):
    bob = eas.accounts[BOB]
    await eas.store.update_account(bob.id, settings={**bob.settings,
                                                     "display_name": "Bob Builder",
                                                     "phone": "+49 30 1234"})
    a = await phone.post("Search", E("Search:Search", E("Search:Store",
                         E("Search:Name", "GAL"), E("Search:Query", "builder"),
                         E("Search:Options", E("Search:Range", "0-9")))))
    props = a.element.find("Search:Response/Search:Store/Search:Result/Search:Properties")
    assert props.findtext("GAL:DisplayName") == "Bob Builder"
    assert props.findtext("GAL:FirstName") == "Bob" and props.findtext("GAL:LastName") == \
        "Builder"
    assert props.findtext("GAL:Phone") == "+49 30 1234"
    assert props.findtext("GAL:EmailAddress") == BOB


@needs_libwbxml
def test_resolve_request_reads_the_same_in_libwbxml():
    from postroom.eas.wbxml import encode
    el = _resolve(BOB, certificates=2)
    assert libwbxml_tree(encode(el)) == our_tree(el)

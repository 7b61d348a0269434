"""Contacts on the wire (MS-ASCNTC §2.2.2): the ApplicationData of a contact, to and from the
slots of :mod:`postroom.pim.contact` - names, three emails, phones, three postal addresses,
company and department, job title, birthday and anniversary, notes, categories, web page,
nickname and the photo (Picture, base64).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils

from postroom.eas import email as mail
from postroom.eas.pimfields import body, body_of
from postroom.eas.protocol import parse_date
from postroom.eas.wbxml import E, Element

# element -> slot, for one-value slots
SIMPLE = {
    "Contacts:FileAs": "fn", "Contacts:JobTitle": "title", "Contacts:WebPage": "url",
    "Contacts2:NickName": "nickname",
    "Contacts:Email1Address": "email1", "Contacts:Email2Address": "email2",
    "Contacts:Email3Address": "email3",
    "Contacts:MobilePhoneNumber": "tel.mobile", "Contacts:HomePhoneNumber": "tel.home",
    "Contacts:Home2PhoneNumber": "tel.home2", "Contacts:BusinessPhoneNumber": "tel.work",
    "Contacts:Business2PhoneNumber": "tel.work2", "Contacts:HomeFaxNumber": "tel.homefax",
    "Contacts:BusinessFaxNumber": "tel.workfax", "Contacts:PagerNumber": "tel.pager",
    "Contacts:CarPhoneNumber": "tel.car", "Contacts2:CompanyMainPhone": "tel.main",
}
# slot -> the elements of its parts (None: a part EAS has no element for)
COMPOSITE = {
    "n": ("Contacts:LastName", "Contacts:FirstName", "Contacts:MiddleName", "Contacts:Title",
          "Contacts:Suffix"),
    "org": ("Contacts:CompanyName", "Contacts:Department"),
    **{f"adr.{slot}": (None, None, f"Contacts:{p}AddressStreet", f"Contacts:{p}AddressCity",
                       f"Contacts:{p}AddressState", f"Contacts:{p}AddressPostalCode",
                       f"Contacts:{p}AddressCountry")
       for slot, p in (("home", "Home"), ("work", "Business"), ("other", "Other"))},
}
DATES = {"Contacts:Birthday": "bday", "Contacts:Anniversary": "anniversary"}


def application_data(slots: dict, opts: mail.Options) -> list[Element | None]:
    out: list[Element | None] = []
    for slot, tags in COMPOSITE.items():
        value = slots.get(slot) or ()
        out.extend(E(tag, part) for tag, part in zip(tags, value) if tag and part)
    out.extend(E(tag, slots[slot]) for tag, slot in SIMPLE.items() if slots.get(slot))
    for tag, slot in DATES.items():
        if slots.get(slot):
            out.append(E(tag, slots[slot].strftime("%Y-%m-%dT00:00:00.000Z")))
    if slots.get("categories"):
        out.append(E("Contacts:Categories",
                     *[E("Contacts:Category", c) for c in slots["categories"]]))
    if slots.get("photo"):
        out.append(E("Contacts:Picture", base64.b64encode(slots["photo"]).decode("ascii")))
    out.append(body(slots.get("note"), opts))
    return out


def _email(value: str) -> str:
    # Devices send 'Name <addr>' or '"Name" <addr>' as Exchange does; the card keeps the address.
    if "<" in value:
        return email.utils.parseaddr(value)[1] or value
    return value.strip()


def _date(text: str | None) -> dt.date | None:
    when = parse_date(text)
    if when is None:
        return None
    # A birthday entered at local midnight east of UTC arrives as the evening before.
    return (when + dt.timedelta(hours=12)).date() if when.hour >= 12 else when.date()


def parse(data: Element, old: dict, *, ghost: bool) -> dict:
    """The slots a device's contact sets; with ``ghost`` false (a pre-16 Change) a missing
    element clears its slot. A slot the device sends back unchanged is left out."""
    slots: dict = {}
    for tag, slot in SIMPLE.items():
        value = data.findtext(tag)
        if value is not None or not ghost:
            slots[slot] = _email(value or "") if slot.startswith("email") else (value or "")
    for slot, tags in COMPOSITE.items():
        if ghost and all(t is None or data.find(t) is None for t in tags):
            continue
        before = old.get(slot) or ("",) * len(tags)
        slots[slot] = tuple(
            before[i] if t is None or (ghost and data.find(t) is None) else
            (data.findtext(t) or "") for i, t in enumerate(tags))
    for tag, slot in DATES.items():
        if data.find(tag) is not None or not ghost:
            slots[slot] = _date(data.findtext(tag))
    cats = data.find("Contacts:Categories")
    if cats is not None or not ghost:
        slots["categories"] = [c.text for c in (cats.findall("Contacts:Category") if cats
                                                else []) if isinstance(c.text, str) and c.text]
    picture = data.findtext("Contacts:Picture")
    if picture is not None or not ghost:
        try:
            slots["photo"] = base64.b64decode(picture or "", validate=False) or None
        except (binascii.Error, ValueError):
            raise ValueError("Picture is not base64") from None
    note = body_of(data, "Contacts:Body")
    if note is not None or not ghost:
        slots["note"] = note or ""
    return {k: v for k, v in slots.items()
            if v != old.get(k) and not (not v and not old.get(k))}

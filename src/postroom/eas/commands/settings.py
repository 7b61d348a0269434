"""Settings (MS-ASCMD §2.2.1.18): Oof get and set, DeviceInformation, UserInformation.

The out-of-office state is the account's ``settings["oof"]`` in the store, the one record the web
app and automatic replies read as well: {"state": 0 off | 1 on | 2 scheduled, "start", "end"
(epoch seconds), "internal"/"external_known"/"external_unknown": {"enabled", "message",
"body_type"}}.
"""

from __future__ import annotations

from postroom.eas.protocol import CommandError, Request, eas_date, parse_date
from postroom.eas.wbxml import E, Element

OK = 1
PROTOCOL_ERROR = 2
ACCESS_DENIED = 3
INVALID_ARGUMENTS = 5

_AUDIENCES = (("Settings:AppliesToInternal", "internal"),
              ("Settings:AppliesToExternalKnown", "external_known"),
              ("Settings:AppliesToExternalUnknown", "external_unknown"))


async def handle_settings(req: Request) -> Element:
    if req.body is None or req.body.tag != "Settings:Settings":
        raise CommandError(PROTOCOL_ERROR)
    out = []
    for el in req.body.children:
        if el.tag == "Settings:Oof":
            out.append(await _oof(req, el))
        elif el.tag == "Settings:DeviceInformation":
            info = el.find("Settings:Set")
            if info is not None:
                await req.store.eas_update_device(
                    req.account.id, req.device.device_id,
                    info={c.name: c.text for c in info.children if isinstance(c.text, str)})
            out.append(E("Settings:DeviceInformation", E("Settings:Status", OK)))
        elif el.tag == "Settings:UserInformation":
            out.append(await _user_information(req))
        elif el.tag == "Settings:DevicePassword":
            out.append(E("Settings:DevicePassword", E("Settings:Status", OK)))
        else:
            raise CommandError(PROTOCOL_ERROR)
    return E("Settings:Settings", E("Settings:Status", OK), *out)


async def _user_information(req: Request) -> Element:
    addresses = await req.store.addresses_of(req.account.id)
    primary = req.account.email
    name = req.account.settings.get("display_name") or primary.split("@")[0]
    if req.v >= (14, 1):
        get = E("Settings:Get", E("Settings:Accounts", E("Settings:Account",
                E("Settings:UserDisplayName", name),
                E("Settings:EmailAddresses", E("Settings:PrimarySmtpAddress", primary),
                  *[E("Settings:SMTPAddress", a) for a in addresses if a != primary]))))
    else:
        get = E("Settings:Get", E("Settings:EmailAddresses",
                                  *[E("Settings:SMTPAddress", a) for a in addresses]))
    return E("Settings:UserInformation", E("Settings:Status", OK), get)


async def _oof(req: Request, el: Element) -> Element:
    oof = dict(req.account.settings.get("oof") or {})
    get = el.find("Settings:Get")
    if get is not None:
        body_type = get.findtext("Settings:BodyType", "Text")
        messages = []
        for tag, key in _AUDIENCES:
            a = oof.get(key) or {}
            messages.append(E("Settings:OofMessage", E(tag),
                              E("Settings:Enabled", 1 if a.get("enabled") else 0),
                              E("Settings:ReplyMessage", a.get("message", "")),
                              E("Settings:BodyType", a.get("body_type") or body_type)))
        state = oof.get("state", 0)
        return E("Settings:Oof", E("Settings:Status", OK), E("Settings:Get",
                 E("Settings:OofState", state),
                 E("Settings:StartTime", eas_date(oof["start"])) if state == 2
                 and oof.get("start") else None,
                 E("Settings:EndTime", eas_date(oof["end"])) if state == 2
                 and oof.get("end") else None,
                 *messages))
    put = el.find("Settings:Set")
    if put is None:
        return E("Settings:Oof", E("Settings:Status", PROTOCOL_ERROR))
    state = put.findtext("Settings:OofState")
    if state is not None:
        if state not in ("0", "1", "2"):
            return E("Settings:Oof", E("Settings:Status", INVALID_ARGUMENTS))
        oof["state"] = int(state)
    for tag, key in (("Settings:StartTime", "start"), ("Settings:EndTime", "end")):
        if put.findtext(tag):
            when = parse_date(put.findtext(tag))
            if when is None:
                return E("Settings:Oof", E("Settings:Status", INVALID_ARGUMENTS))
            oof[key] = int(when.timestamp())
    for message in put.findall("Settings:OofMessage"):
        for tag, key in _AUDIENCES:
            if message.find(tag) is not None:
                oof[key] = {"enabled": message.findtext("Settings:Enabled") == "1",
                            "message": message.findtext("Settings:ReplyMessage") or "",
                            "body_type": message.findtext("Settings:BodyType") or "Text"}
    settings = dict(req.account.settings)
    settings["oof"] = oof
    await req.store.update_account(req.account.id, settings=settings)
    return E("Settings:Oof", E("Settings:Status", OK))

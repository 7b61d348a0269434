"""The global address list: every user of a domain as a read-only vCard (name, email, phone),
served by CardDAV as a virtual address book and searched by EAS (MS-ASCMD Search GAL) and the
web app through :func:`search`.

A user's name and phone come from account settings "display_name" and "phone".
"""

from __future__ import annotations

import zlib

from postroom.pim.model import index_vcard, parse_vcard
from postroom.store.api import Account, Item, Store


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\n", "\\n"))


def card_of(account: Account) -> str:
    name = account.settings.get("display_name") or account.email.split("@")[0]
    given, _, family = name.rpartition(" ")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:gal-{account.id}@postroom",
             f"FN:{_escape(name)}", f"N:{_escape(family)};{_escape(given)};;;",
             f"EMAIL;TYPE=INTERNET,WORK:{account.email}", "KIND:individual"]
    if account.settings.get("phone"):
        lines.append(f"TEL;TYPE=WORK:{_escape(account.settings['phone'])}")
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"


def _item(account: Account) -> Item:
    text = card_of(account)
    index = index_vcard(parse_vcard(text))
    return Item(account_id=0, collection_id=0, name=f"{account.id}.vcf",
                modseq=zlib.crc32(text.encode()), size=len(text.encode()), index=index, text=text)


async def domain_accounts(store: Store, viewer: Account) -> list[Account]:
    """The users of the viewer's domain (whom the GAL and a DAV principal search show)."""
    domains = {d.id: d.name for d in await store.list_domains()}
    name = domains.get(viewer.domain_id)
    return await store.list_accounts(name) if name else []


async def items(store: Store, viewer: Account) -> list[Item]:
    """The GAL of the viewer's domain, one vCard per user."""
    return [_item(a) for a in await domain_accounts(store, viewer)]


async def item(store: Store, viewer: Account, name: str) -> Item | None:
    for it in await items(store, viewer):
        if it.name == name:
            return it
    return None


async def search(store: Store, viewer: Account, query: str, limit: int = 100) -> list[Item]:
    """GAL entries whose name or email contains ``query`` (case-insensitive)."""
    q = query.lower()
    found = [it for it in await items(store, viewer)
             if q in it.index.summary.lower() or any(q in e for e in it.index.emails)]
    return found[:limit]

"""FETCH with body sections: the compiled path for BODY sections of the common spans
(``_Renderer.glues``) writes byte for byte what the general path writes, for every mix of
sections, partials and index items."""

import pytest

from postroom.imap.commands import fetch as fetch_mod
from bench.corpus import generate
from tests.imap.test_sync import selected

ITEM_LISTS = [
    "BODY.PEEK[]",
    "(UID BODY.PEEK[])",
    "(BODY.PEEK[1] FLAGS)",
    "(FLAGS BODY.PEEK[HEADER] RFC822.SIZE BODY.PEEK[TEXT] INTERNALDATE)",
    "(BODY.PEEK[HEADER.FIELDS (From Subject X-100%)] UID)",
    "(BODY.PEEK[HEADER.FIELDS.NOT (Received Subject)] ENVELOPE)",
    "(BODY.PEEK[]<0.10> BODY.PEEK[1]<3.7> BODY.PEEK[1.MIME])",
    "(BODY.PEEK[]<100000.5> MODSEQ BODY.PEEK[1]<0.1>)",
    "(RFC822.HEADER RFC822.SIZE)",
    "(BODY.PEEK[HEADER] BODY.PEEK[HEADER] UID)",
]


async def test_compiled_and_general_sections_agree(imap, monkeypatch):
    odd = [b"Subject: headers only\r\n\r\n", b"Subject: bare LF\nX-100%: yes\n\nbody\n",
           b"No-Blank-Line: at all"]
    for raw in [*generate(40, seed=7), *odd]:
        await imap.deliver(raw, flags=["$Work"] if len(raw) % 3 == 0 else [])
    c = await selected(imap, enable="CONDSTORE")
    compiled = {}
    for items in ITEM_LISTS:
        compiled[items] = await c.cmd(f"f UID FETCH 1:* {items}")
        assert compiled[items][-1].startswith(b"f OK"), compiled[items][-1]
    monkeypatch.setattr(fetch_mod._Renderer, "_glues", lambda self: None)
    for items in ITEM_LISTS:
        general = await c.cmd(f"f UID FETCH 1:* {items}")
        assert general == compiled[items], items
    c.close()


async def test_non_peek_body_sets_seen_and_reports_it(imap):
    for i in range(3):
        await imap.deliver(subject=f"m{i}")
    c = await selected(imap)
    res = await c.cmd("f FETCH 1:3 BODY[HEADER.FIELDS (Subject)]")
    assert b"".join(res).count(b" FLAGS (\\Seen))\r\n") == 3, res
    res = await c.cmd("g FETCH 1:3 BODY[HEADER.FIELDS (Subject)]")
    assert b"FLAGS" not in b"".join(res), res
    c.close()


SECTIONS = ["BODY.PEEK[]", "BODY.PEEK[1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[HEADER]",
            "BODY.PEEK[TEXT]", "BODY.PEEK[HEADER.FIELDS (From %s)]",
            "BODY.PEEK[HEADER.FIELDS.NOT (%s)]", "RFC822.HEADER", "BODY.PEEK[2]",
            "BINARY.PEEK[1]", "BINARY.SIZE[1]"]
ROW_ITEMS = ["UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE", "ENVELOPE", "MODSEQ",
             "BODYSTRUCTURE", "EMAILID"]


def random_items(rng) -> str:
    items = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.6:
            item = rng.choice(SECTIONS)
            if "%s" in item:
                item = item % rng.choice(["Subject", "X-100%d%%", "To Cc", "%s", "Date"])
            if "[" in item and not item.startswith("BINARY.SIZE") and rng.random() < 0.3:
                item += f"<{rng.randint(0, 3000)}.{rng.randint(1, 500)}>"
        else:
            item = rng.choice(ROW_ITEMS)
        items.append(item)
    return "(" + " ".join(items) + ")"


async def test_random_item_lists_agree_between_paths(imap, monkeypatch):
    import random
    rng = random.Random(5)
    for raw in generate(25, seed=11):
        await imap.deliver(raw)
    c = await selected(imap, enable="CONDSTORE")
    lists = [random_items(rng) for _ in range(60)]
    compiled = [await c.cmd(f"f UID FETCH 1:* {items}") for items in lists]
    monkeypatch.setattr(fetch_mod._Renderer, "_glues", lambda self: None)
    for items, want in zip(lists, compiled):
        assert await c.cmd(f"f UID FETCH 1:* {items}") == want, items
    assert sum(w[-1].startswith(b"f OK") for w in compiled) > 50
    c.close()

"""Debian's vdirsyncer syncing a calendar and an address book two ways with local folders, and
khal/khard reading the result (each skips when its tool is not installed)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.dav.client import request
from tests.dav.env import ALICE, PASSWORD, running_dav

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("vdirsyncer") is None,
                                 reason="vdirsyncer not installed")]

HOME = "/dav/alice@example.test/"

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20240101T000000Z\r\nDTSTART:20300110T100000Z\r\nDTEND:20300110T110000Z\r\n"
         "SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{fn}\r\nN:{fn};;;;\r\n"
        "EMAIL:{uid}@example.org\r\nEND:VCARD\r\n")


async def run(*argv: str, env: dict | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **(env or {})}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(b"y\n" * 10), 120)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, f"{argv[0]} failed ({proc.returncode}):\n{text}"
    return text


def config(tmp: Path, url: str) -> Path:
    (tmp / "status").mkdir()
    (tmp / "cal").mkdir()
    (tmp / "card").mkdir()
    cfg = tmp / "vdirsyncer.conf"
    cfg.write_text(f"""
[general]
status_path = "{tmp}/status/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = ["calendar"]
conflict_resolution = "b wins"

[storage cal_local]
type = "filesystem"
path = "{tmp}/cal/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "{url}/"
username = "{ALICE}"
password = "{PASSWORD}"

[pair card]
a = "card_local"
b = "card_remote"
collections = ["contacts"]
conflict_resolution = "b wins"

[storage card_local]
type = "filesystem"
path = "{tmp}/card/"
fileext = ".vcf"

[storage card_remote]
type = "carddav"
url = "{url}/"
username = "{ALICE}"
password = "{PASSWORD}"
""")
    return cfg


async def test_vdirsyncer_two_way_sync_of_calendar_and_address_book(tmp_path):
    async with running_dav(tmp_path / "server") as dav:
        for i in range(3):
            await request(dav, "PUT", f"{HOME}calendar/ev{i}.ics",
                          EVENT.format(uid=f"ev{i}", summary=f"Server event {i}"))
            await request(dav, "PUT", f"{HOME}contacts/c{i}.vcf",
                          CARD.format(uid=f"c{i}", fn=f"Contact {i}"))
        work = tmp_path / "client"
        work.mkdir()
        cfg = config(work, dav.url)
        env = {"VDIRSYNCER_CONFIG": str(cfg)}
        await run("vdirsyncer", "discover", env=env)
        await run("vdirsyncer", "sync", env=env)
        local_cal = work / "cal" / "calendar"
        local_card = work / "card" / "contacts"
        assert len(list(local_cal.glob("*.ics"))) == 3
        assert len(list(local_card.glob("*.vcf"))) == 3

        # Local changes go up: a new event, a changed contact, a deleted event.
        (local_cal / "local-new.ics").write_text(
            EVENT.format(uid="local-new", summary="Made offline"))
        changed = next(p for p in local_card.glob("*.vcf") if "c1" in p.read_text())
        changed.write_text(CARD.format(uid="c1", fn="Contact One Renamed"))
        gone = next(p for p in local_cal.glob("*.ics") if "UID:ev2" in p.read_text())
        gone.unlink()
        # Server changes come down: an updated event and a new contact.
        await request(dav, "PUT", f"{HOME}calendar/ev0.ics",
                      EVENT.format(uid="ev0", summary="Moved on the server"))
        await request(dav, "PUT", f"{HOME}contacts/c9.vcf", CARD.format(uid="c9", fn="Nine"))
        await run("vdirsyncer", "sync", env=env)

        cal = await dav.store.get_collection(dav.accounts[ALICE].id, "calendar")
        uids = sorted(i.index.uid for i in await dav.store.list_items(cal.account_id, cal.id))
        assert uids == ["ev0", "ev1", "local-new"]
        book = await dav.store.get_collection(dav.accounts[ALICE].id, "contacts")
        cards = {i.index.uid: i.index.summary
                 for i in await dav.store.list_items(book.account_id, book.id)}
        assert cards["c1"] == "Contact One Renamed" and "c9" in cards
        texts = "".join(p.read_text() for p in local_cal.glob("*.ics"))
        assert "Moved on the server" in texts and "UID:ev2" not in texts
        assert any("Nine" in p.read_text() for p in local_card.glob("*.vcf"))

        if shutil.which("khal"):
            await _khal_reads(work, local_cal)
        if shutil.which("khard"):
            await _khard_reads(work, local_card)


async def _khal_reads(work: Path, local_cal: Path) -> None:
    conf = work / "khal.conf"
    conf.write_text(f"[calendars]\n[[home]]\npath = {local_cal}\ntype = calendar\n"
                    "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\n"
                    "longdateformat = %Y-%m-%d\ndatetimeformat = %Y-%m-%d %H:%M\n"
                    "longdatetimeformat = %Y-%m-%d %H:%M\n"
                    f"[sqlite]\npath = {work}/khal.db\n")
    out = await run("khal", "-c", str(conf), "list", "2030-01-01", "2030-01-31")
    assert "Moved on the server" in out and "Made offline" in out


async def _khard_reads(work: Path, local_card: Path) -> None:
    conf = work / "khard.conf"
    conf.write_text(f"[addressbooks]\n[[home]]\npath = {local_card}\n"
                    "[general]\neditor = true\nmerge_editor = true\n")
    out = await run("khard", "-c", str(conf), "list")
    assert "Contact One Renamed" in out and "Nine" in out

"""Real third-party IMAP clients against a live Postroom door on 127.0.0.1: mbsync (isync)
two-way sync, offlineimap3 and curl. Each skips when its tool is not installed."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from postroom.store.api import DELETED, FLAGGED, SEEN
from tests.conftest import make_message
from tests.imap.conftest import PASSWORD, USER, imap  # noqa: F401  (fixture)

pytestmark = pytest.mark.interop


async def run(*argv: str, cwd: Path | None = None, env: dict | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, f"{argv[0]} failed ({proc.returncode}):\n{text}"
    return text


def maildir_files(folder: Path) -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (folder / sub).glob("*"))


def maildir_flags(p: Path) -> str:
    return p.name.split(":2,", 1)[1] if ":2," in p.name else ""


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) is not installed")
async def test_mbsync_two_way_sync_with_flags_and_deletions(imap, tmp_path):  # noqa: F811
    for i in range(3):
        await imap.deliver(subject=f"message {i}")
    local = tmp_path / "Mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""
IMAPAccount postroom
Host 127.0.0.1
Port {imap.port}
User {USER}
Pass "{PASSWORD}"
SSLType None
AuthMechs PLAIN

IMAPStore remote
Account postroom

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    sync = ("mbsync", "-c", str(rc), "-a")
    await run(*sync)
    files = maildir_files(local / "INBOX")
    assert len(files) == 3
    assert (local / "Sent").is_dir() and (local / "Trash").is_dir()

    # Near side: read one, delete one (trashed flag), add one.
    files[0].rename(files[0].parent.parent / "cur" / (files[0].name.split(":2,")[0] + ":2,S"))
    files[1].rename(files[1].parent.parent / "cur" / (files[1].name.split(":2,")[0] + ":2,T"))
    (local / "INBOX" / "new" / "1700000000.local.host").write_bytes(
        make_message(subject="written offline"))
    await run(*sync)
    entries = await imap.store.entries(imap.account.id, imap.inbox.id)
    assert len(entries) == 3      # one expunged, one appended
    assert sum(SEEN in e.flags for e in entries) == 1
    rows = await imap.store.fetch(imap.account.id, imap.inbox.id, [e.uid for e in entries],
                                  ["sort"])
    assert "written offline" in {r.sort_subject for r in rows}

    # Far side: flag one, expunge another.
    uids = [e.uid for e in entries]
    await imap.store.store_flags(imap.account.id, imap.inbox.id, [uids[0]], "add", [FLAGGED])
    await imap.store.store_flags(imap.account.id, imap.inbox.id, [uids[1]], "add", [DELETED])
    await imap.store.expunge(imap.account.id, imap.inbox.id)
    await run(*sync)
    files = maildir_files(local / "INBOX")
    assert len(files) == 2
    assert sum("F" in maildir_flags(p) for p in files) == 1


@pytest.mark.skipif(shutil.which("offlineimap") is None, reason="offlineimap3 is not installed")
async def test_offlineimap_sync(imap, tmp_path):  # noqa: F811
    for i in range(3):
        await imap.deliver(subject=f"message {i}")
    await imap.store.store_flags(imap.account.id, imap.inbox.id, [1], "add", [SEEN])
    local = tmp_path / "Mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(f"""
[general]
accounts = postroom
metadata = {tmp_path}/meta
ui = quiet

[Account postroom]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {imap.port}
remoteuser = {USER}
remotepass = {PASSWORD}
ssl = no
starttls = no
""")
    await run("offlineimap", "-c", str(rc), "-o", "-u", "basic")
    files = maildir_files(local / "INBOX")
    assert len(files) == 3
    assert sum("S" in maildir_flags(p) for p in files) == 1
    # Flag one locally, sync back.
    p = [f for f in files if "S" not in maildir_flags(f)][0]
    p.rename(p.parent.parent / "cur" / (p.name.split(":2,")[0] + ":2,F"))
    await run("offlineimap", "-c", str(rc), "-o", "-u", "basic")
    entries = await imap.store.entries(imap.account.id, imap.inbox.id)
    assert sum(FLAGGED in e.flags for e in entries) == 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_list_fetch_search(imap):  # noqa: F811
    await imap.deliver(subject="curl me", body="the body text\r\n")
    base = f"imap://127.0.0.1:{imap.port}"
    auth = ("-u", f"{USER}:{PASSWORD}", "-s", "--max-time", "20")
    listing = await run("curl", *auth, base + "/")
    assert '"INBOX"' in listing and "\\Sent" in listing
    message = await run("curl", *auth, base + "/INBOX;UID=1")
    assert "Subject: curl me" in message and "the body text" in message
    found = await run("curl", *auth, base + "/INBOX?SUBJECT%20curl")
    assert found.strip() == "* SEARCH 1"
    section = await run("curl", *auth, base + "/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)")
    assert section.strip() == "Subject: curl me"

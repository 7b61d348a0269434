"""Real POP3 clients against the POP3 door: fetchmail, getmail6 and curl download mail, with the
messages kept on the server and without, over plain, STLS and implicit TLS connections."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.pop3.env import PASSWORD, USER, Pop3Env, message, running_pop3

pytestmark = pytest.mark.interop


async def run_tool(*argv: str, env: dict | None = None, cwd: Path | None = None
                   ) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})}, cwd=cwd)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(errors="replace")


async def deliver_three(pop3: Pop3Env) -> list[bytes]:
    raws = [message(n, f"body of message {n}\r\n.line with a dot\r\n") for n in range(3)]
    for raw in raws:
        await pop3.deliver(raw)
    return raws


async def visible(pop3: Pop3Env) -> int:
    uids = await pop3.store.uids(pop3.account.id, pop3.inbox.id)
    hidden = await pop3.store.hidden_uids(pop3.account.id, pop3.inbox.id)
    return len(set(uids) - hidden)


def delivered(folder: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in folder.iterdir() if p.is_file())


# --- fetchmail ----------------------------------------------------------------------------------

requires_fetchmail = pytest.mark.skipif(shutil.which("fetchmail") is None,
                                        reason="fetchmail is not installed")


async def fetchmail(tmp_path: Path, port: int, out: Path, *, keep: bool,
                    tls: bool) -> tuple[int, str]:
    home = tmp_path / "fetchmail-home"
    home.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    # Through sh: each message into its own file, so the test counts messages, not mbox lines.
    mda = f"/bin/sh -c 'cat > {out}/msg.$$'"
    # Plain: sslproto '' stops fetchmail's opportunistic STLS (the test certificate is
    # self-signed); TLS: the implicit-TLS port without certificate checks.
    security = "ssl no sslcertck" if tls else "sslproto ''"
    local_user = os.environ.get("USER", "root")
    rc = home / "fetchmailrc"
    rc.write_text(
        f'poll 127.0.0.1 with proto POP3 port {port} uidl\n'
        f'  user "{USER}" there with password "{PASSWORD}" is "{local_user}" here\n'
        f'  options {"keep" if keep else "nokeep"} {security}\n'
        f'  mda "{mda}"\n')
    rc.chmod(0o600)
    return await run_tool("fetchmail", "-f", str(rc), "--nosyslog", "-v",
                          "--idfile", str(home / "fetchids"), "--pidfile", str(home / "pid"),
                          env={"FETCHMAILHOME": str(home), "HOME": str(home)})


@requires_fetchmail
async def test_fetchmail_keeps_messages_and_does_not_fetch_them_twice(tmp_path):
    async with running_pop3(tmp_path) as pop3:
        raws = await deliver_three(pop3)
        out = tmp_path / "fetched"
        rc, log = await fetchmail(tmp_path, pop3.port, out, keep=True, tls=False)
        assert rc == 0, log
        got = delivered(out)
        assert len(got) == 3
        for raw in raws:
            assert any(raw.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n") in g for g in got)
        assert await visible(pop3) == 3
        # UIDL says these were seen: a second poll finds no new mail (exit code 1).
        rc, log = await fetchmail(tmp_path, pop3.port, out, keep=True, tls=False)
        assert rc == 1, log
        assert len(delivered(out)) == 3


@requires_fetchmail
async def test_fetchmail_over_tls_without_keep_hides_the_messages(tmp_path):
    async with running_pop3(tmp_path) as pop3:
        await deliver_three(pop3)
        out = tmp_path / "fetched"
        rc, log = await fetchmail(tmp_path, pop3.tls_port, out, keep=False, tls=True)
        assert rc == 0, log
        assert len(delivered(out)) == 3
        assert await visible(pop3) == 0
        # The default "hide" policy: still in the INBOX for IMAP and the other doors.
        assert len(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == 3


# --- getmail6 -----------------------------------------------------------------------------------

requires_getmail = pytest.mark.skipif(shutil.which("getmail") is None,
                                      reason="getmail6 is not installed")


async def getmail(tmp_path: Path, port: int, maildir: Path, *, delete: bool,
                  tls: bool = False) -> tuple[int, str]:
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    home = tmp_path / "getmail-home"
    home.mkdir(exist_ok=True)
    retriever = "SimplePOP3SSLRetriever" if tls else "SimplePOP3Retriever"
    if os.geteuid() == 0:
        # getmail's Maildir destination refuses to deliver as root (as in CI containers); an
        # external command writing into the same Maildir is its documented way round.
        destination = (f"[destination]\ntype = MDA_external\npath = /bin/sh\n"
                       f"arguments = (\"-c\", \"cat > {maildir}/new/msg.$$\")\n"
                       f"allow_root_commands = true\n")
    else:
        destination = f"[destination]\ntype = Maildir\npath = {maildir}/\n"
    rc = home / "getmailrc"
    rc.write_text(
        f"[retriever]\ntype = {retriever}\nserver = 127.0.0.1\nport = {port}\n"
        f"username = {USER}\npassword = {PASSWORD}\n"
        f"{destination}"
        f"[options]\ndelete = {str(delete).lower()}\nread_all = false\nverbose = 1\n")
    return await run_tool("getmail", "--rcfile", str(rc), "--getmaildir", str(home))


@requires_getmail
async def test_getmail_keeps_then_deletes_with_the_trash_policy(tmp_path):
    async with running_pop3(tmp_path) as pop3:
        await pop3.set_policy("trash")
        await deliver_three(pop3)
        maildir = tmp_path / "Maildir"
        rc, log = await getmail(tmp_path, pop3.port, maildir, delete=False)
        assert rc == 0, log
        assert len(delivered(maildir / "new")) == 3
        assert await visible(pop3) == 3
        # read_all = false: getmail remembers the UIDLs, nothing new the second time.
        rc, log = await getmail(tmp_path, pop3.port, maildir, delete=False)
        assert rc == 0, log
        assert len(delivered(maildir / "new")) == 3

        await pop3.deliver(message(9))
        rc, log = await getmail(tmp_path, pop3.port, maildir, delete=True)
        assert rc == 0, log
        assert len(delivered(maildir / "new")) == 4
        assert list(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == []
        trash = await pop3.store.get_mailbox_by_role(pop3.account.id, "\\Trash")
        assert len(await pop3.store.uids(pop3.account.id, trash.id)) == 4


@requires_getmail
async def test_getmail_over_tls_with_the_expunge_policy(tmp_path):
    async with running_pop3(tmp_path, delete_policy="expunge") as pop3:
        await deliver_three(pop3)
        maildir = tmp_path / "Maildir"
        rc, log = await getmail(tmp_path, pop3.tls_port, maildir, delete=True, tls=True)
        assert rc == 0, log
        assert len(delivered(maildir / "new")) == 3
        assert list(await pop3.store.uids(pop3.account.id, pop3.inbox.id)) == []


# --- curl ---------------------------------------------------------------------------------------

requires_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@requires_curl
async def test_curl_lists_and_retrieves(tmp_path):
    async with running_pop3(tmp_path) as pop3:
        raws = await deliver_three(pop3)
        base = f"pop3://127.0.0.1:{pop3.port}"
        user = f"{USER}:{PASSWORD}"
        rc, listing = await run_tool("curl", "-sS", "--max-time", "20", "-u", user, base + "/")
        assert rc == 0, listing
        assert listing.splitlines() == [f"{n} {len(r)}" for n, r in enumerate(raws, 1)]
        rc, text = await run_tool("curl", "-sS", "--max-time", "20", "-u", user, base + "/2")
        assert rc == 0, text
        assert text.encode() == raws[1]
        # STLS required, then retrieval; and the implicit-TLS port.
        rc, text = await run_tool("curl", "-sS", "--max-time", "20", "--ssl-reqd", "-k",
                                  "-u", user, base + "/1")
        assert rc == 0 and text.encode() == raws[0], text
        rc, text = await run_tool("curl", "-sS", "--max-time", "20", "-k", "-u", user,
                                  f"pop3s://127.0.0.1:{pop3.tls_port}/3")
        assert rc == 0 and text.encode() == raws[2], text
        # A bad password fails cleanly.
        rc, text = await run_tool("curl", "-sS", "--max-time", "20", "-u", f"{USER}:nope",
                                  base + "/")
        assert rc != 0

"""The PyPI ActiveSync client ``pyactivesync`` (EAS 16.1) against a live Postroom over HTTPS:
every command it has."""

from __future__ import annotations

import asyncio
import email.message

import pytest

pyactivesync = pytest.importorskip("pyactivesync")

from postroom.store.api import FLAGGED, SEEN  # noqa: E402

from tests.conftest import make_message  # noqa: E402
from tests.dav.env import ALICE, PASSWORD, running_dav  # noqa: E402

pytestmark = pytest.mark.interop


def _client(port: int, device: str = "PYAS1"):
    c = pyactivesync.Client(f"127.0.0.1:{port}", ALICE, PASSWORD, device_id=device,
                            verify_ssl=False, timeout=30)
    # verify_ssl=False loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE unless trust_env is off.
    c._transport.session.trust_env = False
    return c


async def test_pyactivesync_through_every_command(tmp_path):
    async with running_dav(tmp_path, tls=True) as env:
        env.config.eas.min_heartbeat_seconds = 1
        acc = env.accounts[ALICE]
        inbox = await env.store.get_mailbox(acc.id, "INBOX")
        for i in range(30):
            await env.store.append(acc.id, inbox.id, make_message(subject=f"note {i}",
                                                                  body=f"word{i} text\r\n"))
        port = env.door.ports["https"]

        def session() -> dict:
            out: dict = {}
            with _client(port) as c:
                out["policy_key"] = c.provision()
                folders = {f.name: f for f in c.list_folders()}
                out["folders"] = folders
                inbox_id = folders["Inbox"].id
                r = c.sync_folder(inbox_id, "0")
                key, items = r.sync_key, []
                while True:
                    r = c.sync_folder(inbox_id, key, window_size=7)
                    key = r.sync_key
                    items += r.added
                    if not r.more_available:
                        break
                out["items"] = items
                first = items[0].server_id
                out["changes"] = c.apply_email_changes(inbox_id, key, [
                    pyactivesync.EmailChange(server_id=first, read=True, flagged=True)])
                key = out["changes"].sync_key
                out["estimate"] = c.get_item_estimate(inbox_id, key)
                out["fetched"] = c.fetch_item(inbox_id, first)
                archive = folders["Archive"].id
                out["moved"] = c.move_item(items[1].server_id, inbox_id, archive)
                msg = email.message.EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = ALICE, "bob@example.test", "hi bob"
                msg.set_content("sent by pyactivesync")
                c.send_mail(msg)
                out["ping"] = c.ping(inbox_id, heartbeat=1)
                out["resolved"] = c.resolve_recipients("bob@example.test")
                out["gal"] = c.search_gal("bob")
                out["search"] = c.search_mailbox(inbox_id, free_text="word3")
                out["search_date"] = c.search_mailbox(
                    inbox_id, date_received_after="2000-01-01T00:00:00.000Z")
                c.set_oof(pyactivesync.OofState.ENABLED, reply_message="away until Monday")
                out["oof"] = c.get_oof()
                created = c.create_folder("Invoices")
                c.update_folder(created.id, "Bills")
                c.delete_folder(created.id)
            return out

        out = await asyncio.to_thread(session)
        assert out["policy_key"]
        assert out["folders"]["Inbox"].type == pyactivesync.FolderType(2)
        assert len(out["items"]) == 30
        assert len({i.server_id for i in out["items"]}) == 30
        uid = int(out["items"][0].server_id.split(":")[1])
        (entry,) = await env.store.entries(acc.id, inbox.id, [uid])
        assert SEEN in entry.flags and FLAGGED in entry.flags
        assert out["estimate"] == 0
        assert out["moved"].startswith("m")
        bob = env.accounts["bob@example.test"]
        bob_inbox = await env.store.get_mailbox(bob.id, "INBOX")
        assert len(await env.store.uids(bob.id, bob_inbox.id)) == 1
        assert out["ping"].status in ("1", "2")
        assert out["resolved"] and out["gal"]
        assert len(out["search"]) >= 1 and len(out["search_date"]) == 10
        assert "Monday" in str(out["oof"])

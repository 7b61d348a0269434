"""The python-caldav project's conformance probe, caldav-server-tester, run against a live
Postroom with two users (so the scheduling checks cross from one to the other): no feature may
come out broken, ungraceful or fragile, and only the ones listed below may be unsupported."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import sys

import pytest

from tests.dav.env import ALICE, BOB, PASSWORD, running_dav

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(importlib.util.find_spec("caldav_server_tester") is None,
                                 reason="caldav-server-tester not installed")]

# What the tester may find unsupported, and why that is what Postroom means to do.
UNSUPPORTED = {
    "create-calendar.auto": "a calendar that does not exist is 404, not created by looking",
    "sync-token.limit": "DAV:limit in sync-collection is ignored: every change comes in one "
                        "answer (RFC 6578 §3.7 allows it; the tester calls it harmless)",
    "sync-token.limit.initial-sync": "the same, for the initial sync",
    "url.encode-at.identity": "'@' and '%40' both reach the same resource: lenient, and "
                              "nothing a client has to work around",
}
# Outcomes that are findings rather than support levels, on a server reached as 127.0.0.1.
NOT_LEVELS = {"?", "unknown"}
BAD = {"broken", "ungraceful", "fragile"}

FEATURE = re.compile(r"^## (\S+)\nFeature support level found: (\S+)", re.M)


def config(url: str) -> str:
    sections = [f"{name}:\n  caldav_url: {url}\n  caldav_username: {user}\n"
                f"  caldav_password: {PASSWORD}\n"
                for name, user in (("organizer", ALICE), ("attendee", BOB))]
    return "".join(sections)


async def test_caldav_server_tester_finds_nothing_broken(tmp_path):
    async with running_dav(tmp_path, users=(ALICE, BOB)) as env:
        cfg = tmp_path / "caldav.yaml"
        cfg.write_text(config(f"{env.url}/dav/"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c",
            "from caldav_server_tester.caldav_server_tester import "
            "check_server_compatibility as main; main()",
            "--config-section", "organizer", "--config-section", "attendee", "--verbose",
            cwd=tmp_path, env={**os.environ, "CALDAV_CONFIG_FILE": str(cfg)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, err.decode("utf-8", "replace")[-3000:]
    found = dict(FEATURE.findall(text))
    assert len(found) > 50, text[-3000:]          # the checks ran at all
    bad = {name: level for name, level in found.items() if level in BAD}
    assert not bad, bad
    unsupported = {name for name, level in found.items()
                   if level not in BAD | NOT_LEVELS and level != "full"}
    assert unsupported <= set(UNSUPPORTED), unsupported - set(UNSUPPORTED)
    # The scheduling checks need the second user; they ran rather than being skipped.
    for name in ("scheduling.auto-schedule", "scheduling.freebusy-query",
                 "scheduling.mailbox.inbox-delivery", "scheduling.schedule-tag"):
        assert found.get(name) == "full", name

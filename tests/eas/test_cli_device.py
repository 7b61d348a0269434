"""postroom device list|wipe|block|allow."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from postroom.cli import cli
from postroom.store.sqlite import SQLiteStore


def test_device_commands(tmp_path):
    data = str(tmp_path / "data")

    async def seed():
        store = SQLiteStore(data)
        await store.open()
        await store.add_domain("example.test")
        acc = await store.create_account("user@example.test", "x")
        await store.eas_touch_device(acc.id, "PHONE1", "iPhone")
        await store.close()

    asyncio.run(seed())

    def run(*args):
        result = CliRunner().invoke(cli, [*args, "--data", data])
        assert result.exit_code == 0, result.output
        return result.output

    assert "PHONE1" in run("device", "list")
    run("device", "wipe", "user@example.test", "PHONE1")
    assert "requested" in run("device", "list", "user@example.test")
    run("device", "block", "user@example.test", "PHONE1")
    assert "blocked" in run("device", "list")
    run("device", "allow", "user@example.test", "PHONE1")
    out = run("device", "list")
    assert "allowed" in out and "requested" not in out
    run("device", "wipe", "--account-only", "user@example.test", "PHONE1")
    assert "account-requested" in run("device", "list")

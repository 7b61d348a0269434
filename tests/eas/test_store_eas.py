"""ActiveSync device state in the store: devices, SyncKey windows with undo, the diff."""

from __future__ import annotations

import pytest

from postroom.store.api import (EAS_SOURCE_MAILBOX, POLICY_PROVISIONED, WIPE_REQUESTED, Conflict,
                                NotFound)

from ..conftest import make_message


async def _account(store):
    acc = await store.create_account("user@example.test", "x")
    inbox = await store.get_mailbox(acc.id, "INBOX")
    return acc, inbox


async def test_device_record_is_kept_per_account_and_device(store):
    acc, _ = await _account(store)
    dev = await store.eas_touch_device(acc.id, "DEV1", "iPhone", "Apple-iPhone/1")
    assert dev.policy_state == "none" and dev.access == "allowed"
    await store.eas_update_device(acc.id, "DEV1", policy_key=42, policy_state=POLICY_PROVISIONED,
                                  wipe=WIPE_REQUESTED, info={"Model": "x"})
    dev = await store.eas_device(acc.id, "DEV1")
    assert (dev.policy_key, dev.wipe, dev.info) == (42, WIPE_REQUESTED, {"Model": "x"})
    assert [d.device_id for d in await store.eas_list_devices(acc.id)] == ["DEV1"]
    await store.eas_delete_device(acc.id, "DEV1")
    assert await store.eas_device(acc.id, "DEV1") is None
    with pytest.raises(NotFound):
        await store.eas_delete_device(acc.id, "DEV1")


async def test_windows_send_every_message_once_and_a_resent_key_replays(store):
    acc, inbox = await _account(store)
    for i in range(7):
        await store.append(acc.id, inbox.id, make_message(subject=f"m{i}"))
    key = await store.eas_sync_reset(acc.id, "D", "m1", {})
    seen = []
    while True:
        diff = await store.eas_sync_diff(acc.id, "D", "m1", EAS_SOURCE_MAILBOX, inbox.id, 3)
        if not diff.added:
            break
        seen += [k for k, _ in diff.added]
        before = key
        key = await store.eas_sync_commit(acc.id, "D", "m1", key, dict(diff.added), {})
        if len(seen) == 3:   # the client lost this answer and resends the previous key
            await store.eas_sync_rewind(acc.id, "D", "m1")
            assert (await store.eas_sync_state(acc.id, "D", "m1")).sync_key == before
            again = await store.eas_sync_diff(acc.id, "D", "m1", EAS_SOURCE_MAILBOX, inbox.id, 3)
            assert again.added == diff.added
            key = await store.eas_sync_commit(acc.id, "D", "m1", before, dict(diff.added), {})
    assert sorted(map(int, seen)) == list(range(1, 8))
    assert seen[0] == "7"   # newest first
    with pytest.raises(Conflict):
        await store.eas_sync_commit(acc.id, "D", "m1", key - 5, {}, {})

    await store.store_flags(acc.id, inbox.id, [2], "add", ["\\Seen"])
    await store.remove(acc.id, inbox.id, [3])
    assert await store.eas_sync_count(acc.id, "D", "m1", EAS_SOURCE_MAILBOX, inbox.id) == 2
    diff = await store.eas_sync_diff(acc.id, "D", "m1", EAS_SOURCE_MAILBOX, inbox.id, 10)
    assert [k for k, _ in diff.changed] == ["2"] and diff.deleted == ["3"] and not diff.more


async def test_filter_window_soft_deletes_old_mail(store):
    acc, inbox = await _account(store)
    await store.append(acc.id, inbox.id, make_message(), internal_date=1000)
    await store.append(acc.id, inbox.id, make_message(), internal_date=5000)
    key = await store.eas_sync_reset(acc.id, "D", "f", {})
    diff = await store.eas_sync_diff(acc.id, "D", "f", EAS_SOURCE_MAILBOX, inbox.id, 10)
    await store.eas_sync_commit(acc.id, "D", "f", key, dict(diff.added), {})
    diff = await store.eas_sync_diff(acc.id, "D", "f", EAS_SOURCE_MAILBOX, inbox.id, 10,
                                     since=2000)
    assert diff.soft_deleted == ["1"] and not diff.added

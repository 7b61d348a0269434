"""The embedded store opens a store made before columns were added to its schema
(store/schema.py ADDED_COLUMNS), and fills in what readers rely on."""

from __future__ import annotations

import sqlite3

from postroom.mail.parse import parse_message
from postroom.mail.sections import pack_common_spans
from postroom.store.sqlite import SQLiteStore
from tests.conftest import make_message


async def test_a_store_from_before_the_spans_column_gets_them_filled_in(tmp_path):
    raw = make_message("old")
    store = SQLiteStore(tmp_path / "data")
    await store.open()
    await store.add_domain("example.test")
    acct = await store.create_account("user@example.test", "$argon2id$fake")
    box = await store.get_mailbox(acct.id, "INBOX")
    await store.append(acct.id, box.id, raw)
    await store.close()
    conn = sqlite3.connect(store.db_path)
    conn.execute("ALTER TABLE messages DROP COLUMN spans")
    conn.execute("ALTER TABLE messages DROP COLUMN wire_ready")
    conn.commit()
    conn.close()

    store = SQLiteStore(tmp_path / "data")
    await store.open()
    try:
        rows = await store.fetch_tuples(acct.id, box.id, [1], ["spans", "wire_ready"])
        # wire_ready is not known for old messages: 0 sends them through the careful path.
        assert rows == [(1, rows[0][1], (), pack_common_spans(parse_message(raw).parts), 0)]
    finally:
        await store.close()

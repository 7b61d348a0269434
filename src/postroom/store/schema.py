"""The embedded (SQLite) schema. Every table is keyed by account first (DESIGN.md, "Storage
backends"), so accounts can later be spread over several databases.

Accounts, mailboxes, messages and collections are AUTOINCREMENT: an id is never given again, so
no new account or mailbox can inherit rows (shares, device state) of a deleted one, and EMAILID
(RFC 8474 §5.1) is never reused."""

SCHEMA_VERSION = 1

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS domains (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dkim_selector TEXT,
    dkim_key BLOB
);
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    password_hash TEXT NOT NULL,
    scram TEXT,
    quota_bytes INTEGER NOT NULL DEFAULT 0,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    modseq INTEGER NOT NULL DEFAULT 1,
    settings TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS aliases (
    address TEXT PRIMARY KEY,
    target TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    special_use TEXT,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    UNIQUE (account_id, name)
);
CREATE TABLE IF NOT EXISTS subscriptions (
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL
) WITHOUT ROWID;
-- Blobs of up to blobs.INLINE_LIMIT bytes, inline (store/blobs.py); larger ones are files.
CREATE TABLE IF NOT EXISTS blob_data (
    hash TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    -- Small, often-read columns first: SQLite reads a row from its start, so SORT and FLAGS
    -- never walk past the large serialized ENVELOPE/BODYSTRUCTURE at the end.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    sent_date INTEGER,
    thread_id INTEGER NOT NULL,
    has_attachments INTEGER NOT NULL DEFAULT 0,
    -- mail.sections.pack_common_spans: BODY[], [HEADER], [TEXT], [1], [1.MIME] without the tree
    spans BLOB NOT NULL,
    -- 1: the bytes go on a dot-terminated wire as they are (mail.message.wire_ready); 0 unknown
    wire_ready INTEGER NOT NULL DEFAULT 0,
    sort_subject TEXT NOT NULL,
    sort_from TEXT NOT NULL,
    sort_to TEXT NOT NULL,
    sort_cc TEXT NOT NULL,
    display_from TEXT NOT NULL,
    display_to TEXT NOT NULL,
    header_message_id TEXT,
    in_reply_to TEXT,
    refs TEXT NOT NULL,
    preview TEXT NOT NULL,
    parts TEXT NOT NULL,
    envelope BLOB NOT NULL,
    bodystructure BLOB NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_blob ON messages (account_id, blob);
CREATE INDEX IF NOT EXISTS messages_mid ON messages (account_id, header_message_id);
CREATE TABLE IF NOT EXISTS entries (
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    flags INTEGER NOT NULL DEFAULT 0,
    keywords TEXT NOT NULL DEFAULT '',
    modseq INTEGER NOT NULL,
    save_date INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_modseq ON entries (mailbox_id, modseq);
CREATE INDEX IF NOT EXISTS entries_message ON entries (message_id);
CREATE TABLE IF NOT EXISTS changelog (
    seq INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    kind TEXT NOT NULL,           -- 'entries' (adds/flags), 'expunge', 'mailbox', 'subscription',
                                  -- 'metadata'; 'collection' and 'item' (collaboration)
    mailbox_id INTEGER,
    uid INTEGER
);
CREATE INDEX IF NOT EXISTS changelog_mailbox ON changelog (mailbox_id, kind, modseq);
CREATE INDEX IF NOT EXISTS changelog_account ON changelog (account_id, modseq);
CREATE TABLE IF NOT EXISTS metadata (
    account_id INTEGER NOT NULL,
    mailbox_id INTEGER NOT NULL,   -- 0 for account-wide entries
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (account_id, mailbox_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,      -- JSON list
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (next_attempt);
-- Search text waiting for the trigram index: written with the message (a plain insert), moved
-- into message_text in batches when the store is quiet. Searches read both, so results are
-- right while the index catches up.
CREATE TABLE IF NOT EXISTS pending_text (
    message_id INTEGER PRIMARY KEY,
    from_ TEXT, to_ TEXT, cc TEXT, bcc TEXT, subject TEXT, headers TEXT, body TEXT
);
CREATE VIRTUAL TABLE IF NOT EXISTS message_text USING fts5(
    from_, to_, cc, bcc, subject, headers, body,
    tokenize = 'trigram'
);
-- collaboration (store/sqlite_pim.py): calendars, task lists, address books, their items,
-- tombstones of deleted items for sync-collection (RFC 6578), and the generic ACL.
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    kind TEXT NOT NULL,            -- 'calendar', 'addressbook', 'schedule-inbox'
    name TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    color TEXT NOT NULL DEFAULT '',
    components TEXT NOT NULL DEFAULT '',   -- space separated: 'VEVENT VTODO'
    timezone TEXT NOT NULL DEFAULT '',
    role TEXT,
    properties TEXT NOT NULL DEFAULT '{}', -- JSON: dead properties
    modseq INTEGER NOT NULL,
    created_modseq INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE TABLE IF NOT EXISTS items (
    account_id INTEGER NOT NULL,
    collection_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    modseq INTEGER NOT NULL,
    size INTEGER NOT NULL,
    component TEXT NOT NULL,
    start INTEGER,                 -- UTC seconds; NULL: no start
    end INTEGER,                   -- UTC seconds; NULL: no end
    recurring INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '',
    organizer TEXT NOT NULL DEFAULT '',
    attendees TEXT NOT NULL DEFAULT '',    -- space separated, lower-case addresses
    status TEXT NOT NULL DEFAULT '',
    transparent INTEGER NOT NULL DEFAULT 0,
    due INTEGER,
    completed INTEGER,
    emails TEXT NOT NULL DEFAULT '',
    phones TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    PRIMARY KEY (account_id, collection_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_uid ON items (account_id, uid);
CREATE INDEX IF NOT EXISTS items_time ON items (account_id, collection_id, start);
CREATE INDEX IF NOT EXISTS items_modseq ON items (account_id, collection_id, modseq);
CREATE TABLE IF NOT EXISTS item_tombstones (
    account_id INTEGER NOT NULL,
    collection_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (account_id, collection_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acl (
    owner_account_id INTEGER NOT NULL,
    object_kind TEXT NOT NULL,     -- 'collection' or 'mailbox'
    object_id INTEGER NOT NULL,
    grantee_account_id INTEGER NOT NULL,
    rights TEXT NOT NULL,          -- RFC 4314 letters
    PRIMARY KEY (owner_account_id, object_kind, object_id, grantee_account_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS acl_grantee ON acl (grantee_account_id, object_kind);
"""

# ActiveSync device state (store/sqlite_eas.py): devices, the hierarchy each was sent, and per
# folder the SyncKey with its undo list and the items the device holds.
SQLITE_SCHEMA += """
CREATE TABLE IF NOT EXISTS eas_devices (
    account_id INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    device_type TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    policy_key INTEGER NOT NULL DEFAULT 0,
    policy_state TEXT NOT NULL DEFAULT 'none',
    wipe TEXT NOT NULL DEFAULT '',
    access TEXT NOT NULL DEFAULT 'allowed',
    info TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT '{}',
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (account_id, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS eas_hierarchy (
    account_id INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    sync_key INTEGER NOT NULL,
    folders TEXT NOT NULL,
    previous_key INTEGER NOT NULL DEFAULT 0,
    previous_folders TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS eas_sync (
    account_id INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    folder_id TEXT NOT NULL,
    sync_key INTEGER NOT NULL,
    previous_key INTEGER NOT NULL DEFAULT 0,
    undo TEXT NOT NULL DEFAULT '[]',   -- JSON [[item, modseq or null], ...] before the last window
    data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, device_id, folder_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS eas_items (
    account_id INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    folder_id TEXT NOT NULL,
    item TEXT NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (account_id, device_id, folder_id, item)
) WITHOUT ROWID;
"""

# Follow-up flag details (store/sqlite_eas.py): what a flag carries beyond \Flagged - start and
# due dates, reminder, completion (MS-ASEMAIL Flag) - per mailbox entry, gone with the entry.
SQLITE_SCHEMA += """
CREATE TABLE IF NOT EXISTS follow_ups (
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    data TEXT NOT NULL,            -- JSON: element name -> text, as MS-ASEMAIL names them
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS follow_ups_gone AFTER DELETE ON entries
WHEN EXISTS (SELECT 1 FROM follow_ups WHERE mailbox_id=OLD.mailbox_id)
BEGIN
    DELETE FROM follow_ups WHERE mailbox_id=OLD.mailbox_id AND uid=OLD.uid;
END;
"""

# Columns added since a store was first created: (table, column, declaration). Opening an older
# store adds them (the caller fills in what cannot stay at the default).
ADDED_COLUMNS = (("messages", "spans", "BLOB"),
                 ("messages", "wire_ready", "INTEGER NOT NULL DEFAULT 0"))


def add_missing_columns(conn) -> set[str]:
    """Adds the :data:`ADDED_COLUMNS` an older store lacks; returns them as "table.column"."""
    added = set()
    for table, column, decl in ADDED_COLUMNS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            added.add(f"{table}.{column}")
    return added

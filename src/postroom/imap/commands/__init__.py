"""IMAP command handlers, one module per command family. Each handler takes the session and
the parsed command, checks its arguments, calls the store, writes untagged responses and returns
the tagged OK text (or raises Bad/No). The state table in ``imap/state.py`` is checked first."""

from postroom.imap.commands import (acl, append, auth, copy, fetch, flags, idle, mailboxes,
                                    metadata, notify, quota, search, select)

HANDLERS = {}
for _module in (auth, mailboxes, select, append, fetch, flags, copy, search, idle, quota,
                metadata, notify, acl):
    HANDLERS.update(_module.HANDLERS)

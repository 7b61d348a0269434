"""The IMAP door (IMAP4rev2, RFC 9051, and IMAP4rev1, RFC 3501, with the extensions listed in
``imap/commands/auth.py``): ``start(ctx)`` returns the running door."""

from postroom.imap.server import IMAPDoor, start

__all__ = ["IMAPDoor", "start"]

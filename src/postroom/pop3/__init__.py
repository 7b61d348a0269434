"""The POP3 door: RFC 1939 with CAPA (RFC 2449), STLS (RFC 2595), AUTH (RFC 5034) and UTF8
(RFC 6856), over the one store. ``protocol`` is the dialogue without I/O, ``server`` the
sockets, ``policy`` what DELE does to the mailbox (hide, trash or expunge).
"""

from postroom.pop3.server import Pop3Door, start

__all__ = ["Pop3Door", "start"]

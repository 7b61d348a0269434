"""The SMTP door: inbound MX and LMTP into the store, authenticated submission through
``postroom.submission``, and the outbound queue's delivery worker. ``server`` holds the
listeners, ``inbound``/``submit`` the aiosmtpd hooks, ``delivery`` the worker, ``admin`` what the
CLI calls (DKIM keys, the queue).
"""

from postroom.smtp.server import SMTPDoor, start

__all__ = ["SMTPDoor", "start"]

"""Operator-readable logging: one line per connection and per command outcome, with the account.

Doors call ``get_logger("imap")`` once and ``connection_logger("imap", peer)`` per connection;
the adapter prefixes every line with the peer address and, after login, the account. Nothing
here (or in a door) ever logs a password, a SASL response or message content.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, MutableMapping

_ROOT = "postroom"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def setup_logging(level: str = "info", stream: Any = None) -> None:
    """Sends the ``postroom`` loggers to stderr (or ``stream``) at ``level``.

    Idempotent: calling it again replaces the handler, so tests and ``serve`` can both call it.
    Third-party loggers (aiosmtpd, asyncio) stay at WARNING so they do not drown the doors' lines.
    """
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        if getattr(handler, "_postroom", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._postroom = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(_FORMAT, _DATE_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Lines reach our handler only; without this they would also go to a root handler that a
    # host application (or pytest) installed, and be printed twice.
    root.propagate = False
    for noisy in ("mail.log", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    """The logger of one part of Postroom: ``get_logger("imap")`` is ``postroom.imap``."""
    return logging.getLogger(f"{_ROOT}.{name}" if name else _ROOT)


class ConnectionLogger(logging.LoggerAdapter):
    """Prefixes each line with ``[peer account]``; set ``.account`` once the client logs in.

    Usage in a door::

        log = connection_logger("imap", peer_ip)
        log.info("connect")
        ...
        log.account = account.email
        log.info("LOGIN ok")
        log.info("FETCH ok 12 messages in 3 ms")
    """

    def __init__(self, logger: logging.Logger, peer: str, account: str | None = None) -> None:
        super().__init__(logger, {})
        self.peer = peer
        self.account = account

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        who = f"{self.peer} {self.account}" if self.account else self.peer
        return f"[{who}] {msg}", kwargs


def connection_logger(door: str, peer: str | tuple | None, account: str | None = None
                      ) -> ConnectionLogger:
    """A per-connection logger for ``door``. ``peer`` may be a socket peername tuple."""
    if isinstance(peer, tuple):
        peer = str(peer[0]) if peer else "?"
    return ConnectionLogger(get_logger(door), peer or "?", account)

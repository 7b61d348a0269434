"""What every door is given, and what a door gives back to ``server.py``.

A door (``imap/``, ``pop3/``, ``smtp/``, later ``eas/``, ``dav/``, ``web/``) exposes
``async def start(ctx: ServerContext) -> Door``. ``server.py`` starts every enabled door on one
loop and stops them in reverse order. Tests start a door with ports set to 0 and read the bound
ports back from ``Door.ports``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from postroom.config import Config
from postroom.store.api import Store

if TYPE_CHECKING:
    from postroom.auth.authenticator import Authenticator


@dataclass
class ServerContext:
    config: Config
    store: Store
    auth: "Authenticator"
    tls: ssl.SSLContext          # server-side context for STARTTLS and implicit TLS

    @property
    def hostname(self) -> str:
        return self.config.server.hostname


class Door(Protocol):
    name: str
    # bound ports by listener name, e.g. {"imap": 40123, "imaps": 40124}
    ports: dict[str, int]

    async def stop(self) -> None: ...

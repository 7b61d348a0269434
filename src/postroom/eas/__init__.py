"""The Exchange ActiveSync door (MS-ASHTTP, MS-ASCMD): one HTTPS endpoint,
``/Microsoft-Server-ActiveSync``, mounted on the one ASGI app (``postroom.http``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postroom.context import ServerContext


def make_app(ctx: "ServerContext"):
    """The ASGI app ``postroom.http`` mounts at ``/Microsoft-Server-ActiveSync``."""
    from postroom.eas.app import EasApp, not_enabled
    return EasApp(ctx) if ctx.config.eas.enabled else not_enabled

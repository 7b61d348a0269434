"""Scheduling (iTIP, RFC 5546; CalDAV auto-schedule, RFC 6638; iMIP, RFC 6047)."""

from __future__ import annotations


def prepare_organizer_copy(obj, actor, old) -> str:
    return obj.to_ical()


async def after_put(ctx, actor, collection, old, item) -> None:
    return None


async def after_delete(ctx, actor, collection, item) -> None:
    return None

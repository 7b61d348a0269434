"""Search criteria as a small protocol-neutral tree that every door builds and every backend
compiles (DESIGN.md, "Search"). IMAP SEARCH, EAS Search and the web app all end here.

Text keys are substring matches, case-insensitive, served by the trigram index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# Text fields a Text criterion can name. "header:<name>" (lower-case field name) is also valid.
TEXT_FIELDS = ("from", "to", "cc", "bcc", "subject", "body", "text")


@dataclass(frozen=True, slots=True)
class All:
    pass


@dataclass(frozen=True, slots=True)
class And:
    items: tuple["Criteria", ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple["Criteria", ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: "Criteria"


@dataclass(frozen=True, slots=True)
class UidSet:
    """UIDs in any of the inclusive ranges."""
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Flag:
    """True when the entry has ``flag`` (a system flag or a keyword)."""
    flag: str


@dataclass(frozen=True, slots=True)
class DateRange:
    """``field`` is "internal", "sent" or "saved"; bounds in seconds since the epoch, UTC,
    ``start`` inclusive, ``end`` exclusive; either may be None."""
    field: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Size:
    larger: int | None = None   # size > larger
    smaller: int | None = None  # size < smaller


@dataclass(frozen=True, slots=True)
class Text:
    field: str
    needle: str


@dataclass(frozen=True, slots=True)
class ModSeq:
    """Entries with modseq >= min (RFC 7162 SEARCH MODSEQ)."""
    min: int


@dataclass(frozen=True, slots=True)
class EmailId:
    message_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ThreadId:
    thread_ids: tuple[int, ...]


Criteria = Union[All, And, Or, Not, UidSet, Flag, DateRange, Size, Text, ModSeq, EmailId, ThreadId]

"""Typed readers for IMAP command arguments (RFC 9051 §9 grammar): astrings, mailbox names,
sequence sets, flags, dates. Each raises :class:`Bad` with a message the client can act on."""

from __future__ import annotations

import calendar
import re
import time
from bisect import bisect_left, bisect_right
from typing import Sequence

from postroom.mail import utf7
from postroom.imap.wire import Atom, String


class Bad(Exception):
    """Answer the command with a tagged BAD."""

    def __init__(self, text: str, code: str | None = None):
        super().__init__(text)
        self.text = text
        self.code = code


class No(Exception):
    """Answer the command with a tagged NO."""

    def __init__(self, text: str, code: str | None = None):
        super().__init__(text)
        self.text = text
        self.code = code


class Args:
    """A cursor over a command's argument tokens."""

    def __init__(self, tokens: list):
        self.tokens = tokens
        self.i = 0

    def more(self) -> bool:
        return self.i < len(self.tokens)

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str = "argument"):
        if self.i >= len(self.tokens):
            raise Bad(f"Missing {what}")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def end(self) -> None:
        if self.i < len(self.tokens):
            raise Bad("Too many arguments")

    def atom(self, what: str = "argument") -> str:
        tok = self.next(what)
        if not isinstance(tok, Atom):
            raise Bad(f"Expected {what}")
        return tok

    def astring(self, what: str = "argument") -> bytes:
        return as_bytes(self.next(what), what)

    def list(self, what: str = "list") -> list:
        tok = self.next(what)
        if not isinstance(tok, list):
            raise Bad(f"Expected a parenthesized {what}")
        return tok

    def number(self, what: str = "number", *, nz: bool = False) -> int:
        return number(self.next(what), what, nz=nz)


def as_bytes(tok, what: str = "string") -> bytes:
    if isinstance(tok, String):
        return bytes(tok)
    if isinstance(tok, Atom):
        return tok.encode("utf-8", "surrogateescape")
    raise Bad(f"Expected {what}")


def as_text(tok, what: str = "string") -> str:
    try:
        return as_bytes(tok, what).decode("utf-8")
    except UnicodeDecodeError:
        raise Bad(f"{what} is not UTF-8") from None


def number(tok, what: str = "number", *, nz: bool = False) -> int:
    if not isinstance(tok, Atom) or not tok.isdigit() or len(tok) > 20:
        raise Bad(f"Expected {what}")
    n = int(tok)
    if nz and n == 0:
        raise Bad(f"{what} must not be zero")
    return n


def mailbox_name(tok, *, utf8: bool) -> str:
    """The store's Unicode name for a client's mailbox argument. With UTF-8 enabled names are
    UTF-8 (RFC 9051 §5.1, RFC 6855 §3); otherwise modified UTF-7 (RFC 3501 §5.1.3)."""
    raw = as_bytes(tok, "mailbox name")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("Mailbox name is not UTF-8") from None
    if not utf8 or "&" in text and text.isascii():
        # An IMAP4rev2 client may still send modified UTF-7 (RFC 9051 §5.1 allows servers to
        # accept it); names that are pure ASCII with "&" are decoded as such.
        try:
            text = utf7.decode(text)
        except utf7.BadName as e:
            if not utf8:
                raise Bad(f"Bad mailbox name: {e}") from None
    if text.upper() == "INBOX":
        text = "INBOX"
    elif text.upper().startswith("INBOX/"):
        text = "INBOX" + text[5:]
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise Bad("Mailbox name contains a control character")
    return text


def encode_mailbox(name: str, *, utf8: bool) -> str:
    return name if utf8 else utf7.encode(name)


# --- sequence sets ------------------------------------------------------------------------------

_SEQ_RANGE = re.compile(r"(\d+|\*)(?::(\d+|\*))?\Z")
STAR = -1


def parse_sequence_set(text: str) -> list[tuple[int, int]]:
    """``1:3,5,7:*`` -> [(1, 3), (5, 5), (7, STAR)]; ranges as written (not ordered)."""
    out = []
    if not text:
        raise Bad("Empty sequence set")
    for piece in text.split(","):
        m = _SEQ_RANGE.match(piece)
        if not m:
            raise Bad(f"Invalid sequence set: {text[:50]}")
        a = STAR if m.group(1) == "*" else int(m.group(1))
        b = a if m.group(2) is None else (STAR if m.group(2) == "*" else int(m.group(2)))
        if a == 0 or b == 0 or a > 0xFFFFFFFF or b > 0xFFFFFFFF:
            raise Bad("Invalid sequence set: zero or too large")
        out.append((a, b))
    return out


def seq_ranges_to_uid_ranges(ranges: Sequence[tuple[int, int]], uids: Sequence[int]
                             ) -> list[tuple[int, int]]:
    """Message sequence number ranges to the uid ranges they cover (uids ascending).
    Bad for a number beyond the mailbox (RFC 9051 §9 "seq-number")."""
    n = len(uids)
    out = []
    for a, b in ranges:
        if n == 0:
            if a == STAR or b == STAR:
                continue
            raise Bad("Invalid sequence number: the mailbox is empty")
        a = n if a == STAR else a
        b = n if b == STAR else b
        lo, hi = min(a, b), max(a, b)
        if hi > n:
            raise Bad(f"Invalid sequence number {hi} (the mailbox has {n} messages)")
        out.append((uids[lo - 1], uids[hi - 1]))
    return out


def uid_ranges(ranges: Sequence[tuple[int, int]], uids: Sequence[int]) -> list[tuple[int, int]]:
    """UID ranges with ``*`` replaced by the highest uid (RFC 9051 §6.4.9: "*" in a UID range
    is the last message's UID, even below the other end)."""
    top = uids[-1] if len(uids) else 0
    out = []
    for a, b in ranges:
        a = top if a == STAR else a
        b = top if b == STAR else b
        if a == 0 and b == 0:
            continue
        out.append((min(a, b), max(a, b)))
    return out


def uids_in(ranges: Sequence[tuple[int, int]], uids: Sequence[int]) -> list[int]:
    """The uids of the mailbox inside any of the uid ranges, ascending, without duplicates."""
    ranges = merge_ranges(ranges)
    out: list[int] = []
    for lo, hi in ranges:
        out.extend(uids[bisect_left(uids, lo):bisect_right(uids, hi)])
    return out


def merge_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def compress_uids(uids: Sequence[int]) -> str:
    """Ascending uids to a compact sequence set: [1,2,3,7] -> "1:3,7"."""
    parts = []
    start = prev = None
    for u in uids:
        if start is None:
            start = prev = u
        elif u == prev + 1:
            prev = u
        else:
            parts.append(f"{start}:{prev}" if prev != start else str(start))
            start = prev = u
    if start is not None:
        parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts)


# --- flags --------------------------------------------------------------------------------------

SYSTEM_FLAGS = {"\\SEEN": "\\Seen", "\\ANSWERED": "\\Answered", "\\FLAGGED": "\\Flagged",
                "\\DELETED": "\\Deleted", "\\DRAFT": "\\Draft"}
_KEYWORD = re.compile(r"[^\x00-\x20\x7f(){%*\"\\\]]+\Z")


def flag(tok) -> str:
    """A flag as the store names it: system flags canonically cased, keywords as given
    (RFC 9051 §2.3.2; \\Recent cannot be stored)."""
    if not isinstance(tok, Atom):
        raise Bad("Flags are atoms")
    if tok.startswith("\\"):
        canon = SYSTEM_FLAGS.get(tok.upper())
        if canon is None:
            raise Bad(f"Unknown system flag {tok[:40]}")
        return canon
    if not _KEYWORD.match(tok) or len(tok) > 100:
        raise Bad("Invalid keyword")
    return str(tok)


def flag_list(tok) -> list[str]:
    toks = tok if isinstance(tok, list) else [tok]
    return [flag(t) for t in toks]


# --- dates --------------------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUM = {m.upper(): i + 1 for i, m in enumerate(MONTHS)}
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})\Z")
_DATE_TIME = re.compile(r" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\Z")


def search_date(tok) -> int:
    """A SEARCH date (``1-Feb-1994``) as the UTC midnight starting that day."""
    text = as_text(tok, "date")
    m = _DATE.match(text)
    if not m or m.group(2).upper() not in _MONTH_NUM:
        raise Bad(f"Invalid date {text[:30]}")
    try:
        return calendar.timegm((int(m.group(3)), _MONTH_NUM[m.group(2).upper()],
                                int(m.group(1)), 0, 0, 0))
    except (ValueError, OverflowError):
        raise Bad(f"Invalid date {text[:30]}") from None


def date_time(tok) -> int:
    """An APPEND date-time (RFC 9051 §9 ``date-time``) as seconds since the epoch, UTC."""
    text = as_text(tok, "date-time")
    m = _DATE_TIME.match(text)
    if not m or m.group(2).upper() not in _MONTH_NUM:
        raise Bad(f"Invalid date-time {text[:40]}")
    day, mon, year, hh, mm, ss = (int(m.group(1)), _MONTH_NUM[m.group(2).upper()],
                                  int(m.group(3)), int(m.group(4)), int(m.group(5)),
                                  int(m.group(6)))
    if not (1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        raise Bad(f"Invalid date-time {text[:40]}")
    offset = (int(m.group(8)) * 60 + int(m.group(9))) * 60
    if m.group(7) == "-":
        offset = -offset
    try:
        return calendar.timegm((year, mon, day, hh, mm, ss)) - offset
    except (ValueError, OverflowError):
        raise Bad(f"Invalid date-time {text[:40]}") from None


def format_date_time(ts: int) -> str:
    """RFC 9051 ``date-time`` in UTC: ``"01-Jan-2024 10:00:00 +0000"``."""
    t = time.gmtime(ts)
    return f'"{t.tm_mday:02d}-{MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} ' \
           f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"'

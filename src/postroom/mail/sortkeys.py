"""Sort and thread keys: RFC 5256 §2.1 base subject, SORT FROM/TO/CC, RFC 5957 DISPLAY.

Keys are stored ASCII-lower-cased so the store can compare them bytewise; the i;ascii-casemap
comparator that RFC 5256 names is insensitive to ASCII case, so equal keys stay equal.
"""

from __future__ import annotations

import re

from postroom.mail.address import Address

_WSP = re.compile(r"[ \t\r\n]+")
_TRAILER = re.compile(r"(?:\s*\(fwd\)|\s+)$", re.I)
# subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
_LEADER = re.compile(r"^(?:re|fwd?)[ \t]*(?:\[[^\[\]]*\])?[ \t]*:", re.I)
_BLOB = re.compile(r"^\[[^\[\]]*\][ \t]*")


def _ascii_lower(s: str) -> str:
    return s.translate(_LOWER)


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def base_subject(subject: str) -> str:
    """RFC 5256 §2.1: strip "Re:", "Fwd:", "[list]" leaders, "(fwd)" trailers and
    "[fwd: ...]" wrappers. ``subject`` is already decoded (step 1); the result is lower-cased."""
    s = _WSP.sub(" ", subject).strip()                      # (1) whitespace to one space
    while True:
        while True:                                         # (2) remove subj-trailer
            t = _TRAILER.sub("", s)
            if t == s:
                break
            s = t
        while True:                                         # (3)+(4) leaders and blobs
            changed = False
            m = _LEADER.match(s)
            if m:
                s = s[m.end():].lstrip(" \t")
                changed = True
            m = _BLOB.match(s)
            if m and s[m.end():].strip():                   # (4) keep a blob that is all
                s = s[m.end():]
                changed = True
            if not changed:
                break
        low = s.lower()                                     # (6) [fwd: ...] wrapper
        if low.startswith("[fwd:") and s.endswith("]"):
            s = s[5:-1].strip()
            continue
        break
    return _ascii_lower(s)


def sort_address_key(addresses: list[Address]) -> str:
    """RFC 5256 SORT FROM/TO/CC: the first address's mailbox (local part), lower-cased."""
    for a in addresses:
        if a.mailbox:
            return _ascii_lower(a.mailbox)
    return ""


def display_key(addresses: list[Address]) -> str:
    """RFC 5957 §3: the first address's display name, else its addr-spec, lower-cased."""
    for a in addresses:
        if a.name and a.name.strip():
            return " ".join(a.name.split()).lower()
        if a.mailbox or a.host:
            return a.addr_spec.lower()
    return ""

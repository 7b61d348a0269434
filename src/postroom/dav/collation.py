"""Text matching for DAV searches: the collations of RFC 4790 that a CALDAV/CARDDAV
text-match may name (RFC 4791 §7.5 and §9.7.5, RFC 6352 §8.3 and §10.5.4), and the match types
shared by calendar-query, addressbook-query and principal-property-search (RFC 3744 §9.4)."""

from __future__ import annotations

from typing import Callable

Fold = Callable[[str], str]

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _ascii_casemap(s: str) -> str:
    # RFC 4790 §9.2: only A-Z fold; other letters compare as they are.
    return s.translate(_ASCII_LOWER)


# Each collation as the key both sides of a comparison are reduced to.
COLLATIONS: dict[str, Fold] = {
    "i;octet": lambda s: s,
    "i;ascii-casemap": _ascii_casemap,
    "i;unicode-casemap": str.casefold,
}
# With no collation named, non-ASCII letters fold too: a superset of the i;ascii-casemap
# default that finds "Müller" when a user types "müller".
DEFAULT: Fold = str.casefold
MATCH_TYPES = ("equals", "contains", "starts-with", "ends-with")


def fold_for(collation: str | None) -> Fold | None:
    """The fold of ``collation`` (the default when None), or None when it is not supported."""
    return COLLATIONS.get(collation) if collation else DEFAULT


def text_match(value: str, needle: str, match_type: str) -> bool:
    """Whether folded ``value`` matches folded ``needle``; an unknown type is "contains"."""
    if match_type == "equals":
        return value == needle
    if match_type == "starts-with":
        return value.startswith(needle)
    if match_type == "ends-with":
        return value.endswith(needle)
    return needle in value

"""RFC 5322 §3.4 address lists: mailboxes, display names, groups, obsolete routes.

Used for the IMAP ENVELOPE (RFC 9051 §7.5.2, raw names), the SMTP door and the submission sender
check (decoded names). Lenient as mail servers must be: comments, stray specials, empty list
elements and missing domains never raise; what cannot be read comes back as None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postroom.mail.encoded import decode_words


@dataclass(frozen=True, slots=True)
class Address:
    name: str | None          # display name (phrase or, lacking one, the trailing comment)
    mailbox: str | None       # local part, None when missing
    host: str | None          # domain, None when missing
    route: str | None = None  # obsolete source route "@a,@b" (RFC 5322 §4.4)

    @property
    def addr_spec(self) -> str:
        return f"{self.mailbox or ''}@{self.host}" if self.host else (self.mailbox or "")


@dataclass(frozen=True, slots=True)
class Group:
    """An RFC 5322 group ("Undisclosed recipients:;"); IMAP writes it as a start and end marker."""
    name: str
    members: list[Address]


# Tokens: quoted string, comment (nesting handled in code), domain literal, specials, atoms.
_SPECIALS = frozenset('()<>[]:;@\\,."')
_ATOM = re.compile(r'[^ \t\r\n()<>\[\]:;@\\,."]+')
_WS = frozenset(" \t\r\n")

# token kinds
_Q, _C, _L, _S, _A = "q", "c", "l", "s", "a"


def _tokenize(s: str) -> list[tuple[str, str, bool]]:
    """(kind, text, whitespace_before) triples. Quoted strings and comments are unescaped."""
    out: list[tuple[str, str, bool]] = []
    i, n = 0, len(s)
    ws = False
    while i < n:
        c = s[i]
        if c in _WS:
            ws = True
            i += 1
            continue
        if c == '"':
            i += 1
            buf = []
            while i < n and s[i] != '"':
                if s[i] == "\\" and i + 1 < n:
                    i += 1
                if s[i] not in "\r\n":
                    buf.append(s[i])
                i += 1
            i += 1
            out.append((_Q, "".join(buf), ws))
        elif c == "(":
            depth, i = 1, i + 1
            buf = []
            while i < n and depth:
                ch = s[i]
                if ch == "\\" and i + 1 < n:
                    i += 1
                    ch = s[i]
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if not depth:
                        break
                buf.append(ch)
                i += 1
            i += 1
            out.append((_C, " ".join("".join(buf).split()), ws))
        elif c == "[":
            j = s.find("]", i)
            j = n - 1 if j < 0 else j
            out.append((_L, s[i:j + 1], ws))
            i = j + 1
        elif c in _SPECIALS:
            out.append((_S, c, ws))
            i += 1
        else:
            m = _ATOM.match(s, i)
            assert m is not None
            out.append((_A, m.group(), ws))
            i = m.end()
        ws = False
    return out


def _phrase(tokens: list[tuple[str, str, bool]]) -> str | None:
    """Words of a display name, joined by one space where the source had whitespace."""
    words: list[str] = []
    for kind, text, ws in tokens:
        if kind == _C:
            continue
        if words and ws:
            words.append(" ")
        words.append(text)
    name = "".join(words).strip()
    return name or None


def _addr_spec(tokens: list[tuple[str, str, bool]]) -> tuple[str | None, str | None, str | None]:
    """(local part, domain, last comment) of an addr-spec; whitespace between tokens dropped."""
    local: list[str] = []
    domain: list[str] | None = None
    comment = None
    for kind, text, _ in tokens:
        if kind == _C:
            comment = text or comment
        elif kind == _S and text == "@" and domain is None:
            domain = []
        elif domain is None:
            local.append(text)
        else:
            domain.append(text)
    lp = "".join(local) or None
    dom = "".join(domain) if domain else None
    if dom is not None and (dom.endswith(".") or dom.startswith(".")):
        dom = None
    return lp, dom or None, comment


def parse_address_groups(value: str, decode: bool = True) -> list[Address | Group]:
    """Parse an address list keeping groups. ``decode`` decodes RFC 2047 names (the ENVELOPE
    keeps them raw, as IMAP clients expect)."""
    toks = _tokenize(value)
    items: list[Address | Group] = []
    group: Group | None = None
    i, n = 0, len(toks)
    while i < n:
        j = i
        while j < n and not (toks[j][0] == _S and toks[j][1] in ",;:<"):
            j += 1
        stop = toks[j][1] if j < n else ""
        if stop == ":":
            if group is not None:
                # A group inside a group is not allowed; read the name as a member address.
                lp, dom, _ = _addr_spec(toks[i:j])
                group.members.append(Address(None, lp, dom))
            else:
                name = _phrase(toks[i:j]) or ""
                group = Group(decode_words(name) if decode else name, [])
            i = j + 1
            continue
        addr: Address | None
        if stop == "<":
            name = _phrase(toks[i:j])
            k = j + 1
            while k < n and not (toks[k][0] == _S and toks[k][1] == ">"):
                k += 1
            inner = toks[j + 1:k]
            route = None
            # obs-route: "@a,@b:" before the addr-spec
            for m, t in enumerate(inner):
                if t[0] == _S and t[1] == ":":
                    route = "".join(x[1] for x in inner[:m]) or None
                    inner = inner[m + 1:]
                    break
            lp, dom, _ = _addr_spec(inner)
            if decode and name:
                name = decode_words(name)
            addr = Address(name, lp, dom, route)
            # skip anything up to the next separator (trailing comments are not the name)
            j = k + 1
            while j < n and not (toks[j][0] == _S and toks[j][1] in ",;"):
                j += 1
            stop = toks[j][1] if j < n else ""
        else:
            if i == j:
                addr = None
                # An empty element in the middle of a list still counts (RFC 5322 §4.4
                # obs-addr-list allows it; IMAP servers show it as a missing address).
                if stop == "," and j + 1 < n and group is None and items:
                    addr = Address(None, None, None)
            else:
                lp, dom, comment = _addr_spec(toks[i:j])
                if decode and comment:
                    comment = decode_words(comment)
                addr = Address(comment, lp, dom)
        if addr is not None:
            (group.members if group is not None else items).append(addr)
        if stop == ";" and group is not None:
            items.append(group)
            group = None
            if j + 1 < n and toks[j + 1][0] == _S and toks[j + 1][1] == ",":
                j += 1  # "group:;," : the comma only separates, it is no empty element
        i = j + 1
    if group is not None:
        items.append(group)
    return items


def parse_address_list(value: str) -> list[Address]:
    """Every mailbox in an RFC 5322 address list (group members included), names decoded."""
    out: list[Address] = []
    for item in parse_address_groups(value):
        if isinstance(item, Group):
            out.extend(item.members)
        else:
            out.append(item)
    return out


def normalize_address(addr: Address | str) -> str:
    """``local@domain`` with the domain lower-cased and the local part kept (RFC 5321 §2.4:
    local parts may be case-sensitive, domains are not)."""
    if isinstance(addr, str):
        parsed = parse_address_list(addr)
        if not parsed:
            return addr.strip()
        addr = parsed[0]
    local = addr.mailbox or ""
    if addr.host is None:
        return local
    return f"{local}@{addr.host.lower()}"

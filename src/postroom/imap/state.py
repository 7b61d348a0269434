"""The IMAP session states and which commands each allows: the one table (RFC 9051 §3, §6).

Theory of operation: a session starts NOT_AUTHENTICATED (or AUTHENTICATED after a PREAUTH
greeting, which Postroom never sends), moves to AUTHENTICATED on LOGIN/AUTHENTICATE, to SELECTED
on a successful SELECT/EXAMINE and back on CLOSE/UNSELECT or a failed SELECT, and to LOGOUT on
LOGOUT or a fatal error. Handlers never check the state themselves: the session looks the
command up here first and answers BAD when the state does not allow it.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
_NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
_AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
_SELECTED = frozenset({State.SELECTED})

# command name -> states in which it is valid (RFC 9051 §6.1-§6.4 and the extension RFCs).
ALLOWED: dict[str, frozenset[State]] = {
    # §6.1 any state
    "CAPABILITY": _ANY, "NOOP": _ANY, "LOGOUT": _ANY, "ID": _ANY,          # RFC 2971
    "COMPRESS": _AUTH,                                                     # RFC 4978 §3
    # §6.2 not authenticated
    "STARTTLS": _NOT_AUTH, "AUTHENTICATE": _NOT_AUTH, "LOGIN": _NOT_AUTH,
    # §6.3 authenticated (and selected)
    "ENABLE": _AUTH, "SELECT": _AUTH, "EXAMINE": _AUTH, "CREATE": _AUTH, "DELETE": _AUTH,
    "RENAME": _AUTH, "SUBSCRIBE": _AUTH, "UNSUBSCRIBE": _AUTH, "LIST": _AUTH, "LSUB": _AUTH,
    "NAMESPACE": _AUTH, "STATUS": _AUTH, "APPEND": _AUTH, "IDLE": _AUTH,
    "GETQUOTA": _AUTH, "GETQUOTAROOT": _AUTH, "SETQUOTA": _AUTH,            # RFC 9208
    "GETMETADATA": _AUTH, "SETMETADATA": _AUTH,                            # RFC 5464
    "NOTIFY": _AUTH,                                                       # RFC 5465
    "SETACL": _AUTH, "DELETEACL": _AUTH, "GETACL": _AUTH, "LISTRIGHTS": _AUTH,
    "MYRIGHTS": _AUTH,                                                     # RFC 4314
    # §6.4 selected
    "CLOSE": _SELECTED, "UNSELECT": _SELECTED, "EXPUNGE": _SELECTED, "CHECK": _SELECTED,
    "SEARCH": _SELECTED, "FETCH": _SELECTED, "STORE": _SELECTED, "COPY": _SELECTED,
    "MOVE": _SELECTED, "SORT": _SELECTED, "THREAD": _SELECTED,
    "UID FETCH": _SELECTED, "UID STORE": _SELECTED, "UID SEARCH": _SELECTED,
    "UID COPY": _SELECTED, "UID MOVE": _SELECTED, "UID EXPUNGE": _SELECTED,
    "UID SORT": _SELECTED, "UID THREAD": _SELECTED,
}

# RFC 9051 §7.5.1 / RFC 7162 §3.2.10: while answering these, an expunge may not be announced
# (the client is still using sequence numbers from before the command).
NO_EXPUNGE_DURING = frozenset({"FETCH", "STORE", "SEARCH", "SORT", "THREAD"})


def allowed(name: str, state: State) -> bool:
    return state in ALLOWED.get(name, frozenset())


def known(name: str) -> bool:
    return name in ALLOWED

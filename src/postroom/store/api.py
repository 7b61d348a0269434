"""The store's async API: the one interface every door calls (DESIGN.md, "one store, many doors").

Backends (``store/sqlite.py`` now, PostgreSQL later) implement :class:`Store`; the conformance
suite in ``tests/store`` runs unchanged against each. Nothing here knows a wire protocol: flags are
the RFC 5322-world names (``\\Seen``, keywords), ENVELOPE/BODYSTRUCTURE are opaque bytes made by
``mail/``, and every mutation bumps the account's modseq and appends to the change log.
"""

from __future__ import annotations

import abc
from array import array
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from postroom.mail.message import ParsedMessage
from postroom.store.search import Criteria


# The array type code of 32-bit unsigned numbers, a UID (RFC 9051 §2.3.1.1): "I" where an int
# is 4 bytes, as on every platform Python supports in practice; "L" otherwise.
UID_TYPECODE = "I" if array("I").itemsize == 4 else "L"


# What a search can be ordered by (RFC 5256 §3 SORT, RFC 5957 DISPLAY): "arrival" is the
# internal date, "date" the Date: header (the internal date when it has none), "subject" the
# base subject, "from"/"to"/"cc" the first address's mailbox, the display ones its display
# name; all as the parser stored them at delivery.
ORDER_KEYS = ("arrival", "date", "size", "subject", "from", "to", "cc", "display_from",
              "display_to")


# --- errors -------------------------------------------------------------------------------------

class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class QuotaExceeded(StoreError):
    pass


class InvalidName(StoreError):
    pass


class Conflict(StoreError):
    """An operation the current state forbids (e.g. deleting a mailbox with children of a role)."""


# --- system flags -------------------------------------------------------------------------------

SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
SYSTEM_FLAGS = (SEEN, ANSWERED, FLAGGED, DELETED, DRAFT)
# The system flags as bits, as Store.entry_flags gives them.
FLAG_BITS = {SEEN: 1, ANSWERED: 2, FLAGGED: 4, DELETED: 8, DRAFT: 16}
_BIT_ORDER = tuple((bit, name) for name, bit in FLAG_BITS.items())
_flag_cache: dict[tuple[int, str], tuple[str, ...]] = {}


def flags_of(bits: int, keywords: str) -> tuple[str, ...]:
    """The flags tuple (as in :attr:`Entry.flags`) of system-flag ``bits`` (:data:`FLAG_BITS`)
    and space-separated ``keywords``. A mailbox has few distinct flag sets: each tuple is made
    once and shared."""
    key = (bits, keywords)
    t = _flag_cache.get(key)
    if t is None:
        t = tuple(name for bit, name in _BIT_ORDER if bits & bit) + tuple(keywords.split())
        if len(_flag_cache) < 4096:
            _flag_cache[key] = t
    return t

# Special-use roles (RFC 6154) created for every new account; the role is stored without
# the backslash-free alias so every door can ask for "the Trash" by role.
ROLE_INBOX = "\\Inbox"
ROLE_SENT = "\\Sent"
ROLE_DRAFTS = "\\Drafts"
ROLE_TRASH = "\\Trash"
ROLE_JUNK = "\\Junk"
ROLE_ARCHIVE = "\\Archive"
DEFAULT_MAILBOXES = (
    ("INBOX", ROLE_INBOX),
    ("Sent", ROLE_SENT),
    ("Drafts", ROLE_DRAFTS),
    ("Trash", ROLE_TRASH),
    ("Junk", ROLE_JUNK),
    ("Archive", ROLE_ARCHIVE),
)
SEPARATOR = "/"


# RFC 4314 rights, as the store's shares (mailboxes and collections) keep them.
ALL_RIGHTS = "lrswipkxtea"

# --- records that cross the boundary ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Domain:
    id: int
    name: str
    dkim_selector: str | None = None
    dkim_private_key: bytes | None = None  # PEM


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """RFC 5802/7677 stored credentials for SCRAM-SHA-256 (never the password)."""
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str              # canonical, lower-case address: the login name
    domain_id: int
    password_hash: str      # argon2id PHC string
    scram: ScramCredentials | None
    quota_bytes: int        # 0 = unlimited
    used_bytes: int
    settings: dict = field(default_factory=dict)   # per-account options, e.g. {"pop3_delete": "hide"}


@dataclass(frozen=True, slots=True)
class Alias:
    address: str            # "sales@example.test", or "@example.test" for a catch-all
    target: str             # an account's email


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    account_id: int
    name: str               # full hierarchical name, "/" separated, "INBOX" for the inbox
    special_use: str | None  # one of the ROLE_* values or None
    uidvalidity: int
    uidnext: int
    highestmodseq: int


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    messages: int
    unseen: int
    deleted: int
    size: int               # sum of RFC822.SIZE (RFC 8438 STATUS=SIZE)
    uidnext: int
    uidvalidity: int
    highestmodseq: int
    first_unseen_uid: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    """A message's place in one mailbox: what a session keeps per message."""
    uid: int
    modseq: int
    flags: tuple[str, ...]  # system flags then keywords, in a stable order


@dataclass(slots=True)
class MessageRow:
    """A mailbox entry joined with the message's index row. Columns not asked for stay None."""
    uid: int
    modseq: int
    flags: tuple[str, ...]
    message_id: int          # the index row's id: stable across COPY/MOVE (RFC 8474 EMAILID)
    thread_id: int           # RFC 8474 THREADID
    blob: str                # content address of the raw bytes
    size: int
    internal_date: int       # seconds since the epoch, UTC
    save_date: int | None    # RFC 8514
    envelope: bytes | None = None
    bodystructure: bytes | None = None
    body: bytes | None = None       # non-extensible BODY form
    parts: str | None = None        # JSON of the MIME part offsets (mail.message.Part tree)
    preview: str | None = None
    sent_date: int | None = None    # Date: header, seconds UTC (SENT*, SORT DATE)
    sort_subject: str | None = None  # RFC 5256 base subject
    sort_from: str | None = None
    sort_to: str | None = None
    sort_cc: str | None = None
    display_from: str | None = None  # RFC 5957 SORT=DISPLAY
    display_to: str | None = None
    header_message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None


# Fields fetch_tuples() can return after (uid, modseq, flags), named as in MessageRow.
MESSAGE_FIELDS = ("message_id", "thread_id", "blob", "size", "internal_date", "save_date",
                  "envelope", "bodystructure", "body", "parts", "preview", "sent_date",
                  "sort_subject", "sort_from", "sort_to", "sort_cc", "display_from",
                  "display_to")
# And the fields only fetch_tuples() returns, for the hot paths: "spans", the message's offsets
# as mail.sections.pack_common_spans packs them, and "wire_ready", mail.message.wire_ready of
# its bytes (1; 0 when not, or not known for a message stored before it was kept).
HOT_PATH_FIELDS = ("spans", "wire_ready")

# Column groups a caller can ask for in fetch(); the always-present columns are in MessageRow's
# first ten fields.
FETCH_ENVELOPE = "envelope"
FETCH_BODYSTRUCTURE = "bodystructure"
FETCH_BODY = "body"
FETCH_PARTS = "parts"
FETCH_PREVIEW = "preview"
FETCH_SORT = "sort"          # sent_date, sort_* and display_*
FETCH_THREADING = "threading"  # header_message_id, in_reply_to, references


@dataclass(frozen=True, slots=True)
class AppendResult:
    uidvalidity: int
    uid: int
    modseq: int


@dataclass(frozen=True, slots=True)
class FlagChange:
    uid: int
    modseq: int
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoreFlagsResult:
    changed: list[FlagChange]
    # RFC 7162 §3.1.3: UIDs whose modseq was above UNCHANGEDSINCE and so were not changed.
    modified: list[int]
    # The mailbox's highest modseq just before the write, when the backend knows it: every
    # change after it, up to the write's own modseq, is in ``changed`` (a session that had seen
    # up to ``since`` then needs not read its own changes back from the change log).
    since: int | None = None


@dataclass(frozen=True, slots=True)
class CopyResult:
    uidvalidity: int        # of the destination
    pairs: list[tuple[int, int]]   # (source uid, destination uid)
    modseq: int


@dataclass(frozen=True, slots=True)
class Listing:
    """A POP3 maildrop listing: the uids of the entries not hidden, ascending, and their sizes,
    as two compact arrays. The store may hand the same object to every session that asks while
    the mailbox is unchanged (no per-login copy of 10,000 pairs): treat it as read-only."""
    uids: Sequence[int]
    sizes: Sequence[int]
    total: int              # sum(sizes)


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed in one mailbox after a modseq: read off the change log."""
    modseq: int                     # the mailbox's highest modseq now
    uidnext: int
    changed: list[Entry]            # entries added or whose flags changed, by uid
    vanished: list[int]             # expunged uids, ascending


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message waiting in the durable outbound queue (DESIGN.md, "Sending")."""
    id: int
    sender: str                  # envelope MAIL FROM ("" for a bounce)
    recipients: list[str]        # envelope recipients still to deliver
    blob: str
    size: int
    created: int                 # seconds since the epoch
    attempts: int
    next_attempt: int
    last_error: str


@dataclass(frozen=True, slots=True)
class Recipient:
    account_id: int
    mailbox_id: int
    flags: tuple[str, ...] = ()


# --- the interface ------------------------------------------------------------------------------

class Store(abc.ABC):
    """Async store API. Every method is safe to call from the event loop: backends run blocking
    work elsewhere. Names are validated here so every backend refuses the same input."""

    notifier: "Notifier"

    # lifecycle
    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # domains
    @abc.abstractmethod
    async def add_domain(self, name: str) -> Domain: ...

    @abc.abstractmethod
    async def list_domains(self) -> list[Domain]: ...

    @abc.abstractmethod
    async def get_domain(self, name: str) -> Domain | None: ...

    @abc.abstractmethod
    async def remove_domain(self, name: str) -> None:
        """Refuses (Conflict) while accounts of the domain exist."""

    @abc.abstractmethod
    async def set_domain_dkim(self, name: str, selector: str, private_key_pem: bytes) -> None: ...

    # accounts
    @abc.abstractmethod
    async def create_account(self, email: str, password_hash: str,
                             scram: ScramCredentials | None = None,
                             quota_bytes: int = 0) -> Account:
        """Creates the account with its DEFAULT_MAILBOXES. The domain must exist."""

    @abc.abstractmethod
    async def get_account(self, email: str) -> Account | None:
        """By login address (case-insensitive)."""

    @abc.abstractmethod
    async def get_account_by_id(self, account_id: int) -> Account | None: ...

    @abc.abstractmethod
    async def list_accounts(self, domain: str | None = None) -> list[Account]: ...

    @abc.abstractmethod
    async def update_account(self, account_id: int, *, password_hash: str | None = None,
                             scram: ScramCredentials | None = None,
                             quota_bytes: int | None = None,
                             settings: dict | None = None) -> Account: ...

    @abc.abstractmethod
    async def delete_account(self, account_id: int) -> None: ...

    # aliases and addressing
    @abc.abstractmethod
    async def add_alias(self, address: str, target: str) -> Alias: ...

    @abc.abstractmethod
    async def list_aliases(self, domain: str | None = None) -> list[Alias]: ...

    @abc.abstractmethod
    async def remove_alias(self, address: str) -> None: ...

    @abc.abstractmethod
    async def resolve_recipient(self, address: str) -> Account | None:
        """The account that receives mail for ``address``: exact account, then alias, then
        ``user+tag@`` with the tag dropped, then the domain's catch-all. None when unknown."""

    @abc.abstractmethod
    async def addresses_of(self, account_id: int) -> list[str]:
        """Every address the account may send as: its own and the aliases that point to it."""

    # mailboxes
    @abc.abstractmethod
    async def list_mailboxes(self, account_id: int) -> list[Mailbox]: ...

    @abc.abstractmethod
    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        """``INBOX`` matches case-insensitively (RFC 9051 §5.1)."""

    @abc.abstractmethod
    async def get_mailbox_by_id(self, account_id: int, mailbox_id: int) -> Mailbox | None: ...

    @abc.abstractmethod
    async def get_mailbox_by_role(self, account_id: int, role: str) -> Mailbox | None: ...

    @abc.abstractmethod
    async def create_mailbox(self, account_id: int, name: str,
                             special_use: str | None = None) -> Mailbox:
        """Creates missing parents too (RFC 9051 §6.3.4). AlreadyExists, InvalidName."""

    @abc.abstractmethod
    async def delete_mailbox(self, account_id: int, mailbox_id: int) -> None:
        """Deletes the mailbox and its messages; children stay (RFC 9051 §6.3.5).
        INBOX cannot be deleted (Conflict)."""

    @abc.abstractmethod
    async def rename_mailbox(self, account_id: int, mailbox_id: int, new_name: str) -> Mailbox:
        """Renames the mailbox and its children. Renaming INBOX moves all its messages into a
        new mailbox of that name and leaves INBOX empty (RFC 9051 §6.3.6)."""

    @abc.abstractmethod
    async def set_special_use(self, account_id: int, mailbox_id: int,
                              special_use: str | None) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, account_id: int, name: str, subscribed: bool = True) -> None: ...

    @abc.abstractmethod
    async def list_subscriptions(self, account_id: int) -> list[str]: ...

    @abc.abstractmethod
    async def mailbox_status(self, account_id: int, mailbox_id: int) -> MailboxStatus: ...

    # messages
    @abc.abstractmethod
    async def append(self, account_id: int, mailbox_id: int, raw: bytes,
                     flags: Iterable[str] = (), internal_date: int | None = None,
                     parsed: ParsedMessage | None = None) -> AppendResult:
        """Stores the blob durably, then the index row and the entry, in one transaction.
        QuotaExceeded when over the account's quota."""

    @abc.abstractmethod
    async def append_many(self, account_id: int, mailbox_id: int,
                          items: Sequence[tuple[bytes, Iterable[str], int | None]]
                          ) -> list[AppendResult]:
        """All or nothing (RFC 3502 MULTIAPPEND)."""

    @abc.abstractmethod
    async def deliver(self, raw: bytes, recipients: Sequence[Recipient],
                      internal_date: int | None = None,
                      parsed: ParsedMessage | None = None) -> list[AppendResult]:
        """One message to many mailboxes, parsed once, one blob, atomic across recipients.
        A recipient over quota makes the whole delivery fail (QuotaExceeded)."""

    @abc.abstractmethod
    async def uids(self, account_id: int, mailbox_id: int) -> Sequence[int]:
        """Every uid in the mailbox, ascending (a session's message-number map). The store may
        hand the same sequence to every caller while the mailbox is unchanged: read-only."""

    @abc.abstractmethod
    async def entries(self, account_id: int, mailbox_id: int,
                      uids: Sequence[int] | None = None) -> list[Entry]:
        """uid, modseq and flags of the given uids (all when None), ascending by uid."""

    @abc.abstractmethod
    async def fetch(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                    columns: Iterable[str] = ()) -> list[MessageRow]:
        """Index rows of existing uids among ``uids``, ascending; ``columns`` are FETCH_* groups."""

    @abc.abstractmethod
    async def read_blob(self, blob: str, start: int = 0, end: int | None = None) -> bytes:
        """The raw message bytes (or a slice of them)."""

    @abc.abstractmethod
    async def store_flags(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                          op: str, flags: Iterable[str],
                          unchanged_since: int | None = None) -> StoreFlagsResult:
        """op is "add", "remove" or "set". Only entries whose flags really change get a new
        modseq. With unchanged_since (RFC 7162), entries with a higher modseq are not changed."""

    @abc.abstractmethod
    async def expunge(self, account_id: int, mailbox_id: int,
                      uids: Sequence[int] | None = None) -> list[int]:
        """Removes entries flagged \\Deleted (among ``uids`` when given). Returns the uids."""

    @abc.abstractmethod
    async def remove(self, account_id: int, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        """Removes the given entries whatever their flags (POP3 DELE, EAS Delete)."""

    @abc.abstractmethod
    async def copy(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                   dest_mailbox_id: int) -> CopyResult:
        """Adds entries in the destination; no new blob (DESIGN: COPY adds an entry)."""

    @abc.abstractmethod
    async def move(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                   dest_mailbox_id: int) -> CopyResult:
        """Copy then remove from the source, atomically (RFC 6851)."""

    @abc.abstractmethod
    async def search(self, account_id: int, mailbox_id: int, criteria: Criteria,
                     order: Sequence[tuple[str, bool]] = ()) -> list[int]:
        """UIDs matching ``criteria``: ascending, or in ``order``, a list of (key of
        ORDER_KEYS, descending), ties in ascending uid order (RFC 5256 §3). Text keys use the
        trigram index."""

    @abc.abstractmethod
    async def set_hidden(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                         hidden: bool = True) -> None:
        """Hides entries from POP3 only (the "hide" delete policy); other doors still see them."""

    @abc.abstractmethod
    async def hidden_uids(self, account_id: int, mailbox_id: int) -> set[int]: ...

    @abc.abstractmethod
    async def visible_sizes(self, account_id: int, mailbox_id: int) -> Listing:
        """Uid and size of every entry not hidden from POP3, ascending: a POP3 maildrop listing
        in one call (read-only, see Listing)."""

    async def flush_index(self) -> None:
        """Returns once every stored message is in the search index. Searches are right before
        that too (text still waiting is searched where it waits); this is for tests and for
        the end of a bulk import."""

    # change log
    @abc.abstractmethod
    async def account_modseq(self, account_id: int) -> int: ...

    @abc.abstractmethod
    async def changes_since(self, account_id: int, mailbox_id: int, modseq: int) -> Changes:
        """Entries added or changed and uids expunged after ``modseq`` (CONDSTORE/QRESYNC,
        EAS SyncKey, the web app's live feed)."""

    # metadata (RFC 5464), per account (mailbox_id None = server/account entries)
    @abc.abstractmethod
    async def get_metadata(self, account_id: int, mailbox_id: int | None,
                           keys: Sequence[str] | None = None) -> dict[str, bytes]: ...

    @abc.abstractmethod
    async def set_metadata(self, account_id: int, mailbox_id: int | None,
                           values: dict[str, bytes | None]) -> None:
        """None deletes the entry."""


    # outbound queue, claimed by one delivery worker at a time
    @abc.abstractmethod
    async def queue_put(self, sender: str, recipients: Sequence[str], raw: bytes) -> int:
        """Stores the message durably for remote delivery; due at once. Returns its id."""

    @abc.abstractmethod
    async def queue_claim(self, now: int, lease_seconds: int, limit: int = 10
                          ) -> list[QueuedMessage]:
        """Due messages, each leased (next_attempt moved to now + lease) so no other worker or
        process takes it meanwhile (PostgreSQL: FOR UPDATE SKIP LOCKED)."""

    @abc.abstractmethod
    async def queue_update(self, queue_id: int, recipients: Sequence[str], next_attempt: int,
                           last_error: str) -> None:
        """After a try: the recipients still pending, when to try again, why it failed.
        Increments attempts."""

    @abc.abstractmethod
    async def queue_delete(self, queue_id: int) -> None:
        """Done (delivered or bounced): the entry goes and the blob loses a reference."""

    @abc.abstractmethod
    async def queue_list(self) -> list[QueuedMessage]: ...

    @abc.abstractmethod
    async def queue_flush(self) -> int:
        """Makes every queued message due now; returns how many."""

    # --- hot-path reads (additive): plain tuples and batches instead of a record per message,
    # for FETCH 1:* on big mailboxes (issue 5). Same data as fetch()/read_blob().

    @abc.abstractmethod
    async def fetch_tuples(self, account_id: int, mailbox_id: int, uids: Sequence[int],
                           fields: Sequence[str] = ()) -> list[tuple]:
        """Rows of the existing uids among ``uids``, ascending by uid, each a plain tuple
        ``(uid, modseq, flags, *fields)``: ``flags`` as in :attr:`Entry.flags` (equal flag sets
        give equal tuples) and ``fields`` named from :data:`MESSAGE_FIELDS` and
        :data:`HOT_PATH_FIELDS`."""

    @abc.abstractmethod
    async def entry_flags(self, account_id: int, mailbox_id: int,
                          uids: Sequence[int]) -> list[tuple[int, int, int, str]]:
        """``(uid, modseq, bits, keywords)`` of the existing uids among ``uids``, ascending by
        uid: the system flags as :data:`FLAG_BITS` (and maybe bits of the store's own, which
        are no flags), the keywords space-separated;
        ``flags_of(bits, keywords)`` is the entry's flags. The cheapest read of a mailbox's
        flags (FETCH 1:* FLAGS), with no per-row conversion."""

    @abc.abstractmethod
    async def read_blobs(self, spans: Sequence[tuple[str, int, int | None]]) -> list[bytes]:
        """Several ``read_blob(blob, start, end)`` at once, in one hop off the event loop."""

    @abc.abstractmethod
    async def mailbox_keywords(self, account_id: int, mailbox_id: int) -> list[str]:
        """The distinct keywords set on any message of the mailbox, sorted case-insensitively
        (IMAP SELECT's FLAGS, RFC 9051 §7.3.5)."""

    async def mailbox_snapshot(self, account_id: int, mailbox_id: int,
                               ) -> tuple[MailboxStatus, Sequence[int], list[str]]:
        """What opening a mailbox needs (IMAP SELECT): its status, uids and keywords. This
        default makes three calls; a backend that can answers in one trip, so the three agree
        (SQLite does)."""
        return (await self.mailbox_status(account_id, mailbox_id),
                await self.uids(account_id, mailbox_id),
                await self.mailbox_keywords(account_id, mailbox_id))

    @abc.abstractmethod
    async def mailboxes_changed_since(self, account_id: int, modseq: int) -> list[int]:
        """Ids of the account's mailboxes whose entries changed (added, flags, expunged) or that
        were created, renamed or deleted after ``modseq``, ascending (IMAP NOTIFY, RFC 5465)."""


class Notifier(abc.ABC):
    """Wakes doors when an account's modseq moves, whichever process made the change."""

    @abc.abstractmethod
    def subscribe(self, account_id: int) -> "Subscription": ...


class Subscription(abc.ABC):
    """One waiter's view of one account's changes. Use as a context manager or call close()."""

    @abc.abstractmethod
    async def wait(self, timeout: float | None = None) -> bool:
        """Returns True when the account changed since the last wait() returned (or since
        subscribe), False on timeout."""

    @abc.abstractmethod
    def poll(self) -> bool:
        """Without waiting: True when the account changed since the last wait() or poll()."""

    @abc.abstractmethod
    def on_change(self, callback: Callable[[], None] | None) -> None:
        """Also calls ``callback()`` on the event loop at each change (None: no longer), for a
        waiter that waits on more than the store (IMAP IDLE waits for DONE too): no task per
        wake. The change stays pending for wait() and poll()."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# =================================================================================================
# --- collaboration: calendars, task lists, address books, sharing (DESIGN.md, "Calendars") ---
#
# A collection holds items; an item is one iCalendar object (RFC 5545: one UID, its VEVENT/VTODO
# and overridden instances) or one vCard (RFC 6350), kept as its canonical text plus the index
# fields that pim/ extracted (ItemIndex). Every change bumps the account's modseq: an item's
# modseq is its ETag, a collection's modseq its CTag and sync-token (RFC 6578). Deleted items
# leave a tombstone so item_changes() can report them. The change log gets one row per
# collection per transaction, kind 'collection' or 'item', with mailbox_id NULL and the
# collection id in the uid column (mailbox and collection ids are separate number spaces).
#
# Sharing is one generic ACL table: (owner account, object kind, object id, grantee, rights).
# Rights are RFC 4314 letters so IMAP ACL on mailboxes ("mailbox" objects) reuses it unchanged.
# =================================================================================================

COLLECTION_CALENDAR = "calendar"          # VEVENT and/or VTODO (a task list is a calendar)
COLLECTION_ADDRESSBOOK = "addressbook"
COLLECTION_INBOX = "schedule-inbox"       # RFC 6638 §2.2 scheduling inbox
COLLECTION_KINDS = (COLLECTION_CALENDAR, COLLECTION_ADDRESSBOOK, COLLECTION_INBOX)

# Default collections every new account gets: (name, kind, display name, components, role)
DEFAULT_COLLECTIONS = (
    ("calendar", COLLECTION_CALENDAR, "Calendar", ("VEVENT",), "calendar"),
    ("tasks", COLLECTION_CALENDAR, "Tasks", ("VTODO",), "tasks"),
    ("contacts", COLLECTION_ADDRESSBOOK, "Contacts", (), "contacts"),
    ("inbox", COLLECTION_INBOX, "Scheduling inbox", ("VEVENT", "VTODO"), "schedule-inbox"),
)

# ACL object kinds and rights (RFC 4314 §2.1 letters).
ACL_COLLECTION = "collection"
ACL_MAILBOX = "mailbox"
RIGHT_LOOKUP = "l"
RIGHT_READ = "r"
RIGHT_WRITE = "w"       # change existing items
RIGHT_INSERT = "i"      # create items
RIGHT_DELETE = "t"      # delete items
RIGHT_ADMIN = "a"       # change the ACL
RIGHTS_READ = "lr"
RIGHTS_READ_WRITE = "lrwit"


class PreconditionFailed(StoreError):
    """An If-Match / If-None-Match condition did not hold (HTTP 412)."""


class UidConflict(AlreadyExists):
    """Another item of the collection has this UID (RFC 4791 §5.3.2.1); ``name`` is that item."""

    def __init__(self, name: str) -> None:
        super().__init__(f"UID already used by {name}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Collection:
    id: int
    account_id: int              # the owner
    kind: str                    # one of COLLECTION_KINDS
    name: str                    # path segment, unique per account
    display_name: str
    description: str
    color: str                   # "#rrggbb" or ""
    components: tuple[str, ...]  # calendars: "VEVENT", "VTODO"; empty for address books
    timezone: str                # a VCALENDAR with one VTIMEZONE (RFC 4791 §5.2.2), or ""
    role: str | None             # "calendar", "tasks", "contacts", "schedule-inbox" or None
    modseq: int                  # highest modseq of the collection or its items: CTag
    created_modseq: int
    properties: dict = field(default_factory=dict)   # dead properties, "{ns}name" -> XML text


@dataclass(frozen=True, slots=True)
class ItemIndex:
    """What the store keeps next to an item's text, made by ``postroom.pim.model``.
    Times are seconds since the epoch, UTC; floating times are taken as UTC."""
    uid: str
    component: str               # "VEVENT", "VTODO", "VJOURNAL", "VCARD"
    start: int | None = None     # first instance's start (tasks: DTSTART or DUE)
    end: int | None = None       # last instance's end; None: no end (endless recurrence)
    recurring: bool = False
    summary: str = ""            # events/tasks: SUMMARY; cards: FN
    organizer: str = ""          # lower-case address, no "mailto:"
    attendees: tuple[str, ...] = ()
    status: str = ""
    transparent: bool = False    # TRANSP:TRANSPARENT (not busy)
    due: int | None = None
    completed: int | None = None
    emails: tuple[str, ...] = ()  # cards: EMAIL values, lower-case
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Item:
    account_id: int
    collection_id: int
    name: str                    # resource name, e.g. "<uid>.ics"
    modseq: int                  # ETag
    size: int
    index: ItemIndex
    text: str | None = None      # None when not asked for


@dataclass(frozen=True, slots=True)
class ItemChanges:
    modseq: int                  # the collection's modseq now: the new sync-token
    changed: list[Item]          # without text, by name
    deleted: list[str]           # names of items deleted after the given modseq
    # Tombstones at or below this modseq were pruned: from an older ``since`` the deletions are
    # incomplete, and a sync-token that old is no longer valid (RFC 6578 §3.2).
    horizon: int = 0


@dataclass(frozen=True, slots=True)
class Share:
    owner_account_id: int
    object_kind: str             # ACL_COLLECTION or ACL_MAILBOX
    object_id: int
    grantee_account_id: int
    rights: str                  # RFC 4314 letters


class CollaborationStore(abc.ABC):
    """The collections/items/ACL part of :class:`Store`. Access checks against the ACL are the
    caller's (a door knows who asks); these methods take the owner's account id."""

    # collections
    @abc.abstractmethod
    async def list_collections(self, account_id: int, kind: str | None = None
                               ) -> list[Collection]: ...

    @abc.abstractmethod
    async def get_collection(self, account_id: int, name: str) -> Collection | None: ...

    @abc.abstractmethod
    async def get_collection_by_id(self, account_id: int, collection_id: int
                                   ) -> Collection | None: ...

    @abc.abstractmethod
    async def get_collection_by_role(self, account_id: int, role: str) -> Collection | None: ...

    @abc.abstractmethod
    async def create_collection(self, account_id: int, kind: str, name: str, *,
                                display_name: str = "", description: str = "", color: str = "",
                                components: Sequence[str] = (), timezone: str = "",
                                role: str | None = None,
                                properties: dict | None = None) -> Collection:
        """AlreadyExists when the name is taken, InvalidName for a bad name or kind."""

    @abc.abstractmethod
    async def update_collection(self, account_id: int, collection_id: int, *,
                                display_name: str | None = None, description: str | None = None,
                                color: str | None = None, timezone: str | None = None,
                                components: Sequence[str] | None = None,
                                properties: dict | None = None) -> Collection:
        """``properties`` are merged; a None value removes that dead property."""

    @abc.abstractmethod
    async def delete_collection(self, account_id: int, collection_id: int) -> None:
        """Deletes the collection, its items and every share of it."""

    # items
    @abc.abstractmethod
    async def list_items(self, account_id: int, collection_id: int,
                         names: Sequence[str] | None = None, *, with_text: bool = False
                         ) -> list[Item]:
        """Items by name (all when ``names`` is None), ordered by name."""

    @abc.abstractmethod
    async def get_item(self, account_id: int, collection_id: int, name: str) -> Item | None:
        """With its text."""

    @abc.abstractmethod
    async def find_items_by_uid(self, account_id: int, uid: str,
                                kind: str = COLLECTION_CALENDAR) -> list[Item]:
        """Every item of the account with this UID in collections of ``kind`` (with text)."""

    @abc.abstractmethod
    async def put_item(self, account_id: int, collection_id: int, name: str, text: str,
                       index: ItemIndex, *, if_match: int | None = None,
                       if_none_match: bool = False) -> Item:
        """Creates or replaces the item. ``if_match``: the current modseq must be this (HTTP
        If-Match); ``if_none_match``: the item must not exist (If-None-Match: *). Either failing
        raises PreconditionFailed. Another item of the collection with the same UID raises
        AlreadyExists (RFC 4791 §5.3.2.1 no-uid-conflict). Over quota: QuotaExceeded."""

    @abc.abstractmethod
    async def delete_item(self, account_id: int, collection_id: int, name: str, *,
                          if_match: int | None = None) -> None:
        """NotFound, PreconditionFailed. Leaves a tombstone."""

    @abc.abstractmethod
    async def move_item(self, account_id: int, collection_id: int, name: str,
                        dest_collection_id: int, dest_name: str, *, copy: bool = False,
                        overwrite: bool = True) -> Item:
        """MOVE/COPY within the account. PreconditionFailed when the destination exists and
        overwrite is False."""

    @abc.abstractmethod
    async def query_items(self, account_id: int, collection_id: int, *,
                          component: str | None = None, start: int | None = None,
                          end: int | None = None, with_text: bool = True) -> list[Item]:
        """Items whose [index.start, index.end) may overlap [start, end) (RFC 4791 §9.9); items
        without times match always. Recurring items are candidates: pim/ checks instances."""

    @abc.abstractmethod
    async def item_changes(self, account_id: int, collection_id: int, since: int) -> ItemChanges:
        """Items changed and names deleted after modseq ``since`` (0: everything)."""

    @abc.abstractmethod
    async def prune_tombstones(self, account_id: int, collection_id: int, keep: int) -> int:
        """Forgets all but the newest ``keep`` tombstones of the collection and raises its
        ItemChanges.horizon accordingly; returns how many were dropped. Deleting items prunes
        by itself beyond a backend's limit."""

    @abc.abstractmethod
    async def collection_usage(self, account_id: int) -> int:
        """Bytes used by the account's items (counted in Account.used_bytes too)."""

    # sharing (ACL)
    @abc.abstractmethod
    async def set_rights(self, owner_account_id: int, object_kind: str, object_id: int,
                         grantee_account_id: int, rights: str) -> None:
        """Grants ``rights`` (replacing earlier ones); empty rights removes the grant."""

    @abc.abstractmethod
    async def list_rights(self, owner_account_id: int, object_kind: str, object_id: int
                          ) -> list[Share]: ...

    @abc.abstractmethod
    async def shared_with(self, grantee_account_id: int, object_kind: str) -> list[Share]:
        """Everything shared with the account, for its home listing."""

    @abc.abstractmethod
    async def rights_of(self, account_id: int, owner_account_id: int, object_kind: str,
                        object_id: int) -> str:
        """The rights ``account_id`` has: every right on its own objects, else its grant."""


# =================================================================================================
# --- ActiveSync device state (the EAS door, MS-ASPROV and MS-ASCMD Sync/FolderSync) ---
#
# Per account and DeviceId: the device record (policy key and its state, remote wipe, blocked or
# allowed), the folder hierarchy the device was last sent (FolderSync SyncKey), and per folder
# what the device holds: one row per item with the modseq it was sent at. A SyncKey is a number
# per (device, folder); the window that produced the current key is kept as an undo list, so a
# client that resends the previous SyncKey (it lost our answer) gets that window again. What the
# device lacks is computed against the mailbox's entries or the collection's items (EasDiff).
# =================================================================================================

POLICY_NONE = "none"                # no policy sent yet
POLICY_PENDING = "pending"          # temporary key sent, waiting for the acknowledgement
POLICY_PROVISIONED = "provisioned"  # final key granted
WIPE_NONE = ""
WIPE_REQUESTED = "requested"                  # full device wipe (MS-ASPROV RemoteWipe)
WIPE_ACCOUNT_REQUESTED = "account-requested"  # 16.1 AccountOnlyRemoteWipe
WIPE_DONE = "acknowledged"
ACCESS_ALLOWED = "allowed"
ACCESS_BLOCKED = "blocked"

EAS_SOURCE_MAILBOX = "mailbox"      # items are entries, keyed by str(uid)
EAS_SOURCE_COLLECTION = "collection"  # items are collection items, keyed by name


@dataclass(frozen=True, slots=True)
class EasDevice:
    account_id: int
    device_id: str
    device_type: str
    user_agent: str
    policy_key: int              # the final key once provisioned, the temporary one while pending
    policy_state: str            # POLICY_*
    wipe: str                    # WIPE_*
    access: str                  # ACCESS_*
    info: dict                   # Settings DeviceInformation: Model, OS, FriendlyName, ...
    state: dict                  # the door's: last Ping and Sync parameters, sent ClientIds
    first_seen: int
    last_seen: int


@dataclass(frozen=True, slots=True)
class EasHierarchy:
    """What the device was told by FolderSync: server id -> [parent id, name, type]."""
    sync_key: int
    folders: dict[str, list]
    previous_key: int
    previous_folders: dict[str, list]


@dataclass(frozen=True, slots=True)
class EasSyncState:
    sync_key: int
    previous_key: int            # the key before the last window (0: cannot go back)
    data: dict                   # the door's: remembered Options, ClientId -> ServerId


@dataclass(frozen=True, slots=True)
class EasDiff:
    """What one window sends: (item key, modseq) pairs, newest adds first."""
    changed: list[tuple[str, int]]
    deleted: list[str]           # gone from the store
    soft_deleted: list[str]      # still there, but now outside the FilterType window
    added: list[tuple[str, int]]
    more: bool                   # beyond ``limit`` there is more


class EasDeviceStore(abc.ABC):
    """ActiveSync device state; every row is keyed by account first."""

    @abc.abstractmethod
    async def eas_device(self, account_id: int, device_id: str) -> EasDevice | None: ...

    @abc.abstractmethod
    async def eas_touch_device(self, account_id: int, device_id: str, device_type: str,
                               user_agent: str = "") -> EasDevice:
        """The device record, created on first contact; last_seen set to now."""

    @abc.abstractmethod
    async def eas_update_device(self, account_id: int, device_id: str, *,
                                policy_key: int | None = None, policy_state: str | None = None,
                                wipe: str | None = None, access: str | None = None,
                                info: dict | None = None, state: dict | None = None
                                ) -> EasDevice:
        """Creates the record when missing (an admin may block a device before it calls)."""

    @abc.abstractmethod
    async def eas_list_devices(self, account_id: int | None = None) -> list[EasDevice]: ...

    @abc.abstractmethod
    async def eas_delete_device(self, account_id: int, device_id: str) -> None:
        """Forgets the device and all its sync state (NotFound when unknown)."""

    @abc.abstractmethod
    async def eas_hierarchy(self, account_id: int, device_id: str) -> EasHierarchy | None: ...

    @abc.abstractmethod
    async def eas_save_hierarchy(self, account_id: int, device_id: str,
                                 folders: dict[str, list]) -> int:
        """Stores what the device now has; the current state becomes the previous one.
        Returns the new SyncKey."""

    @abc.abstractmethod
    async def eas_sync_state(self, account_id: int, device_id: str, folder_id: str
                             ) -> EasSyncState | None: ...

    @abc.abstractmethod
    async def eas_sync_reset(self, account_id: int, device_id: str, folder_id: str,
                             data: dict) -> int:
        """SyncKey 0: the device holds nothing of the folder. Returns the new key (never a key
        used before for this folder, so stale keys stay unknown)."""

    @abc.abstractmethod
    async def eas_sync_rewind(self, account_id: int, device_id: str, folder_id: str) -> None:
        """The device resent the previous key: undo the last window."""

    @abc.abstractmethod
    async def eas_sync_commit(self, account_id: int, device_id: str, folder_id: str,
                              from_key: int, sent: dict[str, int | None], data: dict) -> int:
        """Records a window: item -> modseq now held by the device (None: no longer held).
        Conflict when the key moved meanwhile (a concurrent Sync). Returns the new key."""

    @abc.abstractmethod
    async def eas_sync_forget(self, account_id: int, device_id: str,
                              folder_ids: Sequence[str] | None = None) -> None:
        """Drops per-folder state (all folders when None)."""

    @abc.abstractmethod
    async def eas_sync_diff(self, account_id: int, device_id: str, folder_id: str,
                            source: str, source_id: int, limit: int,
                            since: int | None = None) -> EasDiff:
        """What the device lacks of the mailbox (EAS_SOURCE_MAILBOX) or collection, at most
        ``limit`` items. ``since``: the FilterType cut-off (epoch seconds): older mail, and
        events that ended before it, are not sent and are soft-deleted from the device."""

    @abc.abstractmethod
    async def eas_sync_count(self, account_id: int, device_id: str, folder_id: str,
                             source: str, source_id: int, since: int | None = None) -> int:
        """How many changes eas_sync_diff would send in all (GetItemEstimate, Ping)."""

    @abc.abstractmethod
    async def eas_held_items(self, account_id: int, device_id: str, folder_id: str,
                             items: Sequence[str]) -> dict[str, int]:
        """The modseq the device holds of each of ``items`` (absent: not held)."""

    @abc.abstractmethod
    async def eas_set_held(self, account_id: int, device_id: str, folder_id: str,
                           items: dict[str, int | None]) -> None:
        """The device changed what it holds outside a Sync (MoveItems): item -> modseq, None
        for gone. Folders the device never synced are left alone."""


# =================================================================================================
# --- Follow-up flags (MS-ASEMAIL §2.2.2.27 Flag; the web app's flag dates) ---
#
# \Flagged stays the flag every door sees. What a follow-up flag carries beyond it (status,
# start and due dates, reminder, completion time, the flag's own subject) is kept per mailbox
# entry as a small record of element name -> text, and goes when the entry goes.
# =================================================================================================

class FollowUpStore(abc.ABC):

    @abc.abstractmethod
    async def follow_ups(self, account_id: int, mailbox_id: int,
                         uids: Sequence[int]) -> dict[int, dict[str, str]]:
        """The follow-up records of those entries that have one."""

    @abc.abstractmethod
    async def set_follow_up(self, account_id: int, mailbox_id: int, uid: int,
                            data: dict[str, str] | None) -> int:
        """Replaces (None: drops) the entry's record. The entry gets a new modseq, as with a
        flag change, so every device and CONDSTORE client hears of it. Returns that modseq;
        NotFound when the entry is gone."""

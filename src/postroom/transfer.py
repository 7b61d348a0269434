"""Bringing mail in and out of the store: mbox (mboxrd/mboxo) and Maildir/Maildir++ import,
Maildir export (``postroom import`` / ``postroom export``; also how benchmarks fill a mailbox).

The store keeps a message as it travels on the wire, with CRLF line ends (RFC 5322 §2.3), so the
doors can serve blob slices as they are. Import turns bare LF into CRLF; export writes LF (the
Maildir convention on Unix, as Dovecot does) unless asked for CRLF, so an LF mbox or Maildir comes
back byte for byte. Nothing is dropped silently: every message not imported is reported with why.
"""

from __future__ import annotations

import asyncio
import calendar
import email.utils
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from postroom.mail import utf7
from postroom.store.api import (ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, SEPARATOR, Account,
                                QuotaExceeded, Store)

BATCH_SIZE = 200
FORWARDED = "$Forwarded"   # the keyword for the Maildir "P" (passed) flag, as Dovecot maps it

# Maildir info flags (https://cr.yp.to/proto/maildir.html), in the ASCII order file names use.
MAILDIR_FLAGS: dict[str, str] = {
    "D": DRAFT, "F": FLAGGED, "P": FORWARDED, "R": ANSWERED, "S": SEEN, "T": DELETED,
}
_FLAG_LETTERS = {v: k for k, v in MAILDIR_FLAGS.items()}

Progress = Callable[[int, int], None]   # (done, total) in the source's units


class TransferError(Exception):
    """The source or destination cannot be used at all (not a partial failure)."""


@dataclass(slots=True)
class SourceMessage:
    raw: bytes                 # CRLF-normalized
    flags: tuple[str, ...]
    internal_date: int | None  # None: the store uses "now"
    origin: str                # where it came from, for reports


@dataclass(slots=True)
class Skipped:
    origin: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    folders: dict[str, int] = field(default_factory=dict)   # folder -> messages imported
    source_bytes: int = 0
    seconds: float = 0.0
    stopped: str | None = None    # why the import stopped early (e.g. over quota)

    @property
    def rate(self) -> float:
        return self.imported / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ExportReport:
    exported: int = 0
    folders: dict[str, int] = field(default_factory=dict)
    dropped_keywords: set[str] = field(default_factory=set)
    bytes_written: int = 0
    seconds: float = 0.0


# --- line ends ----------------------------------------------------------------------------------

_BARE_LF = re.compile(rb"(?<!\r)\n")


def to_crlf(raw: bytes) -> bytes:
    return _BARE_LF.sub(b"\r\n", raw)


def to_lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


# --- headers we look at (never to change the message, only to derive flags and dates) ----------

_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")


def looks_like_message(raw: bytes) -> bool:
    """True when the first line is an RFC 5322 header field (or a folded one's start)."""
    return bool(_HEADER_LINE.match(raw.lstrip(b"\r\n")[:1000]))


def _header_block(raw: bytes) -> bytes:
    end = re.search(rb"\r?\n\r?\n", raw[:256 * 1024])
    return raw[:end.start()] if end else raw[:256 * 1024]


def _header_value(headers: bytes, name: bytes) -> bytes | None:
    m = re.search(rb"(?im)^" + re.escape(name) + rb"[ \t]*:[ \t]*(.*(?:\r?\n[ \t].*)*)", headers)
    return m.group(1).strip() if m else None


def _date_header(headers: bytes) -> int | None:
    value = _header_value(headers, b"Date")
    if not value:
        return None
    parsed = email.utils.parsedate_tz(value.decode("latin-1"))
    if not parsed:
        return None
    try:
        return int(email.utils.mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def _mbox_status_flags(headers: bytes) -> tuple[str, ...]:
    """mutt/Thunderbird/pine keep flags in Status: (R = read) and X-Status: (A, F, T)."""
    flags: list[str] = []
    status = _header_value(headers, b"Status") or b""
    xstatus = _header_value(headers, b"X-Status") or b""
    if b"R" in status:
        flags.append(SEEN)
    if b"A" in xstatus:
        flags.append(ANSWERED)
    if b"F" in xstatus:
        flags.append(FLAGGED)
    if b"T" in xstatus:
        flags.append(DRAFT)
    return tuple(flags)


# --- mbox ---------------------------------------------------------------------------------------

_WEEKDAY = rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# The asctime() postmark every mbox writer uses: "From sender Sat Jan  3 01:05:34 1996".
_STRICT_POSTMARK = re.compile(rb"^From \S*\s+" + _WEEKDAY + rb",?\s+" + _MONTH + rb"\s+\d{1,2}\s+"
                              rb"\d{1,2}:\d{2}")
_LOOSE_POSTMARK = re.compile(rb"^From \S*\s.*\d{1,2}:\d{2}")
_QUOTED_FROM = re.compile(rb"(?m)^>(>*From )")


def _is_postmark(line: bytes, after_blank: bool) -> bool:
    """A "From " line starts a message when it is a real asctime postmark, or a looser one right
    after a blank line. A bare "From " in a body (an mboxo writer that did not quote it) is
    neither, so it stays in its message."""
    if not line.startswith(b"From "):
        return False
    return bool(_STRICT_POSTMARK.match(line) or (after_blank and _LOOSE_POSTMARK.match(line)))


def postmark_date(line: bytes) -> int | None:
    """Seconds UTC from a postmark's date (asctime, assumed UTC; or RFC 5322 style)."""
    words = line.decode("latin-1").split()[2:]
    if not words:
        return None
    # Drop a numeric zone some writers put before the year ("... 01:05:34 +0000 2022").
    zone = next((w for w in words if re.fullmatch(r"[+-]\d{4}", w)), None)
    plain = [w for w in words if w != zone]
    try:
        t = calendar.timegm(time.strptime(" ".join(plain[:5]).replace(",", ""),
                                          "%a %b %d %H:%M:%S %Y"))
        if zone:
            sign = 1 if zone[0] == "+" else -1
            t -= sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
        return t
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(" ".join(words))
    if parsed:
        try:
            return int(email.utils.mktime_tz(parsed))
        except (OverflowError, ValueError):
            return None
    return None


def read_mbox(path: Path, max_size: int, progress: Progress | None = None,
              report: ImportReport | None = None) -> Iterator[SourceMessage | Skipped]:
    """Messages of an mbox file (mboxrd or mboxo), in file order.

    ">From " lines are unquoted as mboxrd does (one ">" less); Content-Length is ignored (the
    postmark alone separates messages). Text before the first postmark is imported when it looks
    like a message, else reported as skipped; if there is no postmark at all and the file is not
    a single message either, TransferError says it is not an mbox.
    """
    report = report if report is not None else ImportReport()
    try:
        total = path.stat().st_size
        f = path.open("rb")
    except OSError as e:
        raise TransferError(f"cannot read {path}: {e.strerror}") from None
    report.source_bytes = total
    with f:
        lines: list[bytes] = []
        size = 0
        too_big = False
        postmark: bytes | None = None
        start_line = 1
        number = 0
        seen_postmark = False
        done = 0
        after_blank = True     # the start of the file counts as after a blank line
        lineno = 0
        last_progress = 0

        def finish() -> SourceMessage | Skipped | None:
            nonlocal number
            if postmark is None:
                origin = "the text before the first 'From ' line"
            else:
                number += 1
                origin = f"message {number} (line {start_line})"
            if too_big:
                return Skipped(origin, f"larger than the maximum message size ({max_size} bytes)")
            raw = b"".join(lines)
            # The blank line before the next postmark (or at the end of the file) belongs to the
            # mbox, not to the message.
            if raw.endswith(b"\r\n\r\n") or raw.endswith(b"\n\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            if not raw.strip():
                if postmark is None:
                    return None      # nothing but blank lines before the first message
                return Skipped(origin, "empty message")
            if postmark is None and not looks_like_message(raw):
                return Skipped(origin, "not a message (no header lines)")
            raw = _QUOTED_FROM.sub(rb"\1", raw)
            headers = _header_block(raw)
            date = postmark_date(postmark) if postmark else None
            if date is None:
                date = _date_header(headers)
            if postmark is None:
                report.warnings.append(f"{path}: imported the text before the first 'From ' "
                                       f"line as a message")
            return SourceMessage(to_crlf(raw), _mbox_status_flags(headers), date, origin)

        for line in f:
            lineno += 1
            done += len(line)
            if _is_postmark(line, after_blank):
                if lines or postmark is not None:
                    item = finish()
                    if item is not None:
                        yield item
                seen_postmark = True
                postmark = line
                start_line = lineno
                lines, size, too_big = [], 0, False
                after_blank = False
            else:
                if not too_big:
                    size += len(line)
                    if size > max_size:
                        too_big, lines = True, []
                    else:
                        lines.append(line)
                after_blank = line in (b"\n", b"\r\n")
            if progress and done - last_progress > 1 << 20:
                progress(done, total)
                last_progress = done
        if not seen_postmark:
            raw = b"".join(lines)
            if not raw.strip():
                raise TransferError(f"{path}: the file is empty")
            if not looks_like_message(raw):
                raise TransferError(f"{path} is not an mbox file: no 'From ' line and no "
                                    f"message header found")
        if lines or postmark is not None:
            item = finish()
            if item is not None:
                yield item
        if progress:
            progress(total, total)


# --- Maildir ------------------------------------------------------------------------------------

def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def maildir_folders(root: Path) -> list[tuple[str, Path]]:
    """("", root) and every subfolder as ("A/B", path): Maildir++ ".A.B" directories, and
    plain nested maildirs (Dovecot's LAYOUT=fs)."""
    if not _is_maildir(root):
        raise TransferError(f"{root} is not a Maildir (no cur/ or new/ inside)")
    found: list[tuple[str, Path]] = [("", root)]

    def nested(parent: Path, prefix: str) -> None:
        for child in sorted(parent.iterdir()):
            if not child.is_dir() or child.name in ("cur", "new", "tmp"):
                continue
            if child.name.startswith("."):
                if parent == root and len(child.name) > 1 and _is_maildir(child):
                    parts = [utf7.decode_lenient(p) for p in child.name[1:].split(".") if p]
                    if parts:
                        found.append((SEPARATOR.join(parts), child))
                continue
            if _is_maildir(child):
                name = prefix + utf7.decode_lenient(child.name)
                found.append((name, child))
                nested(child, name + SEPARATOR)

    nested(root, "")
    return found


def _dovecot_keywords(folder: Path) -> dict[str, str]:
    """Letter -> keyword from Dovecot's per-folder ``dovecot-keywords`` file ("0 $Label1")."""
    letters: dict[str, str] = {}
    try:
        text = (folder / "dovecot-keywords").read_text("utf-8", errors="replace")
    except OSError:
        return letters
    for line in text.splitlines():
        index, _, word = line.partition(" ")
        if index.isdigit() and int(index) < 26 and word.strip():
            letters[chr(ord("a") + int(index))] = word.strip()
    return letters


def _maildir_info(filename: str) -> str | None:
    # ":2," normally; ";2," or "!2," where a file system forbids ":".
    for sep in (":2,", ";2,", "!2,"):
        if sep in filename:
            return filename.rsplit(sep, 1)[1]
    return None


def maildir_flags(info: str, keywords: dict[str, str]) -> tuple[str, ...]:
    flags = [MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS]
    flags += [keywords[c] for c in info if c in keywords]
    return tuple(dict.fromkeys(flags))


def maildir_files(folder: Path) -> list[tuple[Path, bool]]:
    """(file, is_new) of one maildir, oldest first (file names start with the delivery time)."""
    files: list[tuple[float, str, Path, bool]] = []
    for sub, is_new in (("new", True), ("cur", False)):
        d = folder / sub
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.name.startswith(".") or not p.is_file():
                continue
            head = p.name.split(".", 1)[0]
            key = float(head) if head.isdigit() else p.stat().st_mtime
            files.append((key, p.name, p, is_new))
    files.sort(key=lambda t: (t[0], t[1]))
    return [(p, is_new) for _, _, p, is_new in files]


def read_maildir(root: Path, dest: str, max_size: int, progress: Progress | None = None,
                 report: ImportReport | None = None
                 ) -> Iterator[tuple[str, SourceMessage | Skipped]]:
    """(destination folder, message) of a Maildir and its subfolders; ``dest`` receives the
    root maildir, subfolders go below it (or at the top when ``dest`` is INBOX)."""
    report = report if report is not None else ImportReport()
    folders = [(name, path, maildir_files(path), _dovecot_keywords(path))
               for name, path in maildir_folders(root)]
    total = sum(len(files) for _, _, files, _ in folders)
    done = 0
    for name, path, files, keywords in folders:
        if not name:
            target = dest
        elif dest.upper() == "INBOX":
            target = name
        else:
            target = dest + SEPARATOR + name
        for file, is_new in files:
            done += 1
            origin = str(file)
            try:
                st = file.stat()
                if st.st_size > max_size:
                    yield target, Skipped(origin, f"larger than the maximum message size "
                                                  f"({max_size} bytes)")
                    continue
                raw = file.read_bytes()
            except OSError as e:
                yield target, Skipped(origin, f"cannot read: {e.strerror}")
                continue
            report.source_bytes += len(raw)
            if not raw.strip():
                yield target, Skipped(origin, "empty message")
                continue
            info = _maildir_info(file.name)
            flags = maildir_flags(info, keywords) if info is not None and not is_new else ()
            yield target, SourceMessage(to_crlf(raw), flags, int(st.st_mtime), origin)
            if progress and done % 100 == 0:
                progress(done, total)
    if progress:
        progress(total, total)


# --- import into the store ----------------------------------------------------------------------

async def _mailbox_id(store: Store, account: Account, name: str, cache: dict[str, int]) -> int:
    if name not in cache:
        box = await store.get_mailbox(account.id, name)
        if box is None:
            box = await store.create_mailbox(account.id, name)
        cache[name] = box.id
    return cache[name]


async def import_messages(store: Store, account: Account,
                          items: Iterator[tuple[str, SourceMessage | Skipped]],
                          report: ImportReport, batch_size: int = BATCH_SIZE) -> ImportReport:
    """Appends ``items`` in batches through ``store.append_many`` (one transaction each).

    A batch the store refuses is retried message by message, so one bad message is reported
    and skipped instead of taking its 199 neighbours with it. Over quota, the import stops.
    """
    started = time.monotonic()
    boxes: dict[str, int] = {}
    batch: list[SourceMessage] = []
    batch_folder = ""

    async def flush() -> None:
        if not batch:
            return
        box = await _mailbox_id(store, account, batch_folder, boxes)
        try:
            await store.append_many(account.id, box, [(m.raw, m.flags, m.internal_date)
                                                      for m in batch])
            done = len(batch)
        except Exception:
            # One message the store refuses (or a quota reached mid-batch) must not take its
            # neighbours with it: retry one by one, report each refusal, stop at the quota.
            done = 0
            for m in batch:
                try:
                    await store.append(account.id, box, m.raw, m.flags, m.internal_date)
                except QuotaExceeded:
                    report.stopped = (f"the account {account.email} is over its quota; "
                                      f"stopped at {m.origin}")
                    break
                except Exception as e:
                    report.skipped.append(Skipped(m.origin, f"refused by the store: {e}"))
                    continue
                done += 1
        report.imported += done
        report.folders[batch_folder] = report.folders.get(batch_folder, 0) + done
        batch.clear()

    try:
        for folder, item in items:
            if isinstance(item, Skipped):
                report.skipped.append(item)
                continue
            if folder != batch_folder or len(batch) >= batch_size:
                await flush()
                if report.stopped:
                    break
                batch_folder = folder
            batch.append(item)
        else:
            await flush()
        # Index the search text now, so the server (which may be running) need not.
        await store.flush_index()
    finally:
        report.seconds = time.monotonic() - started
    return report


async def import_mbox(store: Store, account: Account, path: Path, folder: str = "INBOX", *,
                      max_size: int = 50 * 1024 * 1024, progress: Progress | None = None,
                      batch_size: int = BATCH_SIZE, report: ImportReport | None = None
                      ) -> ImportReport:
    report = report if report is not None else ImportReport()
    items = ((folder, m) for m in read_mbox(path, max_size, progress, report))
    return await import_messages(store, account, items, report, batch_size)


async def import_maildir(store: Store, account: Account, path: Path, folder: str = "INBOX", *,
                         max_size: int = 50 * 1024 * 1024, progress: Progress | None = None,
                         batch_size: int = BATCH_SIZE, report: ImportReport | None = None
                         ) -> ImportReport:
    report = report if report is not None else ImportReport()
    items = read_maildir(path, folder, max_size, progress, report)
    return await import_messages(store, account, items, report, batch_size)


# --- export -------------------------------------------------------------------------------------

def maildir_file_name(internal_date: int, unique: str, size: int, wire_size: int,
                      flags: Sequence[str], keyword_letters: dict[str, str]) -> str:
    letters = sorted({_FLAG_LETTERS[f] for f in flags if f in _FLAG_LETTERS}
                     | {keyword_letters[f] for f in flags if f in keyword_letters})
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "postroom"
    # S= and W= (size with CRLF) as Dovecot writes them, so it can skip a stat() on import.
    return f"{internal_date}.{unique}.{host},S={size},W={wire_size}:2,{''.join(letters)}"


def _maildir_path(root: Path, name: str) -> Path:
    if not name:
        return root
    # Maildir++: ".A.B" for "A/B"; a "." inside a name is encoded so it cannot split it.
    return root / ("." + ".".join(utf7.encode(p, also=".") for p in name.split(SEPARATOR)))


def _write_files(files: Sequence[tuple[Path, bytes, int]]) -> None:
    """Maildir delivery: write in tmp/, then rename into cur/ (readers never see half a file)."""
    for path, data, mtime in files:
        tmp = path.parent.parent / "tmp" / path.name
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)


async def export_maildir(store: Store, account: Account, dest: Path, folder: str | None = None,
                         *, crlf: bool = False, progress: Progress | None = None,
                         chunk: int = 500) -> ExportReport:
    """Writes the account's mailboxes (or just ``folder``, into the root) as a Maildir++ tree:
    INBOX at the root, "A/B" in ".A.B", flags in the file names, mtime = internal date."""
    started = time.monotonic()
    report = ExportReport()
    boxes = await store.list_mailboxes(account.id)
    if folder is not None:
        wanted = await store.get_mailbox(account.id, folder)
        if wanted is None:
            raise TransferError(f"{account.email} has no folder {folder!r}")
        plan = [(wanted, "")]
    else:
        plan = [(b, "" if b.name.upper() == "INBOX" else b.name) for b in boxes]
    uid_lists = [await store.uids(account.id, b.id) for b, _ in plan]
    total = sum(len(u) for u in uid_lists)
    done = 0
    for (box, name), uids in zip(plan, uid_lists):
        target = _maildir_path(dest, name)
        try:
            for sub in ("cur", "new", "tmp"):
                (target / sub).mkdir(parents=True, exist_ok=True)
            if name:
                (target / "maildirfolder").touch()    # Maildir++ marks subfolders so
        except OSError as e:
            raise TransferError(f"cannot write {target}: {e.strerror}") from None
        keyword_letters: dict[str, str] = {}
        count = 0
        for i in range(0, len(uids), chunk):
            rows = await store.fetch(account.id, box.id, uids[i:i + chunk])
            # Blobs are read concurrently and the chunk written in one thread hop: one message
            # at a time would spend most of its time hopping between threads.
            blobs = await asyncio.gather(*(store.read_blob(r.blob) for r in rows))
            files: list[tuple[Path, bytes, int]] = []
            for row, data in zip(rows, blobs):
                for flag in row.flags:
                    if flag.startswith("\\") or flag in _FLAG_LETTERS or \
                            flag in keyword_letters:
                        continue
                    if len(keyword_letters) < 26:
                        keyword_letters[flag] = chr(ord("a") + len(keyword_letters))
                    else:
                        report.dropped_keywords.add(flag)
                if not crlf:
                    data = to_lf(data)
                path = target / "cur" / maildir_file_name(
                    row.internal_date, f"M{row.uid}V{box.uidvalidity}", len(data), row.size,
                    row.flags, keyword_letters)
                files.append((path, data, row.internal_date))
            try:
                await asyncio.to_thread(_write_files, files)
            except OSError as e:
                raise TransferError(f"cannot write {e.filename}: {e.strerror}") from None
            report.bytes_written += sum(len(d) for _, d, _ in files)
            count += len(files)
            done += len(files)
            if progress:
                progress(done, total)
        if keyword_letters:
            (target / "dovecot-keywords").write_text(
                "".join(f"{ord(letter) - ord('a')} {kw}\n"
                        for kw, letter in keyword_letters.items()), "utf-8")
        report.folders[box.name] = count
        report.exported += count
    if progress:
        progress(total, total)
    report.seconds = time.monotonic() - started
    return report

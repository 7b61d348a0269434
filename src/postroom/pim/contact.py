"""Contacts as named slots (vCard 3.0/4.0, RFC 2426 / RFC 6350), for the doors that edit a
contact field by field (EAS, the web app); DAV serves the vCard text as it is.

:func:`read` gives every slot a value - "email1".."email3", "tel.mobile", "adr.home" (a 7-part
tuple), "n" (5 parts), "org" (company, department), "bday", "note", "photo" (bytes), ... - and
remembers which content line each came from. :func:`write` changes only the lines of the slots
it is given (an empty value removes one) and keeps every other line of the stored card as it was,
so what a phone cannot show (a fourth email, IMPP, X- properties, groups) survives its edits.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from dataclasses import dataclass, field

from icalendar.parser import Contentline, Contentlines

# Phone slots, the most specific first: (slot, TYPE values the line must have).
PHONE_SLOTS = (("mobile", {"CELL"}), ("homefax", {"HOME", "FAX"}), ("workfax", {"WORK", "FAX"}),
               ("pager", {"PAGER"}), ("car", {"CAR"}), ("main", {"MAIN"}),
               ("home", {"HOME"}), ("home2", {"HOME"}), ("work", {"WORK"}),
               ("work2", {"WORK"}))
_UNTYPED_PHONE = ("home", "home2", "work", "work2")
ADDRESS_SLOTS = ("home", "work", "other")
_NEW_TYPES = {"mobile": "CELL", "homefax": "HOME,FAX", "workfax": "WORK,FAX", "pager": "PAGER",
              "car": "CAR", "main": "MAIN", "home": "HOME", "home2": "HOME", "work": "WORK",
              "work2": "WORK", "adr.home": "HOME", "adr.work": "WORK", "adr.other": "OTHER"}
# Single properties: slot -> property name.
SINGLE = {"fn": "FN", "title": "TITLE", "note": "NOTE", "url": "URL", "nickname": "NICKNAME",
          "bday": "BDAY", "anniversary": "ANNIVERSARY", "categories": "CATEGORIES",
          "photo": "PHOTO", "n": "N", "org": "ORG", "role": "ROLE"}


@dataclass
class Line:
    name: str
    types: set[str]
    value: str          # raw (still escaped)
    text: str           # the whole unfolded line


@dataclass
class Contact:
    uid: str
    version: str
    slots: dict[str, object] = field(default_factory=dict)
    origin: dict[str, int] = field(default_factory=dict)     # slot -> index in lines
    lines: list[Line] = field(default_factory=list)


def _raw_value(line: str) -> tuple[str, str]:
    """(name;params, value) split at the first colon outside double quotes."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return line[:i], line[i + 1:]
    return line, ""


def _types(head: str) -> set[str]:
    out: set[str] = set()
    for value in re.findall(r'(?i);TYPE=("[^"]*"|[^;:]*)', head):
        out.update(v.strip().upper() for v in value.strip('"').split(",") if v.strip())
    if ";" in head:      # vCard 2.1 style bare types: TEL;CELL:...
        out.update(p.upper() for p in head.split(";")[1:] if "=" not in p)
    return out


def unescape(value: str) -> str:
    return re.sub(r"\\([\\,;nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\n").replace("\n", "\\n"))


def _parts(value: str, n: int) -> tuple[str, ...]:
    parts = [unescape(p) for p in re.split(r"(?<!\\);", value)]
    return tuple((parts + [""] * n)[:n])


def _date(value: str) -> dt.date | None:
    digits = value.strip().replace("-", "")[:8]
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _photo(line: Line) -> bytes | None:
    value = line.value.strip()
    if value.startswith("data:"):
        meta, _, value = value.partition(",")
        if ";base64" not in meta:
            return None
    elif "ENCODING=B" not in line.text.upper().split(":", 1)[0] and \
            "ENCODING=BASE64" not in line.text.upper().split(":", 1)[0]:
        return None          # a URL: nothing a phone can show
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None


def read(text: str) -> Contact:
    lines: list[Line] = []
    for raw in Contentlines.from_ical(text):
        if not raw:
            continue
        head, value = _raw_value(str(raw))
        name = str(Contentline(raw).parts()[0]).upper()
        name = name.rpartition(".")[2]          # item1.TEL: Apple's property groups
        lines.append(Line(name, _types(head), value, str(raw)))
    c = Contact("", "3.0", lines=lines)
    emails = 0
    for i, ln in enumerate(lines):
        slot = None
        value: object = None
        if ln.name == "VERSION":
            c.version = ln.value.strip()
        elif ln.name == "UID":
            c.uid = unescape(ln.value)
        elif ln.name == "EMAIL" and emails < 3:
            emails += 1
            slot, value = f"email{emails}", unescape(ln.value)
        elif ln.name == "TEL":
            slot = next((s for s, need in PHONE_SLOTS if need <= ln.types
                         and f"tel.{s}" not in c.slots), None)
            if slot is None and not ln.types & {"FAX", "PAGER", "CELL", "CAR", "MAIN"}:
                slot = next((s for s in _UNTYPED_PHONE if f"tel.{s}" not in c.slots), None)
            slot = f"tel.{slot}" if slot else None
            value = unescape(ln.value)
        elif ln.name == "ADR":
            kind = "home" if "HOME" in ln.types else "work" if "WORK" in ln.types else "other"
            slot, value = f"adr.{kind}", _parts(ln.value, 7)
        elif ln.name in SINGLE.values():
            slot = next(k for k, v in SINGLE.items() if v == ln.name)
            value = {"N": lambda: _parts(ln.value, 5), "ORG": lambda: _parts(ln.value, 2),
                     "BDAY": lambda: _date(ln.value), "ANNIVERSARY": lambda: _date(ln.value),
                     "PHOTO": lambda: _photo(ln),
                     "CATEGORIES": lambda: [unescape(p) for p in
                                            re.split(r"(?<!\\),", ln.value) if p]
                     }.get(ln.name, lambda: unescape(ln.value))()
        elif ln.name == "X-ANNIVERSARY":
            slot, value = "anniversary", _date(ln.value)
        if slot is not None and slot not in c.slots and value not in (None, "", ()):
            c.slots[slot] = value
            c.origin[slot] = i
    return c


def _value_text(slot: str, value, version: str) -> tuple[str, str]:
    """(name;params, value) of a new content line for ``slot``."""
    types = _NEW_TYPES.get(slot.partition(".")[2] if slot.startswith("tel.") else slot)
    if slot.startswith("email"):
        return "EMAIL;TYPE=INTERNET" if version == "3.0" else "EMAIL", escape(value)
    if slot.startswith("tel."):
        return f"TEL;TYPE={types}", escape(value)
    if slot.startswith("adr."):
        return f"ADR;TYPE={types}", ";".join(escape(p) for p in value)
    name = SINGLE[slot]
    if slot in ("n", "org"):
        return name, ";".join(escape(p) for p in value)
    if slot in ("bday", "anniversary"):
        if slot == "anniversary" and version == "3.0":
            name = "X-ANNIVERSARY"
        return name, value.isoformat()
    if slot == "categories":
        return name, ",".join(escape(c) for c in value)
    if slot == "photo":
        data = base64.b64encode(value).decode("ascii")
        if version == "3.0":
            return "PHOTO;ENCODING=b;TYPE=JPEG", data
        return "PHOTO", f"data:image/jpeg;base64,{data}"
    return name, escape(value)


def write(slots: dict[str, object], base: str | None) -> str:
    """The vCard text of ``base`` (None: a new card) with ``slots`` written into it; a slot set
    to "" / None / () removes its line."""
    old = read(base) if base is not None else Contact(str(uuid.uuid4()), "3.0")
    version = old.version if old.version in ("3.0", "4.0") else "3.0"
    replaced = {old.origin[s] for s in slots if s in old.origin}
    out = ["BEGIN:VCARD", f"VERSION:{version}"]
    for i, ln in enumerate(old.lines):
        if ln.name in ("BEGIN", "END", "VERSION") or i in replaced:
            continue
        out.append(ln.text)
    if not any(ln.name == "UID" for ln in old.lines):
        out.append(f"UID:{old.uid}")
    for slot, value in slots.items():
        if value in (None, "", (), []) or (isinstance(value, tuple) and not any(value)):
            continue
        head, text = _value_text(slot, value, version)
        out.append(f"{head}:{text}")
    names = {ln.split(":", 1)[0].split(";", 1)[0].upper() for ln in out}
    if "FN" not in names:
        n = slots.get("n") or old.slots.get("n") or ("", "", "", "", "")
        org = slots.get("org") or old.slots.get("org") or ("",)
        fn = " ".join(p for p in (n[3], n[1], n[2], n[0], n[4]) if p) or org[0] or "-"
        out.append(f"FN:{escape(fn)}")
    if version == "3.0" and "N" not in names:
        out.append("N:;;;;")
    out.append("END:VCARD")
    return "".join(Contentline(ln).to_ical().decode("utf-8") + "\r\n" for ln in out)

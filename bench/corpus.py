"""A reproducible mail corpus for benchmarks (fixed seed): plain text, multipart/alternative with
HTML, replies with quoted text, attachments from 1 KB to 2 MB, RFC 2047 headers, sizes on a long
tail like a real mailbox. ``python -m bench.corpus N --mbox FILE`` writes one as an mbox.

Every message carries the common word "meeting" with probability 1/3, and exactly one message in
2,000 carries the rare word ``RARE_WORD`` (so SEARCH TEXT has a rare and a common needle).
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import random
from typing import Iterator

RARE_WORD = "quizzaciously"
COMMON_WORD = "meeting"

_WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at "
          "which but have an had they you were their one all we can her has there been if more "
          "when will would who so no report budget project review team customer release "
          "schedule invoice contract design server update friday monday deadline draft plan "
          "quarter numbers office travel lunch coffee thanks regards question answer").split()
_FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
          "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
          "Zoë", "Jürgen", "Søren", "Małgorzata", "Renée", "Łukasz", "Ἀθηνᾶ"]
_LAST = ["Smith", "Jones", "Müller", "García", "Rossi", "Nakamura", "Dubois", "Kowalski",
         "Andersson", "O'Brien", "Novák", "Ivanov"]
_DOMAINS = ["example.org", "corp.test", "mail.example.net", "university.test", "shop.test"]


def _encoded_word(s: str) -> str:
    if s.isascii():
        return s
    return "=?utf-8?b?" + base64.b64encode(s.encode()).decode() + "?="


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    addr = f"{first.lower().encode('ascii', 'ignore').decode() or 'user'}." \
           f"{last.lower().replace(chr(39), '').encode('ascii', 'ignore').decode()}" \
           f"@{rng.choice(_DOMAINS)}"
    return f"{first} {last}", addr


def _fmt_addr(name: str, addr: str) -> str:
    enc = _encoded_word(name)
    if enc == name and any(c in name for c in "'.,"):
        enc = '"' + name + '"'
    return f"{enc} <{addr}>"


def _paragraphs(rng: random.Random, n_words: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(n_words)]
    if rng.random() < 1 / 3:
        words.insert(rng.randrange(len(words) + 1), COMMON_WORD)
    lines, line = [], []
    for i, w in enumerate(words):
        line.append(w)
        if len(" ".join(line)) > 66:
            lines.append(" ".join(line))
            line = []
        if i % 60 == 59 and line == []:
            lines.append("")
    if line:
        lines.append(" ".join(line))
    return "\r\n".join(lines) + "\r\n"


def _size_words(rng: random.Random) -> int:
    # Long-tailed body length: most mails are short, some are long.
    return min(int(rng.lognormvariate(4.6, 1.0)) + 5, 20000)


def _attachment_size(rng: random.Random) -> int:
    return min(max(int(rng.lognormvariate(10.0, 1.3)), 1024), 2 * 1024 * 1024)


def generate(count: int, seed: int = 1) -> Iterator[bytes]:
    rng = random.Random(seed)
    msg_ids: list[str] = []
    base_time = 1_700_000_000
    for i in range(count):
        sender_name, sender = _person(rng)
        rcpt_name, rcpt = _person(rng)
        date = email.utils.formatdate(base_time + i * 600 + rng.randrange(600))
        mid = f"<{seed}.{i}.{rng.randrange(1 << 30):x}@{sender.split('@')[1]}>"
        subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 8))).capitalize()
        if rng.random() < 0.15:
            subject += " – " + rng.choice(_FIRST)
        headers = [f"From: {_fmt_addr(sender_name, sender)}",
                   f"To: {_fmt_addr(rcpt_name, rcpt)}"]
        if rng.random() < 0.3:
            cc_name, cc = _person(rng)
            headers.append(f"Cc: {_fmt_addr(cc_name, cc)}")
        body = _paragraphs(rng, _size_words(rng))
        if i % 2000 == 1000:
            body += f"The password hint is {RARE_WORD}.\r\n"
        kind = rng.random()
        if kind < 0.25 and msg_ids:
            parent = rng.choice(msg_ids[-200:])
            subject = "Re: " + subject
            headers += [f"In-Reply-To: {parent}", f"References: {parent}"]
            quoted = "".join("> " + line + "\r\n" for line in _paragraphs(
                rng, _size_words(rng) // 2).split("\r\n") if line)
            body = body + "\r\nOn an earlier day someone wrote:\r\n" + quoted
        headers += [f"Subject: {_encoded_word(subject)}", f"Date: {date}", f"Message-ID: {mid}",
                    "MIME-Version: 1.0"]
        msg_ids.append(mid)
        if kind < 0.55:
            headers.append("Content-Type: text/plain; charset=utf-8")
            headers.append("Content-Transfer-Encoding: 8bit")
            raw = "\r\n".join(headers) + "\r\n\r\n" + body
        elif kind < 0.90:
            b = f"=_alt_{i}"
            html = "<html><body>" + "".join(f"<p>{p}</p>" for p in body.split("\r\n\r\n")) + \
                "</body></html>\r\n"
            headers.append(f'Content-Type: multipart/alternative; boundary="{b}"')
            raw = ("\r\n".join(headers) + "\r\n\r\n"
                   f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
                   f"--{b}\r\nContent-Type: text/html; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{b}--\r\n")
        else:
            b = f"=_mixed_{i}"
            size = _attachment_size(rng)
            payload = base64.encodebytes(rng.randbytes(size)).decode().replace("\n", "\r\n")
            name = rng.choice(["report.pdf", "photo.jpg", "data.xlsx", "Überblick.docx"])
            fname = name if name.isascii() else "utf-8''" + "".join(
                c if c.isascii() and c.isalnum() or c in "._-" else
                "".join(f"%{x:02X}" for x in c.encode()) for c in name)
            param = f'filename="{name}"' if name.isascii() else f"filename*={fname}"
            headers.append(f'Content-Type: multipart/mixed; boundary="{b}"')
            raw = ("\r\n".join(headers) + "\r\n\r\n"
                   f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
                   f"--{b}\r\nContent-Type: application/octet-stream\r\n"
                   f"Content-Disposition: attachment; {param}\r\n"
                   f"Content-Transfer-Encoding: base64\r\n\r\n{payload}\r\n--{b}--\r\n")
        yield raw.encode("utf-8")


def write_mbox(path: str, count: int, seed: int = 1) -> int:
    total = 0
    with open(path, "wb") as f:
        for raw in generate(count, seed):
            f.write(b"From bench@example.test Thu Jan  1 00:00:00 2026\n")
            # mboxrd quoting, then LF line endings as mbox files have on disk
            lines = raw.replace(b"\r\n", b"\n").split(b"\n")
            for line in lines:
                stripped = line.lstrip(b">")
                if stripped.startswith(b"From "):
                    line = b">" + line
                f.write(line + b"\n")
            f.write(b"\n")
            total += len(raw)
    return total


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("count", type=int)
    ap.add_argument("--mbox", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    n = write_mbox(a.mbox, a.count, a.seed)
    print(f"wrote {a.count} messages, {n / 1e6:.1f} MB of mail, to {a.mbox}")

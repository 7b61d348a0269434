"""Every message of CPython's email test data parses, with consistent offsets; plus a timing."""

from __future__ import annotations

import time

import pytest

from postroom.mail.parse import parse_message

from .checks import check_parsed
from .corpus import TRICKY, cpython_email_corpus

CORPUS = cpython_email_corpus()


@pytest.mark.skipif(not CORPUS, reason="CPython email test data not installed")
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_cpython_email_message_parses_consistently(path):
    raw = path.read_bytes()
    check_parsed(raw)                                            # as stored (LF)
    check_parsed(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))  # as on the wire


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_message_parses_consistently(name):
    check_parsed(TRICKY[name])


@pytest.mark.skipif(not CORPUS, reason="CPython email test data not installed")
def test_parse_speed_over_corpus(capsys):
    """Not an assertion on speed: prints messages/s over the corpus (CRLF), for the report."""
    msgs = [p.read_bytes().replace(b"\n", b"\r\n") for p in CORPUS]
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        for raw in msgs:
            parse_message(raw)
    dt = time.perf_counter() - t0
    n = rounds * len(msgs)
    total = sum(map(len, msgs)) * rounds
    with capsys.disabled():
        print(f"\nparse_message: {n / dt:.0f} messages/s, {dt / n * 1e6:.0f} us/message, "
              f"{total / dt / 1e6:.1f} MB/s over {len(msgs)} CPython corpus messages")

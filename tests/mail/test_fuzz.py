"""No input makes parse_message raise, and its offsets always describe the bytes given."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings, strategies as st

from .checks import check_parsed
from .corpus import TRICKY, cpython_email_corpus

SEEDS = list(TRICKY.values()) + [p.read_bytes() for p in cpython_email_corpus()]
TOKENS = [b"\r\n", b"\n", b"--", b":", b";", b"=?", b"?=", b"\"", b"(", b")", b"<", b">",
          b"Content-Type: multipart/mixed; boundary=", b"Content-Type: message/rfc822\r\n",
          b"boundary", b"\r\n\r\n", b"\x00", b"\xff", b"=", b"*0*=", b"'"]

# FUZZ_EXAMPLES=5000 for a longer hunt; the default keeps the suite fast.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw):
    check_parsed(raw)


@st.composite
def mutated(draw):
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, len(raw)))
        if op == 0:
            raw[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == 1:
            del raw[pos:pos + draw(st.integers(1, 50))]
        elif op == 2:
            raw[pos:pos] = draw(st.binary(min_size=1, max_size=20))
        else:
            raw = raw[:pos]
    return bytes(raw)


@FUZZ
@given(mutated())
def test_mutated_real_messages_never_raise(raw):
    check_parsed(raw)

"""Password hashing (argon2id, RFC 9106), SCRAM stored credentials (RFC 5802 §3) and SASLprep
(RFC 4013 §3 examples)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import pytest

from postroom.auth import passwords

from .conftest import CHEAP, RFC7677_SALT


def test_hash_is_argon2id_phc_string_that_verifies():
    stored = passwords.hash_password("correct horse", parameters=CHEAP)
    assert stored.startswith("$argon2id$v=19$")
    assert passwords.verify_password(stored, "correct horse")
    assert not passwords.verify_password(stored, "correct horsE")
    assert not passwords.verify_password(stored, "")


def test_same_password_hashes_differently_each_time():
    assert passwords.hash_password("x", parameters=CHEAP) != \
        passwords.hash_password("x", parameters=CHEAP)


def test_malformed_stored_hash_is_a_mismatch_not_an_error():
    for stored in ("", "plain", "$argon2id$v=19$garbage", "$2b$12$abcdefghijklmnopqrstuv"):
        assert passwords.verify_password(stored, "x") is False


def test_non_ascii_and_lone_surrogate_passwords():
    stored = passwords.hash_password("pässwörd ✓", parameters=CHEAP)
    assert passwords.verify_password(stored, "pässwörd ✓")
    assert passwords.verify_password(stored, "pa\udcff") is False


def test_default_parameters_are_rfc9106_second_option_and_timed():
    stored = passwords.hash_password("correct horse")
    assert re.match(r"^\$argon2id\$v=19\$m=65536,t=3,p=4\$", stored)
    assert not passwords.needs_rehash(stored)
    assert passwords.needs_rehash(passwords.hash_password("x", parameters=CHEAP))
    start = time.perf_counter()
    assert passwords.verify_password(stored, "correct horse")
    print(f"\nargon2id verify with default parameters: {(time.perf_counter() - start) * 1000:.1f} ms")


def test_scram_credentials_follow_rfc5802_definitions():
    creds = passwords.make_scram_credentials("pencil", salt=RFC7677_SALT)
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", RFC7677_SALT, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    assert creds.iterations == 4096 and creds.salt == RFC7677_SALT
    assert creds.stored_key == hashlib.sha256(client_key).digest()
    assert creds.server_key == hmac.new(salted, b"Server Key", "sha256").digest()


def test_scram_credentials_get_a_fresh_salt_and_custom_iterations():
    a = passwords.make_scram_credentials("pencil", iterations=5000)
    b = passwords.make_scram_credentials("pencil", iterations=5000)
    assert a.iterations == 5000 and len(a.salt) == 16 and a.salt != b.salt
    with pytest.raises(ValueError):
        passwords.make_scram_credentials("pencil", iterations=0)


def test_scram_password_is_saslprepped():
    # U+00AD (soft hyphen) maps to nothing, U+2168 (roman nine) to "IX" under NFKC.
    assert passwords.make_scram_credentials("pen\u00adcil", salt=RFC7677_SALT) == \
        passwords.make_scram_credentials("pencil", salt=RFC7677_SALT)


@pytest.mark.parametrize("given,prepared", [
    ("I\u00adX", "IX"), ("user", "user"), ("USER", "USER"), ("\u00aa", "a"), ("\u2168", "IX"),
    ("a\u00a0b", "a b"),
])
def test_saslprep_rfc4013_examples(given, prepared):
    assert passwords.saslprep(given) == prepared


@pytest.mark.parametrize("given", ["\u0007", "\u0627\u0031", "a\ue000"])
def test_saslprep_rejects_prohibited_and_bad_bidi(given):
    with pytest.raises(ValueError):
        passwords.saslprep(given)


def test_make_credentials_gives_hash_and_scram_for_the_same_password():
    stored, scram = passwords.make_credentials("s3cret", parameters=CHEAP)
    assert passwords.verify_password(stored, "s3cret")
    assert scram.stored_key == passwords.make_scram_credentials("s3cret", salt=scram.salt).stored_key


def test_generated_passwords_are_easy_to_type_and_unique():
    generated = {passwords.generate_password() for _ in range(200)}
    assert len(generated) == 200
    for pw in generated:
        assert re.fullmatch(r"[a-z2-9]{5}(-[a-z2-9]{5}){3}", pw)
        assert not set(pw) & set("01ilo")

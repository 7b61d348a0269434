"""Password storage: argon2id hashes for plaintext logins and SCRAM-SHA-256 stored credentials.

Argon2id follows RFC 9106 §4 (the second recommended option: t=3, m=64 MiB, p=4); SCRAM keys
follow RFC 5802 §3 with SHA-256 (RFC 7677), the password normalised by SASLprep (RFC 4013).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stringprep
import unicodedata

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from postroom.store.api import ScramCredentials

# RFC 9106 §4, second recommended option: the memory-hard choice for servers that cannot spare
# 2 GiB per login. argon2-cffi's own default is the same profile.
DEFAULT_PARAMETERS: argon2.Parameters = argon2.profiles.RFC_9106_LOW_MEMORY

# RFC 7677 §4: "at least 4096" iterations; clients pay this cost once per login, not the server.
DEFAULT_SCRAM_ITERATIONS = 4096
SCRAM_SALT_LENGTH = 16

# Unambiguous when read aloud or off a screen: no 0/o, 1/l/i.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

_DEFAULT_HASHER = argon2.PasswordHasher.from_parameters(DEFAULT_PARAMETERS)


def _hasher(parameters: argon2.Parameters | None) -> argon2.PasswordHasher:
    if parameters is None:
        return _DEFAULT_HASHER
    return argon2.PasswordHasher.from_parameters(parameters)


def _octets(password: str) -> bytes:
    # UTF-8, but a lone surrogate (a door that decoded odd bytes leniently) must not raise.
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str, *, parameters: argon2.Parameters | None = None) -> str:
    """An argon2id PHC string (``$argon2id$v=19$m=...``) with a fresh random salt.

    ``parameters`` exists for tests, which use a cheap profile; production uses the default."""
    return _hasher(parameters).hash(_octets(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``. The cost parameters are read from the hash,
    so hashes made with older parameters keep working. A malformed hash is simply a mismatch."""
    try:
        return _hasher(None).verify(stored_hash, _octets(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when ``stored_hash`` was made with parameters weaker than (or unlike) the defaults."""
    try:
        return _hasher(None).check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep of a stored string; ValueError when the string holds a prohibited
    character (RFC 4013 §2.3) or breaks the bidi rule (RFC 3454 §6)."""
    # §2.1 mapping: non-ASCII spaces become SPACE, "commonly mapped to nothing" goes away.
    mapped = "".join(" " if stringprep.in_table_c12(c) else c
                     for c in text if not stringprep.in_table_b1(c))
    # §2.2: NFKC, in the Unicode version stringprep was defined against (3.2).
    normalized = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
        stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
        stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
        stringprep.in_table_c9,
        # §2.5: stored strings must not contain unassigned code points.
        stringprep.in_table_a1,
    )
    for c in normalized:
        if any(table(c) for table in prohibited):
            raise ValueError(f"prohibited character U+{ord(c):04X} in SASLprep input")
    # §2.4 -> RFC 3454 §6: a string with right-to-left characters must hold no left-to-right
    # ones and must start and end with a right-to-left character.
    if any(stringprep.in_table_d1(c) for c in normalized):
        if any(stringprep.in_table_d2(c) for c in normalized):
            raise ValueError("mixed left-to-right and right-to-left text in SASLprep input")
        if not (stringprep.in_table_d1(normalized[0]) and stringprep.in_table_d1(normalized[-1])):
            raise ValueError("right-to-left text must start and end with a right-to-left "
                             "character")
    return normalized


def scram_normalize(password: str) -> bytes:
    """The octets SCRAM's Hi() is applied to (RFC 5802 §2.2 ``Normalize``). A password SASLprep
    refuses is used as plain UTF-8: that is what most client libraries fall back to as well."""
    try:
        return saslprep(password).encode("utf-8")
    except ValueError:
        return password.encode("utf-8")


def make_scram_credentials(password: str, iterations: int = DEFAULT_SCRAM_ITERATIONS, *,
                           salt: bytes | None = None) -> ScramCredentials:
    """SCRAM-SHA-256 stored credentials (RFC 5802 §3): the server keeps StoredKey and ServerKey,
    which let it check a client proof and prove itself, but not log in as the user."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = os.urandom(SCRAM_SALT_LENGTH) if salt is None else salt
    salted_password = hashlib.pbkdf2_hmac("sha256", scram_normalize(password), salt, iterations)
    client_key = hmac.digest(salted_password, b"Client Key", "sha256")
    return ScramCredentials(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.sha256(client_key).digest(),
        server_key=hmac.digest(salted_password, b"Server Key", "sha256"),
    )


def make_credentials(password: str, *, parameters: argon2.Parameters | None = None
                     ) -> tuple[str, ScramCredentials]:
    """Everything the store keeps for a new password: the argon2id hash and SCRAM credentials."""
    return hash_password(password, parameters=parameters), make_scram_credentials(password)


def generate_password() -> str:
    """A random password that is easy to type: four groups of five, e.g. ``k7dq2-...``.
    20 characters from a 31-letter alphabet: about 99 bits of entropy."""
    return "-".join("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(5))
                    for _ in range(4))

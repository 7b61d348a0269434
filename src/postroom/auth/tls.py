"""Server TLS for every door (implicit TLS per RFC 8314, STARTTLS per RFC 3207/2595/9051 §6.2.1):
the configured certificate, or a self-signed one made on first start and reused after.

Cipher choice follows Mozilla's "intermediate" profile: TLS 1.2 with ECDHE and AEAD ciphers only,
TLS 1.3 with OpenSSL's defaults.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import ssl
from pathlib import Path
from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from postroom.config import Config, ConfigError

try:
    import fcntl
except ImportError:          # not POSIX: workers race to make the certificate; rare and harmless
    fcntl = None             # type: ignore[assignment]

log = logging.getLogger("postroom.auth")

_MIN_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!SHA1"
# Apple's TLS stack (Apple Mail, iOS Mail, Safari) refuses any server certificate valid for more
# than 825 days, even one the user has trusted by hand ("Certificate exceeds maximum temporal
# validity period"). So the self-signed certificate lives 825 days and is renewed on start once
# fewer than RENEW_DAYS remain.
SELF_SIGNED_DAYS = 825
RENEW_DAYS = 30


class TLSConfigError(ConfigError):
    """The configured certificate or key cannot be used; the message says which file and why."""


def server_context(config: Config) -> ssl.SSLContext:
    """The server-side context every door wraps its sockets with."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _MIN_VERSIONS.get(config.tls.min_version, ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers(_TLS12_CIPHERS)
    # CRIME: compression leaks secrets such as passwords sent in AUTH.
    ctx.options |= ssl.OP_NO_COMPRESSION
    # A session-ticket key is per process; with --workers N a ticket from one worker would fail
    # on another. Stateless tickets add little for mail sessions, which are long-lived.
    ctx.options |= ssl.OP_NO_TICKET
    cert_file, key_file = config.tls.cert_file, config.tls.key_file
    if cert_file or key_file:
        if not (cert_file and key_file):
            raise TLSConfigError("tls.cert_file and tls.key_file must be set together")
        _load(ctx, Path(cert_file), Path(key_file), configured=True)
    else:
        cert_path, key_path = ensure_self_signed(config)
        _load(ctx, cert_path, key_path, configured=False)
    return ctx


def client_context_insecure() -> ssl.SSLContext:
    """A client context that verifies nothing: for tests against the self-signed certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ensure_self_signed(config: Config) -> tuple[Path, Path]:
    """<data_dir>/tls/cert.pem and key.pem, made the first time and reused afterwards."""
    directory = config.data_path / "tls"
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TLSConfigError(f"cannot create {directory}: {e.strerror}") from None
    with _locked(directory / ".lock"):
        if cert_path.exists():
            if not key_path.exists():
                raise TLSConfigError(f"{cert_path} exists but its key {key_path} is missing; "
                                     "remove the certificate to have a new pair made")
            if _days_left(cert_path) >= RENEW_DAYS:
                return cert_path, key_path
            log.info("renewing the self-signed certificate %s", cert_path)
        else:
            log.info("making a self-signed certificate for %s in %s", config.server.hostname,
                     directory)
        # The key is written first and the certificate last, each by an atomic rename: a
        # certificate on disk means the pair is complete.
        cert_pem, key_pem = make_self_signed(config.server.hostname)
        _write_atomic(key_path, key_pem, 0o600)
        _write_atomic(cert_path, cert_pem, 0o644)
    return cert_path, key_path


def _days_left(cert_path: Path) -> float:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as e:
        raise TLSConfigError(f"cannot read the self-signed certificate {cert_path}: {e}; "
                             "remove it (and key.pem) to have a new pair made") from None
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    return left.total_seconds() / 86400


def make_self_signed(hostname: str, days: int = SELF_SIGNED_DAYS) -> tuple[bytes, bytes]:
    """(certificate PEM, PKCS#8 key PEM): EC P-256, valid for ``hostname``, localhost, 127.0.0.1
    and ::1."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for name in dict.fromkeys([hostname, "localhost", "127.0.0.1", "::1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64] or "localhost"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Postroom self-signed")])
    # A day of slack for clients whose clocks run behind, taken out of the allowed lifetime:
    # Apple counts notBefore to notAfter inclusive.
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days, seconds=-1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _load(ctx: ssl.SSLContext, cert_path: Path, key_path: Path, *, configured: bool) -> None:
    origin = "tls.cert_file" if configured else "the self-signed certificate"
    for path, what in ((cert_path, "certificate"), (key_path, "private key")):
        if not path.is_file():
            raise TLSConfigError(f"{what} file {path} ({origin}) does not exist")
        if not os.access(path, os.R_OK):
            raise TLSConfigError(f"{what} file {path} ({origin}) is not readable by this user")
    try:
        cert_text, key_text = cert_path.read_bytes(), key_path.read_bytes()
    except OSError as e:
        raise TLSConfigError(f"cannot read {e.filename}: {e.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in cert_text:
        raise TLSConfigError(f"{cert_path} ({origin}) holds no PEM certificate "
                             "(expected -----BEGIN CERTIFICATE-----)")
    if b"PRIVATE KEY-----" not in key_text:
        raise TLSConfigError(f"{key_path} holds no PEM private key "
                             "(expected -----BEGIN PRIVATE KEY----- or similar)")

    def no_passphrase() -> bytes:
        # Without this callback OpenSSL would prompt on the terminal and hang a service.
        raise TLSConfigError(f"private key {key_path} is encrypted; give an unencrypted key")

    try:
        ctx.load_cert_chain(cert_path, key_path, password=no_passphrase)
    except TLSConfigError:
        raise
    except ssl.SSLError as e:
        text = f"{e.reason or ''} {e}".upper()
        if "KEY_VALUES_MISMATCH" in text or "MISMATCH" in text:
            raise TLSConfigError(f"private key {key_path} does not match certificate "
                                 f"{cert_path}") from None
        if "PEM" in text or "NO_START_LINE" in text or "X509" in text:
            raise TLSConfigError(f"cannot read {cert_path} / {key_path} as PEM certificate and "
                                 f"key: {e.reason or e}") from None
        raise TLSConfigError(f"cannot load certificate {cert_path} with key {key_path}: "
                             f"{e.reason or e}") from None
    except OSError as e:
        raise TLSConfigError(f"cannot read {cert_path} / {key_path}: {e.strerror}") from None


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Created with its final mode, so the key is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)      # os.open's mode is masked by the umask
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialises first-start certificate creation between worker processes."""
    if fcntl is None:
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

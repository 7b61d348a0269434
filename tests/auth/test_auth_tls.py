"""The server TLS context: a self-signed certificate made once and reused, configured files
loaded with clear errors, and a real handshake over a loopback socket."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import stat

import pytest
from cryptography import x509

from postroom.auth import tls
from postroom.config import Config


@pytest.fixture
def config(tmp_path) -> Config:
    cfg = Config()
    cfg.server.data_dir = str(tmp_path / "data")
    cfg.server.hostname = "mail.example.test"
    return cfg


async def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
                     ) -> tuple[str, bytes]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        writer.write(b"a001 NOOP\r\n")
        line = await reader.readline()
        version = writer.get_extra_info("ssl_object").version()
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    return version, line


async def test_client_handshakes_with_self_signed_context(config):
    version, line = await _handshake(tls.server_context(config), tls.client_context_insecure())
    assert line == b"a001 NOOP\r\n"
    assert version in ("TLSv1.2", "TLSv1.3")


async def test_self_signed_certificate_verifies_for_its_names(config):
    ctx = tls.server_context(config)
    client = ssl.create_default_context(cafile=str(config.data_path / "tls" / "cert.pem"))
    await _handshake(ctx, client)   # check_hostname is on: 127.0.0.1 must be in the SAN
    cert = x509.load_pem_x509_certificate((config.data_path / "tls" / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"mail.example.test", "localhost"}
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    # Apple's limit, even for certificates trusted by hand
    assert lifetime <= datetime.timedelta(days=825)


async def test_tls_1_3_minimum_refuses_a_1_2_client(config):
    config.tls.min_version = "1.3"
    client = tls.client_context_insecure()
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await _handshake(tls.server_context(config), client)
    version, _ = await _handshake(tls.server_context(config), tls.client_context_insecure())
    assert version == "TLSv1.3"


def test_self_signed_certificate_is_made_once_and_reused(config):
    tls.server_context(config)
    cert_path = config.data_path / "tls" / "cert.pem"
    key_path = config.data_path / "tls" / "key.pem"
    first = cert_path.read_bytes(), key_path.read_bytes()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    tls.server_context(config)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == first


def test_configured_files_are_used(config, tmp_path):
    cert_pem, key_pem = tls.make_self_signed("configured.example.test")
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    config.tls.cert_file, config.tls.key_file = str(tmp_path / "c.pem"), str(tmp_path / "k.pem")
    tls.server_context(config)
    assert not (config.data_path / "tls").exists()


def test_missing_configured_file_names_the_file(config, tmp_path):
    config.tls.cert_file = str(tmp_path / "nope.pem")
    config.tls.key_file = str(tmp_path / "nokey.pem")
    with pytest.raises(tls.TLSConfigError, match="nope.pem.*does not exist"):
        tls.server_context(config)


def test_only_one_of_cert_and_key_configured(config):
    config.tls.cert_file = "/etc/ssl/cert.pem"
    with pytest.raises(tls.TLSConfigError, match="together"):
        tls.server_context(config)


def test_key_that_does_not_match_the_certificate(config, tmp_path):
    cert_pem, _ = tls.make_self_signed("a.example.test")
    _, other_key = tls.make_self_signed("b.example.test")
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(other_key)
    config.tls.cert_file, config.tls.key_file = str(tmp_path / "c.pem"), str(tmp_path / "k.pem")
    with pytest.raises(tls.TLSConfigError, match="does not match"):
        tls.server_context(config)


def test_files_swapped_are_reported(config, tmp_path):
    cert_pem, key_pem = tls.make_self_signed("a.example.test")
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    config.tls.cert_file, config.tls.key_file = str(tmp_path / "k.pem"), str(tmp_path / "c.pem")
    with pytest.raises(tls.TLSConfigError, match="no PEM certificate"):
        tls.server_context(config)


def test_self_signed_certificate_without_its_key_is_an_error(config):
    tls.server_context(config)
    (config.data_path / "tls" / "key.pem").unlink()
    with pytest.raises(tls.TLSConfigError, match="key.*missing"):
        tls.server_context(config)


def test_encrypted_key_is_refused_instead_of_prompting(config, tmp_path):
    from cryptography.hazmat.primitives import serialization

    cert_pem, key_pem = tls.make_self_signed("a.example.test")
    key = serialization.load_pem_private_key(key_pem, password=None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"passphrase"))
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(encrypted)
    config.tls.cert_file, config.tls.key_file = str(tmp_path / "c.pem"), str(tmp_path / "k.pem")
    with pytest.raises(tls.TLSConfigError, match="encrypted"):
        tls.server_context(config)


def test_self_signed_certificate_near_expiry_is_renewed(config, monkeypatch):
    tls.server_context(config)
    cert_path = config.data_path / "tls" / "cert.pem"
    cert_pem, key_pem = tls.make_self_signed("mail.example.test", days=10)
    cert_path.write_bytes(cert_pem)
    (config.data_path / "tls" / "key.pem").write_bytes(key_pem)
    tls.server_context(config)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days > 800

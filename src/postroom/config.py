"""Postroom's settings: one TOML file read into typed dataclasses, every setting with a default.

Unknown keys and wrong types are errors that name the key (``ConfigError``). Each door reads its
own section; the README's "Configuration" lists them all and ``postroom.example.toml`` shows them.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    pass


@dataclass
class ServerSettings:
    data_dir: str = "./postroom-data"
    hostname: str = "localhost"          # announced in greetings and SMTP banners
    bind: str = "127.0.0.1"
    workers: int = 1
    log_level: str = "info"
    # First start on an empty store: create this domain and one user, print the password.
    initial_domain: str = "example.test"
    initial_user: str = "user"


@dataclass
class TLSSettings:
    cert_file: str = ""      # empty: a self-signed certificate made on first start in data_dir
    key_file: str = ""
    min_version: str = "1.2"


@dataclass
class AuthSettings:
    # As in Dovecot: TLS or loopback counts as secured; plaintext auth elsewhere is refused.
    allow_plaintext_insecure: bool = False
    loopback_is_secure: bool = True
    max_failures_per_account: int = 10       # per window, then back-off
    max_failures_per_ip: int = 30
    failure_window_seconds: int = 60
    cache_ttl_seconds: int = 60              # successful verifications cached (not the password)


@dataclass
class StoreSettings:
    backend: str = "sqlite"                  # "sqlite" (embedded) or, later, "postgresql"
    dsn: str = ""                            # for postgresql
    default_quota_mb: int = 0                # 0 = unlimited
    max_message_size: int = 50 * 1024 * 1024


@dataclass
class IMAPSettings:
    enabled: bool = True
    port: int = 1143
    tls_port: int = 1993
    max_line_length: int = 64 * 1024
    max_literal_size: int = 50 * 1024 * 1024    # APPENDLIMIT
    max_commands_before_auth: int = 20
    idle_timeout_seconds: int = 30 * 60 + 60    # RFC 9051 §5.4: at least 30 minutes
    auth_timeout_seconds: int = 60
    max_connections_per_user: int = 50
    max_connections_per_ip: int = 200


@dataclass
class POP3Settings:
    enabled: bool = True
    port: int = 1110
    tls_port: int = 1995
    mailbox: str = "INBOX"
    # "hide" (default: DELE hides from POP3 only), "trash" or "expunge"; per account overridable
    delete_policy: str = "hide"
    max_line_length: int = 4096
    idle_timeout_seconds: int = 600
    max_bad_commands: int = 20       # consecutive -ERR answers before the connection is closed


@dataclass
class SMTPSettings:
    enabled: bool = True
    port: int = 2525                 # inbound (MX role)
    submission_port: int = 1587      # STARTTLS, AUTH required
    submissions_port: int = 1465     # implicit TLS (RFC 8314)
    lmtp_port: int = 0               # 0 = off
    lmtp_socket: str = ""
    max_recipients: int = 100
    # SPF/DKIM/DMARC receiving policy when DMARC fails: "reject", "quarantine" or "accept"
    dmarc_policy: str = "quarantine"
    verify_inbound: bool = True
    relay_host: str = ""             # smarthost "host:port"; empty: MX lookup
    # static transport routes: domain = "host:port"
    routes: dict[str, str] = field(default_factory=dict)
    queue_lifetime_hours: int = 120
    retry_schedule_seconds: list[int] = field(default_factory=lambda: [60, 300, 900, 1800, 3600])
    # DNS server for MX/SPF/DKIM/DMARC look-ups, "host:port" or "host"; empty: the system's
    dns_server: str = ""
    max_header_bytes: int = 256 * 1024   # the header block of one message
    delivery_concurrency: int = 10       # outbound messages in flight at once


@dataclass
class HTTPSettings:
    enabled: bool = True
    port: int = 8080
    tls_port: int = 8443


@dataclass
class EASSettings:
    """Exchange ActiveSync (MS-ASHTTP, MS-ASCMD), served by the HTTP door's ports."""
    enabled: bool = True
    # Basic auth over plain HTTP is refused unless the peer is on loopback and this is true.
    allow_plain_http_loopback: bool = True
    require_provisioning: bool = True        # MS-ASPROV: devices must accept the policy first
    max_request_bytes: int = 60 * 1024 * 1024
    max_concurrent_requests: int = 1000      # beyond this: 503 with Retry-After
    max_pings_per_device: int = 1            # an older Ping/Sync-Wait of the device is ended
    min_heartbeat_seconds: int = 60          # Ping/Sync Wait bounds (MS-ASCMD Status 5 / 14)
    max_heartbeat_seconds: int = 3540
    max_window_size: int = 512               # MS-ASCMD §2.2.3.199: at most 512 per collection
    sync_byte_budget: int = 2 * 1024 * 1024  # a Sync answer stops adding items beyond this
    # MS-ASPROV EASProvisionDoc settings (element name = value) overriding the defaults,
    # for every domain, then per domain.
    policy: dict[str, int] = field(default_factory=dict)
    domain_policies: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Config:
    server: ServerSettings = field(default_factory=ServerSettings)
    tls: TLSSettings = field(default_factory=TLSSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    imap: IMAPSettings = field(default_factory=IMAPSettings)
    pop3: POP3Settings = field(default_factory=POP3Settings)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    http: HTTPSettings = field(default_factory=HTTPSettings)
    eas: EASSettings = field(default_factory=EASSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)


def _check_type(key: str, value: object, tp: object) -> object:
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_check_type(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return {str(k): _check_type(f"{key}.{k}", v, val_tp) for k, v in value.items()}
    raise ConfigError(f"{key}: unsupported setting type {tp!r}")


_CHOICES = {
    "store.backend": ("sqlite", "postgresql"),
    "pop3.delete_policy": ("hide", "trash", "expunge"),
    "smtp.dmarc_policy": ("reject", "quarantine", "accept"),
    "server.log_level": ("debug", "info", "warning", "error"),
    "tls.min_version": ("1.2", "1.3"),
}


def from_dict(data: dict) -> Config:
    """Builds a Config from parsed TOML, naming the first wrong key."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a TOML table")
    cfg = Config()
    sections = {f.name: f for f in dataclasses.fields(Config)}
    for name, table in data.items():
        if name not in sections:
            raise ConfigError(f"unknown section [{name}] (known: {', '.join(sections)})")
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        section = getattr(cfg, name)
        hints = typing.get_type_hints(type(section))
        for key, value in table.items():
            if key not in hints:
                raise ConfigError(f"unknown key {name}.{key}")
            checked = _check_type(f"{name}.{key}", value, hints[key])
            choices = _CHOICES.get(f"{name}.{key}")
            if choices and checked not in choices:
                raise ConfigError(f"{name}.{key}: must be one of {', '.join(choices)}, "
                                  f"got {checked!r}")
            setattr(section, key, checked)
    for f in dataclasses.fields(Config):
        section = getattr(cfg, f.name)
        for key, value in dataclasses.asdict(section).items():
            if (key.endswith("port") or key.endswith("_port")) and isinstance(value, int) \
                    and not 0 <= value <= 65535:
                raise ConfigError(f"{f.name}.{key}: port out of range: {value}")
    return cfg


def load(path: str | Path | None, data_dir: str | None = None) -> Config:
    """Reads the TOML file (or the embedded defaults when ``path`` is None)."""
    if path is None:
        cfg = Config()
    else:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read {p}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p} is not UTF-8 text") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: {e}") from None
        cfg = from_dict(data)
    if data_dir is not None:
        cfg.server.data_dir = data_dir
    return cfg

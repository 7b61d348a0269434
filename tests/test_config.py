"""Configuration: the example file documents every setting with its default, and every mistake
in a config file is an error that names the key (and, from check-config, the file)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom import config
from postroom.cli import cli, example_config

EXAMPLE = Path(__file__).resolve().parent.parent / "postroom.example.toml"


def test_example_file_loads_and_covers_every_setting_with_its_default() -> None:
    data = tomllib.loads(EXAMPLE.read_text("utf-8"))
    loaded = config.from_dict(data)
    defaults = config.Config()
    missing = [f"{section.name}.{f.name}"
               for section in dataclasses.fields(config.Config)
               for f in dataclasses.fields(getattr(defaults, section.name))
               if f.name not in data.get(section.name, {})]
    assert not missing, ("settings missing from postroom.example.toml (regenerate it with "
                         f"'postroom check-config --print-defaults'): {missing}")
    assert loaded == defaults


def test_example_file_is_what_print_defaults_makes() -> None:
    assert EXAMPLE.read_text("utf-8") == example_config(), (
        "postroom.example.toml is stale: postroom check-config --print-defaults "
        "> postroom.example.toml")


@pytest.mark.parametrize("text, names", [
    ("[imap]\nprot = 143\n", "imap.prot"),
    ("[imapp]\nport = 143\n", "[imapp]"),
    ("[imap]\nport = \"143\"\n", "imap.port"),
    ("[imap]\nenabled = 1\n", "imap.enabled"),
    ("[pop3]\ndelete_policy = \"destroy\"\n", "pop3.delete_policy"),
    ("[server]\nlog_level = \"loud\"\n", "server.log_level"),
    ("[smtp]\nretry_schedule_seconds = [60, \"x\"]\n", "smtp.retry_schedule_seconds[1]"),
    ("[smtp]\nroutes = { \"example.com\" = 25 }\n", "smtp.routes.example.com"),
    ("[imap]\nport = 70000\n", "imap.port"),
    ("imap = 3\n", "[imap]"),
])
def test_config_errors_name_the_key(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=None) as e:
        config.load(path)
    assert names in str(e.value)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 1
    assert str(path) in result.output and names in result.output
    assert "Traceback" not in result.output


def test_toml_syntax_error_says_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[imap]\nport = = 3\n")
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 1 and "line 2" in result.output


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check-config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1 and "cannot read" in result.output


def test_check_config_finds_problems_types_cannot(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[imap]\nport = 2525\n[server]\nworkers = 0\n[tls]\ncert_file = \"/nope\"\n")
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 1
    assert "imap.port: port 2525 is also used by smtp.port" in result.output or \
        "smtp.port: port 2525 is also used by imap.port" in result.output
    assert "server.workers" in result.output and "tls.cert_file" in result.output


def test_check_config_ok(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[imap]\nport = 10143\n")
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0 and result.output.strip() == f"{path}: OK"


def test_serve_with_a_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[imap]\nport = \"x\"\n")
    result = CliRunner().invoke(cli, ["serve", "--config", str(path)])
    assert result.exit_code == 2 and "imap.port" in result.output

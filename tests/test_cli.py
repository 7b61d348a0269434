"""The admin command line on a temporary data directory: what an operator types and reads.
Failures are one-line messages with a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.auth.passwords import verify_password
from postroom.cli import cli, main
from postroom.store.sqlite import SQLiteStore


@pytest.fixture
def run(tmp_path: Path):
    data = str(tmp_path / "data")

    def invoke(*args: str, input: str | None = None, code: int = 0) -> str:
        result = CliRunner().invoke(cli, [*args, "--data", data], input=input)
        assert "Traceback" not in result.output
        assert result.exit_code == code, (result.output, result.exception)
        if code == 0:
            assert result.exception is None or isinstance(result.exception, SystemExit)
        return result.output

    invoke.data = Path(data)  # type: ignore[attr-defined]
    return invoke


def account(data: Path, email: str):
    async def go():
        store = SQLiteStore(data)
        await store.open()
        try:
            return await store.get_account(email)
        finally:
            await store.close()
    return asyncio.run(go())


def test_domain_user_alias_lifecycle(run) -> None:
    assert "Added domain example.org" in run("domain", "add", "Example.ORG")
    assert "already exists" in run("domain", "add", "example.org", code=1)
    assert "example.org" in run("domain", "list")

    assert "Created user bob@example.org" in run("user", "add", "Bob@example.org",
                                                 "--password", "s3cret", "--quota", "10")
    acct = account(run.data, "bob@example.org")
    assert verify_password(acct.password_hash, "s3cret") and acct.scram is not None
    assert acct.quota_bytes == 10 * 1024 * 1024
    out = run("user", "list")
    assert "bob@example.org" in out and "10.0 MB" in out

    run("user", "quota", "bob@example.org", "0")
    assert account(run.data, "bob@example.org").quota_bytes == 0
    run("user", "passwd", "bob@example.org", "--password", "-", input="n3w pass\n")
    assert verify_password(account(run.data, "bob@example.org").password_hash, "n3w pass")

    assert "sales@example.org -> bob@example.org" in run("alias", "add", "sales@example.org",
                                                         "bob@example.org")
    run("alias", "add", "@example.org", "bob@example.org")
    out = run("alias", "list")
    assert "sales@example.org" in out and "catch-all" in out
    assert "still has users" in run("domain", "remove", "example.org", code=1)

    run("alias", "remove", "sales@example.org")
    assert "no such alias" in run("alias", "remove", "sales@example.org", code=1)
    run("user", "remove", "bob@example.org", "--yes")
    assert account(run.data, "bob@example.org") is None
    # The account's aliases went with it.
    assert "No aliases." in run("alias", "list")
    run("domain", "remove", "example.org")
    assert "No domains." in run("domain", "list")


def test_user_add_prompts_twice_without_password(run) -> None:
    run("domain", "add", "example.org")
    run("user", "add", "a@example.org", input="pw1\npw1\n")
    assert verify_password(account(run.data, "a@example.org").password_hash, "pw1")
    run("user", "add", "b@example.org", input="pw1\npw2\n", code=1)
    assert account(run.data, "b@example.org") is None


@pytest.mark.parametrize("args, message", [
    (("user", "add", "x@nowhere.org", "--password", "p"), "not hosted here"),
    (("user", "add", "not-an-address", "--password", "p"), "not an e-mail address"),
    (("user", "add", "a@example.org", "--password", ""), "must not be empty"),
    (("user", "passwd", "nobody@example.org", "--password", "p"), "no such user"),
    (("user", "quota", "nobody@example.org", "5"), "no such user"),
    (("user", "remove", "nobody@example.org", "--yes"), "no such user"),
    (("alias", "add", "s@example.org", "nobody@example.org"), "no such user"),
    (("alias", "add", "s@other.org", "u@example.org"), "not hosted here"),
    (("domain", "remove", "other.org"), "no such domain"),
    (("domain", "add", "nodots"), "not a domain name"),
    (("import", "u@example.org"), "exactly one of"),
    (("import", "u@example.org", "--mbox", "/nonexistent.mbox"), "no such file"),
    (("export", "nobody@example.org", "--maildir", "/tmp/x"), "no such user"),
])
def test_mistakes_are_one_line_errors(run, args, message) -> None:
    run("domain", "add", "example.org")
    run("user", "add", "u@example.org", "--password", "p")
    result = CliRunner().invoke(cli, [*args, "--data", str(run.data)])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_user_add_twice_is_refused(run) -> None:
    run("domain", "add", "example.org")
    run("user", "add", "u@example.org", "--password", "p")
    assert "already exists" in run("user", "add", "u@example.org", "--password", "p", code=1)


def test_user_remove_asks_first(run) -> None:
    run("domain", "add", "example.org")
    run("user", "add", "u@example.org", "--password", "p")
    run("user", "remove", "u@example.org", input="n\n", code=1)
    assert account(run.data, "u@example.org") is not None
    run("user", "remove", "u@example.org", input="y\n")
    assert account(run.data, "u@example.org") is None


def test_import_and_export_commands(run, tmp_path: Path) -> None:
    run("domain", "add", "example.org")
    run("user", "add", "u@example.org", "--password", "p")
    mbox = tmp_path / "in.mbox"
    messages = [b"Subject: m%d\n\nbody %d\n" % (i, i) for i in range(5)]
    mbox.write_bytes(b"".join(b"From a@b Mon Jan  1 00:00:00 2024\n" + m + b"\n"
                              for m in messages))
    out = run("import", "u@example.org", "--mbox", str(mbox), "--folder", "Old/2024")
    assert "Imported 5 messages into Old/2024" in out and "messages/s" in out
    out = run("export", "u@example.org", "--maildir", str(tmp_path / "md"),
              "--folder", "Old/2024")
    assert "Exported 5 messages" in out
    files = sorted((tmp_path / "md" / "cur").iterdir(), key=lambda p: p.name)
    assert sorted(p.read_bytes() for p in files) == sorted(messages)
    out = run("import", "u@example.org", "--maildir", str(tmp_path / "md"))
    assert "Imported 5 messages into INBOX" in out


def test_import_of_a_corrupt_mbox_reports_what_was_skipped(run, tmp_path: Path) -> None:
    run("domain", "add", "example.org")
    run("user", "add", "u@example.org", "--password", "p")
    mbox = tmp_path / "bad.mbox"
    mbox.write_bytes(b"\x00\xffgarbage\n\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: ok\n\nx\n")
    out = run("import", "u@example.org", "--mbox", str(mbox), code=1)
    assert "Imported 1 messages" in out and "Skipped 1 message" in out
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 10)
    out = run("import", "u@example.org", "--mbox", str(garbage), code=1)
    assert "not an mbox file" in out


def test_main_turns_an_unexpected_error_into_one_line(monkeypatch, capsys) -> None:
    import postroom.cli as cli_mod

    def boom(*a, **k):
        raise RuntimeError("kaputt")

    monkeypatch.setattr(cli_mod, "load_config", boom)
    monkeypatch.delenv("POSTROOM_DEBUG", raising=False)
    with pytest.raises(SystemExit) as e:
        main(["domain", "list"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaputt" in err and "Traceback" not in err


def test_version_and_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "domain", "user", "alias", "import", "export", "check-config"):
        assert command in result.output


def test_domain_dkim_makes_a_key_once_and_shows_the_record(run) -> None:
    run("domain", "add", "example.org")
    first = run("domain", "dkim", "example.org")
    assert "postroom._domainkey.example.org. IN TXT" in first and "v=DKIM1; k=rsa; p=" in first
    assert run("domain", "dkim", "example.org") in first   # the same key the second time
    assert "yes" in run("domain", "list")
    renewed = run("domain", "dkim", "example.org", "--new", "--selector", "s2")
    assert "s2._domainkey.example.org." in renewed
    assert "no such domain" in run("domain", "dkim", "other.org", code=1)


def test_queue_list_flush_delete(run) -> None:
    async def put() -> int:
        store = SQLiteStore(run.data)
        await store.open()
        try:
            return await store.queue_put("a@example.org", ["x@remote.example"],
                                         b"Subject: hi\r\n\r\nhi\r\n")
        finally:
            await store.close()

    assert "empty" in run("queue", "list")
    qid = asyncio.run(put())
    out = run("queue", "list")
    assert "x@remote.example" in out and "a@example.org" in out
    assert "1 message(s) due now" in run("queue", "flush")
    assert f"Deleted queued message {qid}" in run("queue", "delete", str(qid))
    assert "no queued message" in run("queue", "delete", str(qid), code=1)
    assert "empty" in run("queue", "list")

"""The ``postroom`` command line: ``serve``, and the admin commands that work on the store directly
(domains, users, aliases, import/export, config checks), safe to run while the server runs.

Every failure the user can cause is a one-line message and a non-zero exit, never a traceback
(set POSTROOM_DEBUG=1 to see one for a real bug). Tables and progress bars are drawn with rich.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import os
import sys
import time
import tokenize
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import click
from rich.console import Console
from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from postroom import __version__
from postroom import config as config_mod
from postroom.config import Config, ConfigError
from postroom.store.api import AlreadyExists, Conflict, NotFound, Store, StoreError

T = TypeVar("T")

EXIT_ERROR = 1
EXIT_CONFIG = 2


class CLIError(click.ClickException):
    """A clear one-line failure with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _console() -> Console:
    # Created per call: click's test runner swaps sys.stdout between invocations.
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped into grep or a file: do not wrap addresses at an imaginary 80 columns.
        console.width = max(console.width, 200)
    return console


# --- configuration and store plumbing -----------------------------------------------------------

def config_options(f: Callable) -> Callable:
    f = click.option("--data", "data_dir", metavar="DIR", envvar="POSTROOM_DATA",
                     help="Data directory (overrides server.data_dir). Env: POSTROOM_DATA.")(f)
    f = click.option("--config", "config_file", metavar="FILE", envvar="POSTROOM_CONFIG",
                     help="TOML configuration file (default: built-in defaults). "
                          "Env: POSTROOM_CONFIG.")(f)
    return f


def load_config(config_file: str | None, data_dir: str | None) -> Config:
    try:
        return config_mod.load(config_file, data_dir)
    except ConfigError as e:
        where = f"{config_file}: " if config_file and not str(e).startswith(config_file) else ""
        raise CLIError(f"configuration error: {where}{e}", EXIT_CONFIG) from None


def with_store(cfg: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    """Opens the store, runs ``work`` on it, closes it; store errors become CLI errors."""
    from postroom.server import open_store, run_loop

    async def go() -> T:
        store = open_store(cfg)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return run_loop(go())
    except ConfigError as e:
        raise CLIError(f"configuration error: {e}", EXIT_CONFIG) from None
    except StoreError as e:
        raise CLIError(str(e) or type(e).__name__) from None
    except OSError as e:
        raise CLIError(f"cannot use the data directory {cfg.data_path}: "
                       f"{e.strerror or e}") from None


def _email(value: str) -> str:
    value = value.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or " " in value:
        raise CLIError(f"not an e-mail address: {value!r}")
    return value


async def _account(store: Store, email: str) -> Any:
    account = await store.get_account(email)
    if account is None:
        raise CLIError(f"no such user: {email}")
    return account


async def _hosted_domain(store: Store, domain: str) -> None:
    if await store.get_domain(domain) is None:
        raise CLIError(f"the domain {domain} is not hosted here; add it first with "
                       f"'postroom domain add {domain}'")


def _read_password(password: str | None) -> str:
    if password == "-":
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    if not password:
        raise CLIError("the password must not be empty")
    return password


def _credentials(password: str) -> tuple[str, Any]:
    from postroom.auth.passwords import make_credentials
    return make_credentials(password)


def _mb(n: int) -> str:
    return "unlimited" if n == 0 else f"{n / (1024 * 1024):.1f} MB"


# --- the group ----------------------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="postroom")
def cli() -> None:
    """Postroom: one mail and collaboration server (IMAP, POP3, SMTP, ActiveSync, CalDAV/CardDAV) over one store."""


@cli.command()
@config_options
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes serving the same ports (default: server.workers).")
def serve(config_file: str | None, data_dir: str | None, workers: int | None) -> None:
    """Start every enabled door. Ctrl-C or SIGTERM stops it."""
    from postroom import server
    from postroom.log import setup_logging

    cfg = load_config(config_file, data_dir)
    if workers is not None:
        cfg.server.workers = workers
    problems = server.check_config(cfg)
    if problems:
        raise CLIError("configuration error: " + "; ".join(problems), EXIT_CONFIG)
    setup_logging(cfg.server.log_level)
    try:
        code = server.serve(cfg, _console())
    except ConfigError as e:
        raise CLIError(f"configuration error: {e}", EXIT_CONFIG) from None
    except StoreError as e:
        raise CLIError(f"store: {e}") from None
    except OSError as e:
        # Most often a port already in use or a data directory we may not write.
        raise CLIError(f"cannot start: {e}") from None
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)


@cli.command("check-config")
@click.argument("file", required=False)
@click.option("--print-defaults", is_flag=True,
              help="Print every setting with its default and description, as TOML.")
@config_options
def check_config(file: str | None, print_defaults: bool, config_file: str | None,
                 data_dir: str | None) -> None:
    """Validate a configuration file: says OK, or what is wrong and where."""
    from postroom.server import check_config as semantic_problems

    if print_defaults:
        click.echo(example_config(), nl=False)
        return

    path = file or config_file
    name = path or "built-in defaults"
    try:
        cfg = config_mod.load(path, data_dir)
    except ConfigError as e:
        msg = str(e)
        if path and msg.startswith(path):
            msg = msg[len(path):].lstrip(": ")
        raise CLIError(f"{name}: {msg}") from None
    problems = semantic_problems(cfg)
    if problems:
        raise CLIError("\n".join(f"{name}: {p}" for p in problems))
    click.echo(f"{name}: OK")


_SECTION_NOTES = {
    "server": "The process: where data lives, what it listens on, how many workers, logging.",
    "tls": "Certificates for STARTTLS and implicit TLS on every door.",
    "auth": "Logins: where plaintext passwords are accepted, and failed-login limits.",
    "store": "The one store every door shares.",
    "imap": "IMAP4rev2/IMAP4rev1 door (RFC 9051, RFC 3501).",
    "pop3": "POP3 door (RFC 1939).",
    "smtp": "SMTP: receiving (MX), submission for clients, and the outbound queue.",
    "http": "HTTP: web app, ActiveSync, CalDAV/CardDAV (as those doors arrive).",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)   # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def example_config() -> str:
    """Every setting with its default, commented from ``config.py`` itself, so the example file
    (``postroom check-config --print-defaults > postroom.example.toml``) cannot drift."""
    source = inspect.getsource(config_mod)
    lines = source.splitlines()
    comments = {tok.start[0]: tok.string.lstrip("# ").rstrip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    classes = {node.name: node for node in ast.parse(source).body
               if isinstance(node, ast.ClassDef)}
    out = ["# Postroom configuration: every setting, set to its default.",
           "# Copy what you change into your own file and run: postroom serve --config FILE",
           "# Check a file with: postroom check-config FILE",
           "# Made by: postroom check-config --print-defaults"]
    defaults = Config()
    for section in dataclasses.fields(Config):
        settings = getattr(defaults, section.name)
        node = classes[type(settings).__name__]
        note = _SECTION_NOTES.get(section.name) or \
            (ast.get_docstring(node) or section.name).splitlines()[0]
        out += ["", f"# {note}", f"[{section.name}]"]
        for stmt in node.body:
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                continue
            key = stmt.target.id
            above = []
            n = stmt.lineno - 1
            while n >= 1 and lines[n - 1].strip().startswith("#"):
                above.insert(0, comments.get(n, ""))
                n -= 1
            out += [f"# {c}" for c in above]
            line = f"{key} = {_toml_value(getattr(settings, key))}"
            notes = [comments[stmt.lineno]] if stmt.lineno in comments else []
            choices = config_mod._CHOICES.get(f"{section.name}.{key}")
            if choices and not any("\"" in c for c in notes + above):
                notes.append("one of: " + ", ".join(choices))
            if notes:
                line = f"{line:<40} # " + "; ".join(notes)
            out.append(line)
    return "\n".join(out) + "\n"


# --- domains ------------------------------------------------------------------------------------

@cli.group()
def domain() -> None:
    """Domains this server receives mail for."""


@domain.command("add")
@click.argument("name")
@config_options
def domain_add(name: str, config_file: str | None, data_dir: str | None) -> None:
    """Host a new domain."""
    name = name.strip().lower().rstrip(".")
    if "." not in name or "@" in name or " " in name:
        raise CLIError(f"not a domain name: {name!r}")
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> None:
        try:
            await store.add_domain(name)
        except AlreadyExists:
            raise CLIError(f"the domain {name} already exists") from None

    with_store(cfg, work)
    click.echo(f"Added domain {name}")


@domain.command("list")
@config_options
def domain_list(config_file: str | None, data_dir: str | None) -> None:
    """List hosted domains."""
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> list[tuple[str, int, bool]]:
        rows = []
        for d in await store.list_domains():
            accounts = await store.list_accounts(d.name)
            rows.append((d.name, len(accounts), bool(d.dkim_selector)))
        return rows

    rows = with_store(cfg, work)
    table = Table("domain", "users", "DKIM")
    for name, users, dkim in rows:
        table.add_row(name, str(users), "yes" if dkim else "no")
    _console().print(table if rows else "No domains.")


@domain.command("remove")
@click.argument("name")
@config_options
def domain_remove(name: str, config_file: str | None, data_dir: str | None) -> None:
    """Stop hosting a domain (it must have no users left)."""
    name = name.strip().lower()
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> None:
        try:
            await store.remove_domain(name)
        except NotFound:
            raise CLIError(f"no such domain: {name}") from None
        except Conflict:
            raise CLIError(f"the domain {name} still has users; remove them first") from None

    with_store(cfg, work)
    click.echo(f"Removed domain {name}")


@domain.command("dkim")
@click.argument("name")
@click.option("--selector", default="postroom", show_default=True,
              help="DKIM selector for a new key.")
@click.option("--new", "renew", is_flag=True, help="Make a new key even if one exists.")
@config_options
def domain_dkim(name: str, selector: str, renew: bool, config_file: str | None,
                data_dir: str | None) -> None:
    """Show the DKIM DNS record of a domain, making its signing key first if it has none."""
    from postroom.smtp import admin

    name = name.strip().lower()
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> tuple[str, bool]:
        try:
            record = None if renew else await admin.show_dkim(store, name)
            if record is not None:
                return record, False
            return await admin.generate_dkim(store, name, selector), True
        except NotFound:
            raise CLIError(f"no such domain: {name}") from None

    record, made = with_store(cfg, work)
    if made:
        click.echo(f"Made a new DKIM key for {name}. Publish this DNS record:", err=True)
    click.echo(record)


# --- users --------------------------------------------------------------------------------------

@cli.group()
def user() -> None:
    """Mail accounts (the login name is the full address)."""


@user.command("add")
@click.argument("email")
@click.option("--password", metavar="PW", help="The password; '-' reads it from stdin; "
                                               "prompted (twice) when not given.")
@click.option("--quota", type=click.IntRange(min=0), default=None, metavar="MB",
              help="Quota in MB, 0 = unlimited (default: store.default_quota_mb).")
@config_options
def user_add(email: str, password: str | None, quota: int | None, config_file: str | None,
             data_dir: str | None) -> None:
    """Create an account with the default folders."""
    email = _email(email)
    cfg = load_config(config_file, data_dir)
    quota_mb = cfg.store.default_quota_mb if quota is None else quota

    async def check(store: Store) -> None:
        await _hosted_domain(store, email.rpartition("@")[2])
        if await store.get_account(email) is not None:
            raise CLIError(f"the user {email} already exists")

    # Checked before prompting, so nobody types a password twice for nothing.
    with_store(cfg, check)
    password_hash, scram = _credentials(_read_password(password))

    async def work(store: Store) -> None:
        try:
            await store.create_account(email, password_hash, scram, quota_mb * 1024 * 1024)
        except AlreadyExists:
            raise CLIError(f"the user {email} already exists") from None

    with_store(cfg, work)
    click.echo(f"Created user {email}")


@user.command("list")
@click.option("--domain", "domain_name", metavar="DOMAIN", help="Only this domain's users.")
@config_options
def user_list(domain_name: str | None, config_file: str | None, data_dir: str | None) -> None:
    """List accounts with their usage and quota."""
    cfg = load_config(config_file, data_dir)
    accounts = with_store(cfg, lambda store: store.list_accounts(
        domain_name.lower() if domain_name else None))
    table = Table("user", "used", "quota")
    for a in sorted(accounts, key=lambda a: a.email):
        table.add_row(a.email, _mb(a.used_bytes) if a.used_bytes else "0 MB", _mb(a.quota_bytes))
    _console().print(table if accounts else "No users.")


@user.command("passwd")
@click.argument("email")
@click.option("--password", metavar="PW", help="The new password; '-' reads it from stdin.")
@config_options
def user_passwd(email: str, password: str | None, config_file: str | None,
                data_dir: str | None) -> None:
    """Set a user's password."""
    email = _email(email)
    cfg = load_config(config_file, data_dir)
    with_store(cfg, lambda store: _account(store, email))
    password_hash, scram = _credentials(_read_password(password))

    async def work(store: Store) -> None:
        account = await _account(store, email)
        await store.update_account(account.id, password_hash=password_hash, scram=scram)

    with_store(cfg, work)
    click.echo(f"Changed the password of {email}")


@user.command("quota")
@click.argument("email")
@click.argument("mb", type=click.IntRange(min=0))
@config_options
def user_quota(email: str, mb: int, config_file: str | None, data_dir: str | None) -> None:
    """Set a user's quota in MB (0 = unlimited)."""
    email = _email(email)
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> None:
        account = await _account(store, email)
        await store.update_account(account.id, quota_bytes=mb * 1024 * 1024)

    with_store(cfg, work)
    click.echo(f"Quota of {email}: {_mb(mb * 1024 * 1024)}")


@user.command("remove")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_options
def user_remove(email: str, yes: bool, config_file: str | None, data_dir: str | None) -> None:
    """Delete an account and all its mail."""
    email = _email(email)
    cfg = load_config(config_file, data_dir)
    with_store(cfg, lambda store: _account(store, email))
    if not yes:
        click.confirm(f"Delete {email} and all its mail?", abort=True, err=True)

    async def work(store: Store) -> None:
        account = await _account(store, email)
        await store.delete_account(account.id)

    with_store(cfg, work)
    click.echo(f"Removed user {email}")


# --- aliases ------------------------------------------------------------------------------------

@cli.group()
def alias() -> None:
    """Extra addresses delivering to an account. "@domain" is a catch-all;
    user+tag@domain reaches user@domain without any alias."""


@alias.command("add")
@click.argument("address")
@click.argument("target")
@config_options
def alias_add(address: str, target: str, config_file: str | None, data_dir: str | None) -> None:
    """Deliver mail for ADDRESS (or "@domain": everything else there) to the user TARGET."""
    address = address.strip().lower()
    if not address.startswith("@"):
        address = _email(address)
    elif "." not in address[1:]:
        raise CLIError(f"not a catch-all address: {address!r} (use @domain)")
    target = _email(target)
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> None:
        await _hosted_domain(store, address.rpartition("@")[2])
        await _account(store, target)
        if await store.get_account(address) is not None:
            raise CLIError(f"{address} is already a user")
        try:
            await store.add_alias(address, target)
        except AlreadyExists:
            raise CLIError(f"the alias {address} already exists") from None

    with_store(cfg, work)
    click.echo(f"{address} -> {target}")


@alias.command("list")
@click.option("--domain", "domain_name", metavar="DOMAIN", help="Only this domain's aliases.")
@config_options
def alias_list(domain_name: str | None, config_file: str | None, data_dir: str | None) -> None:
    """List aliases and catch-alls."""
    cfg = load_config(config_file, data_dir)
    aliases = with_store(cfg, lambda store: store.list_aliases(
        domain_name.lower() if domain_name else None))
    table = Table("address", "delivers to")
    for a in sorted(aliases, key=lambda a: (a.address.rpartition("@")[2], a.address)):
        table.add_row(a.address + ("  (catch-all)" if a.address.startswith("@") else ""),
                      a.target)
    _console().print(table if aliases else "No aliases.")


@alias.command("remove")
@click.argument("address")
@config_options
def alias_remove(address: str, config_file: str | None, data_dir: str | None) -> None:
    """Remove an alias or catch-all."""
    address = address.strip().lower()
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> None:
        try:
            await store.remove_alias(address)
        except NotFound:
            raise CLIError(f"no such alias: {address}") from None

    with_store(cfg, work)
    click.echo(f"Removed alias {address}")


@cli.group()
def queue() -> None:
    """The outbound mail queue."""


@queue.command("list")
@config_options
def queue_list(config_file: str | None, data_dir: str | None) -> None:
    """Show queued messages with their recipients, attempts and last error."""
    from postroom.smtp import admin

    cfg = load_config(config_file, data_dir)
    entries = with_store(cfg, admin.queue_list)
    if not entries:
        click.echo("Mail queue is empty")
        return
    now = time.time()
    table = Table("id", "from", "to", "size", "attempts", "next try", "last error")
    for q in entries:
        table.add_row(str(q.id), q.sender or "<>", "\n".join(q.recipients), str(q.size),
                      str(q.attempts), f"in {max(0, int(q.next_attempt - now))} s",
                      q.last_error)
    _console().print(table)


@queue.command("flush")
@config_options
def queue_flush(config_file: str | None, data_dir: str | None) -> None:
    """Make every queued message due now."""
    from postroom.smtp import admin

    cfg = load_config(config_file, data_dir)
    n = with_store(cfg, admin.queue_flush)
    click.echo(f"{n} message(s) due now")


@queue.command("delete")
@click.argument("queue_id", metavar="ID", type=int)
@click.option("--bounce", is_flag=True, help="Tell the sender with a delivery failure notice.")
@config_options
def queue_delete(queue_id: int, bounce: bool, config_file: str | None,
                 data_dir: str | None) -> None:
    """Remove a message from the queue."""
    from postroom.smtp import admin

    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> None:
        try:
            await admin.queue_delete(store, queue_id, bounce=bounce,
                                     reporting_mta=cfg.server.hostname)
        except NotFound:
            raise CLIError(f"no queued message {queue_id}") from None

    with_store(cfg, work)
    click.echo(f"Deleted queued message {queue_id}" + (" and told its sender" if bounce else ""))


# --- import and export --------------------------------------------------------------------------

def _progress(description: str) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                    TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True))


@cli.command("import")
@click.argument("email", metavar="USER")
@click.option("--mbox", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="An mbox file (mboxrd or mboxo).")
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="A Maildir; Maildir++ subfolders become folders.")
@click.option("--folder", default="INBOX", show_default=True, metavar="NAME",
              help="Folder to import into (Maildir subfolders go below it).")
@config_options
def import_cmd(email: str, mbox: Path | None, maildir: Path | None, folder: str,
               config_file: str | None, data_dir: str | None) -> None:
    """Import mail from an mbox file or a Maildir into USER's folders."""
    from postroom import transfer

    if (mbox is None) == (maildir is None):
        raise CLIError("give exactly one of --mbox FILE or --maildir DIR", EXIT_CONFIG)
    source = mbox or maildir
    assert source is not None
    if not source.exists():
        raise CLIError(f"no such {'file' if mbox else 'directory'}: {source}")
    email = _email(email)
    cfg = load_config(config_file, data_dir)
    report = transfer.ImportReport()

    async def work(store: Store) -> transfer.ImportReport:
        account = await _account(store, email)
        with _progress("importing") as progress:
            task = progress.add_task("importing", total=None, count="")

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total,
                                count=f"{report.imported} messages")

            kwargs = dict(max_size=cfg.store.max_message_size, progress=advance, report=report)
            if mbox is not None:
                await transfer.import_mbox(store, account, mbox, folder, **kwargs)
            else:
                await transfer.import_maildir(store, account, maildir, folder, **kwargs)
            progress.update(task, count=f"{report.imported} messages")
        return report

    try:
        with_store(cfg, work)
    except transfer.TransferError as e:
        raise CLIError(str(e)) from None
    out = _console()
    for w in report.warnings:
        out.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    where = ", ".join(f"{n} ({c})" for n, c in report.folders.items()) or folder
    out.print(f"Imported {report.imported} messages into {where} in {report.seconds:.1f} s "
              f"({report.rate:.0f} messages/s).", soft_wrap=True)
    if report.skipped:
        out.print(f"[red]Skipped {len(report.skipped)} message(s):[/]")
        for s in report.skipped[:20]:
            out.print(f"  {s.origin}: {s.reason}", soft_wrap=True, markup=False)
        if len(report.skipped) > 20:
            out.print(f"  ... and {len(report.skipped) - 20} more")
    if report.stopped:
        raise CLIError(f"import stopped: {report.stopped}")
    if report.skipped:
        sys.exit(EXIT_ERROR)


@cli.command("export")
@click.argument("email", metavar="USER")
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              required=True, help="Destination Maildir (created if missing).")
@click.option("--folder", default=None, metavar="NAME",
              help="Export only this folder, into the Maildir's root (default: all folders).")
@click.option("--crlf", is_flag=True, help="Keep CRLF line ends (default: LF, as Maildir "
                                           "tools expect).")
@config_options
def export_cmd(email: str, maildir: Path, folder: str | None, crlf: bool,
               config_file: str | None, data_dir: str | None) -> None:
    """Export USER's mail as a Maildir++ tree (flags in file names, subfolders as .A.B)."""
    from postroom import transfer

    email = _email(email)
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> transfer.ExportReport:
        account = await _account(store, email)
        with _progress("exporting") as progress:
            task = progress.add_task("exporting", total=None, count="")

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, count=f"{done} messages")

            return await transfer.export_maildir(store, account, maildir, folder, crlf=crlf,
                                                 progress=advance)

    try:
        report = with_store(cfg, work)
    except transfer.TransferError as e:
        raise CLIError(str(e)) from None
    out = _console()
    out.print(f"Exported {report.exported} messages from {len(report.folders)} folder(s) to "
              f"{maildir} in {report.seconds:.1f} s.", soft_wrap=True)
    if report.dropped_keywords:
        out.print(f"[yellow]warning:[/] Maildir keeps at most 26 keywords per folder; not "
                  f"written: {', '.join(sorted(report.dropped_keywords))}", soft_wrap=True)


# --- calendars and contacts (postroom/pim/transfer.py) -----------------------------------------

def _pim_commands(kind: str, noun: str, ext: str) -> click.Group:
    @click.group(name=noun if noun == "calendar" else "contacts",
                 help=f"Import and export {'calendars (.ics)' if ext == 'ics' else 'address books (.vcf)'}.")
    def group() -> None:
        pass

    @group.command("import", help=f"Import FILE (.{ext}) into USER's {noun}; items with a "
                   "UID already there are replaced.")
    @click.argument("email", metavar="USER")
    @click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
    @click.option("--collection", metavar="NAME", help="Into this collection (created when "
                  "missing); default: the user's default one.")
    @config_options
    def import_pim(email: str, file: Path, collection: str | None, config_file: str | None,
                   data_dir: str | None) -> None:
        from postroom.pim import transfer as pim_transfer
        email = _email(email)
        cfg = load_config(config_file, data_dir)

        async def work(store: Store):
            account = await _account(store, email)
            with _progress("importing") as progress:
                task = progress.add_task("importing", total=None, count="")
                return await pim_transfer.import_file(
                    store, account, file, kind, collection,
                    progress=lambda d, t: progress.update(task, completed=d, total=t,
                                                          count=f"{d} of {t}"))
        try:
            report = with_store(cfg, work)
        except pim_transfer.TransferError as e:
            raise CLIError(str(e)) from None
        out = _console()
        out.print(f"Imported {report.imported} item(s) ({report.replaced} replaced) in "
                  f"{report.seconds:.1f} s.", soft_wrap=True)
        for where, why in report.skipped[:20]:
            out.print(f"  skipped {where}: {why}", soft_wrap=True, markup=False)
        if report.skipped:
            sys.exit(EXIT_ERROR)

    @group.command("export", help=f"Write USER's {noun} to FILE (.{ext}).")
    @click.argument("email", metavar="USER")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--collection", metavar="NAME", help="Only this collection (default: all).")
    @config_options
    def export_pim(email: str, file: Path, collection: str | None, config_file: str | None,
                   data_dir: str | None) -> None:
        from postroom.pim import transfer as pim_transfer
        email = _email(email)
        cfg = load_config(config_file, data_dir)

        async def work(store: Store):
            account = await _account(store, email)
            with _progress("exporting") as progress:
                task = progress.add_task("exporting", total=None, count="")
                return await pim_transfer.export_text(
                    store, account, kind, collection,
                    progress=lambda d, t: progress.update(task, completed=d, total=t,
                                                          count=f"{d} of {t}"))
        try:
            text, report = with_store(cfg, work)
        except pim_transfer.TransferError as e:
            raise CLIError(str(e)) from None
        file.write_text(text, encoding="utf-8", newline="")
        _console().print(f"Exported {report.exported} item(s) to {file}.", soft_wrap=True)

    return group


cli.add_command(_pim_commands("calendar", "calendar", "ics"))
cli.add_command(_pim_commands("addressbook", "contacts", "vcf"))


# --- ActiveSync devices -------------------------------------------------------------------------

@cli.group()
def device() -> None:
    """ActiveSync devices: list, remote wipe, block and allow."""


@device.command("list")
@click.argument("user", required=False)
@config_options
def device_list(user: str | None, config_file: str | None, data_dir: str | None) -> None:
    """List devices (of USER, or of every user)."""
    cfg = load_config(config_file, data_dir)

    async def work(store: Store) -> list[tuple]:
        import datetime as dt
        emails = {a.id: a.email for a in await store.list_accounts()}
        account_id = (await _account(store, _email(user))).id if user else None
        rows = []
        for d in await store.eas_list_devices(account_id):
            seen = dt.datetime.fromtimestamp(d.last_seen, dt.timezone.utc)
            rows.append((emails.get(d.account_id, str(d.account_id)), d.device_id,
                         d.device_type, d.info.get("Model", ""), d.policy_state,
                         d.wipe or "-", d.access, seen.strftime("%Y-%m-%d %H:%M")))
        return rows

    rows = with_store(cfg, work)
    table = Table("user", "device id", "type", "model", "policy", "wipe", "access", "last seen")
    for row in rows:
        table.add_row(*row)
    _console().print(table if rows else "No devices.")


def _device_command(name: str, help_text: str, message: str, **changes: Any) -> None:
    @device.command(name, help=help_text)
    @click.argument("user")
    @click.argument("device_id")
    @config_options
    def command(user: str, device_id: str, config_file: str | None, data_dir: str | None,
                **options: Any) -> None:
        cfg = load_config(config_file, data_dir)

        async def work(store: Store) -> None:
            account = await _account(store, _email(user))
            values = dict(changes)
            if options.get("account_only"):
                values["wipe"] = "account-requested"
            await store.eas_update_device(account.id, device_id, **values)

        with_store(cfg, work)
        _console().print(message.format(device=device_id, user=user), soft_wrap=True)

    if name == "wipe":
        click.option("--account-only", is_flag=True,
                     help="Remove only this account's data (EAS 16.1 devices).")(command)


_device_command("wipe", "Wipe DEVICE_ID of USER at its next connection (MS-ASPROV RemoteWipe).",
                "Device {device} of {user} will be wiped at its next connection.",
                wipe="requested", access="allowed")
_device_command("block", "Refuse every request of DEVICE_ID of USER (HTTP 403).",
                "Device {device} of {user} is blocked.", access="blocked")
_device_command("allow", "Allow DEVICE_ID of USER again (and forget a finished wipe).",
                "Device {device} of {user} is allowed.", access="allowed", wipe="")


# --- entry point --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """Console script: a real bug prints one line (a traceback with POSTROOM_DEBUG=1)."""
    try:
        cli.main(args=argv, prog_name="postroom")
    except SystemExit:
        raise
    except Exception as e:
        if os.environ.get("POSTROOM_DEBUG"):
            raise
        click.echo(f"postroom: internal error: {type(e).__name__}: {e} "
                   f"(set POSTROOM_DEBUG=1 to see the traceback)", err=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":   # pragma: no cover
    main()

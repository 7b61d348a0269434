"""swaks, a real SMTP client, against the SMTP door: inbound delivery, relay refusal, size
limit, authenticated submission with STARTTLS and on the implicit-TLS port."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from tests.smtp.env import PASSWORD, running_smtp

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")]


async def swaks(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "swaks", "--server", "127.0.0.1", "--helo", "client.example.org", "--timeout", "10",
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode("utf-8", "replace")


@pytest.fixture
async def env(tmp_path):
    async with running_smtp(tmp_path, store_max_message_size=20000) as e:
        yield e


async def test_swaks_delivers_to_a_local_user(env):
    code, out = await swaks("--port", str(env.mx_port), "--from", "carol@example.org",
                            "--to", "alice@example.test", "--header", "Subject: via swaks")
    assert code == 0, out
    [stored] = await env.messages("alice")
    assert b"Subject: via swaks" in stored


async def test_swaks_relay_attempt_is_refused(env):
    code, out = await swaks("--port", str(env.mx_port), "--from", "carol@example.org",
                            "--to", "victim@elsewhere.org")
    assert code != 0 and "550 5.7.1" in out


async def test_swaks_oversized_message_is_refused(env):
    code, out = await swaks("--port", str(env.mx_port), "--from", "carol@example.org",
                            "--to", "alice@example.test", "--body", ("x" * 70 + "\n") * 400)
    assert code != 0 and "552" in out
    assert await env.messages("alice") == []


async def test_swaks_submission_with_starttls_and_auth(env):
    code, out = await swaks("--port", str(env.submission_port), "--tls",
                            "--auth", "PLAIN", "--auth-user", "alice@example.test",
                            "--auth-password", PASSWORD, "--from", "alice@example.test",
                            "--to", "bob@example.test")
    assert code == 0, out
    assert "235 2.7.0" in out
    assert len(await env.messages("bob")) == 1


async def test_swaks_submission_without_auth_is_refused(env):
    code, out = await swaks("--port", str(env.submission_port), "--from", "alice@example.test",
                            "--to", "bob@example.test")
    assert code != 0 and "530 5.7.0" in out


async def test_swaks_submission_as_another_user_is_refused(env):
    code, out = await swaks("--port", str(env.submissions_port), "--tlsc",
                            "--auth", "LOGIN", "--auth-user", "alice@example.test",
                            "--auth-password", PASSWORD, "--from", "bob@example.test",
                            "--to", "bob@example.test")
    assert code != 0 and "553 5.7.1" in out
    assert await env.messages("bob") == []

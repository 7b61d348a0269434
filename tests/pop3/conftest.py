"""Fixtures of the POP3 tests: a running door (see env.py)."""

import pytest

from .env import running_pop3


@pytest.fixture
async def pop3(tmp_path):
    async with running_pop3(tmp_path) as env:
        yield env

"""Fixtures of the SMTP tests: a running door with users alice and bob (see env.py)."""

import pytest

from .dnsserver import TestDNS
from .env import running_smtp


@pytest.fixture
def dns():
    server = TestDNS().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def smtp(tmp_path, dns):
    async with running_smtp(tmp_path, dns=dns) as env:
        yield env

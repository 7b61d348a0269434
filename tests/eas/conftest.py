import pytest

from ..dav.env import running_dav
from .client import EasClient


@pytest.fixture
async def eas(tmp_path):
    """A running HTTP door (TLS and plain) with users alice, bob and carol."""
    async with running_dav(tmp_path, tls=True) as env:
        env.config.eas.min_heartbeat_seconds = 1
        yield env


@pytest.fixture
async def phone(eas):
    """Alice's provisioned device over HTTPS, speaking 16.1."""
    c = EasClient(f"https://127.0.0.1:{eas.door.ports['https']}")
    await c.provision()
    try:
        yield c
    finally:
        await c.close()

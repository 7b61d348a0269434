import pytest

from tests.dav.env import running_dav


@pytest.fixture
async def dav(tmp_path):
    async with running_dav(tmp_path) as env:
        yield env

"""The members tests' cloud (real app and database, issuer, people, tokens) for bookings."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud.members.world import Cloud, open_cloud


@pytest.fixture
def cloud(migrated_db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    with open_cloud(migrated_db_url, tmp_path) as opened:
        yield opened

"""The API's tests run against the roster tests' cloud: the real app on a migrated database,
one person per role, integration tokens made to measure."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud.members.world import Cloud, open_cloud


@pytest.fixture
def cloud(migrated_db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    with open_cloud(migrated_db_url, tmp_path) as opened:
        yield opened

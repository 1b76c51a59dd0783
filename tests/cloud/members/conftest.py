"""A migrated cloud database per test, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cloud.core.db import make_engine
from tests.cloud.members.world import Cloud, open_cloud


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cloud(migrated_db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    with open_cloud(migrated_db_url, tmp_path) as opened:
        yield opened

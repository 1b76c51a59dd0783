"""A migrated cloud database per test, on SQLite and PostgreSQL."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from cloud.core.db import make_engine


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()

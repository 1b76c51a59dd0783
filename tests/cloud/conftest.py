"""Fixtures the cloud's tests share; a module that needs seeded rows overrides ``engine``."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from cloud.core.db import make_engine


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a database at the newest migration, on SQLite and PostgreSQL in turn."""
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()

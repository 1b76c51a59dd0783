"""A migrated cloud database per test (SQLite and PostgreSQL) and small ledger helpers."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.db import make_engine
from cloud.migrate import upgrade
from cloud.points import ledger

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def grant(session: Session, member_id: str, points: int, *, key: str | None = None) -> None:
    """Issue ``points`` from the union's pool to a member."""
    ledger.post(
        session=session,
        key=key or f"grant:{member_id}:{points}",
        kind="grant",
        lines=[(ledger.POOL, -points), (ledger.member_account(member_id), points)],
        at=NOW,
    )

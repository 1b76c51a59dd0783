"""A migrated cloud database per test (SQLite and PostgreSQL) and small ledger helpers."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.core.db import make_engine
from cloud.models import Venue
from cloud.points import ledger
from cloud.points.catalog_models import KioskSlot, Product

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
SLOT = "1"  # what every test kiosk sells in slot 1
PRICE = 10


def sell(engine: Engine, *kiosk_ids: str, venue_id: str = "v-points", stock: int = 100) -> None:
    """Each kiosk sells one product for PRICE points in slot 1 (redemptions check the menu)."""
    with Session(engine) as session:
        if session.get(Venue, venue_id) is None:
            session.add(Venue(id=venue_id, name="Points test venue"))
        product = Product(name_zh="水", name_en="Water", price=PRICE)
        session.add(product)
        session.flush()
        for kiosk_id in kiosk_ids:
            session.add(
                KioskSlot(
                    kiosk_id=kiosk_id,
                    slot=int(SLOT),
                    venue_id=venue_id,
                    product_id=product.id,
                    stock=stock,
                    capacity=max(stock, 1),
                )
            )
        session.commit()


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    sell(engine, "kiosk-1", "kiosk-2")
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

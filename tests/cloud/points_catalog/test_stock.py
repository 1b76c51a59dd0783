"""Taking and returning items for redemptions; stock never below zero; low-stock alerts."""

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.alerts.models import Alert, AlertStatus
from cloud.devices.models import Device
from cloud.points import catalog
from cloud.points.catalog_models import KioskSlot, MovementKind, StockMovement
from tests.cloud.points_catalog.factories import SHANGHAI_VENUE, product_and_slot, utc

KIOSK = "kiosk-sh"
NOW = utc(2025, 6, 1, 8)


@pytest.fixture
def kiosk(engine: Engine) -> Engine:
    with Session(engine) as session:
        session.add(Device(id=KIOSK, venue_id=SHANGHAI_VENUE))
        session.commit()
    return engine


def take(engine: Engine, txn: str, slot: int | str = 1) -> StockMovement:
    with Session(engine) as session:
        movement = catalog.take_from_slot(
            session=session, kiosk_id=KIOSK, slot=slot, transaction_id=txn, at=NOW
        )
        session.commit()
        session.refresh(movement)
        return movement


def stock(engine: Engine, slot: int = 1) -> int:
    with Session(engine) as session:
        return catalog.get_slot(session=session, kiosk_id=KIOSK, slot=slot).stock


def alerts(engine: Engine) -> list[Alert]:
    with Session(engine) as session:
        return list(session.exec(select(Alert).order_by(col(Alert.id))).all())


def test_a_take_is_idempotent_on_the_transaction_id(kiosk: Engine) -> None:
    product_and_slot(kiosk, kiosk=KIOSK, venue=SHANGHAI_VENUE, stock=5)

    first = take(kiosk, "txn-1")
    again = take(kiosk, "txn-1", slot="1")  # the kiosk flow may send the slot as text

    assert first.id == again.id
    assert (first.kind, first.delta, first.stock_after) == (MovementKind.TAKE, -1, 4)
    assert stock(kiosk) == 4


def test_the_same_transaction_cannot_take_from_another_slot(kiosk: Engine) -> None:
    product_and_slot(kiosk, kiosk=KIOSK, venue=SHANGHAI_VENUE, slot=1)
    product_and_slot(kiosk, kiosk=KIOSK, venue=SHANGHAI_VENUE, slot=2)
    take(kiosk, "txn-1", slot=1)

    with pytest.raises(catalog.TransactionConflictError):
        take(kiosk, "txn-1", slot=2)
    assert stock(kiosk, 2) == 5


def test_stock_never_goes_below_zero(kiosk: Engine) -> None:
    product_and_slot(kiosk, kiosk=KIOSK, venue=SHANGHAI_VENUE, stock=1, threshold=0)
    take(kiosk, "txn-1")

    with pytest.raises(catalog.OutOfStockError):
        take(kiosk, "txn-2")
    assert stock(kiosk) == 0
    # The database refuses it too, for anything that bypasses the code.
    with Session(kiosk) as session, pytest.raises(IntegrityError):
        session.connection().execute(update(KioskSlot).values(stock=-1))


def test_an_unknown_slot_is_refused(kiosk: Engine) -> None:
    with pytest.raises(catalog.SlotNotFoundError):
        take(kiosk, "txn-1", slot="A1")


def test_return_puts_the_item_back_once(kiosk: Engine) -> None:
    product_and_slot(kiosk, kiosk=KIOSK, venue=SHANGHAI_VENUE, stock=5)
    take(kiosk, "txn-1")

    with Session(kiosk) as session:
        first = catalog.return_to_slot(session=session, transaction_id="txn-1", at=NOW)
        again = catalog.return_to_slot(session=session, transaction_id="txn-1", at=NOW)
        never = catalog.return_to_slot(session=session, transaction_id="txn-9", at=NOW)
        session.commit()

    assert first is not None
    assert again is first
    assert never is None
    assert stock(kiosk) == 5


def test_low_stock_opens_one_alert_and_a_restock_resolves_it(kiosk: Engine) -> None:
    product_and_slot(kiosk, kiosk=KIOSK, venue=SHANGHAI_VENUE, stock=4, threshold=2)

    take(kiosk, "txn-1")  # 3 left: not low yet
    assert alerts(kiosk) == []
    take(kiosk, "txn-2")  # 2 left: low
    take(kiosk, "txn-3")  # 1 left: still the same alert
    opened = alerts(kiosk)
    with Session(kiosk) as session:
        catalog.restock(session=session, kiosk_id=KIOSK, slot=1, quantity=6, by="tom", now=NOW)
    resolved = alerts(kiosk)

    assert len(opened) == 1
    assert opened[0].kind == "low_stock"
    assert (opened[0].device_id, opened[0].sensor) == (KIOSK, "slot1")
    assert opened[0].last_value == 1
    assert opened[0].status == AlertStatus.OPEN
    assert len(resolved) == 1
    assert resolved[0].status == AlertStatus.RESOLVED
    assert resolved[0].auto_resolved


def test_running_low_again_after_a_restock_opens_a_new_alert(kiosk: Engine) -> None:
    product_and_slot(kiosk, kiosk=KIOSK, venue=SHANGHAI_VENUE, stock=3, threshold=2)
    take(kiosk, "txn-1")
    with Session(kiosk) as session:
        catalog.restock(session=session, kiosk_id=KIOSK, slot=1, quantity=1, by="tom", now=NOW)
    take(kiosk, "txn-2")

    assert [a.status for a in alerts(kiosk)] == [AlertStatus.RESOLVED, AlertStatus.OPEN]

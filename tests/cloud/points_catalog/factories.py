"""Small builders for the catalog and earning tests."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.devices.models import Device
from cloud.models import DeviceEvent
from cloud.points import ledger
from cloud.points.catalog_models import KioskSlot, Product

SHANGHAI_VENUE, UTC_VENUE = "station-sh", "station-utc"
KIOSK_A, KIOSK_B = "kiosk-alpha", "kiosk-bravo"
MEMBER = "M-CAROL-0003"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def door_event(
    engine: Engine,
    *,
    seq: int,
    ts: datetime,
    member: str = MEMBER,
    venue: str = SHANGHAI_VENUE,
    reason: str = "accepted",
    received_at: datetime | None = None,
) -> None:
    """An accepted (by default) decision of the venue's door, which is registered as a door."""
    data: dict[str, Any] = {"door": "main", "reason": reason, "member": member, "mode": 1}
    device_id = f"door-{venue}"
    with Session(engine) as session:
        if session.get(Device, device_id) is None:
            session.add(Device(id=device_id, venue_id=venue, role="door"))
            session.commit()  # before the event: only a door's own decisions earn points
        session.add(
            DeviceEvent(
                device_id=device_id,
                seq=seq,
                venue_id=venue,
                type="access.decision",
                ts=ts,
                data=data,
                received_at=received_at or ts,
            )
        )
        session.commit()


def balance(engine: Engine, member: str = MEMBER) -> int:
    with Session(engine) as session:
        return ledger.balance(session=session, account=ledger.member_account(member))


def transfer(engine: Engine, *, key: str, lines: list[tuple[str, int]], at: datetime) -> None:
    with Session(engine) as session:
        ledger.post(session=session, key=key, kind="test", lines=lines, at=at)


def grant(engine: Engine, points: int, *, at: datetime, key: str, member: str = MEMBER) -> None:
    account = ledger.member_account(member)
    transfer(engine, key=key, lines=[(ledger.POOL, -points), (account, points)], at=at)


def product_and_slot(
    engine: Engine,
    *,
    kiosk: str,
    venue: str,
    slot: int = 1,
    stock: int = 5,
    capacity: int = 10,
    threshold: int = 2,
) -> int:
    """A product in ``slot`` of ``kiosk``; returns the product id."""
    with Session(engine) as session:
        product = Product(name_zh="矿泉水", name_en="Water", price=5)
        session.add(product)
        session.flush()
        assert product.id is not None
        session.add(
            KioskSlot(
                kiosk_id=kiosk,
                slot=slot,
                venue_id=venue,
                product_id=product.id,
                stock=stock,
                capacity=capacity,
                low_stock_threshold=threshold,
            )
        )
        session.commit()
        return product.id

"""The kiosk catalog: products, what each kiosk slot holds, and every change to its stock.

Writes take the session as a keyword and flush without committing (except where noted), so
a stock change commits in the caller's transaction: a take in the same transaction as the
redemption's commit posting, a restock with its log row. Stock never goes below zero: the
code refuses it and a CHECK constraint holds it in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from cloud.core.time import utc_now
from cloud.devices.models import Device
from cloud.points import low_stock
from cloud.points.catalog_models import (
    MAX_CAPACITY,
    KioskSlot,
    MovementKind,
    Product,
    ProductCreate,
    ProductUpdate,
    StockMovement,
)


class CatalogError(Exception):
    """A catalog or stock change refused; the message says why and what to do."""


class ProductNotFoundError(CatalogError):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"there is no product {product_id}; GET /api/v1/products lists them")


class ProductInUseError(CatalogError):
    def __init__(self, product_id: int) -> None:
        super().__init__(
            f"product {product_id} is in a kiosk slot; empty those slots first, or set "
            "active=false to stop offering it"
        )


class SlotNotFoundError(CatalogError):
    def __init__(self, kiosk_id: str, slot: int | str) -> None:
        super().__init__(
            f"kiosk {kiosk_id[:32]!r} has no slot {str(slot)[:16]!r}; "
            f"GET /api/v1/kiosks/{kiosk_id[:32]}/slots lists them"
        )


class OutOfStockError(CatalogError):
    def __init__(self, kiosk_id: str, slot: int) -> None:
        super().__init__(f"kiosk {kiosk_id!r} slot {slot} is empty; pick another item")


class InvalidStockError(CatalogError):
    """A stock, capacity or threshold that does not fit the slot."""


class TransactionConflictError(CatalogError):
    """The transaction id took an item from a different slot before."""


@dataclass(frozen=True, slots=True)
class SlotSetting:
    """A slot as it should be; ``stock`` None keeps the counted stock (or 0 for a new slot)."""

    product_id: int | None
    capacity: int
    low_stock_threshold: int = 0
    stock: int | None = None


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One line of a kiosk's menu: what it shows and what a redemption charges."""

    slot: int
    product_id: int
    name_zh: str
    name_en: str
    price: int
    image_url: str | None
    stock: int

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


# --- products ---


def get_product(*, session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise ProductNotFoundError(product_id)
    return product


def create_product(
    *, session: Session, product_in: ProductCreate, by: str, now: datetime
) -> Product:
    product = Product.model_validate(
        product_in, update={"updated_by": by, "created_at": now, "updated_at": now}
    )
    session.add(product)
    session.commit()
    session.refresh(product)
    return product


def update_product(
    *, session: Session, product: Product, update: ProductUpdate, by: str, now: datetime
) -> Product:
    product.sqlmodel_update(update.model_dump(exclude_unset=True))
    product.updated_by, product.updated_at = by, now
    session.add(product)
    session.commit()
    session.refresh(product)
    return product


def delete_product(*, session: Session, product: Product) -> None:
    """Only a product no slot holds; the stock log keeps its id as history."""
    assert product.id is not None  # a stored product
    in_slot = select(KioskSlot.slot).where(KioskSlot.product_id == product.id).limit(1)
    if session.exec(in_slot).first() is not None:
        raise ProductInUseError(product.id)
    session.delete(product)
    session.commit()


def list_products(
    *, session: Session, active: bool | None, limit: int, offset: int
) -> tuple[list[Product], int]:
    query = select(Product)
    count_query = select(func.count()).select_from(Product)
    if active is not None:
        query = query.where(Product.active == active)
        count_query = count_query.where(Product.active == active)
    count = session.exec(count_query).one()
    rows = session.exec(query.order_by(col(Product.id)).offset(offset).limit(limit)).all()
    return list(rows), count


# --- slots ---


def _slot_number(kiosk_id: str, slot: int | str) -> int:
    """Slots are numbers; the kiosk flow may hand one over as text ("3")."""
    if isinstance(slot, int):
        return slot
    if slot.isdigit() and len(slot) <= 6:
        return int(slot)
    raise SlotNotFoundError(kiosk_id, slot)


def get_slot(*, session: Session, kiosk_id: str, slot: int | str, lock: bool = False) -> KioskSlot:
    """The slot; ``lock`` holds its row until commit (PostgreSQL; SQLite locks the file)."""
    query = select(KioskSlot).where(
        KioskSlot.kiosk_id == kiosk_id, KioskSlot.slot == _slot_number(kiosk_id, slot)
    )
    if lock:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise SlotNotFoundError(kiosk_id, slot)
    return found


def list_slots(*, session: Session, kiosk_id: str) -> list[KioskSlot]:
    query = select(KioskSlot).where(KioskSlot.kiosk_id == kiosk_id)
    return list(session.exec(query.order_by(col(KioskSlot.slot))).all())


def _log(
    session: Session,
    slot: KioskSlot,
    *,
    kind: MovementKind,
    delta: int,
    by: str,
    at: datetime,
    transaction_id: str | None = None,
    note: str | None = None,
) -> StockMovement:
    movement = StockMovement(
        kiosk_id=slot.kiosk_id,
        slot=slot.slot,
        venue_id=slot.venue_id,
        product_id=slot.product_id,
        kind=kind,
        delta=delta,
        stock_after=slot.stock,
        transaction_id=transaction_id,
        by=by,
        at=at,
        note=note,
    )
    session.add(movement)
    return movement


def _check_setting(setting: SlotSetting) -> None:
    if not 1 <= setting.capacity <= MAX_CAPACITY:
        raise InvalidStockError(f"capacity must be 1-{MAX_CAPACITY} items")
    if not 0 <= setting.low_stock_threshold < setting.capacity:
        raise InvalidStockError(
            f"low_stock_threshold must be 0-{setting.capacity - 1} (below the capacity)"
        )
    if setting.stock is not None and not 0 <= setting.stock <= setting.capacity:
        raise InvalidStockError(f"stock must be 0-{setting.capacity} (the slot's capacity)")


def set_slot(
    *,
    session: Session,
    kiosk: Device,
    slot: int,
    setting: SlotSetting,
    by: str,
    now: datetime,
) -> KioskSlot:
    """Create or replace a slot; a changed stock is logged as a count. Commits."""
    _check_setting(setting)
    if setting.product_id is not None:
        get_product(session=session, product_id=setting.product_id)
    row = session.get(KioskSlot, (kiosk.id, slot)) or KioskSlot(
        kiosk_id=kiosk.id, slot=slot, venue_id=kiosk.venue_id, capacity=setting.capacity
    )
    stock = row.stock if setting.stock is None else setting.stock
    if stock > setting.capacity:
        raise InvalidStockError(
            f"the slot holds {stock} items, more than a capacity of {setting.capacity}; "
            "send the counted stock too"
        )
    delta = stock - row.stock
    row.venue_id, row.product_id = kiosk.venue_id, setting.product_id
    row.capacity, row.low_stock_threshold, row.stock = (
        setting.capacity,
        setting.low_stock_threshold,
        stock,
    )
    row.updated_by, row.updated_at = by, now
    session.add(row)
    if delta:
        _log(session, row, kind=MovementKind.COUNT, delta=delta, by=by, at=now)
    session.flush()
    low_stock.check(session, row, now=now)
    session.commit()
    session.refresh(row)
    return row


def restock(
    *,
    session: Session,
    kiosk_id: str,
    slot: int,
    quantity: int,
    by: str,
    now: datetime,
    note: str | None = None,
) -> StockMovement:
    """Add ``quantity`` items, logged with who and when; resolves a low-stock alert. Commits."""
    row = get_slot(session=session, kiosk_id=kiosk_id, slot=slot, lock=True)
    if row.product_id is None:
        raise InvalidStockError(
            f"slot {slot} holds no product; set one with PUT …/slots/{slot} first"
        )
    room = row.capacity - row.stock
    if not 1 <= quantity <= room:
        raise InvalidStockError(
            f"slot {slot} holds {row.stock} of {row.capacity}; a restock adds 1-{room} items"
            if room > 0
            else f"slot {slot} is full ({row.capacity} items); nothing to restock"
        )
    row.stock += quantity
    row.updated_by, row.updated_at = by, now
    session.add(row)
    movement = _log(
        session, row, kind=MovementKind.RESTOCK, delta=quantity, by=by, at=now, note=note
    )
    session.flush()
    low_stock.check(session, row, now=now)
    session.commit()
    session.refresh(movement)
    return movement


def movements(
    *, session: Session, kiosk_id: str, limit: int, offset: int
) -> tuple[list[StockMovement], int]:
    where = StockMovement.kiosk_id == kiosk_id
    count = session.exec(select(func.count()).select_from(StockMovement).where(where)).one()
    rows = session.exec(
        select(StockMovement)
        .where(where)
        .order_by(col(StockMovement.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), count


# --- the kiosk flow (called by the redemption code) ---


def _movement_of(session: Session, transaction_id: str, kind: MovementKind) -> StockMovement | None:
    query = select(StockMovement).where(
        StockMovement.transaction_id == transaction_id, StockMovement.kind == kind
    )
    return session.exec(query).first()


def take_from_slot(
    *,
    session: Session,
    kiosk_id: str,
    slot: int | str,
    transaction_id: str,
    at: datetime | None = None,
    by: str = "system",
) -> StockMovement:
    """One item leaves the slot for redemption ``transaction_id``; flushes, the caller commits.

    Idempotent on the transaction id: a retry returns the first take and changes nothing.
    Raises OutOfStockError for an empty slot, SlotNotFoundError, and
    TransactionConflictError when the id took from another slot before.
    """
    now = at or utc_now()
    # Lock first, then look for an earlier take: a concurrent retry of the same
    # transaction waits here and then sees the first one's committed row.
    row = get_slot(session=session, kiosk_id=kiosk_id, slot=slot, lock=True)
    done = _movement_of(session, transaction_id, MovementKind.TAKE)
    if done is not None:
        if (done.kiosk_id, done.slot) != (row.kiosk_id, row.slot):
            raise TransactionConflictError(
                f"transaction {transaction_id!r} took from kiosk {done.kiosk_id!r} slot "
                f"{done.slot} already; use a new transaction id for a new redemption"
            )
        return done
    if row.stock <= 0:
        raise OutOfStockError(kiosk_id, row.slot)
    row.stock -= 1
    row.updated_at = now
    session.add(row)
    movement = _log(
        session, row, kind=MovementKind.TAKE, delta=-1, by=by, at=now, transaction_id=transaction_id
    )
    session.flush()
    low_stock.check(session, row, now=now)
    return movement


def return_to_slot(
    *, session: Session, transaction_id: str, at: datetime | None = None, by: str = "system"
) -> StockMovement | None:
    """Put back the item ``transaction_id`` took (a reversed redemption); flushes only.

    Idempotent: a second call returns the first return. None when the transaction never
    took an item, so the refund path may call it without knowing how far the flow got.
    """
    now = at or utc_now()
    take = _movement_of(session, transaction_id, MovementKind.TAKE)
    if take is None:
        return None
    row = get_slot(session=session, kiosk_id=take.kiosk_id, slot=take.slot, lock=True)
    done = _movement_of(session, transaction_id, MovementKind.RETURN)
    if done is not None:
        return done
    row.stock += 1
    row.updated_at = now
    session.add(row)
    movement = _log(
        session,
        row,
        kind=MovementKind.RETURN,
        delta=1,
        by=by,
        at=now,
        transaction_id=transaction_id,
    )
    session.flush()
    low_stock.check(session, row, now=now)
    return movement


def menu(*, session: Session, kiosk_id: str) -> list[MenuItem]:
    """The slots holding an active product, in slot order (an empty slot shows as sold out)."""
    rows = session.exec(
        select(KioskSlot, Product)
        .join(Product, col(Product.id) == col(KioskSlot.product_id))
        .where(KioskSlot.kiosk_id == kiosk_id, col(Product.active).is_(True))
        .order_by(col(KioskSlot.slot))
    ).all()
    return [
        MenuItem(
            slot=slot.slot,
            product_id=product.id or 0,
            name_zh=product.name_zh,
            name_en=product.name_en,
            price=product.price,
            image_url=product.image_url,
            stock=slot.stock,
        )
        for slot, product in rows
    ]


def menu_item(*, session: Session, kiosk_id: str, slot: int | str) -> MenuItem | None:
    """What the slot sells and for how much (for a reservation), or None if nothing active."""
    number = _slot_number(kiosk_id, slot)
    return next(
        (item for item in menu(session=session, kiosk_id=kiosk_id) if item.slot == number), None
    )

"""Tables of the kiosk catalog: products, the slots of each kiosk, and the stock movement log."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Final

from pydantic import field_validator
from sqlalchemy import CheckConstraint, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the tables the foreign keys name
from cloud.core.partial import NoNulls
from cloud.core.time import UtcDatetime, utc_now

# A price above this is a typo (a kiosk sells water and soap, not televisions).
MAX_PRICE: Final = 1_000_000
# Spiral slots of the vending units we know hold at most a few dozen items; 999 leaves room.
MAX_CAPACITY: Final = 999
MAX_SLOT: Final = 999
_URL_RE: Final = re.compile(r"^https?://[^\s]+$")


class MovementKind(StrEnum):
    RESTOCK = "restock"  # a person put items in (delta > 0)
    COUNT = "count"  # a person counted the slot and set the stock (delta either way)
    TAKE = "take"  # a committed redemption dispensed one item (delta -1)
    RETURN = "return"  # a redemption reversed after its take: the item is back (delta +1)


def _name(value: str, *, what: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"{what} is empty; write the name the kiosk should show")
    return stripped


def _image_url(value: str | None) -> str | None:
    if value is not None and not _URL_RE.match(value):
        raise ValueError("image_url must be an http(s) URL such as https://cdn.example/water.png")
    return value


class ProductBase(SQLModel):
    name_zh: str = Field(min_length=1, max_length=80)
    name_en: str = Field(min_length=1, max_length=80)
    price: int = Field(gt=0, le=MAX_PRICE, description="Points one item costs.")
    image_url: str | None = Field(default=None, max_length=500)
    active: bool = True


class Product(ProductBase, table=True):
    __table_args__ = (CheckConstraint("price > 0", name="ck_product_price_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    updated_by: str = Field(default="system", max_length=120)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class ProductCreate(ProductBase):
    @field_validator("name_zh")
    @classmethod
    def _zh(cls, value: str) -> str:
        return _name(value, what="name_zh (the Chinese name)")

    @field_validator("name_en")
    @classmethod
    def _en(cls, value: str) -> str:
        return _name(value, what="name_en (the English name)")

    @field_validator("image_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _image_url(value)


class ProductUpdate(NoNulls, SQLModel):
    nullable: ClassVar[frozenset[str]] = frozenset({"image_url"})

    name_zh: str | None = Field(default=None, min_length=1, max_length=80)
    name_en: str | None = Field(default=None, min_length=1, max_length=80)
    price: int | None = Field(default=None, gt=0, le=MAX_PRICE)
    image_url: str | None = Field(default=None, max_length=500)
    active: bool | None = None

    @field_validator("name_zh")
    @classmethod
    def _zh(cls, value: str | None) -> str | None:
        return None if value is None else _name(value, what="name_zh (the Chinese name)")

    @field_validator("name_en")
    @classmethod
    def _en(cls, value: str | None) -> str | None:
        return None if value is None else _name(value, what="name_en (the English name)")

    @field_validator("image_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _image_url(value)


class KioskSlot(SQLModel, table=True):
    """One slot (spiral, locker) of a kiosk and what it holds now."""

    __tablename__ = "kiosk_slot"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="ck_kiosk_slot_stock_not_negative"),
        CheckConstraint("capacity > 0", name="ck_kiosk_slot_capacity_positive"),
        Index("ix_kiosk_slot_venue", "venue_id"),
    )

    kiosk_id: str = Field(primary_key=True, max_length=32)  # the kiosk's device id
    slot: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    # Copied from the device when the slot is set: scoping and alerts need no join.
    venue_id: str = Field(foreign_key="venue.id", max_length=32)
    product_id: int | None = Field(default=None, foreign_key="product.id", index=True)
    stock: int = 0
    capacity: int
    low_stock_threshold: int = 0
    updated_by: str = Field(default="system", max_length=120)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class StockMovement(SQLModel, table=True):
    """Append-only log of every stock change: who, when, why, and the stock after it.

    (transaction_id, kind) is unique, so a redemption takes (or returns) at most one item
    however often the kiosk flow retries; NULL ids (restocks, counts) never collide.
    """

    __tablename__ = "stock_movement"
    __table_args__ = (
        UniqueConstraint("transaction_id", "kind", name="uq_stock_movement_txn_kind"),
        Index("ix_stock_movement_kiosk_at", "kiosk_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kiosk_id: str = Field(max_length=32)
    slot: int
    venue_id: str = Field(max_length=32)
    product_id: int | None = None
    kind: str = Field(max_length=16)
    delta: int
    stock_after: int
    # The redemption's id in the ledger (no foreign key: the ledger owns its tables).
    transaction_id: str | None = Field(default=None, max_length=64)
    by: str = Field(max_length=120)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    note: str | None = Field(default=None, sa_type=Text)


# --- what the API shows and takes ---


class ProductPublic(ProductBase):
    id: int
    updated_by: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProductsPublic(SQLModel):
    data: list[ProductPublic]
    count: int  # all matching products, not only this page


class SlotPut(SQLModel):
    """A slot as it should be (PUT replaces it); leave ``stock`` out to keep the count."""

    product_id: int | None = Field(default=None, ge=1)
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    low_stock_threshold: int = Field(default=0, ge=0, le=MAX_CAPACITY)
    stock: int | None = Field(default=None, ge=0, le=MAX_CAPACITY, description="Counted items.")


class SlotPublic(SQLModel):
    kiosk_id: str
    slot: int
    venue_id: str
    product_id: int | None
    stock: int
    capacity: int
    low_stock_threshold: int
    updated_by: str
    updated_at: UtcDatetime


class SlotsPublic(SQLModel):
    data: list[SlotPublic]
    count: int


class RestockCreate(SQLModel):
    quantity: int = Field(ge=1, le=MAX_CAPACITY, description="Items put into the slot.")
    note: str | None = Field(default=None, max_length=200)


class MovementPublic(SQLModel):
    id: int
    kiosk_id: str
    slot: int
    product_id: int | None
    kind: MovementKind
    delta: int
    stock_after: int
    transaction_id: str | None
    by: str
    at: UtcDatetime
    note: str | None


class MovementsPublic(SQLModel):
    data: list[MovementPublic]
    count: int

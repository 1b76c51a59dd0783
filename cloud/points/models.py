"""Tables of the points ledger: postings, their entries, the balance cache and redemptions.

``posting`` and ``ledger_entry`` are append-only: the ORM refuses to update or delete them
(cloud.points.ledger installs the listeners) and the migration adds database triggers that
refuse it too. A correction is a new posting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, DateTime, Index, event
from sqlalchemy.orm import Mapper, ORMExecuteState, Session
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the tables the foreign keys name
from cloud.core.time import utc_now
from cloud.points.errors import AppendOnlyError
from protocol.kiosk import RedemptionState, Settlement

# A redemption's state and settlement are the kiosk's to read, so the wire contract owns them;
# they are named here too because they are the values of the redemption table's columns.
__all__ = [
    "ACCOUNT_MAX",
    "KEY_MAX",
    "TXN_ID_MAX",
    "AccountBalance",
    "LedgerEntry",
    "Posting",
    "Redemption",
    "RedemptionState",
    "Settlement",
]

# Long enough for "member:<id>" with any member id the union issues (and "hold:<txn id>").
ACCOUNT_MAX = 80
KEY_MAX = 160
TXN_ID_MAX = 64


class Posting(SQLModel, table=True):
    """One atomic transfer between accounts; its entries sum to zero."""

    id: int | None = Field(default=None, primary_key=True)
    # Whoever posts chooses the key (a kiosk's transaction id, a check-in's device+seq):
    # a retry finds the first posting instead of moving the points again.
    idempotency_key: str = Field(max_length=KEY_MAX, unique=True)
    kind: str = Field(max_length=40)
    memo: str = Field(default="", max_length=200)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    created_by: str = Field(default="system", max_length=120)


class LedgerEntry(SQLModel, table=True):
    """One leg of a posting: ``amount`` > 0 credits ``account``, < 0 debits it."""

    __tablename__ = "ledger_entry"
    __table_args__ = (Index("ix_ledger_entry_account_posting", "account", "posting_id"),)

    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id", index=True)
    account: str = Field(max_length=ACCOUNT_MAX)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))


class AccountBalance(SQLModel, table=True):
    """The cached balance of an account, written in the same transaction as its entries."""

    __tablename__ = "account_balance"

    account: str = Field(primary_key=True, max_length=ACCOUNT_MAX)
    balance: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class Redemption(SQLModel, table=True):
    """One kiosk purchase, keyed by the transaction id the kiosk chose."""

    __table_args__ = (Index("ix_redemption_state_expires", "state", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: str = Field(max_length=TXN_ID_MAX, unique=True)
    member_id: str = Field(max_length=64, index=True)
    kiosk_id: str = Field(max_length=32, index=True)
    slot: str = Field(max_length=32)
    price: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str = Field(max_length=16)
    reserved_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    settled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    settlement: str | None = Field(default=None, max_length=16)
    # Set when a person must look at it: goods left the machine without points collected.
    needs_review: bool = False
    reason: str | None = Field(default=None, max_length=200)


# Append-only in the ORM. The migration's triggers refuse the same in the database, for
# anything that bypasses the ORM (raw SQL, another program).
_APPEND_ONLY = (Posting, LedgerEntry)


def _refuse_change(_mapper: Mapper[Any], _connection: Connection, target: object) -> None:
    raise AppendOnlyError(
        f"{type(target).__name__} rows are append-only; post a correcting posting instead"
    )


def _refuse_bulk_change(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    if any(mapper.class_ in _APPEND_ONLY for mapper in state.all_mappers):
        raise AppendOnlyError(
            "posting and ledger_entry are append-only; post a correcting posting instead"
        )


for _table in _APPEND_ONLY:
    event.listen(_table, "before_update", _refuse_change)
    event.listen(_table, "before_delete", _refuse_change)
event.listen(Session, "do_orm_execute", _refuse_bulk_change)

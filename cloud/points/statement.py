"""A member's balance and statement, as the API and the member page both show them."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, select

from cloud.points import ledger
from cloud.points.models import LedgerEntry
from protocol.kiosk import BalancePublic

__all__ = ["BalancePublic", "EntriesPublic", "EntryPublic", "member_balance", "member_entries"]


class EntryPublic(BaseModel):
    posting_id: int
    at: datetime
    kind: str
    memo: str
    amount: int = Field(description="Points credited (> 0) or debited (< 0) to the member.")


class EntriesPublic(BaseModel):
    data: list[EntryPublic]
    count: int


def member_balance(*, session: Session, member_id: str) -> BalancePublic:
    account = ledger.member_account(member_id)
    return BalancePublic(
        member_id=member_id, balance=ledger.balance(session=session, account=account)
    )


def member_entries(*, session: Session, member_id: str, limit: int, offset: int) -> EntriesPublic:
    """The member's postings, newest first, and how many there are in all."""
    account = ledger.member_account(member_id)
    rows = ledger.statement(session=session, account=account, offset=offset, limit=limit)
    count = session.exec(
        select(func.count()).select_from(LedgerEntry).where(col(LedgerEntry.account) == account)
    ).one()
    data = [
        EntryPublic(
            posting_id=posting.id or 0,
            at=posting.at if posting.at.tzinfo else posting.at.replace(tzinfo=UTC),
            kind=posting.kind,
            memo=posting.memo,
            amount=amount,
        )
        for posting, amount in rows
    ]
    return EntriesPublic(data=data, count=count)

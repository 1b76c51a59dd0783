"""A member's balance and statement, as the API and the member page both show them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Final

from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, select

from cloud.models import Venue
from cloud.points import ledger
from cloud.points.models import LedgerEntry, Posting
from protocol.kiosk import BalancePublic

# The memos cloud.points.earning writes: "check-in at <venue> on <day> (<door>#<seq>)" and
# "attended activity <id> at <venue>"; the venue and the door's event are read back from them.
_CHECKIN_MEMO: Final = re.compile(
    r"check-in at (?P<venue_id>\S+) on (?P<day>\d{4}-\d{2}-\d{2}) \((?P<detail>[^)]*)\)"
)
_ACTIVITY_MEMO: Final = re.compile(r"attended activity (?P<detail>\S+) at (?P<venue_id>\S+)$")

__all__ = ["BalancePublic", "EntriesPublic", "EntryPublic", "member_balance", "member_entries"]


class EntryPublic(BaseModel):
    posting_id: int
    at: datetime
    kind: str
    memo: str
    amount: int = Field(description="Points credited (> 0) or debited (< 0) to the member.")
    venue_id: str | None = Field(default=None, description="Where a check-in or activity was.")
    venue_name: str | None = None
    venue_name_en: str | None = None
    day: date | None = Field(default=None, description="A check-in's local date.")
    detail: str | None = Field(
        default=None, description="The door event (door-01#1796…) or activity it was for."
    )


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
    places = {posting.id: _place(posting) for posting, _amount in rows}
    venue_ids = {place["venue_id"] for place in places.values() if place.get("venue_id")}
    venues = (
        {v.id: v for v in session.exec(select(Venue).where(col(Venue.id).in_(venue_ids)))}
        if venue_ids
        else {}
    )
    data = []
    for posting, amount in rows:
        place = places[posting.id]
        venue = venues.get(place.get("venue_id") or "")
        data.append(
            EntryPublic(
                posting_id=posting.id or 0,
                at=posting.at if posting.at.tzinfo else posting.at.replace(tzinfo=UTC),
                kind=posting.kind,
                memo=posting.memo,
                amount=amount,
                venue_name=venue.name if venue else None,
                venue_name_en=venue.name_en if venue else None,
                **place,
            )
        )
    return EntriesPublic(data=data, count=count)


def _place(posting: Posting) -> dict[str, str]:
    """Where and when a check-in or an activity's points were earned, from its memo."""
    pattern = {"checkin": _CHECKIN_MEMO, "activity": _ACTIVITY_MEMO}.get(posting.kind)
    found = pattern.match(posting.memo) if pattern else None
    return found.groupdict() if found else {}

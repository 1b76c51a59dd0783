"""Points expiry: unspent points older than the rules' ``expiry_days`` go to ``expired:union``.

The rule, first in first out by earning date:

- Every credit to a member's account is an earning, dated by its posting — except a credit
  that gives back points held for a kiosk redemption (a posting with a ``hold:`` leg): that
  is the earlier spend undone, not a new earning.
- Spending (every debit, earlier expiries included, less the refunds) uses the oldest
  earnings first.
- With N = ``expiry_days``, the job run on local day D (Asia/Shanghai, the union's
  calendar) expires what is left of the earnings posted before the start of day D - N:
  points earned on day E can be spent through day E + N and expire on day E + N + 1.

So the amount due on day D is ``earned before the cutoff - (spent - refunded)`` when that is
positive. It is cumulative, which makes the job idempotent twice over: the posting's key is
``expiry:{member}:{D}``, and once it is posted the expired points count as spent, so a second
run the same day finds nothing due. A run that missed days catches up on the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import Engine, and_, case, exists, func, not_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from cloud.aggregates.timezones import day_bounds, local_date, venue_zone
from cloud.core.time import as_utc
from cloud.points import ledger
from cloud.points.earning import current_rules
from cloud.points.models import LedgerEntry, Posting

logger = logging.getLogger(__name__)

EXPIRY_ZONE: Final = "Asia/Shanghai"  # members belong to the union, not to one venue
_MEMBER_PREFIX: Final = "member:"


@dataclass(slots=True)
class ExpiryResult:
    day: date | None = None
    cutoff: datetime | None = None
    expired: dict[str, int] = field(default_factory=dict)  # member account -> points
    skipped: list[str] = field(default_factory=list)  # accounts left for the next run


def cutoff_for(day: date, expiry_days: int) -> datetime:
    """Earnings posted before this UTC instant have expired by local day ``day``."""
    start, _ = day_bounds(day - timedelta(days=expiry_days), venue_zone(EXPIRY_ZONE))
    return start


def due_amounts(session: Session, *, cutoff: datetime) -> dict[str, int]:
    """Per member account, the points earned before ``cutoff`` and not yet spent (FIFO)."""
    entry = LedgerEntry
    other = aliased(LedgerEntry)
    refund = exists(
        select(other.id).where(
            other.posting_id == entry.posting_id, col(other.account).like("hold:%")
        )
    )
    credit = col(entry.amount) > 0
    earned_old = func.sum(
        case((and_(credit, col(Posting.at) < cutoff, not_(refund)), entry.amount), else_=0)
    )
    refunded = func.sum(case((and_(credit, refund), entry.amount), else_=0))
    spent = func.sum(case((col(entry.amount) < 0, -col(entry.amount)), else_=0))
    due = earned_old - spent + refunded
    query = (
        select(entry.account, due)
        .join(Posting, col(Posting.id) == col(entry.posting_id))
        .where(col(entry.account).like(f"{_MEMBER_PREFIX}%"))
        .group_by(col(entry.account))
        .having(due > 0)
    )
    return {account: int(amount) for account, amount in session.exec(query).all()}


def expire_points(engine: Engine, now: datetime) -> ExpiryResult:
    """Post today's expiries (the job; run it daily, any hour). Nothing when expiry is off."""
    now = as_utc(now)
    result = ExpiryResult()
    with Session(engine) as session:
        days = current_rules(session).expiry_days
        if days is None:
            return result
        result.day = local_date(now, venue_zone(EXPIRY_ZONE))
        result.cutoff = cutoff_for(result.day, days)
        for account, amount in sorted(due_amounts(session, cutoff=result.cutoff).items()):
            member_id = account.removeprefix(_MEMBER_PREFIX)
            try:
                ledger.post(
                    session=session,
                    key=f"expiry:{member_id}:{result.day.isoformat()}",
                    kind="expiry",
                    lines=[(account, -amount), (ledger.EXPIRED, amount)],
                    memo=f"{amount} points earned before {result.cutoff.isoformat()} expired",
                    at=now,
                )
            except ledger.LedgerError as exc:
                # A spend raced us, or today's key was used for a smaller amount: the
                # amount is cumulative, so the next run expires what is left.
                logger.warning("expiry of %s skipped until the next run: %s", account, exc)
                result.skipped.append(account)
            else:
                result.expired[account] = amount
    if result.expired:
        logger.info("expired points of %d members", len(result.expired))
    return result

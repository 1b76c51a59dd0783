"""A person's report subscriptions as the API and the reports page show them."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from cloud.core.time import UtcDatetime
from cloud.reports.models import ReportSend, ReportSubscription


class SubscriptionPublic(BaseModel):
    id: int
    scope: str
    target: str
    period: str
    format: str
    email: str
    lang: str
    created_at: UtcDatetime
    last_sent: str | None = Field(description="The last period mailed (2026-11, 2026-W48 …).")


def subscription_public(session: Session, sub: ReportSubscription) -> SubscriptionPublic:
    assert sub.id is not None
    last = session.exec(
        select(ReportSend.period_key)
        .where(ReportSend.subscription_id == sub.id, ReportSend.status == "sent")
        .order_by(col(ReportSend.sent_at).desc())
        .limit(1)
    ).first()
    return SubscriptionPublic(
        id=sub.id,
        scope=sub.scope,
        target=sub.target,
        period=sub.period,
        format=sub.fmt,
        email=sub.email,
        lang=sub.lang,
        created_at=sub.created_at,
        last_sent=last,
    )


def subscriptions_of(session: Session, user_id: int) -> list[SubscriptionPublic]:
    """A person's own subscriptions, oldest first."""
    subs = session.exec(
        select(ReportSubscription)
        .where(ReportSubscription.user_id == user_id)
        .order_by(col(ReportSubscription.id))
    )
    return [subscription_public(session, sub) for sub in subs]

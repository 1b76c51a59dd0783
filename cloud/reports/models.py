"""Tables of the reports: who gets which report by e-mail, and which periods went out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

import cloud.auth.models  # noqa: F401 - registers auth_user, which the foreign key names
from cloud.core.time import utc_now


class ReportSubscriptionBase(SQLModel):
    scope: str = Field(max_length=16)  # venue | district
    target: str = Field(max_length=60)  # the venue id or the district's name
    period: str = Field(max_length=8)  # day | week | month
    fmt: str = Field(default="xlsx", max_length=8)  # xlsx | pdf
    email: str = Field(max_length=254)
    lang: str = Field(default="zh-CN", max_length=8)


class ReportSubscription(ReportSubscriptionBase, table=True):
    """One person's standing order for one report, sent when each period has ended."""

    __tablename__ = "report_subscription"
    __table_args__ = (
        UniqueConstraint(
            "user_id", "scope", "target", "period", "email", name="uq_report_subscription"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # A person's subscriptions go with their account (and the sends with them).
    user_id: int = Field(foreign_key="auth_user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class ReportSend(SQLModel, table=True):
    """One period's report to one subscription: claimed before it is mailed, so a period
    goes out once even if the job runs again (a failed send removes its claim)."""

    __tablename__ = "report_send"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_key", name="uq_report_send_period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(
        foreign_key="report_subscription.id", index=True, ondelete="CASCADE"
    )
    period_key: str = Field(max_length=16)  # 2026-11-30, 2026-W48, 2026-11
    status: str = Field(max_length=16)  # sending | sent
    claimed_at: datetime = Field(sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))

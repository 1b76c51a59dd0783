"""Tables of notifications: who subscribed to what, and each message's delivery."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from cloud.core.time import utc_now


class Channel(StrEnum):
    DASHBOARD = "dashboard"  # the bell and the browser notification while a page is open
    WECOM = "wecom"  # 企业微信 group robot
    DINGTALK = "dingtalk"  # 钉钉 custom robot
    FEISHU = "feishu"  # 飞书 / Lark custom bot
    SMS = "sms"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for the delivery job
    SENT = "sent"  # the channel accepted it
    FAILED = "failed"  # the last try failed; tried again at next_attempt_at
    GAVE_UP = "gave_up"  # failed max_attempts times, or too old to matter
    SUPPRESSED = "suppressed"  # not sent on purpose: quiet-repeat or flapping (reason says)


class NotifyEvent(StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"  # still unacknowledged after the subscription's minutes
    RESOLVED = "resolved"
    FLAPPING = "flapping"  # the summary sent instead of every open and clear
    TEST = "test"


# "all my venues": the subscription follows its owner's scope as it changes.
ALL_VENUES = "*"


class Subscription(SQLModel, table=True):
    """One person's wish to hear of some alerts through one channel."""

    __tablename__ = "notify_subscription"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    venue_id: str = Field(default=ALL_VENUES, max_length=32)  # a venue id, or ALL_VENUES
    # Alert kinds (AlertKind values); empty: every kind.
    kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    min_severity: str = Field(default="warning", max_length=16)
    channel: str = Field(max_length=16)
    # Phone, e-mail address or robot webhook URL; empty for the dashboard. A robot URL
    # carries its key, so it is a secret: shown masked.
    target: str = Field(default="", sa_type=Text)
    secret: str | None = Field(default=None, max_length=200)  # DingTalk / Feishu signing
    # None: told at once. N: told only when an alert is still unacknowledged after N
    # minutes (the venue's escalation order is these, by minutes).
    escalate_after_min: int | None = Field(default=None, ge=1, le=24 * 60)
    # The same condition does not reach this subscription again within this many minutes.
    quiet_min: int = Field(default=30, ge=0, le=24 * 60)
    label: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class Delivery(SQLModel, table=True):
    """One message to one subscription; written in the transaction of the alert's change."""

    __tablename__ = "notify_delivery"
    __table_args__ = (
        Index("ix_notify_delivery_due", "status", "next_attempt_at"),
        Index("ix_notify_delivery_user_created", "username", "created_at"),
        Index("ix_notify_delivery_sub_key", "subscription_id", "dedupe_key", "created_at"),
        Index("ix_notify_delivery_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int | None = Field(default=None, index=True)  # None once it is removed
    username: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    # No foreign key: the retention job deletes resolved alerts after months, while this
    # history of who was told is kept on its own clock (notify.retention_days).
    alert_id: int | None = Field(default=None, index=True)
    dedupe_key: str | None = Field(default=None, max_length=160)
    venue_id: str | None = Field(default=None, max_length=32)
    event: str = Field(max_length=16)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    # The words, frozen when the change happened: a retry still says what was true then.
    title: str = Field(default="", max_length=200)
    text: str = Field(default="", sa_type=Text)
    link: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, max_length=200)  # why suppressed
    attempts: int = 0
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_error: str | None = Field(default=None, sa_type=Text)

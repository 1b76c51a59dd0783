"""What the notify API takes and shows: subscriptions (addresses masked), deliveries, inbox."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cloud.alerts.models import AlertKind, Severity
from cloud.core.time import UtcDatetime
from cloud.notify.models import ALL_VENUES, Channel, Subscription
from cloud.notify.targets import mask_target


class SubscriptionIn(BaseModel):
    """A subscription as it should be. On PUT, ``target`` or ``secret`` left out (or empty)
    keep the stored ones: the page never has them to send back."""

    model_config = ConfigDict(extra="forbid")

    venue_id: str = Field(default=ALL_VENUES, max_length=32, description='A venue id, or "*".')
    kinds: list[AlertKind] = Field(default_factory=list, max_length=16)
    min_severity: Severity = Severity.WARNING
    channel: Channel
    target: str | None = Field(default=None, max_length=500)
    secret: str | None = Field(default=None, max_length=200)
    escalate_after_min: int | None = Field(default=None, ge=1, le=24 * 60)
    quiet_min: int = Field(default=30, ge=0, le=24 * 60)
    label: str | None = Field(default=None, max_length=80)


class SubscriptionPublic(BaseModel):
    id: int
    venue_id: str
    kinds: list[str]
    min_severity: str
    channel: str
    target: str  # masked
    has_secret: bool
    escalate_after_min: int | None
    quiet_min: int
    label: str | None
    created_at: UtcDatetime


class SubscriptionsPublic(BaseModel):
    data: list[SubscriptionPublic]
    count: int


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int | None
    channel: str
    alert_id: int | None
    venue_id: str | None
    event: str
    status: str
    title: str
    reason: str | None
    attempts: int
    created_at: UtcDatetime
    next_attempt_at: UtcDatetime | None
    sent_at: UtcDatetime | None
    last_error: str | None


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]
    count: int


class InboxItem(BaseModel):
    id: int
    venue_id: str
    kind: str
    severity: str
    status: str
    message_zh: str
    message_en: str
    opened_at: UtcDatetime


class Inbox(BaseModel):
    """The bell: unresolved alerts in the caller's venues, newest first."""

    open: int
    items: list[InboxItem]
    # Whether the caller subscribed to the dashboard channel for these: the page then shows
    # a browser notification for a new one.
    notify: list[int]


class EscalationStep(BaseModel):
    username: str
    channel: str
    target: str  # masked
    escalate_after_min: int


class EscalationOrder(BaseModel):
    venue_id: str
    data: list[EscalationStep]


def subscription_public(sub: Subscription) -> SubscriptionPublic:
    assert sub.id is not None
    return SubscriptionPublic(
        id=sub.id,
        venue_id=sub.venue_id,
        kinds=sub.kinds,
        min_severity=sub.min_severity,
        channel=sub.channel,
        target=mask_target(sub.channel, sub.target),
        has_secret=bool(sub.secret),
        escalate_after_min=sub.escalate_after_min,
        quiet_min=sub.quiet_min,
        label=sub.label,
        created_at=sub.created_at,
    )

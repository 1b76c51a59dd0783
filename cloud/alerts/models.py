"""Tables of the alerts: rules (district defaults and venue overrides), sensor roles, alerts
and the webhook outbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the tables the foreign keys name
from cloud.core.time import utc_now


class AlertKind(StrEnum):
    FRIDGE_WARM = "fridge_warm"  # a fridge probe above threshold °C for duration_s
    HEAT = "heat"  # an outdoor station's ambient probe above threshold °C, in season
    DOOR_HELD_OPEN = "door_held_open"  # a door open longer than threshold seconds
    DOOR_FORCED = "door_forced"  # a door opened while locked
    DEVICE_OFFLINE = "device_offline"  # no word from a device for duration_s
    OVER_CAPACITY = "over_capacity"  # occupancy above threshold x capacity
    ENERGY_SPIKE = "energy_spike"  # last hour's kWh above threshold x the usual for that hour
    LOW_STOCK = "low_stock"  # a kiosk slot at or below its low-stock threshold (cloud.points)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class SensorRoleName(StrEnum):
    FRIDGE = "fridge"  # a probe inside a fridge: the fridge rule watches it
    AMBIENT = "ambient"  # a probe measuring the room or the street: the heat rule watches it


# The subject written into resolved_by when the evaluator closes an alert itself.
SYSTEM = "system"


class AlertRuleBase(SQLModel):
    threshold: float | None = None
    duration_s: int = Field(default=0, ge=0, le=7 * 86_400)
    enabled: bool = True
    # Inclusive months (1-12) the rule is active in, in the venue's time zone; both None
    # means all year. start > end wraps over the new year (11..2 is Nov-Feb).
    season_start_month: int | None = Field(default=None, ge=1, le=12)
    season_end_month: int | None = Field(default=None, ge=1, le=12)


class AlertRule(AlertRuleBase, table=True):
    """One rule; ``venue_id`` None is the district default every venue inherits."""

    __tablename__ = "alert_rule"
    # PostgreSQL and SQLite both treat NULLs as distinct here, so the one-default-per-kind
    # guarantee for venue_id NULL comes from the seeding code, not this constraint.
    __table_args__ = (UniqueConstraint("venue_id", "kind", name="uq_alert_rule_venue_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    venue_id: str | None = Field(default=None, foreign_key="venue.id", max_length=32)
    kind: str = Field(max_length=32)
    updated_by: str = Field(default="system", max_length=120)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class SensorRole(SQLModel, table=True):
    """What a probe measures. Sensor ids are hardware serials (``28-0123456789ab``), so a
    person says which probe is in the fridge; the fridge and heat rules read this table."""

    __tablename__ = "sensor_role"

    device_id: str = Field(primary_key=True, max_length=32)
    sensor: str = Field(primary_key=True, max_length=32)
    venue_id: str = Field(foreign_key="venue.id", index=True, max_length=32)
    role: str = Field(max_length=16)
    label: str | None = Field(default=None, max_length=80)
    updated_by: str = Field(default="system", max_length=120)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_venue_status_opened", "venue_id", "status", "opened_at"),
        Index("ix_alert_dedupe_key", "dedupe_key"),
        # active_key is dedupe_key until resolved, then NULL (NULLs never collide): one
        # unresolved alert per condition, held by the database even if evaluators race.
        Index("ix_alert_active_key", "active_key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    venue_id: str = Field(foreign_key="venue.id", max_length=32)
    device_id: str | None = Field(default=None, max_length=32)
    sensor: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    status: str = Field(default=AlertStatus.OPEN, max_length=16)
    # kind:venue:device:sensor - the condition this alert is about.
    dedupe_key: str = Field(max_length=160)
    active_key: str | None = Field(default=None, max_length=160)
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    # The newest time the condition was observed (reading or event time, or the evaluation).
    last_seen_at: datetime = Field(sa_type=DateTime(timezone=True))
    occurrences: int = 1
    threshold: float | None = None
    last_value: float | None = None
    message_zh: str = Field(sa_type=Text)
    message_en: str = Field(sa_type=Text)
    acknowledged_by: str | None = Field(default=None, max_length=120)
    acknowledged_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    resolved_by: str | None = Field(default=None, max_length=120)
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    auto_resolved: bool = False
    # What the person said when they acknowledged or resolved it ("fridge door was ajar").
    ack_note: str | None = Field(default=None, sa_type=Text)
    resolve_note: str | None = Field(default=None, sa_type=Text)


class WebhookDelivery(SQLModel, table=True):
    """One alert transition to POST to the webhook: an outbox written in the transaction of
    the transition, so evaluation never waits on the network and nothing is lost."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "done", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    event: str = Field(max_length=16)  # opened | acknowledged | resolved
    # The JSON body, frozen at the transition: a retry an hour later still says what was
    # true when it happened.
    payload: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=DateTime(timezone=True))
    # True once delivered or given up; the due index then skips the row.
    done: bool = False
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    gave_up_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_error: str | None = Field(default=None, sa_type=Text)

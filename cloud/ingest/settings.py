"""``CloudSettings.ingest_limits``: what ingest believes of device times, and when it is stalled."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from cloud.ingest.bounds import DEFAULT_MAX_AGE, DEFAULT_MAX_AHEAD, DEFAULT_MAX_HOLD, TimeBounds
from cloud.ingest.health import DEFAULT_STALL_AFTER_S


class IngestLimits(BaseModel):
    """Set as ``YZ_CLOUD_INGEST_LIMITS__MAX_CLOCK_AHEAD_S`` and so on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # An item or state dated further ahead of the cloud's clock is refused (the box's clock
    # is wrong); see cloud/ingest/bounds.py.
    max_clock_ahead_s: float = Field(default=DEFAULT_MAX_AHEAD.total_seconds(), gt=0)
    # Such an item dated at most this far ahead is not acked: the box keeps it and sends it
    # again until the cloud's clock reaches it. Further ahead, it is acked and dropped.
    max_hold_ahead_s: float = Field(default=DEFAULT_MAX_HOLD.total_seconds(), ge=0)
    # An item older than this is refused: longer than a box may be offline with a backlog.
    max_item_age_days: float = Field(default=DEFAULT_MAX_AGE.days, gt=0, le=3650)
    # /healthz fails when a message has waited this long and nothing was committed for as
    # long (a dead or stuck writer, a database that is down).
    stall_after_s: float = Field(default=DEFAULT_STALL_AFTER_S, gt=0)

    def time_bounds(self) -> TimeBounds:
        return TimeBounds(
            max_ahead=timedelta(seconds=self.max_clock_ahead_s),
            max_age=timedelta(days=self.max_item_age_days),
            max_hold=timedelta(seconds=self.max_hold_ahead_s),
        )

"""Which device times ingest believes: not ahead of the cloud's clock, not older than a backlog.

The wire model only checks that a time lies in 2020..2100 (the edge cannot know the cloud's
clock). Ingest can: a reading dated in the future is a box whose clock is wrong, and a
``state`` dated in the future would pin the device online, since a later real ``offline``
looks older (issue 15, finding 7).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, cast

from protocol.codec import DecodedBatch, RejectedItem
from protocol.errors import PayloadError
from protocol.payloads import Event, Reading

# A box on NTP is within a second of the cloud; minutes leave room for a box that has only
# just synced after boot, and for the cloud's own drift.
DEFAULT_MAX_AHEAD: Final = timedelta(minutes=5)
# A box offline for longer than a month is replaced, not waited for; older data is far more
# likely a clock that was never set, and it would land outside the hours the rollups redo.
DEFAULT_MAX_AGE: Final = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far ahead of the cloud and how far behind it a device time may be."""

    max_ahead: timedelta = DEFAULT_MAX_AHEAD
    max_age: timedelta = DEFAULT_MAX_AGE

    def problem(self, ts: datetime, now: datetime) -> str | None:
        """Why a time ``ts`` received at ``now`` is not believed, or None when it is."""
        return self.ahead(ts, now) or self.too_old(ts, now)

    def ahead(self, ts: datetime, now: datetime) -> str | None:
        """Why ``ts`` is too far ahead of the cloud's ``now``, or None when it is not."""
        ahead = ts - now
        if ahead <= self.max_ahead:
            return None
        return f"the box's clock is {_amount(ahead)} ahead of the cloud; check its time sync (NTP)"

    def too_old(self, ts: datetime, now: datetime) -> str | None:
        """Why ``ts`` is too long before the cloud's ``now``, or None when it is not."""
        behind = now - ts
        if behind <= self.max_age:
            return None
        return (
            f"the item is {_amount(behind)} old, older than the {_amount(self.max_age)} a box "
            "may hold a backlog; check the box's time sync (NTP) (the box forgets this item)"
        )


def _amount(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 2 * 60:
        return f"{minutes} minutes"
    if minutes < 2 * 24 * 60:
        return f"{minutes // 60} hours"
    return f"{minutes // (24 * 60)} days"


def bound_batch(batch: DecodedBatch, *, now: datetime, bounds: TimeBounds) -> DecodedBatch:
    """``batch`` with every item whose time is not believed moved to its rejected items."""
    kept: list[Reading | Event] = []
    refused: list[RejectedItem] = []
    for item in batch.items:
        problem = bounds.problem(item.ts, now)
        if problem is None:
            kept.append(item)
        else:
            error = PayloadError("items.ts", problem)
            refused.append(RejectedItem(item.seq, error, item.model_dump_json()))
    if not refused:
        return batch
    # One batch holds one kind of item, so the kept ones are still all readings or all events.
    items = cast("list[Reading] | list[Event]", kept)
    return replace(batch, items=items, rejected=[*batch.rejected, *refused])

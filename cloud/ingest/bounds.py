"""Which device times ingest believes: not ahead of the cloud's clock, not older than a backlog.

The wire model only checks that a time lies in 2020..2100 (the edge cannot know the cloud's
clock). Ingest can: a reading dated in the future is a box whose clock is wrong, and a
``state`` dated in the future would pin the device online, since a later real ``offline``
looks older (issue 15, finding 7).

An item refused for its time is either *held* or *dropped*. Held (dated ahead, but by no more
than ``max_hold``): its seq is not acked, so the box keeps it and sends it again, and it is
stored once the cloud's clock has come close enough to its time. Dropped (too old, or so far
ahead that holding it would block the box's newer data for longer than ``max_hold``): its seq
is acked and the box forgets it. Either way the refusal is counted in ``rejected_message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
# How far ahead an item may be and still be held for later rather than dropped. Held rows stay
# unconfirmed in the box's uplink window (edge SendPolicy.window, 5 000 rows): an hour of a
# box's production fits in it, so a fast clock delays its data by at most that hour and does
# not stop its newer rows. A clock days or years ahead (an RTC set to 2099) is not waited for.
DEFAULT_MAX_HOLD: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far ahead of the cloud and how far behind it a device time may be."""

    max_ahead: timedelta = DEFAULT_MAX_AHEAD
    max_age: timedelta = DEFAULT_MAX_AGE
    max_hold: timedelta = DEFAULT_MAX_HOLD

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

    def held(self, ts: datetime, now: datetime) -> bool:
        """Whether an item dated ``ts``, refused as ahead, is kept by the box for later."""
        return ts - now <= self.max_hold


def _amount(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 2 * 60:
        return f"{minutes} minutes"
    if minutes < 2 * 24 * 60:
        return f"{minutes // 60} hours"
    return f"{minutes // (24 * 60)} days"


@dataclass(frozen=True, slots=True)
class BoundedBatch:
    """A batch whose items' times were checked.

    ``batch.rejected`` are the refusals whose seqs are acked (the box forgets them); ``held``
    are refused now but not acked, so the box sends them again.
    """

    batch: DecodedBatch
    held: list[RejectedItem] = field(default_factory=list)


def bound_batch(batch: DecodedBatch, *, now: datetime, bounds: TimeBounds) -> BoundedBatch:
    """``batch`` with every item whose time is not believed moved out of its items."""
    kept: list[Reading | Event] = []
    dropped: list[RejectedItem] = []
    held: list[RejectedItem] = []
    for item in batch.items:
        ahead = bounds.ahead(item.ts, now)
        if ahead is not None and bounds.held(item.ts, now):
            reason = f"{ahead} (the box keeps this item and sends it again; it is stored once "
            reason += "the cloud's clock reaches its time)"
            held.append(_refused(item, reason))
        elif ahead is not None:
            reason = f"{ahead} (more than the {_amount(bounds.max_hold)} ingest waits for such "
            reason += "an item: the box forgets it)"
            dropped.append(_refused(item, reason))
        else:
            old = bounds.too_old(item.ts, now)
            if old is None:
                kept.append(item)
            else:
                dropped.append(_refused(item, old))
    if not dropped and not held:
        return BoundedBatch(batch)
    # One batch holds one kind of item, so the kept ones are still all readings or all events.
    items = cast("list[Reading] | list[Event]", kept)
    return BoundedBatch(replace(batch, items=items, rejected=[*batch.rejected, *dropped]), held)


def _refused(item: Reading | Event, reason: str) -> RejectedItem:
    return RejectedItem(item.seq, PayloadError("items.ts", reason), item.model_dump_json())

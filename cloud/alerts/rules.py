"""Alert conditions as pure functions over recent raw data and an injected ``now``.

Each function answers a :class:`Finding` (the condition holds, or has cleared) or ``None``
when the data says neither (too little, too stale, or still too short): an absent answer
never resolves an alert, so a silent sensor cannot close its own fridge alert.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cloud.alerts import messages
from cloud.alerts.defaults import SEVERITY
from cloud.alerts.models import AlertKind
from cloud.alerts.subject import Subject

# Samplers report every 60 s. A hole longer than this means the probe was not watched, so
# a run of warm readings across it is not "continuously" above the threshold.
MAX_READING_GAP: Final = timedelta(minutes=5)
# How far back door events are read; a door open longer than this without any event is a
# broken contact, which the device-offline and sensor-fault paths report.
DOOR_LOOKBACK: Final = timedelta(hours=24)
# Days of the same hour the energy median is taken over, and how many of them must have
# data: fewer than 3 days is not a "usual" to compare with.
ENERGY_HISTORY_DAYS: Final = 7
ENERGY_MIN_HISTORY: Final = 3
# A spike must also be this many kWh above the median: 0.3 kWh against a median of 0.05
# is a kettle, not a fault.
ENERGY_MIN_EXCESS_KWH: Final = 1.0


@dataclass(frozen=True, slots=True)
class Rule:
    """The rule in force for one venue and kind (its override, else the district default)."""

    kind: AlertKind
    threshold: float | None
    duration_s: int
    enabled: bool = True
    season_start_month: int | None = None
    season_end_month: int | None = None

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.duration_s)

    def in_season(self, month: int) -> bool:
        start, end = self.season_start_month, self.season_end_month
        if start is None or end is None:
            return True
        return start <= month <= end if start <= end else month >= start or month <= end


@dataclass(frozen=True, slots=True)
class Sample:
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Event:
    ts: datetime
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Finding:
    subject: Subject
    active: bool  # True: the condition holds; False: it has cleared (auto-resolve)
    observed_at: datetime
    value: float | None = None
    threshold: float | None = None
    occurrences: int = 1
    message_zh: str = ""
    message_en: str = ""

    @property
    def severity(self) -> str:
        return SEVERITY[self.subject.kind]


def _found(
    subject: Subject,
    *,
    at: datetime,
    value: float | None,
    threshold: float | None,
    occurrences: int = 1,
) -> Finding:
    zh, en = messages.describe(subject, value=value, threshold=threshold)
    return Finding(subject, True, at, value, threshold, occurrences, zh, en)


def _cleared(subject: Subject, *, at: datetime, value: float | None = None) -> Finding:
    return Finding(subject, False, at, value)


def sustained_above(
    rule: Rule, subject: Subject, samples: Sequence[Sample], *, now: datetime
) -> Finding | None:
    """Above ``rule.threshold`` in every reading for ``rule.duration``, proven by readings.

    ``samples`` are sorted by time and reach back at least duration + MAX_READING_GAP.
    The run is measured from its first warm reading to the newest one, so a single spike,
    or nine warm minutes of a ten-minute rule, open nothing.
    """
    if rule.threshold is None or not samples or now - samples[-1].ts > MAX_READING_GAP:
        return None  # no threshold, or the probe went quiet: leave any alert as it is
    newest = samples[-1]
    if newest.value <= rule.threshold:
        return _cleared(subject, at=newest.ts, value=newest.value)
    run_start = newest.ts
    for earlier in reversed(samples[:-1]):
        if earlier.value <= rule.threshold or run_start - earlier.ts > MAX_READING_GAP:
            break
        run_start = earlier.ts
    if newest.ts - run_start < rule.duration:
        return None
    return _found(subject, at=newest.ts, value=newest.value, threshold=rule.threshold)


def fridge_warm(
    rule: Rule, subject: Subject, samples: Sequence[Sample], *, now: datetime
) -> Finding | None:
    return sustained_above(rule, subject, samples, now=now)


def heat(
    rule: Rule,
    subject: Subject,
    samples: Sequence[Sample],
    *,
    now: datetime,
    venue_kind: str,
    local_month: int,
) -> Finding | None:
    """An outdoor station's ambient probe above the threshold, in the rule's season.

    Out of season (or at a venue that is not an outdoor station) the condition is cleared,
    so an alert left open on 30 September resolves on 1 October.
    """
    if venue_kind != "outdoor-station" or not rule.in_season(local_month):
        return _cleared(subject, at=now)
    return sustained_above(rule, subject, samples, now=now)


def _held_from(events: Sequence[Event]) -> datetime | None:
    """When the door's current opening started counting, or None when it is not open.

    An open door during an emergency (fire alarm) is expected; the count restarts when the
    emergency ends, as on the door itself (edge/door/monitor.py).
    """
    held_from: datetime | None = None
    emergency = False
    for event in events:
        if event.type == "door.opened":
            held_from = event.ts
        elif event.type == "door.closed":
            held_from = None
        elif event.type == "emergency.on":
            emergency = True
        elif event.type == "emergency.off":
            emergency = False
            if held_from is not None:
                held_from = event.ts
    return None if emergency else held_from


def door_held_open(
    rule: Rule, subject: Subject, events: Sequence[Event], *, now: datetime
) -> Finding | None:
    """A door opened (``door.opened``) and not closed for more than threshold seconds.

    Counted from the door events rather than the box's own ``door.held_open`` so that the
    manager's threshold, not the box's configured one, decides. ``events`` are one
    device's door events in time order.
    """
    if not events or rule.threshold is None:
        return None
    held_from = _held_from(events)
    if held_from is None:
        return _cleared(subject, at=events[-1].ts)
    held_s = (now - held_from).total_seconds()
    if held_s <= rule.threshold:
        return None
    return _found(subject, at=now, value=round(held_s), threshold=rule.threshold)


def door_forced(
    subject: Subject, events: Sequence[Event], *, after: datetime | None
) -> Finding | None:
    """``door.forced`` events newer than ``after`` (the newest one already alerted on).

    A forced door never resolves itself: somebody has to look at it.
    """
    new = [e for e in events if e.type == "door.forced" and (after is None or e.ts > after)]
    if not new:
        return None
    return _found(subject, at=new[-1].ts, value=None, threshold=None, occurrences=len(new))


def device_offline(
    rule: Rule, subject: Subject, *, online: bool, last_seen_at: datetime | None, now: datetime
) -> Finding | None:
    """No message from the device for ``rule.duration``; cleared once it is back online.

    A device never heard from is not yet installed, not offline. A device that said
    "offline" a minute ago is given the rest of the duration to come back.
    """
    if last_seen_at is None:
        return None
    quiet = now - last_seen_at
    if quiet >= rule.duration:
        minutes = round(quiet.total_seconds() / 60, 1)
        return _found(subject, at=now, value=minutes, threshold=rule.duration_s / 60)
    if online:
        return _cleared(subject, at=last_seen_at)
    return None


def over_capacity(
    rule: Rule, subject: Subject, *, count: int, capacity: int | None, at: datetime
) -> Finding | None:
    """More people inside than ``threshold`` x capacity (no capacity set: no rule)."""
    if capacity is None or capacity <= 0:
        return None
    limit = capacity * (rule.threshold if rule.threshold is not None else 1.0)
    if count > limit:
        return _found(subject, at=at, value=float(count), threshold=float(capacity))
    return _cleared(subject, at=at, value=float(count))


def energy_spike(
    rule: Rule,
    subject: Subject,
    *,
    hour_kwh: float | None,
    history_kwh: Sequence[float],
    hour_end: datetime,
) -> Finding | None:
    """Last complete hour's kWh above threshold x the median of the same hour on the
    previous ENERGY_HISTORY_DAYS days (and ENERGY_MIN_EXCESS_KWH above it).

    The same hour of day, because a station's load follows the day: 19:00 against a
    median of 03:00 hours would flag every evening.
    """
    if hour_kwh is None or len(history_kwh) < ENERGY_MIN_HISTORY:
        return None
    factor = rule.threshold if rule.threshold is not None else 3.0
    median = statistics.median(history_kwh)
    if hour_kwh > factor * median and hour_kwh - median >= ENERGY_MIN_EXCESS_KWH:
        return _found(subject, at=hour_end, value=round(hour_kwh, 3), threshold=round(median, 3))
    return _cleared(subject, at=hour_end, value=round(hour_kwh, 3))

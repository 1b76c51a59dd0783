"""People in and out, visits and unique members, counted into buckets from raw rows."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

COUNTER_METRICS: Final = ("people_in", "people_out")
DECISION_EVENT: Final = "access.decision"
DOOR_OPENED_EVENT: Final = "door.opened"
TRAFFIC_EVENTS: Final = (DECISION_EVENT, DOOR_OPENED_EVENT)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CounterSample:
    ts: datetime
    metric: str  # people_in | people_out
    value: float


@dataclass(frozen=True, slots=True)
class DoorEvent:
    ts: datetime
    type: str
    data: Mapping[str, Any]


@dataclass(slots=True)
class TrafficCounts:
    people_in: int = 0
    people_out: int = 0
    counter_readings: int = 0
    visits: int = 0
    door_exits: int = 0
    members: set[str] = field(default_factory=set)

    @property
    def unique_members(self) -> int:
        return len(self.members)

    def net(self) -> int:
        """Change in occupancy: beam counters when the venue has them (they see everyone,
        including a member let in with somebody else), door decisions and exit-button
        openings otherwise. Adding both would count each member twice."""
        if self.counter_readings:
            return self.people_in - self.people_out
        return self.visits - self.door_exits

    def any_entry(self) -> bool:
        return self.people_in > 0 or self.visits > 0


def is_visit(event: DoorEvent) -> bool:
    return event.type == DECISION_EVENT and event.data.get("reason") == "accepted"


def is_exit(event: DoorEvent) -> bool:
    return event.type == DOOR_OPENED_EVENT and event.data.get("cause") == "exit_button"


def count_traffic(
    counters: Iterable[CounterSample],
    events: Iterable[DoorEvent],
    bucket: Callable[[datetime], K],
) -> dict[K, TrafficCounts]:
    """Traffic per ``bucket(ts)`` (a UTC hour, a local day, one constant for a span)."""
    counts: dict[K, TrafficCounts] = {}
    for sample in counters:
        entry = counts.setdefault(bucket(sample.ts), TrafficCounts())
        entry.counter_readings += 1
        # Counts travel as floats on the wire; they are whole people.
        if sample.metric == "people_in":
            entry.people_in += round(sample.value)
        elif sample.metric == "people_out":
            entry.people_out += round(sample.value)
    for event in events:
        if is_visit(event):
            entry = counts.setdefault(bucket(event.ts), TrafficCounts())
            entry.visits += 1
            member = event.data.get("member")
            if isinstance(member, str) and member:
                entry.members.add(member)
        elif is_exit(event):
            counts.setdefault(bucket(event.ts), TrafficCounts()).door_exits += 1
    return counts

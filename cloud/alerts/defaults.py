"""The district-default alert rules and each kind's severity: one place for the numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cloud.alerts.models import AlertKind, Severity


@dataclass(frozen=True, slots=True)
class DefaultRule:
    kind: AlertKind
    threshold: float | None
    duration_s: int
    season: tuple[int, int] | None = None


# Seeded as venue_id NULL rows by migration 0003 (which holds a frozen copy of these values,
# as migrations must); a manager changes them per venue with an override row.
DEFAULT_RULES: Final[tuple[DefaultRule, ...]] = (
    # Food safety: chilled food is kept at or below 8 °C; 10 min rides out a door opening.
    DefaultRule(AlertKind.FRIDGE_WARM, 8.0, 600),
    # Heat-relief season (June-September): a station above 35 °C fails the riders it is
    # for. 10 min so a probe in a sunbeam does not page anyone.
    DefaultRule(AlertKind.HEAT, 35.0, 600, season=(6, 9)),
    # Seconds; long enough for a wheelchair or a trolley (the door's own default too).
    DefaultRule(AlertKind.DOOR_HELD_OPEN, 60.0, 0),
    DefaultRule(AlertKind.DOOR_FORCED, None, 0),
    DefaultRule(AlertKind.DEVICE_OFFLINE, None, 300),
    # A ratio of the venue's capacity: 1.0 alerts on the first person over it.
    DefaultRule(AlertKind.OVER_CAPACITY, 1.0, 0),
    # A factor of the same hour's trailing median (see rules.energy_spike).
    DefaultRule(AlertKind.ENERGY_SPIKE, 3.0, 3600),
)

SEVERITY: Final[dict[AlertKind, Severity]] = {
    AlertKind.FRIDGE_WARM: Severity.WARNING,
    AlertKind.HEAT: Severity.WARNING,
    AlertKind.DOOR_HELD_OPEN: Severity.WARNING,
    AlertKind.DOOR_FORCED: Severity.CRITICAL,
    AlertKind.DEVICE_OFFLINE: Severity.WARNING,
    AlertKind.OVER_CAPACITY: Severity.WARNING,
    AlertKind.ENERGY_SPIKE: Severity.INFO,
    AlertKind.LOW_STOCK: Severity.INFO,
}

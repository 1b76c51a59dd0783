"""Per-day kWh from a meter's cumulative register, surviving resets, replacements and rollover."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from cloud.aggregates.timezones import local_date

# Meters report to 0.01 kWh and a float register read can come back a hair lower than the
# last one: a drop this small is jitter, not a reset.
JITTER_KWH: Final = 0.05
# A wrap explains a drop only if it means at most this share of the register was used in
# one interval; a bigger "wrap" is a meter replaced by one that happens to read low.
MAX_WRAP_SHARE: Final = 0.1


class StepKind(StrEnum):
    NORMAL = "normal"
    RESET = "reset"  # register dropped: meter reset or replaced; counting restarts there
    ROLLOVER = "rollover"  # register wrapped past its maximum back to 0


@dataclass(frozen=True, slots=True)
class MeterSample:
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class EnergyStep:
    ts: datetime  # the later sample's time: the step's kWh count on its local day
    kwh: float
    kind: StepKind


@dataclass(frozen=True, slots=True)
class DayEnergy:
    kwh: float = 0.0
    resets: int = 0
    rollovers: int = 0


def meter_step(
    previous: float, current: float, *, register_max: float | None
) -> tuple[float, StepKind]:
    """kWh used between two register values, and how the register moved; never negative."""
    if current >= previous - JITTER_KWH:
        return max(0.0, current - previous), StepKind.NORMAL
    if register_max is not None and previous <= register_max:
        wrapped = register_max - previous + current
        if 0 <= wrapped <= register_max * MAX_WRAP_SHARE:
            return wrapped, StepKind.ROLLOVER
    # A new or reset meter: what it reads now says nothing about use at this venue since
    # the last sample (a replacement may arrive already reading something), so counting
    # restarts from the new value.
    return 0.0, StepKind.RESET


def meter_steps(
    samples: Sequence[MeterSample], *, baseline: float | None, register_max: float | None
) -> list[EnergyStep]:
    """The steps between time-ordered ``samples``, starting from ``baseline`` (the last
    value before them, or None when the meter has no earlier sample)."""
    steps: list[EnergyStep] = []
    previous = baseline
    for sample in sorted(samples, key=lambda s: s.ts):
        if previous is not None:
            kwh, kind = meter_step(previous, sample.value, register_max=register_max)
            steps.append(EnergyStep(sample.ts, kwh, kind))
        previous = sample.value
    return steps


def energy_by_day(steps: Iterable[EnergyStep], zone: ZoneInfo) -> dict[date, DayEnergy]:
    """Sum steps onto the local days of ``zone`` they ended on."""
    totals: dict[date, list[float]] = defaultdict(lambda: [0.0, 0, 0])
    for step in steps:
        bucket = totals[local_date(step.ts, zone)]
        bucket[0] += step.kwh
        bucket[1] += step.kind is StepKind.RESET
        bucket[2] += step.kind is StepKind.ROLLOVER
    return {
        day: DayEnergy(kwh=round(kwh, 6), resets=int(resets), rollovers=int(rolls))
        for day, (kwh, resets, rolls) in totals.items()
    }

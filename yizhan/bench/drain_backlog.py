"""What a box's outbox holds after an outage: its readings, spread over the hours it was cut off."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import cycle
from typing import Final

from edge.outbox import NewReading, Outbox

# Items per outbox transaction while filling: the fill is set-up, not what is measured.
_FILL_CHUNK: Final = 5_000


class DrainBenchError(RuntimeError):
    """The drain bench could not run or finish; the message says what happened."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading a box takes every round: metric, sensor and a plausible value."""

    metric: str
    value: float
    sensor: str | None = None


# A sensor hub's round (edge/sampler.py at its 60 s default): the doorway's beams, the meter,
# two thermometers and the outbox's own figures; 9 a minute, 540 an hour.
HUB_ROUND: Final = (
    Sample("people_in", 3),
    Sample("people_out", 2),
    Sample("energy_kwh", 1234.5),
    Sample("power_w", 860),
    Sample("voltage_v", 229.8),
    Sample("temperature_c", 4.2, "fridge"),
    Sample("temperature_c", 24.5, "ambient"),
    Sample("outbox_depth", 120),
    Sample("outbox_dropped", 0),
)
# A door box with a beam counter and a contactless thermometer at the doorway.
DOOR_ROUND: Final = (
    Sample("people_in", 4),
    Sample("people_out", 3),
    Sample("skin_temp_count", 4),
    Sample("skin_temp_fever_count", 0),
    Sample("skin_temp_avg_c", 36.4),
    Sample("skin_temp_max_c", 36.9),
    Sample("outbox_depth", 2_000),
    Sample("outbox_dropped", 0),
)


def _readings(
    count: int, *, round_: tuple[Sample, ...], span: timedelta, end: datetime
) -> Iterator[NewReading]:
    rounds = max(1, -(-count // len(round_)))
    step = span / rounds
    samples = cycle(round_)
    for i in range(count):
        sample = next(samples)
        ts = end - span + step * (i // len(round_))
        yield NewReading(ts, sample.metric, sample.value, sample.sensor)


def fill(
    outbox: Outbox, count: int, *, round_: tuple[Sample, ...], span: timedelta, end: datetime
) -> None:
    """Append ``count`` readings taken in rounds evenly over ``span`` before ``end``."""
    chunk: list[NewReading] = []
    for reading in _readings(count, round_=round_, span=span, end=end):
        chunk.append(reading)
        if len(chunk) == _FILL_CHUNK:
            outbox.append(chunk)
            chunk = []
    if chunk:
        outbox.append(chunk)

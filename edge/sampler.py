"""Reads every sensor once per tick and writes the readings to the outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from edge.clock import Clock
from edge.hardware.interfaces import (
    EnergyMeter,
    HardwareError,
    PeopleCounter,
    SkinThermometer,
    Thermometer,
)
from edge.outbox import NewEvent, NewReading, Outbox
from protocol.health import FAULT_EVENT, RECOVERED_EVENT
from protocol.metrics import check_value

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sensors:
    """The hardware one box reads; any part may be absent."""

    counter: PeopleCounter | None = None
    meter: EnergyMeter | None = None
    thermometers: Sequence[Thermometer] = ()
    skin: SkinThermometer | None = None


@dataclass(slots=True)
class _Tick:
    now: datetime
    readings: list[NewReading] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)

    def add(self, metric: str, value: float, sensor: str | None = None) -> None:
        problem = check_value(metric, value)
        if problem is None:
            self.readings.append(NewReading(self.now, metric, value, sensor))
        else:  # an absurd value is a sensor fault, reported as such, never sent as data
            self.faults[sensor or metric] = problem


class Sampler:
    """One tick = one transaction of readings; faults become events once per change."""

    def __init__(self, outbox: Outbox, sensors: Sensors, *, clock: Clock) -> None:
        self._outbox = outbox
        self._sensors = sensors
        self._clock = clock
        self._failing: dict[str, str] = {}
        self.rounds = 0  # sampling rounds done since start

    @property
    def failing(self) -> dict[str, str]:
        """Sensor -> what is wrong with it, as of the last round."""
        return dict(self._failing)

    def sample(self) -> int:
        """Read everything, store it; returns how many items went into the outbox."""
        tick = _Tick(self._clock())
        self._read_counter(tick)
        self._read_meter(tick)
        self._read_thermometers(tick)
        stats = self._outbox.stats()
        tick.add("outbox_depth", stats.depth)
        tick.add("outbox_dropped", stats.dropped)
        items: list[NewReading | NewEvent] = [*tick.readings, *self._fault_events(tick)]
        self.rounds += 1
        return len(self._outbox.append(items)) if items else 0

    def _read_counter(self, tick: _Tick) -> None:
        counter, skin = self._sensors.counter, self._sensors.skin
        if counter is None:
            return
        crossings = counter.take()
        tick.add("people_in", crossings.entered)
        tick.add("people_out", crossings.left)
        if skin is None:
            return
        try:
            # One contactless reading per person who came in; only the summary leaves.
            for _ in range(crossings.entered):
                skin.measure()
            summary = skin.take_summary()
        except HardwareError as exc:
            tick.faults["skin"] = str(exc)
            return
        if summary.count:
            tick.add("skin_temp_count", summary.count)
            tick.add("skin_temp_fever_count", summary.fever_count)
            if summary.mean_c is not None and summary.max_c is not None:
                tick.add("skin_temp_avg_c", round(summary.mean_c, 2))
                tick.add("skin_temp_max_c", round(summary.max_c, 2))

    def _read_meter(self, tick: _Tick) -> None:
        if self._sensors.meter is None:
            return
        try:
            reading = self._sensors.meter.read()
        except HardwareError as exc:
            tick.faults["meter"] = str(exc)
            return
        tick.add("energy_kwh", reading.energy_kwh, "meter")
        tick.add("power_w", reading.power_w, "meter")
        tick.add("voltage_v", reading.voltage_v, "meter")

    def _read_thermometers(self, tick: _Tick) -> None:
        for probe in self._sensors.thermometers:
            try:
                tick.add("temperature_c", round(probe.read_c(), 3), probe.sensor_id)
            except HardwareError as exc:
                tick.faults[probe.sensor_id] = str(exc)

    def _fault_events(self, tick: _Tick) -> list[NewEvent]:
        events: list[NewEvent] = []
        for sensor, problem in tick.faults.items():
            if self._failing.get(sensor) != problem:
                logger.warning("sensor %s: %s", sensor, problem)
                events.append(
                    NewEvent(tick.now, FAULT_EVENT, {"sensor": sensor, "problem": problem[:200]})
                )
        for sensor in set(self._failing) - set(tick.faults):
            logger.info("sensor %s recovered", sensor)
            events.append(NewEvent(tick.now, RECOVERED_EVENT, {"sensor": sensor}))
        self._failing = dict(tick.faults)
        return events

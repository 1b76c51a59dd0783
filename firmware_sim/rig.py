"""One venue's simulated hardware for one edge box, advanced by an injected clock."""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gpiozero.pins.mock import MockFactory

from firmware_sim.beams import BeamPair
from firmware_sim.curves import FridgeModel, indoor_c, mains_voltage, power_w, profile
from firmware_sim.modbus_meter import SdmMeterServer
from firmware_sim.smbus import FakeSmBus
from firmware_sim.traffic import DoorEvent, Passage, Traffic
from firmware_sim.w1 import W1Bus

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from edge.hardware.counter import BeamCounter
    from edge.hardware.meter import ModbusMeter
    from edge.hardware.skin import Mlx90614
    from edge.hardware.thermometer import DS18B20

logger = logging.getLogger(__name__)

OUTSIDE_PIN = 17
INSIDE_PIN = 27
METER_DEVICE_ID = 1
# Physics (meter energy, fridge) is integrated in steps this long: short enough that the
# compressor's ~20-minute cycles and the evening peak show up in the energy register.
PHYSICS_STEP = timedelta(seconds=30)
# How long an entrant stands in front of the door's IR sensor.
IR_VIEW = timedelta(seconds=3)
# In background mode an agent polls in real time; keep each face in view this long (real s).
IR_VIEW_REAL_S = 1.0


@dataclass(frozen=True, slots=True)
class RigEndpoints:
    """Everything an edge agent needs to build its real drivers against this rig."""

    pin_factory: Any
    outside_pin: int
    inside_pin: int
    modbus_host: str
    modbus_port: int
    modbus_device_id: int
    w1_root: Path
    fridge_sensor_id: str
    ambient_sensor_id: str
    smbus: FakeSmBus


@dataclass(frozen=True, slots=True)
class DoorTotals:
    """What the rig has walked through the door since it was built."""

    entered: int
    left: int
    peeked: int

    @property
    def occupancy(self) -> int:
        return self.entered - self.left


@dataclass(frozen=True, slots=True)
class Drivers:
    """The real edge drivers, wired to a rig (or to real hardware with the same endpoints)."""

    counter: BeamCounter
    meter: ModbusMeter
    fridge: DS18B20
    ambient: DS18B20
    skin: Mlx90614

    def close(self) -> None:
        self.counter.close()
        self.meter.close()


def build_drivers(endpoints: RigEndpoints, *, meter_timeout_s: float = 2.0) -> Drivers:
    """Build the four real drivers an edge agent uses, pointed at ``endpoints``."""
    # Imported here so the simulator package itself does not depend on the edge agent.
    from edge.hardware.counter import BeamCounter  # noqa: PLC0415
    from edge.hardware.meter import ModbusMeter  # noqa: PLC0415
    from edge.hardware.skin import Mlx90614  # noqa: PLC0415
    from edge.hardware.thermometer import DS18B20  # noqa: PLC0415

    counter = BeamCounter(
        endpoints.outside_pin, endpoints.inside_pin, pin_factory=endpoints.pin_factory
    )
    return Drivers(
        counter=counter,
        meter=ModbusMeter(
            endpoints.modbus_host,
            endpoints.modbus_port,
            device_id=endpoints.modbus_device_id,
            timeout_s=meter_timeout_s,
        ),
        fridge=DS18B20(endpoints.fridge_sensor_id, root=endpoints.w1_root),
        ambient=DS18B20(endpoints.ambient_sensor_id, root=endpoints.w1_root),
        skin=Mlx90614(endpoints.smbus),
    )


def _sensor_id(seed: int, role: str) -> str:
    # DS18B20 ids are family 28 plus a 48-bit serial; derive them so a seed is reproducible.
    return f"28-{random.Random(f'{seed}:{role}').getrandbits(48):012x}"


class Rig:
    """Beams, meter, probes and IR sensor of one venue, moved forward by :meth:`step`.

    The Modbus server starts in the constructor and stops in :meth:`close`; use the rig
    as a context manager. ``clock`` must return timezone-aware datetimes.
    """

    def __init__(
        self,
        profile_name: str,
        *,
        seed: int,
        base_dir: Path,
        clock: Callable[[], datetime],
        meter_port: int = 0,
    ) -> None:
        self.venue = profile(profile_name)
        self._seed = seed
        self._clock = clock
        self._now = clock()
        self._lock = threading.RLock()
        self._traffic = Traffic(self.venue, seed=seed, start=self._now)
        self._fridge = FridgeModel(seed=seed, start=self._now)
        self._rng = random.Random(f"{seed}:rig")
        self._entered = self._left = self._peeked = 0
        self._in_view_until: datetime | None = None
        self._ir_view = IR_VIEW
        self._speed: float | None = None  # set while running in the background
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self.pin_factory = MockFactory()
        self.beams = BeamPair(self.pin_factory, OUTSIDE_PIN, INSIDE_PIN)
        room_c = self._room_c(self._now)
        self.w1 = W1Bus(base_dir / "w1" / "devices")
        self.fridge_sensor_id = _sensor_id(seed, "fridge")
        self.ambient_sensor_id = _sensor_id(seed, "ambient")
        self.w1.add(self.fridge_sensor_id, temp_c=self._fridge.temp_c)
        self.w1.add(self.ambient_sensor_id, temp_c=room_c)
        self.smbus = FakeSmBus(ambient_c=room_c)
        self.meter = SdmMeterServer(port=meter_port, device_id=METER_DEVICE_ID)
        self.meter.start()

    @property
    def endpoints(self) -> RigEndpoints:
        return RigEndpoints(
            pin_factory=self.pin_factory,
            outside_pin=OUTSIDE_PIN,
            inside_pin=INSIDE_PIN,
            modbus_host=self.meter.host,
            modbus_port=self.meter.port,
            modbus_device_id=self.meter.device_id,
            w1_root=self.w1.root,
            fridge_sensor_id=self.fridge_sensor_id,
            ambient_sensor_id=self.ambient_sensor_id,
            smbus=self.smbus,
        )

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    @property
    def totals(self) -> DoorTotals:
        with self._lock:
            return DoorTotals(entered=self._entered, left=self._left, peeked=self._peeked)

    @property
    def fridge_c(self) -> float:
        with self._lock:
            return self._fridge.temp_c

    def step(self, now: datetime) -> list[DoorEvent]:
        """Advance the world to ``now`` and return the door events that happened."""
        with self._lock:
            if now <= self._now:
                return []
            events = self._traffic.until(now)
            for event in events:
                self._advance_physics(event.at)
                self._apply(event)
            self._advance_physics(now)
            self._refresh_sensors(now)
            return events

    def _room_c(self, at: datetime) -> float:
        occupancy = self._entered - self._left
        return indoor_c(self.venue, self._seed, at, occupancy=occupancy)

    def _advance_physics(self, to: datetime) -> None:
        while self._now < to:
            nxt = min(to, self._now + PHYSICS_STEP)
            watts = power_w(
                self.venue,
                self._seed,
                self._now,
                occupancy=self._entered - self._left,
                compressor_on=self._fridge.compressor_on,
            )
            self.meter.accumulate(
                power_w=watts,
                voltage_v=mains_voltage(self._seed, self._now),
                seconds=(nxt - self._now).total_seconds(),
            )
            self._fridge.advance(nxt, room_c=self._room_c(self._now))
            self._now = nxt

    def _apply(self, event: DoorEvent) -> None:
        pause = self._pause_for
        if event.passage is Passage.ENTER:
            self.beams.walk_in(pause=pause)
            self._entered += 1
            if event.skin_c is not None:
                self.smbus.show(event.skin_c)
                self._in_view_until = event.at + self._ir_view
            if self._rng.random() < self.venue.fridge_use_share:
                self._fridge.open_door()
        elif event.passage is Passage.LEAVE:
            self.beams.walk_out(pause=pause)
            self._left += 1
        else:
            self.beams.peek(pause=pause)
            self._peeked += 1

    def _pause_for(self, seconds: float) -> None:
        # Stepped by hand, walks are time-compressed; in the background they take the
        # gait's time scaled by the speed, so an agent sees edges spread out as on a real door.
        if self._speed is not None:
            self._stop.wait(seconds / self._speed)

    def _refresh_sensors(self, now: datetime) -> None:
        room_c = self._room_c(now)
        self.w1.set_temp(self.fridge_sensor_id, self._fridge.temp_c)
        self.w1.set_temp(self.ambient_sensor_id, room_c)
        self.smbus.set_ambient(room_c)
        if self._in_view_until is not None and now >= self._in_view_until:
            self.smbus.clear()
            self._in_view_until = None

    def start_background(self, *, speed: float = 1.0, tick_s: float = 0.2) -> None:
        """Run the world in a thread: ``speed`` simulated seconds per clock second."""
        if self._thread is not None:
            raise RuntimeError("rig is already running in the background")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._stop.clear()
        with self._lock:
            self._speed = speed
            self._ir_view = max(IR_VIEW, timedelta(seconds=IR_VIEW_REAL_S * speed))
        self._thread = threading.Thread(
            target=self._run, args=(speed, tick_s), name="firmware-sim-rig", daemon=True
        )
        self._thread.start()

    def _run(self, speed: float, tick_s: float) -> None:
        real_start, sim_start = self._clock(), self.now
        while not self._stop.wait(tick_s):
            try:
                self.step(sim_start + (self._clock() - real_start) * speed)
            except Exception:
                logger.exception("simulated rig step failed; the rig keeps running")

    def stop_background(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        with self._lock:
            self._speed = None
            self._ir_view = IR_VIEW

    def close(self) -> None:
        """Stop the thread and the Modbus server; close the drivers built on it first."""
        self.stop_background()
        self.meter.stop()
        self.pin_factory.close()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

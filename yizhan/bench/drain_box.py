"""The door box of `yizhan bench drain`: a real door agent that reconnects with a day's backlog
and keeps deciding while it sends it."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory

from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.reasons import Reason
from edge.agent import BoxHardware, EdgeAgent
from edge.door.controller import DoorController
from edge.door.runtime import DoorParts
from edge.hardware.door import DoorPins
from edge.outbox import Outbox, OutboxStats
from edge.sampler import Sensors
from edge.settings import EdgeSettings
from firmware_sim.camera import VirtualCamera
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, issue
from yizhan.bench.drain_backlog import DOOR_ROUND, DrainBenchError, fill
from yizhan.bench.members_world import cpu_s

VENUE: Final = "drain"
DEVICE: Final = "door-01"
_PINS: Final = DoorPins(
    relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20
)
_MEMBERS: Final = 10_000
_POLL_S: Final = 0.01  # how often the bench looks at the outbox (its resolution on drain_s)
_SETTLE_S: Final = 30.0  # for the last door events to be confirmed once the drain is timed


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BoxPlan:
    host: str
    port: int
    folder: Path
    readings: int
    door_rate: float  # member codes shown to the door per second
    # Seconds the door decides before the box starts (no uplink yet): the same door on the
    # same machine at the same moment, to set the decisions during the drain against.
    baseline_s: float
    timeout_s: float
    cloud_pids: tuple[int, ...] = ()  # ingest workers, whose CPU during the drain is counted


@dataclass(slots=True)
class BoxRun:
    """What the door box did: the figures and what its outbox issued, for the audit."""

    fill_s: float = 0.0
    connect_s: float = 0.0  # agent started -> connected to the broker
    drain_s: float = 0.0  # connected -> outbox empty
    during: list[Decision] = field(default_factory=list)  # decided during the drain
    before: list[Decision] = field(default_factory=list)  # decided before the box started
    box_cpu_s: float = 0.0  # this process (the box) during the drain
    cloud_cpu_s: float = 0.0  # the ingest workers during the drain
    outbox: OutboxStats | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    at: float  # time.monotonic() when the code was shown
    ms: float  # until the door had decided, acted and written its event
    cpu_ms: float  # of that, CPU time of the deciding thread (the rest is waiting)
    reason: Reason


class _Visitors:
    """Members showing valid codes to the door at a steady rate, each decision timed."""

    def __init__(self, controller: DoorController, key: IssuerKey, rate: float) -> None:
        self._controller, self._key, self._interval = controller, key, 1.0 / rate
        self._stop = threading.Event()
        self.decisions: list[Decision] = []
        self._thread = threading.Thread(target=self._run, name="drain-visitors", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        due, n = time.monotonic(), 0
        while not self._stop.is_set():
            # Signed outside the timing: the phone made the code, the door only reads it.
            code = issue(f"M{n % _MEMBERS:08d}", key=self._key, now=utc_now())
            n += 1
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            at, started, cpu = time.monotonic(), time.perf_counter(), time.thread_time()
            reason = self._controller.present(code).reason
            ms = (time.perf_counter() - started) * 1000
            self.decisions.append(Decision(at, ms, (time.thread_time() - cpu) * 1000, reason))
            due = max(due + self._interval, time.monotonic())  # steady: no catch-up bursts


def _settings(plan: BoxPlan) -> EdgeSettings:
    return EdgeSettings.model_validate(
        {
            "venue": VENUE,
            "device": DEVICE,
            "role": "door",
            "data_dir": plan.folder,
            "mqtt_host": plan.host,
            "mqtt_port": plan.port,
            # One round at start; the backlog is what this box has to send.
            "sample_interval_s": 3600,
            "door": {"policy": {"door_id": "main"}, "pins": _PINS},
        }
    )


def _prepare(settings: EdgeSettings, readings: int) -> tuple[IssuerKey, float]:
    """What the box holds after an outage: its caches from the last sync and a day's backlog."""
    key = IssuerKey("k1", Ed25519PrivateKey.generate())
    folder = settings.data_dir / f"{settings.device}-access"
    folder.mkdir(parents=True, exist_ok=True)
    KeyRing({key.kid: key.public_key()}, 1).save(folder / "keys.json")
    members = MemberCache(folder / "members.db")
    try:
        records = (MemberRecord(f"M{n:08d}", MemberStatus.ACTIVE) for n in range(_MEMBERS))
        members.apply_snapshot(1, records, synced_at=utc_now())
    finally:
        members.close()
    started = time.perf_counter()
    outbox = Outbox(settings.outbox_path, clock=utc_now)
    try:
        fill(outbox, readings, round_=DOOR_ROUND, span=timedelta(hours=24), end=utc_now())
    finally:
        outbox.close()
    return key, time.perf_counter() - started


def _hardware(_settings: EdgeSettings, resources: ExitStack) -> BoxHardware:
    """Mock pins and a camera filming nobody: the scanner runs as on a real door."""
    pins = MockFactory()
    resources.callback(pins.close)
    camera = VirtualCamera(np.random.default_rng(0), empty_exposures=1)
    return BoxHardware(Sensors(), DoorParts(frame_source=camera, pin_factory=pins))


def run_box(plan: BoxPlan) -> BoxRun:
    """Fill the door box's outbox, start its agent, time the drain while members come in."""
    settings = _settings(plan)
    key, fill_s = _prepare(settings, plan.readings)
    run = BoxRun(fill_s=fill_s)
    agent = EdgeAgent(settings, clock=utc_now, hardware=_hardware, software="yizhan bench drain")
    if agent.door is None:  # pragma: no cover - the settings say door
        agent.close()
        raise DrainBenchError("drain bench: the box did not build its door")
    visitors = _Visitors(agent.door.controller, key, plan.door_rate)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), name="drain-box", daemon=True)
    try:
        visitors.start()
        time.sleep(plan.baseline_s)
        started = time.monotonic()
        thread.start()
        deadline = started + plan.timeout_s
        connected, drained, cpu = _time_drain(agent, plan.readings, deadline, plan.cloud_pids)
        visitors.stop()
        run.connect_s, run.drain_s = connected - started, drained - connected
        run.box_cpu_s, run.cloud_cpu_s = cpu
        run.before = [d for d in visitors.decisions if d.at < started]
        run.during = [d for d in visitors.decisions if connected <= d.at <= drained]
        _settle(agent)
    finally:
        visitors.stop()
        stop.set()
        thread.join(timeout=30)
        run.outbox = agent.outbox.stats()
        agent.close()
    return run


def _time_drain(
    agent: EdgeAgent, backlog: int, deadline: float, cloud: tuple[int, ...]
) -> tuple[float, float, tuple[float, float]]:
    """When the box connected, when its outbox was first empty (monotonic), and the CPU
    seconds the box and the ingest workers spent in between."""
    while not agent.uplink.connected:
        if time.monotonic() > deadline:
            raise DrainBenchError("drain bench: the door box never connected to the broker")
        time.sleep(_POLL_S)
    connected = time.monotonic()
    box_cpu, cloud_cpu = time.process_time(), sum(map(cpu_s, cloud))
    # A counter to watch until the backlog's worth is confirmed; only then the outbox's
    # depth, whose queries take the lock the uplink and the door need.
    while agent.uplink.confirmed < backlog or agent.outbox.stats().depth:
        if time.monotonic() > deadline:
            left = agent.outbox.stats().depth
            raise DrainBenchError(f"drain bench: the door box's outbox still held {left} rows")
        time.sleep(_POLL_S)
    drained = time.monotonic()
    cpu = (time.process_time() - box_cpu, sum(map(cpu_s, cloud)) - cloud_cpu)
    return connected, drained, cpu


def _settle(agent: EdgeAgent) -> None:
    """The decisions made after the drain are confirmed too, so the audit sees every seq."""
    deadline = time.monotonic() + _SETTLE_S
    while agent.outbox.stats().depth and time.monotonic() < deadline:
        time.sleep(_POLL_S)

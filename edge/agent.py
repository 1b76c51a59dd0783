"""The edge agent's composition root: outbox, uplink, sensors, runtimes and the control plane."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent_health import HealthRules
from edge.clock import Clock
from edge.control.heartbeat import THERMAL_ZONE, key_ids
from edge.control.lifecycle import Ending, Outcome
from edge.control.logs import LogRing
from edge.control.plane import BoxInfo, ControlParts, ControlPlane
from edge.control.ports import ClaimedIdentity, SettingsLayers
from edge.control.seen import open_seen_store
from edge.control.wipe import box_folders
from edge.door.beams import BeamTee
from edge.hardware.interfaces import HardwareError
from edge.loops import start_loops
from edge.outbox import NewEvent, Outbox, OutboxStats
from edge.sampler import Sampler, Sensors
from edge.settings import (
    AppliedConfig,
    DoorSettings,
    EdgeSettings,
    RealHardware,
    UpdateSettings,
    write_applied,
)
from edge.update.layout import Layout, layout_of_running
from edge.update.spool import Spool
from edge.uplink import BrokerEndpoint, SendPolicy, Uplink
from protocol.topics import Kind

if TYPE_CHECKING:
    # A role's runtime comes in only when the box has that role (see _door and _kiosk):
    # the door and kiosk runtimes load OpenCV, numpy and zxing-cpp, ~35 MB a sensor hub
    # has no camera for (docs/ARCHITECTURE.md, "Per-role imports").
    from edge.door.runtime import DoorParts, DoorRuntime
    from edge.kiosk.runtime import KioskBoxParts, KioskRuntime
    from edge.scan.camera import OpenCvCamera
    from edge.scan.settings import ScannerSettings
    from edge.update.updater import Updater

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BoxHardware:
    """What a box has: sensors to sample, and for a door box its camera and pins."""

    sensors: Sensors
    door: DoorParts | None = None
    kiosk: KioskBoxParts | None = None


HardwareFactory = Callable[[EdgeSettings, ExitStack], BoxHardware]


@dataclass(frozen=True, slots=True)
class AgentReport:
    sampled: int
    confirmed: int
    outbox: OutboxStats
    # Why run() returned: its caller's stop, a restart command or applied config (the
    # runner builds a new agent), or a wipe (the runner must not start this box claimed).
    outcome: Outcome = "stopped"

    def summary(self) -> str:
        """One line for a person: what this run sampled and what is still to send."""
        waiting = self.outbox.depth
        return (
            f"{self.sampled} readings taken, {self.confirmed} rows confirmed by the cloud, "
            f"{waiting} waiting in the outbox"
        )


def real_hardware(settings: EdgeSettings, resources: ExitStack) -> BoxHardware:
    """The real drivers named in the settings: sensors, and the camera of a door box."""
    door = kiosk = None
    if settings.door is not None:
        from edge.door.runtime import DoorParts  # noqa: PLC0415 - a door's parts load OpenCV

        door = DoorParts(
            frame_source=_camera(settings.door.scanner, resources),
            **_door_face_parts(settings.door),
        )
    if settings.kiosk is not None:
        from edge.kiosk.runtime import KioskBoxParts  # noqa: PLC0415 - so do a kiosk's

        kiosk = KioskBoxParts(frame_source=_camera(settings.kiosk.scanner, resources))
    return BoxHardware(real_sensors(settings, resources), door, kiosk)


def _door_face_parts(door: DoorSettings) -> dict[str, Any]:
    """The door's TFT and ALSA speaker when its settings ask for them. A screen that cannot
    be opened is a problem the door reports, not a reason to stay shut."""
    parts: dict[str, Any] = {}
    if door.screen is not None and door.screen.enabled:
        from edge.door.screen import ScreenError  # noqa: PLC0415 - PIL and luma: screens only

        try:
            from edge.hardware.screen import open_tft  # noqa: PLC0415

            device = open_tft(door.screen)
        except (ScreenError, ImportError) as exc:  # ImportError: luma or Pillow not installed
            logger.warning("the door's screen does not work: %s", exc)
            parts["screen_problem"] = str(exc)
        else:
            parts["screen"] = device  # closed by the door's face (DoorScreen.close)
    if door.voice is not None and door.voice.enabled:
        from edge.hardware.speaker import AlsaSpeaker  # noqa: PLC0415

        parts["speaker"] = AlsaSpeaker(door.voice.device)  # closed by the voice's player
    return parts


def _camera(scanner: ScannerSettings, resources: ExitStack) -> OpenCvCamera:
    from edge.scan.camera import OpenCvCamera  # noqa: PLC0415 - OpenCV only on a box with a camera

    camera = OpenCvCamera(
        scanner.source, width=scanner.width, height=scanner.height, fps=scanner.fps
    )
    resources.callback(camera.close)
    return camera


def real_sensors(settings: EdgeSettings, resources: ExitStack) -> Sensors:
    """Build the real drivers named in the settings (GPIO, Modbus, 1-wire, SMBus)."""
    from edge.hardware.counter import BeamCounter  # noqa: PLC0415 - gpiozero probes pins on import
    from edge.hardware.meter import ModbusMeter  # noqa: PLC0415
    from edge.hardware.skin import Mlx90614  # noqa: PLC0415
    from edge.hardware.thermometer import DS18B20, discover  # noqa: PLC0415

    hw = settings.hardware
    if not isinstance(hw, RealHardware):
        raise HardwareError("real_sensors needs hardware.kind = 'real'")
    counter = meter = skin = None
    if hw.beam_pins is not None:
        counter = BeamCounter(*hw.beam_pins)
        resources.callback(counter.close)
    if hw.meter_host is not None:
        meter = ModbusMeter(hw.meter_host, port=hw.meter_port, device_id=hw.meter_unit)
        resources.callback(meter.close)
    ids = hw.thermometers or tuple(discover(hw.w1_root))
    probes = [DS18B20(sensor_id, root=hw.w1_root) for sensor_id in ids]
    if hw.i2c_bus is not None:
        import smbus2  # noqa: PLC0415 - only on boxes with an I²C bus

        bus = smbus2.SMBus(hw.i2c_bus)
        resources.callback(bus.close)
        skin = Mlx90614(bus)
    return Sensors(counter=counter, meter=meter, thermometers=probes, skin=skin)


def _share_beams(box: BoxHardware) -> BoxHardware:
    """A door box with a beam counter: the door and the sampler both see every crossing."""
    counter = box.sensors.counter
    if box.door is None or counter is None:
        return box
    tee = BeamTee(counter)
    return BoxHardware(replace(box.sensors, counter=tee), replace(box.door, beams=tee))


def uplink_for(
    settings: EdgeSettings,
    outbox: Outbox,
    *,
    control: ControlPlane,
    clock: Clock,
    software: str | None,
    identity: ClaimedIdentity | None,
) -> Uplink:
    """The box's one connection to the cloud, as its settings and its claim describe it."""
    password = settings.mqtt_password
    return Uplink(
        outbox,
        venue=settings.venue,
        device=settings.device,
        endpoint=BrokerEndpoint(
            settings.mqtt_host,
            settings.mqtt_port,
            username=settings.mqtt_username,
            password=password.get_secret_value() if password else None,
            client_id=settings.mqtt_client_id,
            tls=settings.mqtt_tls,
            ca_file=settings.mqtt_ca_file,
        ),
        clock=clock,
        policy=SendPolicy(
            batch_size=settings.batch_size,
            resend_after=timedelta(seconds=settings.resend_after_s),
        ),
        software=software,
        credentials=identity,  # the claim's password, or a staged one the broker wants
        on_command=control.commands,
        on_config=control.config,
    )


class EdgeAgent:
    """Samples on a fixed interval into the outbox; the uplink drains it to the cloud.

    ``identity`` (the box's claim) and ``layers`` (its settings sources) come from the
    runner; without them the agent runs as before on plain settings and refuses pushed
    config and credential rotation with a reason.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        clock: Clock,
        hardware: HardwareFactory,
        software: str | None = None,
        on_tick: Callable[[datetime], None] | None = None,
        identity: ClaimedIdentity | None = None,
        layers: SettingsLayers | None = None,
        config_version: int = 0,
        thermal_path: Path = THERMAL_ZONE,
        notes: Sequence[NewEvent] = (),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._resources = ExitStack()
        self.logs = self._install_log_ring()
        self.outbox = Outbox(settings.outbox_path, clock=clock, max_rows=settings.outbox_max_rows)
        self._resources.callback(self.outbox.close)
        if notes:  # what the runner found before this agent existed (a config that broke)
            self.outbox.append(list(notes))
        box = _share_beams(hardware(settings, self._resources))
        self.sampler = Sampler(self.outbox, box.sensors, clock=clock)
        self._on_tick = on_tick
        self.door = self._door(settings, box)
        self.kiosk = self._kiosk(settings, box)
        self._halt = threading.Event()  # ends the runtimes' and the heartbeat's loops
        self._threads: list[threading.Thread] = []
        self.updater = self._updater()
        self.control = self._control(software, identity, layers, config_version, thermal_path)
        self.uplink = uplink_for(
            settings, self.outbox, control=self.control, clock=clock, software=software,
            identity=identity,
        )  # fmt: skip
        if self.door is not None and self.door.face is not None:
            uplink = self.uplink
            self.door.face.online = lambda: uplink.connected  # "offline" on the door's screen
        self.sampled = 0
        self._sampling = threading.Event()
        self._sampling.set()
        self._outcome: Outcome = "stopped"
        self._turned: float | None = None  # time.monotonic() when run() last came round
        self._health = HealthRules(settings.sample_interval_s)

    def _install_log_ring(self) -> LogRing:
        ring = LogRing()
        root = logging.getLogger()
        root.addHandler(ring)
        self._resources.callback(root.removeHandler, ring)
        return ring

    def _control(
        self,
        software: str | None,
        identity: ClaimedIdentity | None,
        layers: SettingsLayers | None,
        config_version: int,
        thermal_path: Path,
    ) -> ControlPlane:
        settings = self.settings
        seen = open_seen_store(settings.data_dir, settings.device, clock=self._clock)
        self._resources.callback(seen.close)
        parts = ControlParts(
            events=self._emit,
            publish=self._publish_direct,
            seen_store=seen,
            store_applied=self._store_applied,
            outbox_depth=lambda: self.outbox.stats().depth,
            issuer_keys=self._issuer_keys,
            logs=self.logs,
            unlock=self.door.controller.remote_unlock if self.door else None,
            identity=identity,
            layers=layers,
            update=self.updater.command if self.updater else None,
        )
        box = BoxInfo(settings.venue, settings.device, settings.role, settings.data_dir,
                      software, thermal_path)  # fmt: skip
        return ControlPlane(box, parts=parts, clock=self._clock, config_version=config_version)

    def _updater(self) -> Updater | None:
        """Updates for a box installed with the release layout; None on any other box."""
        found = release_layout(self.settings.update, prefix=Path(sys.prefix))
        if found is None:
            return None
        from edge.update.fetch import Fetcher  # noqa: PLC0415 - only a box that updates
        from edge.update.store import WheelStore  # noqa: PLC0415
        from edge.update.updater import UpdateParts, Updater  # noqa: PLC0415

        layout, running = found
        settings = self.settings
        spool = Spool.of(settings.data_dir)
        url, token = settings.update.api_url, settings.update.api_token
        fetcher = None
        if url is not None and token is not None:
            secret = token.get_secret_value()

            def fetcher() -> Fetcher:
                return Fetcher(
                    api_url=url,
                    token=secret,
                    ca_file=settings.api_ca_file,
                    spool=spool,
                    store=WheelStore(layout),
                )

        parts = UpdateParts(layout, running, spool, fetcher, self._emit, self._clock,
                            self.self_check)  # fmt: skip
        return Updater(parts, halt=self._halt)

    def self_check(self) -> list[str]:
        """What keeps a freshly started release from counting as healthy; empty when none.

        The agent is built (this runs in it), its main loop has come round, the broker
        has it, and its role's parts work: a door's and a kiosk's camera gave frames (their
        relay and dispenser pins were opened when the runtime was built), a hub's meter read.
        """
        found = self.problems()
        if self._turned is None:
            found.append("the main loop has not come round yet")
        if not self.uplink.connected:
            found.append("not connected to the broker")
        for name, runtime in (("door", self.door), ("kiosk", self.kiosk)):
            if runtime is not None and runtime.scanner.frames == 0:
                found.append(f"the {name}'s camera has given no frame yet")
        if self.door is None and self.kiosk is None:
            if self.sampler.rounds == 0:
                found.append("no sampling round yet")
            meter = self.sampler.failing.get("meter")
            if meter is not None:
                found.append(f"meter: {meter}")
        return found

    def _publish_direct(self, kind: Kind, payload: bytes) -> bool:
        return self.uplink.publish_direct(kind, payload)

    def _store_applied(self, version: int, pushed: dict[str, Any]) -> None:
        write_applied(self.settings.data_dir, AppliedConfig(version, pushed))

    def _issuer_keys(self) -> str | None:
        runtime = self.door or self.kiosk
        return key_ids(runtime.keys.keys) if runtime is not None else None

    def _door(self, settings: EdgeSettings, box: BoxHardware) -> DoorRuntime | None:
        if settings.role != "door":
            return None
        if box.door is None:
            raise HardwareError("a door box needs a camera and GPIO pins; none were given")
        from edge.door.runtime import DoorRuntime  # noqa: PLC0415 - OpenCV and zxing: doors only

        door = DoorRuntime(settings, parts=box.door, events=self._emit, clock=self._clock)
        self._resources.callback(door.close)
        return door

    def _kiosk(self, settings: EdgeSettings, box: BoxHardware) -> KioskRuntime | None:
        if settings.role != "kiosk":
            return None
        if box.kiosk is None:
            raise HardwareError("a kiosk box needs a camera and GPIO pins; none were given")
        from edge.kiosk.runtime import KioskRuntime  # noqa: PLC0415 - OpenCV and zxing: kiosks only

        kiosk = KioskRuntime(settings, parts=box.kiosk, events=self._emit, clock=self._clock)
        self._resources.callback(kiosk.close)
        return kiosk

    def _emit(self, events: Sequence[NewEvent]) -> None:
        self.outbox.append(list(events))
        self.uplink.wake()

    def tick(self) -> None:
        """One sampling round; a failing sensor is reported, never fatal."""
        now = self._clock()
        if self._on_tick is not None:
            self._on_tick(now)
        self.sampled += self.sampler.sample()
        self.uplink.wake()

    def run(self, stop: threading.Event) -> AgentReport:
        """Sample until ``stop`` is set or a command or pushed config ends the run.

        Then carry out a wipe if one was asked for, and flush what the connection allows;
        whatever is not confirmed by then stays in the outbox for the next start.
        """
        self.uplink.start()
        self._start_loops()
        try:
            lifecycle = self.control.lifecycle
            while not stop.is_set() and not lifecycle.asked:
                self._turned = time.monotonic()
                if self._sampling.is_set():
                    try:
                        self.tick()
                    except Exception:  # a sampling round failed; the next one may not
                        logger.exception("sampling failed on %s", self.settings.device)
                lifecycle.wait(stop, self.settings.sample_interval_s)
            self._outcome = self._end(stopped=stop.is_set()).outcome
            self._drain()
        finally:
            self._halt.set()
            for thread in self._threads:
                thread.join(timeout=5)
            self.uplink.stop()
        return self.report()

    def _start_loops(self) -> None:
        if self.door is not None:
            self.door.start(self._halt)
        if self.kiosk is not None:
            self.kiosk.start(self._halt)
        interval = self.settings.heartbeat_interval_s
        beats = lambda: self.control.heartbeats(self._halt, interval_s=interval)  # noqa: E731
        self._threads += start_loops("agent", [("heartbeat", beats)])
        if self.updater is not None:
            self._threads.append(self.updater.start())

    def _end(self, *, stopped: bool) -> Ending:
        """Stop the runtimes; a wipe is carried out once their files are closed."""
        self._halt.set()
        ending = self.control.lifecycle.close(stopped=stopped)
        if ending.wipe is not None:
            for runtime in (self.door, self.kiosk):
                if runtime is not None:
                    runtime.close()
            folders = box_folders(self.settings.data_dir, self.settings.device)
            self.control.wipe(ending.wipe, folders)
        return ending

    def _drain(self) -> None:
        deadline = self._clock() + timedelta(seconds=self.settings.drain_on_stop_s)
        idle = threading.Event()  # never set: a bounded wait between checks
        while self.uplink.connected and self.outbox.stats().depth and self._clock() < deadline:
            idle.wait(0.1)

    def problems(self) -> list[str]:
        """What keeps the box from its job right now; the systemd watchdog asks before a ping."""
        if self._turned is None or self._halt.is_set():
            return []  # not running yet, or ending: neither is a hang
        runtimes = [runtime for runtime in (self.door, self.kiosk) if runtime is not None]
        return self._health.problems(
            idle_s=time.monotonic() - self._turned,
            stopped_loops=self._stopped_loops(),
            camera_waits_s=[runtime.scanner.stalled_s() for runtime in runtimes],
        )

    def _stopped_loops(self) -> list[str]:
        names = [thread.name for thread in self._threads if not thread.is_alive()]
        names += self.uplink.stopped_loops()
        for runtime in (self.door, self.kiosk):
            if runtime is not None:
                names += runtime.stopped_loops()
        return names

    def stop_sampling(self) -> None:
        """Take no more readings; the uplink keeps sending what is queued."""
        self._sampling.clear()

    def report(self) -> AgentReport:
        return AgentReport(self.sampled, self.uplink.confirmed, self.outbox.stats(), self._outcome)

    def close(self) -> None:
        self._resources.close()


def release_layout(settings: UpdateSettings, *, prefix: Path) -> tuple[Layout, str] | None:
    """The release layout this agent runs from and its release, if it runs from one."""
    found = layout_of_running(prefix)
    if found is not None:
        return found
    if settings.root is None:
        return None
    layout = Layout(settings.root)
    running = layout.target(layout.current)
    return (layout, running) if running is not None else None

"""A door box's composition: caches, verifier, policy, hardware, scanner, sync."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx

from edge.access.bookings import Bookings
from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.occupancy import Occupancy
from edge.access.passback import Passback
from edge.access.policy import DoorPolicy
from edge.access.replay import ReplayCache
from edge.access.sync import SyncClient, SyncResult
from edge.access.verifier import Verifier
from edge.clock import Clock, HostTimeSync, TimeSync, TrustedClock, assume_synchronised
from edge.cloud_http import cloud_http
from edge.door.beams import BeamTee
from edge.door.controller import DoorController, DoorTiming, EventSink
from edge.door.face import DoorFace, FaceSources
from edge.door.face_parts import build_face, hints, idle_source
from edge.door.monitor import DoorMonitor
from edge.hardware.door import DoorHardware
from edge.loops import Loop, every, start_loops
from edge.scan.camera import FrameSource
from edge.scan.decoders import make_decoder
from edge.scan.scanner import Scanner
from edge.settings import DoorSettings, EdgeSettings, RealHardware

logger = logging.getLogger(__name__)

# The door's tick: held-open alarms are reported, and beam crossings counted, within this.
TICK_S: Final = 0.25
_SYNC_RETRY_S: Final = 30.0  # after a failed sync; the normal interval is in the settings
# How often the face asks whether the door refuses every code (a read of the member cache,
# which the decisions and the sync use too); a cache goes stale over days, not seconds.
REFUSING_CHECK_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class DoorParts:
    """What the box's hardware gives the door: GPIO pins and a camera."""

    frame_source: FrameSource
    pin_factory: Any = None  # None: gpiozero's default (the Pi's real pins)
    beams: BeamTee | None = None  # the doorway's two-beam counter, when the box has one
    # Whether the box's clock is synchronised. None: ask the host on real hardware; a
    # simulated box's clock is the truth.
    time_sync: TimeSync | None = None
    # The door's display (a luma device: a TFT, or firmware_sim's emulator) and speaker
    # (edge.door.voice.Speaker), when [door.screen] / [door.voice] ask for them; a screen
    # that could not be opened leaves its problem instead, and the door runs without it.
    screen: Any = None
    screen_problem: str | None = None
    speaker: Any = None


def _every(seconds: float, ask: Callable[[], bool]) -> Callable[[], bool]:
    """``ask``, answered again at most every ``seconds``; the last answer in between."""
    last: list[tuple[float, bool]] = []

    def answer() -> bool:
        now = time.monotonic()
        if not last or now - last[0][0] >= seconds:
            last[:] = [(now, ask())]
        return last[0][1]

    return answer


def _time_sync(settings: EdgeSettings, parts: DoorParts) -> TimeSync:
    if parts.time_sync is not None:
        return parts.time_sync
    if isinstance(settings.hardware, RealHardware):
        return HostTimeSync(rtc=settings.hardware.rtc)
    return assume_synchronised


class DoorRuntime:
    """Everything one door needs, built from validated settings; run with :meth:`start`."""

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        parts: DoorParts,
        events: EventSink,
        clock: Clock,
    ) -> None:
        if settings.door is None:
            raise ValueError("DoorRuntime needs a [door] section")
        self._settings, self._door = settings, settings.door
        self._resources = ExitStack()
        self._threads: list[threading.Thread] = []
        self.folder = settings.data_dir / f"{settings.device}-access"
        self.folder.mkdir(parents=True, exist_ok=True)
        # Everything the door judges runs on trusted time: codes, hours, passback, bookings.
        self.time = self._closing(
            TrustedClock(
                wall=clock, sync=_time_sync(settings, parts), floor_file=self.folder / "clock.json"
            )
        )
        self._clock = clock = self.time.now
        self.keys = KeyRing.load(self.keys_path)
        self.members = self._closing(MemberCache(self.folder / "members.db"))
        self.verifier = Verifier(
            self.keys,
            self.members,
            self._closing(ReplayCache(self.folder / "replay.db")),
            skew=timedelta(seconds=self._door.access.skew_s),
            max_offline_age=timedelta(seconds=self._door.access.max_offline_age_s),
            trusted=self.time,
            unsynced_proof_window=timedelta(seconds=self._door.access.unsynced_proof_window_s),
        )
        self._beams = parts.beams
        self.occupancy = Occupancy(
            self.folder / "occupancy.json", clock=clock, has_beams=parts.beams is not None
        )
        if parts.beams is not None:
            parts.beams.feed(self.occupancy)
        self.bookings = self._closing(Bookings(self.folder / "bookings.db"))
        self.policy = DoorPolicy(
            self._door.policy,
            occupancy=self.occupancy,
            bookings=self.bookings,
            passback=self._closing(Passback(self.folder / "passback.db")),
            clock=clock,
        )
        self.hardware = self._closing(
            DoorHardware(self._door.pins, clock=clock, pin_factory=parts.pin_factory)
        )
        self.display = parts.screen  # the luma device the face draws on, if any
        monitor = DoorMonitor(held_open_s=self._door.held_open_s).attach(self.hardware)
        self.face = self._face(parts, monitor, events)
        self.controller = DoorController(
            door_id=self._door.policy.door_id,
            verifier=self.verifier,
            policy=self.policy,
            hardware=self.hardware,
            monitor=monitor,
            events=events,
            clock=clock,
            timing=DoorTiming(pulse_s=self._door.pulse_s),
            face=self.face,
        )
        self.scanner = Scanner(
            parts.frame_source, make_decoder(self._door.scanner.decoder), fps=self._door.scanner.fps
        )
        self.sync = self._sync_client(self._door)

    @property
    def keys_path(self) -> Path:
        return self.folder / "keys.json"

    def _closing(self, thing: Any) -> Any:
        self._resources.callback(thing.close)
        return thing

    def _face(self, parts: DoorParts, monitor: DoorMonitor, events: EventSink) -> DoorFace | None:
        door, hardware, verifier = self._door, self.hardware, self.verifier
        sources = FaceSources(
            idle=idle_source(
                door.screen,
                self.policy,
                self.occupancy,
                counts=parts.beams is not None,
                clock=self._clock,
            ),
            held_open=lambda: monitor.held_open,
            emergency=lambda: hardware.emergency,
            hint=hints(self.policy, self.occupancy, self.bookings),
            refusing=_every(REFUSING_CHECK_S, lambda: verifier.refuses_all(self._clock())),
        )
        face = build_face(
            screen=door.screen,
            voice=door.voice,
            screen_device=parts.screen,
            screen_problem=parts.screen_problem,
            speaker=parts.speaker,
            sources=sources,
            events=events,
            clock=self._clock,
            zone=self.policy.schedule.zone,
        )
        if face is not None:
            self._resources.callback(face.close)
        return face

    def _sync_client(self, door: DoorSettings) -> SyncClient | None:
        if door.access.sync_url is None:
            return None
        http = cloud_http(self._settings.api_ca_file, timeout=httpx.Timeout(10.0, connect=5.0))
        self._resources.callback(http.close)
        token = door.access.sync_token.get_secret_value() if door.access.sync_token else None
        return SyncClient(door.access.sync_url, token, http=http, clock=self._clock)

    def sync_now(self) -> list[SyncResult]:
        """Pull keys, members and bookings once; failures are results, never exceptions."""
        if self.sync is None:
            return []
        results = [
            self.sync.sync_keys(self._apply_keys, current_version=self.keys.version),
            self.sync.sync_members(self.members),
        ]
        if self._door.policy.booking_required:
            results.append(self.sync.sync_bookings(self._settings.venue, self.bookings))
        for result in results:
            log = logger.info if result.ok else logger.warning
            log("sync %s: %s", result.what, result.detail)
        return results

    def _apply_keys(self, keyset: Any) -> None:
        self.keys.replace_with(keyset)
        self.keys.save(self.keys_path)

    def start(self, stop: threading.Event) -> None:
        loops: list[Loop] = [
            ("scan", lambda: self.scanner.run(self.controller.present, stop)),
            ("tick", lambda: every(TICK_S, self._tick, stop, what="door tick")),
        ]
        if self.sync is not None:
            loops.append(("sync", lambda: self._sync_loop(stop)))
        self._threads += start_loops("door", loops)
        if self.face is not None:
            self.face.start()

    def _tick(self) -> None:
        self.time.persist_if_due()
        if self._beams is not None and self._beams.pump() and self.face is not None:
            self.face.poke()  # a crossing: the idle screen's count changes now
        if self.face is not None:
            self.face.watch()  # a stuck screen cannot say so itself
        self.controller.tick()

    def _sync_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            ok = all(result.ok for result in self.sync_now())
            stop.wait(self._door.access.sync_interval_s if ok else _SYNC_RETRY_S)

    def stopped_loops(self) -> list[str]:
        """Names of this runtime's loops that ended (only its stop should end them)."""
        # Not the face's: a screen is no reason to restart the door (DoorFace.watch says it).
        return [thread.name for thread in self._threads if not thread.is_alive()]

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
        self._resources.close()

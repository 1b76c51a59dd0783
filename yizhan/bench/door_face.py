"""`yizhan bench scan`'s screen and voice part: the relay with the door's face on and off.

Two real doors (``bench_door``) share one issuer key and take the same camera frames in
turn, alternating which goes first; one has the face (the emulated TFT saving each frame as
a PNG, and the voice playing espeak-ng prompts on the simulated speaker), the other not.
Half the codes are expired, so each decision changes the screen. Decisions come half a
camera frame apart (a door decides at most once a frame): the face draws between them as it
would at a real door.

- ``relay_p99_ms_screen_on/off``: from the frame's decode starting to the relay and LEDs
  set (the moment the door hands the decision to its face), per door;
- ``decision_to_screen_p99_ms``: from that hand-over to the verdict's frame on the display;
- ``idle_update_p99_ms``: from a person crossing the doorway's beams (firmware_sim's beams,
  the real counter driver, the door's 0.25 s tick) to the idle screen showing the count.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory

from edge.access.model import Decision
from edge.access.occupancy import Occupancy
from edge.door.beams import BeamTee
from edge.door.face import DoorFace, FaceSources
from edge.door.face_settings import DEFAULT_FONT, ScreenSettings, VoiceSettings
from edge.door.runtime import TICK_S
from edge.door.view import Idle, Words
from edge.hardware.counter import BeamCounter
from edge.scan.camera import Frame
from edge.scan.decoders import DEFAULT_DECODER, make_decoder
from edge.scan.scanner import Scanner
from firmware_sim.beams import BeamPair
from firmware_sim.camera import VirtualCamera
from protocol.membercode import IssuerKey, issue
from yizhan.bench.door import BenchDoor, bench_door

SIZE: Final = (1280, 720)
FRAME_GAP_S: Final = 0.1  # a door camera's 10 frames a second
IDLE_CHANGES: Final = 20
_BEAM_PINS: Final = (17, 27)  # outside, inside


@dataclass
class _Stamp:
    """Stands where a door's face is told of a decision: notes the moment, then tells it."""

    face: DoorFace | None = None
    at: list[float] = field(default_factory=list)

    def decided(self, decision: Decision) -> None:
        self.at.append(time.perf_counter())
        if self.face is not None:
            self.face.decided(decision)


class _Doorway:
    """The doorway's real beam chain: firmware_sim's two beams on mock pins, the beam
    counter driver, and the door's BeamTee feeding its occupancy, read on the door's tick."""

    def __init__(self, folder: Path) -> None:
        self.factory = MockFactory()
        self.beams = BeamPair(self.factory, *_BEAM_PINS)
        self.tee = BeamTee(BeamCounter(*_BEAM_PINS, pin_factory=self.factory))
        self.occupancy = Occupancy(
            folder / "occupancy.json", clock=lambda: datetime.now(UTC), has_beams=True
        )
        self.tee.feed(self.occupancy)

    def idle(self) -> Idle:
        station = Words("徐汇区户外劳动者驿站", "Xuhui Outdoor Workers' Station")
        poster = "https://union.example/m/join/xuhui?p=bench"
        inside = self.occupancy.current()
        return Idle(station, True, inside=inside, capacity=40, poster_url=poster)

    def tick(self, face: DoorFace, stop: threading.Event) -> None:
        """DoorRuntime._tick's part in this: read the beams, poke the face on a crossing."""
        while not stop.wait(TICK_S):
            if self.tee.pump():
                face.poke()

    def close(self) -> None:
        self.tee.close()
        self.factory.close()


def _no_hint(_: Decision) -> Words | None:
    return None


@contextmanager
def _face(folder: Path, doorway: _Doorway, show_s: float) -> Iterator[DoorFace]:
    """The face a box builds from [door.screen] and [door.voice], on firmware_sim's parts."""
    from edge.door.clips import build_clips  # noqa: PLC0415
    from edge.door.paint import Painter  # noqa: PLC0415
    from edge.door.screen import DoorScreen  # noqa: PLC0415
    from edge.door.voice import ClipLibrary, VoicePlayer, VolumeSchedule  # noqa: PLC0415
    from firmware_sim.screen import SimScreen  # noqa: PLC0415
    from firmware_sim.speaker import SimSpeaker  # noqa: PLC0415

    screen_settings, voice = ScreenSettings(driver="emulator"), VoiceSettings(device="sim")
    clips = folder / "voice"
    if shutil.which("espeak-ng") is not None:
        build_clips(clips)
    display = SimScreen(folder / "frames", width=screen_settings.width,
                        height=screen_settings.height)  # fmt: skip
    width, height = display.size
    player = VoicePlayer(
        SimSpeaker(),
        ClipLibrary(clips),
        VolumeSchedule(voice.volume, ZoneInfo("Asia/Shanghai")),
        lambda: datetime.now(UTC),
    )
    face = DoorFace(
        screen=DoorScreen(display, Painter(width, height, DEFAULT_FONT)),
        voice=player,
        sources=FaceSources(doorway.idle, lambda: False, lambda: False, _no_hint),
        events=lambda _events: None,
        clock=lambda: datetime.now(UTC),
        show_s=show_s,
    )
    face.start()
    try:
        yield face
    finally:
        face.close()


def _frames(key: IssuerKey, now: datetime, count: int, seed: int) -> list[Frame]:
    """Phones showing codes, every other one expired (a refusal on screen, then a welcome)."""
    camera = VirtualCamera(np.random.default_rng([seed, 7]), size=SIZE, vary_scene=True)
    frames = []
    for i in range(count):
        when = now if i % 2 == 0 else now - timedelta(hours=2)
        camera.show(issue(f"M{1 + i % 900:08d}", key=key, now=when))
        frame = camera.read()
        assert frame is not None
        frames.append(frame)
    return frames


class _Replay:
    def __init__(self, frames: list[Frame]) -> None:
        self._frames, self._next = frames, 0

    def read(self) -> Frame | None:
        frame = self._frames[self._next % len(self._frames)]
        self._next += 1
        return frame

    def close(self) -> None:
        self._frames = []


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def _decide(door: BenchDoor, scanner: Scanner, stamp: _Stamp) -> float | None:
    """One frame through one door: ms from the decode starting to the relay set."""
    started = time.perf_counter()
    before = len(stamp.at)
    for text in scanner.poll():
        door.present(text)
    if len(stamp.at) == before:
        return None
    return (stamp.at[before] - started) * 1000


def _idle_updates(face: DoorFace, doorway: _Doorway, changes: int) -> list[float]:
    """ms from a person crossing the beams to the idle screen showing the new count."""
    from edge.door.screen import DoorScreen  # noqa: PLC0415

    screen = face._screen
    assert isinstance(screen, DoorScreen)
    deadline = time.perf_counter() + 30.0  # the last verdict's few seconds end first
    while time.perf_counter() < deadline:
        if screen.last_frame is not None and screen.last_frame.kind == "idle":
            break
        time.sleep(0.01)
    stop = threading.Event()
    ticker = threading.Thread(target=doorway.tick, args=(face, stop), name="bench-door-tick")
    ticker.start()
    times = []
    try:
        for crossing in range(changes):
            time.sleep(random.uniform(0, TICK_S))
            crossed = time.perf_counter()
            doorway.beams.walk_in()
            wanted = f"{crossing + 1}/"
            deadline = crossed + 5.0
            while time.perf_counter() < deadline:
                frame = screen.last_frame
                if frame is not None and any(wanted in text for text in frame.texts()):
                    times.append((time.perf_counter() - crossed) * 1000)
                    break
                time.sleep(0.002)
    finally:
        stop.set()
        ticker.join()
    return times


def run_face_bench(
    *,
    frames: int,
    seed: int,
    gap_s: float = FRAME_GAP_S,
    idle_changes: int = IDLE_CHANGES,
    show_s: float = ScreenSettings().show_s,
) -> dict[str, Any]:
    """Both doors through the same frames; the figures the module docstring names."""
    key = IssuerKey("bench", Ed25519PrivateKey.generate())
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yz-face-bench-")))
        doorway = _Doorway(folder)
        stack.callback(doorway.close)
        face = stack.enter_context(_face(folder, doorway, show_s))
        stamps = {"off": _Stamp(), "on": _Stamp(face)}
        doors = {
            name: stack.enter_context(bench_door(key=key, face=stamp))
            for name, stamp in stamps.items()
        }
        shots = _frames(key, doors["on"].now, frames, seed)
        scanners = {name: Scanner(_Replay(shots), make_decoder(DEFAULT_DECODER)) for name in doors}
        relay: dict[str, list[float]] = {"off": [], "on": []}
        pause = threading.Event()
        for i in range(len(shots)):
            # Who goes first swaps every two frames, so each door is first as often on a
            # welcome as on a refusal (codes alternate), and cache warmth evens out.
            order = ["off", "on"] if (i // 2) % 2 == 0 else ["on", "off"]
            for name in order:
                ms = _decide(doors[name], scanners[name], stamps[name])
                if ms is not None:
                    relay[name].append(ms)
                # Half a frame between any two decisions: a door decides at most once a
                # frame, so the face has drawn the last verdict by the next one, as at a real
                # door. Back to back, the face's drawing would be charged to the other door.
                pause.wait(gap_s / 2)
        idle = _idle_updates(face, doorway, idle_changes)
        on, off = _pct(relay["on"], 99), _pct(relay["off"], 99)
        return {
            "frames_face": len(shots),
            "decisions_screen_on": len(relay["on"]),
            "decisions_screen_off": len(relay["off"]),
            "relay_p50_ms_screen_on": _pct(relay["on"], 50),
            "relay_p50_ms_screen_off": _pct(relay["off"], 50),
            "relay_p99_ms_screen_on": on,
            "relay_p99_ms_screen_off": off,
            "relay_p99_growth_ms": round(on - off, 3),
            "decision_to_screen_p50_ms": _pct([s * 1000 for s in face.latencies_s], 50),
            "decision_to_screen_p99_ms": _pct([s * 1000 for s in face.latencies_s], 99),
            "idle_update_p99_ms": _pct(idle, 99),
            "screen_frames": face.frames,
            "voice_clips": "espeak-ng" if shutil.which("espeak-ng") else "none (no espeak-ng)",
            "face_problems": face.problems(),
        }

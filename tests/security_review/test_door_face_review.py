"""Security review of the door's face: the screen and voice beside the door's decisions.

Each ``xfail(strict=True)`` is a problem found in review: it fails today and passes once
fixed. The plain tests are what was checked and held: the door's path never waits for the
face, the screen shows no member's id, odd text and sizes draw without a crash.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory

from edge.access.model import Decision
from edge.access.reasons import Reason
from edge.door.face import SCREEN, SPEAKER, DoorFace, FaceSources
from edge.door.face_parts import build_face
from edge.door.face_settings import (
    DEFAULT_FONT,
    MAX_POSTER_URL,
    PANEL_SIZES,
    ScreenSettings,
    VolumeStep,
)
from edge.door.paint import Painter, font_problem, qr_matrix
from edge.door.runtime import DoorParts, DoorRuntime
from edge.door.screen import DoorScreen, Frame, frame_for
from edge.door.view import LANGS, DoorView, Idle, Verdict, Words
from edge.door.voice import ClipLibrary, VoicePlayer, VolumeSchedule, clip_name
from edge.hardware.door import DoorPins
from edge.outbox import NewEvent
from edge.settings import EdgeSettings
from firmware_sim.camera import VirtualCamera
from firmware_sim.door import SimDoor
from firmware_sim.screen import SimScreen
from firmware_sim.speaker import SimSpeaker
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, issue
from tests.helpers import wait_for

pytestmark = pytest.mark.skipif(
    font_problem(DEFAULT_FONT) is not None, reason=str(font_problem(DEFAULT_FONT))
)

PINS = DoorPins(
    relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20, fire_alarm=21
)
KEY = IssuerKey("u2099", Ed25519PrivateKey.from_private_bytes(bytes([11]) * 32))
WAIT_S = 10.0
MEMBER = "M00000042"
ZONE = ZoneInfo("Asia/Shanghai")
IDLE = Idle(Words("五一路职工驿站", "Wuyi Road Workers' Station"), True, None, 3, 40)


def _now() -> datetime:
    return datetime.now(UTC)


def _decision(reason: Reason, member: str | None = None) -> Decision:
    return Decision(reason, f"member {member} at the door", "main", _now(), member)


def _no_hint(_: Decision) -> Words | None:
    return None


def _sources(idle: Callable[[], Idle] = lambda: IDLE, **kw: Any) -> FaceSources:
    base = FaceSources(idle=idle, held_open=lambda: False, emergency=lambda: False, hint=_no_hint)
    return replace(base, **kw)


class StallingPanel:
    """The emulated TFT, whose SPI write can stall the way a wedged spidev ioctl would."""

    def __init__(self, inner: SimScreen) -> None:
        self.inner = inner
        self.stall = threading.Event()
        self.stalled = threading.Event()  # a write is stuck now
        self.release = threading.Event()

    @property
    def size(self) -> tuple[int, int]:
        return self.inner.size

    def display(self, image: Any) -> None:
        if self.stall.is_set():
            self.stalled.set()
            self.release.wait()
        self.inner.display(image)

    def cleanup(self) -> None:
        self.release.set()
        self.inner.cleanup()


@dataclass
class Face:
    face: DoorFace
    panel: StallingPanel
    events: list[NewEvent]

    @property
    def screen(self) -> DoorScreen:
        shown = self.face._screen
        assert isinstance(shown, DoorScreen)
        return shown

    def faults(self, kind: str = "sensor.fault") -> list[NewEvent]:
        return [event for event in list(self.events) if event.type == kind]


def _face(
    tmp_path: Path,
    *,
    sources: FaceSources | None = None,
    voice: VoicePlayer | None = None,
    show_s: float = 30.0,
) -> Face:
    panel = StallingPanel(SimScreen(tmp_path / "frames", keep=5))
    events: list[NewEvent] = []
    face = DoorFace(
        screen=DoorScreen(panel, Painter(*panel.size, DEFAULT_FONT)),
        voice=voice,
        sources=sources or _sources(),
        events=events.extend,
        clock=_now,
        show_s=show_s,
        refresh_s=0.02,
    )
    return Face(face, panel, events)


@pytest.fixture
def face(tmp_path: Path) -> Iterator[Face]:
    made = _face(tmp_path)
    yield made
    made.panel.release.set()
    made.face.close()


def _clips(folder: Path, *, without: tuple[Reason, ...] = ()) -> Path:
    folder.mkdir(exist_ok=True)
    for reason in Reason:
        if reason in without:
            continue
        for lang in LANGS:
            with wave.open(str(folder / clip_name(reason, lang)), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(8000)
                wav.writeframes(b"\x00\x08" * 80)
    return folder


def _player(clips: Path, speaker: SimSpeaker) -> VoicePlayer:
    steps = [VolumeStep(at=time(0, 0), percent=100)]
    return VoicePlayer(speaker, ClipLibrary(clips), VolumeSchedule(steps, ZONE), _now)


# --- the door's path never waits for the face --------------------------------------------


def test_decided_returns_while_the_screen_write_and_the_speaker_are_stuck(tmp_path: Path) -> None:
    speaker = SimSpeaker(speed=1000.0)
    speaker.held = True  # a prompt that plays on and on
    made = _face(tmp_path, voice=_player(_clips(tmp_path / "voice"), speaker))
    try:
        made.panel.stall.set()
        made.face.start()
        made.face.decided(_decision(Reason.EXPIRED))
        wait_for(made.panel.stalled.is_set, timeout=WAIT_S, message="the screen write stuck")
        wait_for(lambda: speaker.playing, timeout=WAIT_S, message="a prompt playing")

        def decide_every_reason() -> None:
            for reason in Reason:
                made.face.decided(_decision(reason))

        door = threading.Thread(target=decide_every_reason)
        door.start()
        door.join(timeout=WAIT_S)
        assert not door.is_alive(), "a decision waited for the face"
    finally:
        speaker.held = False
        made.panel.release.set()
        made.face.close()


def test_a_screen_write_that_never_returns_is_reported(face: Face) -> None:
    face.panel.stall.set()
    face.face.start()
    face.face.decided(_decision(Reason.ACCEPTED))
    wait_for(face.panel.stalled.is_set, timeout=WAIT_S, message="the screen write stuck")
    wait_for(lambda: SCREEN in face.face.problems(), timeout=3.0, message="a stuck screen named")


# --- what goes wrong on the face's thread -------------------------------------------------


def test_a_failing_hint_still_shows_the_verdict(tmp_path: Path) -> None:
    rounds = [0]

    def idle() -> Idle:
        rounds[0] += 1
        return IDLE

    def broken_hint(_: Decision) -> Words | None:
        raise sqlite3.OperationalError("database is locked")

    made = _face(tmp_path, sources=_sources(idle, hint=broken_hint))
    try:
        made.face.start()
        wait_for(lambda: made.screen.last_frame is not None, timeout=WAIT_S, message="idle")
        made.face.decided(_decision(Reason.NOT_BOOKED, MEMBER))
        after = rounds[0]
        wait_for(lambda: rounds[0] >= after + 5, timeout=WAIT_S, message="rounds after it")
        frame = made.screen.last_frame
        assert frame is not None
        assert frame.kind == "verdict"
    finally:
        made.face.close()


def test_a_source_that_keeps_failing_is_logged_once_not_every_round(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [0]

    def idle() -> Idle:
        calls[0] += 1
        raise RuntimeError("occupancy file unreadable")

    made = _face(tmp_path, sources=_sources(idle))
    try:
        with caplog.at_level(logging.ERROR, logger="edge.door.face"):
            made.face.start()
            wait_for(lambda: calls[0] >= 20, timeout=WAIT_S, message="twenty rounds")
        errors = [r for r in caplog.records if r.name == "edge.door.face"]
        assert len(errors) <= 2
    finally:
        made.face.close()


def test_a_font_without_chinese_on_the_box_is_a_screen_fault(tmp_path: Path) -> None:
    events: list[NewEvent] = []
    panel = SimScreen(tmp_path / "frames", keep=5)
    face = build_face(
        screen=ScreenSettings(driver="emulator", font=tmp_path / "gone.ttc"),
        voice=None,
        screen_device=panel,
        screen_problem=None,
        speaker=None,
        sources=_sources(),
        events=events.extend,
        clock=_now,
        zone=ZONE,
    )
    assert face is not None
    try:
        face.start()
        wait_for(lambda: face.frames >= 1, timeout=WAIT_S, message="a frame drawn")
        assert SCREEN in face.problems()
        assert any(e.type == "sensor.fault" and e.data["sensor"] == SCREEN for e in events)
    finally:
        face.close()


def _in_step(made: Face, player: VoicePlayer) -> bool:
    """The face has seen the voice as it is now."""
    return player.idle and (SPEAKER in made.face.problems()) == (player.problem is not None)


def test_a_dead_speaker_is_reported_once_and_its_recovery_once(tmp_path: Path) -> None:
    speaker = SimSpeaker(speed=1000.0)
    player = _player(_clips(tmp_path / "voice"), speaker)
    made = _face(tmp_path, voice=player)
    try:
        made.face.start()
        speaker.broken = True
        for reason in (Reason.EXPIRED, Reason.FULL, Reason.EXPIRED):
            made.face.decided(_decision(reason))
            wait_for(lambda: _in_step(made, player), timeout=WAIT_S, message="the face caught up")
        assert SPEAKER in made.face.problems()
        speaker.broken = False
        made.face.decided(_decision(Reason.ACCEPTED))
        wait_for(lambda: SPEAKER not in made.face.problems(), timeout=WAIT_S, message="recovery")
        assert [e.data["sensor"] for e in made.faults()] == [SPEAKER]
        assert [e.data["sensor"] for e in made.faults("sensor.recovered")] == [SPEAKER]
    finally:
        made.face.close()


def test_one_missing_prompt_does_not_make_the_speaker_fault_flap(tmp_path: Path) -> None:
    speaker = SimSpeaker(speed=1000.0)
    player = _player(_clips(tmp_path / "voice", without=(Reason.EXPIRED,)), speaker)
    made = _face(tmp_path, voice=player)
    try:
        made.face.start()
        for reason in (Reason.EXPIRED, Reason.ACCEPTED) * 3:
            made.face.decided(_decision(reason))
            wait_for(lambda: _in_step(made, player), timeout=WAIT_S, message="the face caught up")
        assert len(made.faults()) == 1
        assert made.faults("sensor.recovered") == []
    finally:
        made.face.close()


# --- the screen's contents -----------------------------------------------------------------

# Names a technician may type into [door.screen]; each is within its length limit.
_LONGEST_POSTER = "https://cloud.example.org/m/join/" + "v" * (MAX_POSTER_URL - 33)
ODD_NAMES = [
    ("驿站\x00站", "a\x00b"),
    ("\n" * 23 + "驿", "\n" * 39 + "x"),
    ("驿" + "\u0301" * 23, "e" + "\u0301" * 39),
    ("\u202e驿站", "\u202eabc"),
    ("🚴" * 24, "🚴" * 40),
    ("\u200b" * 24, "\u200b" * 40),
    ("\t" * 24, "W" * 40),
    ("\ufffd" * 24, "\uffff" * 40),
]


@pytest.mark.parametrize("size", [(240, 240), (320, 240), (240, 320), (128, 128), (480, 480)])
def test_odd_station_names_draw_inside_the_screen_without_an_error(size: tuple[int, int]) -> None:
    painter = Painter(*size, DEFAULT_FONT)
    poster = _LONGEST_POSTER
    for zh, en in ODD_NAMES:
        settings = ScreenSettings(station_zh=zh, station_en=en, poster_url=poster)
        idle = Idle(
            Words(settings.station_zh, settings.station_en),
            False,
            "08:00–22:00",
            10**6,
            10**6,
            poster,
        )
        for view in (
            DoorView(idle, offline=True),
            DoorView(idle, Verdict(Reason.OUTSIDE_HOURS, "en", Words(zh, en)), offline=True),
        ):
            image = painter.draw(frame_for(view))
            assert image.size == size
            layout = painter.layout(frame_for(view))
            assert all(box.inside(*size) for box in layout.boxes())


@pytest.mark.parametrize(
    ("driver", "size"),
    [(driver, size) for driver, sizes in PANEL_SIZES.items() for size in sizes],
)
def test_the_walk_in_qr_keeps_two_pixels_a_module(driver: str, size: tuple[int, int]) -> None:
    """On every panel a box drives, the longest poster URL the settings take."""
    poster = _LONGEST_POSTER
    settings = ScreenSettings.model_validate(
        {"driver": driver, "width": size[0], "height": size[1], "poster_url": poster}
    )
    assert settings.poster_url == poster
    painter = Painter(*size, DEFAULT_FONT)
    layout = painter.layout(frame_for(DoorView(replace(IDLE, poster_url=poster))))
    assert layout.qr is not None
    assert (layout.qr.right - layout.qr.left) // len(qr_matrix(poster)) >= 2


# --- the face as a box builds it -----------------------------------------------------------


@dataclass
class Box:
    runtime: DoorRuntime
    face: DoorFace
    screen: SimScreen

    def frame(self, wanted: Callable[[Frame], bool], message: str) -> Frame:
        def shown() -> Frame | None:
            screen = self.face._screen
            assert isinstance(screen, DoorScreen)
            frame = screen.last_frame
            return frame if frame is not None and wanted(frame) else None

        found = wait_for(shown, timeout=WAIT_S, message=message)
        assert found is not None
        return found


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    factory = MockFactory()
    SimDoor(factory, PINS)
    screen = SimScreen(tmp_path / "frames", keep=5)
    settings = EdgeSettings.model_validate(
        {
            "venue": "station-07",
            "device": "door-01",
            "role": "door",
            "data_dir": tmp_path,
            "door": {
                "policy": {"door_id": "main", "capacity": 40},
                "pins": PINS,
                "screen": {"driver": "emulator", "show_s": 1.0},
            },
        }
    )
    parts = DoorParts(
        frame_source=VirtualCamera(np.random.default_rng(0)), pin_factory=factory, screen=screen
    )
    runtime = DoorRuntime(settings, parts=parts, events=lambda _: None, clock=_now)
    assert runtime.face is not None
    # Ready to admit (keys, a fresh member cache), unless a test makes it otherwise.
    runtime.keys.add(KEY.kid, KEY.public_key())
    runtime.members.apply_snapshot(
        1, [MemberRecord("M00000001", MemberStatus.ACTIVE)], synced_at=_now()
    )
    try:
        yield Box(runtime, runtime.face, screen)
    finally:
        runtime.close()
        factory.close()


def test_no_frame_shows_the_member_id_or_the_decision_detail(box: Box) -> None:
    """The verdict carries the reason, the language and a hint, nothing of the person."""
    box.face.start()
    hint = box.face.sources.hint
    for reason in Reason:
        decision = _decision(reason, MEMBER)
        for lang in LANGS:
            view = DoorView(box.face.sources.idle(), Verdict(reason, lang, hint(decision)))
            texts = " ".join(frame_for(view).texts())
            assert MEMBER not in texts
            assert decision.detail not in texts
    box.face.decided(_decision(Reason.NOT_BOOKED, MEMBER))
    shown = box.frame(lambda f: f.kind == "verdict", "the verdict")
    assert all(MEMBER not in text for text in shown.texts())


def test_the_offline_banner_does_not_promise_entry_when_the_door_refuses_everyone(
    box: Box,
) -> None:
    runtime = box.runtime
    runtime.members.apply_snapshot(
        2, [MemberRecord("M00000001", MemberStatus.ACTIVE)], synced_at=_now() - timedelta(days=8)
    )
    box.face.online = lambda: False
    box.face.start()
    decision = runtime.controller.present(issue("M00000001", key=KEY, now=_now()))
    assert decision.reason is Reason.STALE_CACHE
    for frame in (
        box.frame(lambda f: f.kind == "verdict", "the stale-cache verdict"),
        box.frame(lambda f: f.kind == "idle", "the idle screen after it"),
    ):
        texts = " ".join(frame.texts())
        assert "members still admitted" not in texts
        assert "会员仍可进入" not in texts


def test_the_offline_banner_shows_only_while_the_uplink_is_down(box: Box) -> None:
    online = [True]
    box.face.online = lambda: online[0]
    box.face.start()
    box.frame(lambda f: f.kind == "idle" and f.banner is None, "idle, online")
    online[0] = False
    box.frame(lambda f: f.banner is not None, "the offline banner")
    online[0] = True
    box.frame(lambda f: f.banner is None, "the banner gone")


def _leave_the_thread() -> NoReturn:
    raise SystemExit  # what a library's sys.exit() does on the face's thread


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_ended_face_thread_does_not_restart_the_door(box: Box) -> None:
    stop = threading.Event()
    box.runtime.start(stop)
    try:
        box.face.sources = _sources(_leave_the_thread)
        wait_for(lambda: not box.face.alive, timeout=WAIT_S, message="the face's thread ended")
        assert "door-face" not in box.runtime.stopped_loops()
    finally:
        stop.set()

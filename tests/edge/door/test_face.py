"""The door's face as a box builds it: [door.screen] on firmware_sim's emulated TFT, [door.voice]
on its speaker, driven by the door's own decisions, never in the relay's way."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory
from PIL import Image, ImageChops

from edge.access.model import Decision
from edge.access.reasons import SIGNALS, Reason
from edge.door.beams import BeamTee
from edge.door.clips import build_clips
from edge.door.face import SCREEN, DoorFace
from edge.door.paint import Painter
from edge.door.runtime import DoorParts, DoorRuntime
from edge.door.screen import DoorScreen, Frame, frame_for
from edge.door.view import LANGS, DoorView, Lang, Verdict
from edge.door.voice import Spoken, VoicePlayer
from edge.hardware.counter import BeamCounter
from edge.hardware.door import DoorPins
from edge.outbox import NewEvent
from edge.settings import EdgeSettings
from firmware_sim.beams import BeamPair
from firmware_sim.camera import VirtualCamera
from firmware_sim.door import SimDoor
from firmware_sim.screen import SimScreen
from firmware_sim.speaker import SimSpeaker
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, issue
from tests.fixtures import missing_service
from tests.helpers import wait_for

PINS = DoorPins(
    relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20, fire_alarm=21
)
KEY = IssuerKey("u2026", Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32))
BEAMS = (17, 27)
WAIT_S = 15.0
POSTER = "https://union.example/m/join/station-07?p=abc123"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 40 prompts, made once by the real espeak-ng as deploy/pi/install.sh makes them."""
    if shutil.which("espeak-ng") is None:
        missing_service("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("voice")
    assert build_clips(folder).ok
    return folder


@dataclass
class Box:
    runtime: DoorRuntime
    face: DoorFace
    screen: SimScreen
    speaker: SimSpeaker
    beams: BeamPair
    door: SimDoor
    events: list[NewEvent]

    @property
    def door_screen(self) -> DoorScreen:
        shown = self.face._screen
        assert isinstance(shown, DoorScreen)
        return shown

    @property
    def voice(self) -> VoicePlayer:
        player = self.face._voice
        assert isinstance(player, VoicePlayer)
        return player

    def frame(self) -> Frame | None:
        return self.door_screen.last_frame


def _settings(data_dir: Path, clips: Path) -> EdgeSettings:
    return EdgeSettings.model_validate(
        {
            "venue": "station-07",
            "device": "door-01",
            "role": "door",
            "data_dir": data_dir,
            "door": {
                "policy": {"door_id": "main", "capacity": 40},
                "pins": PINS,
                "screen": {
                    "driver": "emulator",
                    "station_zh": "徐汇区户外劳动者驿站",
                    "station_en": "Xuhui Outdoor Workers' Station",
                    "poster_url": POSTER,
                    "show_s": 1.0,
                },
                "voice": {
                    "device": "sim",
                    "clips_dir": clips,
                    # Full volume all day: the clip played is the clip as made.
                    "volume": [{"at": "00:00", "percent": 100}],
                },
            },
        }
    )


@pytest.fixture
def box(tmp_path: Path, clips: Path) -> Iterator[Box]:
    factory = MockFactory()
    door = SimDoor(factory, PINS)
    counter = BeamCounter(*BEAMS, pin_factory=factory)
    tee = BeamTee(counter)
    screen = SimScreen(tmp_path / "frames")
    speaker = SimSpeaker(speed=200.0)
    events: list[NewEvent] = []
    parts = DoorParts(
        frame_source=VirtualCamera(np.random.default_rng(0)),
        pin_factory=factory,
        beams=tee,
        screen=screen,
        speaker=speaker,
    )
    runtime = DoorRuntime(
        _settings(tmp_path, clips),
        parts=parts,
        events=events.extend,
        clock=lambda: datetime.now(UTC),
    )
    assert runtime.face is not None
    # A door ready to admit (keys, a fresh member cache): no staff banner on its frames.
    runtime.keys.add(KEY.kid, KEY.public_key())
    runtime.members.apply_snapshot(
        1, [MemberRecord("M00000001", MemberStatus.ACTIVE)], synced_at=datetime.now(UTC)
    )
    runtime.face.start()
    try:
        yield Box(runtime, runtime.face, screen, speaker, BeamPair(factory, *BEAMS), door, events)
    finally:
        runtime.close()
        tee.close()
        factory.close()


def _decision(reason: Reason) -> Decision:
    return Decision(reason, "test", "main", datetime.now(UTC))


def _frame_where(box: Box, wanted: Callable[[Frame], bool], message: str) -> Frame:
    """The first frame on the screen that is ``wanted``; fails at the deadline."""

    def shown() -> Frame | None:
        frame = box.frame()
        return frame if frame is not None and wanted(frame) else None

    found = wait_for(shown, timeout=WAIT_S, message=message)
    assert found is not None
    return found


def _shown(box: Box, reason: Reason, lang: Lang) -> Frame:
    words = SIGNALS[reason].zh if lang == "zh-CN" else SIGNALS[reason].en
    return _frame_where(box, lambda f: words in f.texts(), f"{reason} on the screen")


def _same_pixels(saved: Path, drawn: Image.Image) -> bool:
    with Image.open(saved) as image:
        return ImageChops.difference(image.convert("RGB"), drawn.convert("RGB")).getbbox() is None


@pytest.mark.parametrize("lang", LANGS)
def test_every_reason_is_shown_in_words_and_said_once(box: Box, lang: Lang) -> None:
    """For every reason: the emulated screen's saved frame is the expected frame, drawn the
    same way (not read back by OCR), with the reason in both languages; its clip plays once."""
    screen = box.runtime._door.screen
    assert screen is not None
    painter = Painter(*box.screen.size, screen.font)
    for reason in Reason:
        played = len(box.voice.history)
        decision = _decision(reason)
        box.face.decided(decision, lang)
        frame = _shown(box, reason, lang)
        assert SIGNALS[reason].zh in frame.texts()
        assert SIGNALS[reason].en in frame.texts()
        # The frame as drawn from the door's view, independently of the face's thread.
        verdict = Verdict(reason, lang, box.face.sources.hint(decision))
        expected = frame_for(DoorView(box.face.sources.idle(), verdict))
        assert frame == expected
        wait_for(lambda: box.screen.latest is not None, timeout=WAIT_S, message="a saved frame")
        assert box.screen.latest is not None
        assert _same_pixels(box.screen.latest, painter.draw(expected)), reason
        wait_for(
            lambda n=played: len(box.voice.history) > n and box.voice.idle,  # type: ignore[misc]
            timeout=WAIT_S,
            message=f"the {reason} prompt played",
        )
        assert box.voice.history[played:] == [Spoken(reason, lang, 100)]


def test_a_code_at_the_door_opens_then_shows_and_says_why(box: Box) -> None:
    """Through the door's own path: the relay and LEDs first, then the face."""
    runtime = box.runtime
    decision = runtime.controller.present(issue("M00000001", key=KEY, now=datetime.now(UTC)))
    assert decision.reason is Reason.ACCEPTED
    assert runtime.hardware.unlocked  # the relay moved on the decision's own thread
    _shown(box, Reason.ACCEPTED, "zh-CN")
    refused = runtime.controller.present("https://qr.alipay.com/fkx19230abc")
    assert refused.reason is Reason.NOT_MEMBER_CODE
    frame = _shown(box, Reason.NOT_MEMBER_CODE, "zh-CN")
    assert frame.kind == "verdict"
    wait_for(lambda: box.voice.idle, timeout=WAIT_S, message="the prompts played")
    said = [spoken.reason for spoken in box.voice.history]
    assert said[-1] is Reason.NOT_MEMBER_CODE


def test_a_burst_of_20_decisions_in_2_s_queues_at_most_one_prompt(box: Box) -> None:
    box.speaker.held = True  # the first prompt plays on while the others arrive
    reasons = [list(Reason)[i % len(Reason)] for i in range(20)]
    for reason in reasons:
        box.face.decided(_decision(reason))
    box.speaker.held = False
    wait_for(lambda: box.voice.idle, timeout=WAIT_S, message="the burst's prompts played")
    assert box.voice.max_queued <= 1
    said = [spoken.reason for spoken in box.voice.history]
    assert len(said) <= 2  # the one playing, then the newest of those that waited
    assert said[-1] is reasons[-1]
    _shown(box, reasons[-1], "zh-CN")  # the screen ends on the last verdict


def test_the_idle_screen_counts_a_crossing_and_shows_the_station(box: Box) -> None:
    stop = threading.Event()
    box.runtime.start(stop)  # the door's tick reads the beams, as on a box
    try:
        idle = _frame_where(box, lambda f: f.kind == "idle", "the idle screen")
        texts = " ".join(idle.texts())
        assert "扫码开门" in texts
        assert "Scan to enter" in texts
        assert "徐汇区户外劳动者驿站" in texts
        assert idle.qr == POSTER  # first-timers scan the walk-in poster's QR
        box.beams.walk_in()
        box.beams.walk_in()
        _frame_where(
            box, lambda f: any("2/40" in text for text in f.texts()), "two crossings counted"
        )
    finally:
        stop.set()


def test_a_dead_screen_is_reported_and_the_door_keeps_deciding(box: Box) -> None:
    box.screen.broken = True
    box.face.decided(_decision(Reason.EXPIRED))
    wait_for(lambda: SCREEN in box.face.problems(), timeout=WAIT_S, message="the screen's fault")
    faults = [e for e in box.events if e.type == "sensor.fault"]
    assert faults[-1].data["sensor"] == SCREEN
    assert "check the screen's wiring" in str(faults[-1].data["problem"])
    # The door itself is untouched: it still decides and signals.
    assert box.runtime.controller.present("not a code").reason is Reason.NOT_MEMBER_CODE
    box.screen.broken = False
    wait_for(lambda: not box.face.problems(), timeout=WAIT_S, message="the screen back")
    assert box.events[-1].type == "sensor.recovered"


def test_offline_emergency_and_held_open_are_said_on_the_screen(box: Box) -> None:
    box.face.online = lambda: False
    box.face.poke()
    offline = _frame_where(box, lambda f: f.banner is not None, "the offline banner")
    assert offline.banner is not None
    assert "会员仍可进入" in offline.banner.text

    box.face.online = lambda: True
    box.door.fire_alarm(on=True)
    box.runtime.controller.tick()
    emergency = _frame_where(box, lambda f: f.kind == "emergency", "the emergency screen")
    assert "Emergency" in " ".join(emergency.texts())
    box.door.fire_alarm(on=False)
    _frame_where(box, lambda f: f.kind != "emergency", "the emergency gone with the alarm")


def test_a_door_that_refuses_every_code_asks_for_staff_not_patience(box: Box) -> None:
    """Caches too old to trust: every code is refused, so the screen says to call staff
    rather than "members still admitted", online or not."""
    box.runtime.members.apply_snapshot(
        2,
        [MemberRecord("M00000001", MemberStatus.ACTIVE)],
        synced_at=datetime(2020, 1, 1, tzinfo=UTC),
    )
    box.face.online = lambda: False
    box.face.poke()
    frame = _frame_where(box, lambda f: f.banner is not None and "staff" in f.banner.text, "staff")
    assert "会员仍可进入" not in " ".join(frame.texts())

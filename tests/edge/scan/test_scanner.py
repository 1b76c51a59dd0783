"""The scan loop: each code once while in view, again after it was away, paced frames."""

import logging
import threading

import numpy as np
import pytest

from edge.scan import ScanError
from edge.scan.camera import Frame
from edge.scan.decoders import make_decoder
from edge.scan.scanner import MAX_MISSED_FRAMES, Scanner
from firmware_sim.camera import VirtualCamera

BLANK: Frame = np.zeros((4, 4), np.uint8)


class FakeClock:
    """Monotonic seconds that only move when a test (or the fake sleep) says so."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedDecoder:
    """Returns the next scripted list of texts per frame; optionally takes time to do so."""

    name = "scripted"

    def __init__(self, script: list[list[str]], *, clock: FakeClock, cost_s: float = 0.0) -> None:
        self._script, self._clock, self._cost_s = list(script), clock, cost_s

    def decode(self, frame: Frame) -> list[str]:
        self._clock.now += self._cost_s
        return self._script.pop(0) if self._script else []


class Frames:
    """A FrameSource handing out a blank frame (or None where scripted)."""

    def __init__(
        self,
        gaps: set[int] | None = None,
        stop: threading.Event | None = None,
        limit: int | None = None,
    ) -> None:
        self.reads, self._gaps, self._stop, self._limit = 0, gaps or set(), stop, limit

    def read(self) -> Frame | None:
        self.reads += 1
        if self._stop is not None and self._limit is not None and self.reads >= self._limit:
            self._stop.set()
        return None if self.reads in self._gaps else BLANK

    def close(self) -> None:
        pass


def _scan(script: list[list[str]], *, hold_s: float = 2.0, fps: float = 10.0) -> list[list[str]]:
    clock = FakeClock()
    scanner = Scanner(
        Frames(), ScriptedDecoder(script, clock=clock), clock=clock, fps=fps, hold_s=hold_s
    )
    out = []
    for _ in script:
        out.append(scanner.poll())
        clock.now += 1 / fps
    return out


def test_a_code_held_in_view_is_reported_once() -> None:
    out = _scan([["A"]] * 100)

    assert out[0] == ["A"]
    assert all(found == [] for found in out[1:])


def test_missed_frames_shorter_than_hold_do_not_report_again() -> None:
    # Glare or a shaking hand hides the code for 1.5 s: still the same showing.
    out = _scan([["A"]] * 5 + [[]] * 15 + [["A"]] * 5, hold_s=2.0)

    assert [text for found in out for text in found] == ["A"]


def test_a_code_that_left_view_longer_than_hold_is_reported_again() -> None:
    out = _scan([["A"]] * 5 + [[]] * 25 + [["A"]] * 5, hold_s=2.0)

    assert out[0] == ["A"]
    assert out[30] == ["A"]
    assert [text for found in out for text in found] == ["A", "A"]


def test_two_codes_and_repeats_within_a_frame() -> None:
    out = _scan([["A", "B", "A"], ["B", "C"], ["A"]])

    assert out == [["A", "B"], ["C"], []]


def test_forgotten_codes_do_not_pile_up() -> None:
    clock = FakeClock()
    script = [[f"code-{i}"] for i in range(200)]
    scanner = Scanner(Frames(), ScriptedDecoder(script, clock=clock), clock=clock, hold_s=2.0)
    for _ in script:
        scanner.poll()
        clock.now += 0.1

    assert len(scanner._last_seen) <= 21


def test_run_paces_frames_to_the_fps_and_stops() -> None:
    clock = FakeClock()
    stop = threading.Event()
    decoder = ScriptedDecoder([["A"]] * 30, clock=clock, cost_s=0.02)
    seen: list[str] = []
    scanner = Scanner(Frames(stop=stop, limit=30), decoder, clock=clock, sleep=clock.sleep, fps=10)

    scanner.run(seen.append, stop)

    assert seen == ["A"]
    assert len(clock.sleeps) == 29
    assert clock.sleeps == pytest.approx([0.08] * 29)  # 100 ms period minus 20 ms decoding


def test_run_does_not_sleep_when_decoding_overruns_the_period() -> None:
    clock = FakeClock()
    stop = threading.Event()
    decoder = ScriptedDecoder([], clock=clock, cost_s=0.25)
    scanner = Scanner(Frames(stop=stop, limit=5), decoder, clock=clock, sleep=clock.sleep, fps=10)

    scanner.run(lambda _text: None, stop)

    assert clock.sleeps == []


def test_a_failing_handler_is_logged_and_scanning_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    stop = threading.Event()
    decoder = ScriptedDecoder([["A"], ["A", "B"]], clock=clock)
    scanner = Scanner(Frames(stop=stop, limit=3), decoder, clock=clock, sleep=clock.sleep)
    handled: list[str] = []

    def on_code(text: str) -> None:
        handled.append(text)
        if text == "A":
            raise RuntimeError("relay jammed")

    with caplog.at_level(logging.ERROR, logger="edge.scan.scanner"):
        scanner.run(on_code, stop)

    assert handled == ["A", "B"]
    assert "handling a scanned code failed" in caplog.text


def test_a_camera_that_stops_giving_frames_is_an_error() -> None:
    clock = FakeClock()
    source = Frames(gaps=set(range(1, 10_000)))
    scanner = Scanner(source, ScriptedDecoder([], clock=clock), clock=clock, sleep=clock.sleep)

    with pytest.raises(ScanError, match="check the cable"):
        scanner.run(lambda _text: None, threading.Event())
    assert source.reads == MAX_MISSED_FRAMES


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ScanError, match="fps"):
        Scanner(Frames(), make_decoder(), fps=0)


def test_virtual_door_with_a_real_decoder(
    member_codes: list[str], rng: np.random.Generator
) -> None:
    clock = FakeClock()
    camera = VirtualCamera(rng, size=(640, 480))
    scanner = Scanner(camera, make_decoder(), clock=clock, hold_s=2.0)

    def frames(n: int) -> list[str]:
        found: list[str] = []
        for _ in range(n):
            found += scanner.poll()
            clock.now += 0.1
        return found

    camera.show(member_codes[0])
    assert frames(6) == [member_codes[0]]
    camera.show(None)
    assert frames(25) == []
    camera.show(member_codes[0])
    assert frames(3) == [member_codes[0]]
    camera.show(member_codes[1])
    assert frames(3) == [member_codes[1]]

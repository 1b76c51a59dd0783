"""The emulated door TFT: every frame saved as a PNG, exactly as the painter drew it."""

import errno
import itertools
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from edge.access.reasons import SIGNALS, Reason
from edge.door.face_settings import DEFAULT_FONT
from edge.door.paint import Painter, font_problem
from edge.door.screen import DoorScreen, ScreenError, frame_for
from edge.door.view import LANGS, DoorView, Idle, Lang, Verdict, Words
from edge.hardware.interfaces import HardwareError
from firmware_sim.screen import SimScreen

IDLE = Idle(
    station=Words("五一路职工驿站", "Wuyi Road Workers' Station"),
    open_now=True,
    hours="08:00–22:00",
    inside=12,
    capacity=40,
    poster_url="https://yizhan.example.cn/m/join/wuyi-road?p=7Hq2xK9s",
)


def _same(saved: Path, expected: Image.Image) -> bool:
    with Image.open(saved) as image:
        return ImageChops.difference(image.convert("RGB"), expected).getbbox() is None


def _frames(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.skipif(font_problem(DEFAULT_FONT) is not None, reason="no CJK font installed")
@pytest.mark.parametrize("size", [(240, 240), (320, 240)], ids=["240x240", "320x240"])
def test_every_reasons_saved_frame_is_the_frame_painted_with_its_words(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    panel = SimScreen(tmp_path, width=size[0], height=size[1])
    painter = Painter(*size, DEFAULT_FONT)
    screen = DoorScreen(panel, painter)
    lang: Lang
    for reason, lang in itertools.product(Reason, LANGS):
        view = DoorView(IDLE, Verdict(reason, lang))
        frame = screen.show(view)
        signal = SIGNALS[reason]
        assert {signal.zh, signal.en} <= set(frame.texts())
        assert panel.latest is not None
        # Rendering the expected frame the same way, not reading the picture back (OCR).
        assert _same(panel.latest, painter.draw(frame_for(view))), (reason, lang)
    assert panel.count == screen.shown == 2 * len(Reason)
    for view in (DoorView(IDLE, offline=True), DoorView(IDLE, emergency=True)):
        screen.show(view)
        assert panel.latest is not None
        assert _same(panel.latest, painter.draw(frame_for(view)))


def _image(shade: int) -> Image.Image:
    return Image.new("RGB", (240, 240), (shade, shade, shade))


def test_frames_are_numbered_in_order_and_only_the_newest_kept(tmp_path: Path) -> None:
    panel = SimScreen(tmp_path, keep=3)
    assert panel.latest is None
    for shade in range(5):
        panel.display(_image(shade))
    assert _frames(tmp_path) == ["frame-000003.png", "frame-000004.png", "frame-000005.png"]
    assert panel.latest == tmp_path / "frame-000005.png"
    assert panel.count == 5
    assert _same(panel.latest, _image(4))


def test_a_new_screen_carries_on_after_the_frames_a_previous_run_left(tmp_path: Path) -> None:
    first = SimScreen(tmp_path, keep=2)
    for shade in range(3):
        first.display(_image(shade))
    again = SimScreen(tmp_path, keep=2)
    again.display(_image(9))
    assert _frames(tmp_path) == ["frame-000003.png", "frame-000004.png"]
    assert again.latest == tmp_path / "frame-000004.png"
    assert again.count == 1


def test_a_broken_screen_fails_like_a_dead_spi_write_and_saves_nothing(tmp_path: Path) -> None:
    panel = SimScreen(tmp_path)
    panel.display(_image(1))
    panel.broken = True
    with pytest.raises(OSError, match="simulated dead screen") as err:
        panel.display(_image(2))
    assert err.value.errno == errno.EIO
    assert _frames(tmp_path) == ["frame-000001.png"]
    screen = DoorScreen(panel, Painter(240, 240, DEFAULT_FONT))
    with pytest.raises(ScreenError):
        screen.show(DoorView(IDLE))
    panel.broken = False
    screen.show(DoorView(IDLE))
    assert _frames(tmp_path) == ["frame-000001.png", "frame-000002.png"]


def test_the_panel_has_the_size_it_was_built_with(tmp_path: Path) -> None:
    assert SimScreen(tmp_path, width=320, height=240).size == (320, 240)
    with pytest.raises(ValueError, match="keep must be at least 1"):
        SimScreen(tmp_path, keep=0)


def test_without_the_sim_extra_it_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if pygame were not installed: its import fails.
    monkeypatch.setitem(sys.modules, "pygame", None)
    with pytest.raises(HardwareError, match=r"pygame is missing\): pip install 'yizhan\[sim\]'"):
        SimScreen(tmp_path)

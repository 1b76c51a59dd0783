"""Painting door-screen frames: everything inside the screen, nothing cut, same pixels each time."""

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageFont

from edge.access.reasons import Reason
from edge.door.face_settings import DEFAULT_FONT
from edge.door.paint import Box, Layout, Painter, font_problem, wrap
from edge.door.screen import YELLOW, Frame, Icon, Line, frame_for
from edge.door.view import LANGS, DoorView, Idle, Verdict, Words

SIZES = [(240, 240), (320, 240)]
POSTER = "https://yizhan.example.cn/m/join/wuyi-road?p=7Hq2xK9s"
IDLE = Idle(
    station=Words("五一路职工驿站", "Wuyi Road Workers' Station"),
    open_now=True,
    hours="08:00–22:00",
    inside=12,
    capacity=40,
    poster_url=POSTER,
)
HINT = Words("预约14:00开始，请稍后再来", "Booking starts at 14:00, come back then")

pytestmark = pytest.mark.skipif(
    font_problem(DEFAULT_FONT) is not None, reason=str(font_problem(DEFAULT_FONT))
)


@pytest.fixture(scope="module", params=SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def painter(request: pytest.FixtureRequest) -> Painter:
    width, height = request.param
    return Painter(width, height, DEFAULT_FONT)


def _every_view() -> Iterator[DoorView]:
    """Every verdict in both languages, with and without a hint and the offline banner,
    and the other states."""
    for reason, lang, hint, offline in itertools.product(
        Reason, LANGS, (None, HINT), (False, True)
    ):
        yield DoorView(IDLE, Verdict(reason, lang, hint), offline=offline)
    for offline in (False, True):
        yield DoorView(IDLE, offline=offline)
        yield DoorView(Idle(IDLE.station, open_now=False, hours="08:00–22:00"), offline=offline)
        yield DoorView(IDLE, held_open=True, offline=offline)
        yield DoorView(IDLE, emergency=True, offline=offline)


def assert_fits(layout: Layout) -> None:
    """Everything laid out, inside the screen, and nothing drawn over anything else."""
    assert layout.dropped == ()
    boxes = layout.boxes()
    for box in boxes:
        assert box.inside(layout.width, layout.height), box
    for one, other in itertools.combinations(boxes, 2):
        assert not one.overlaps(other), (one, other)
    if layout.banner is not None:
        assert layout.banner_strip is not None
        assert layout.banner.box.bottom <= layout.banner_strip.bottom


def test_every_view_fits_with_every_word_shown(painter: Painter) -> None:
    for view in _every_view():
        frame = frame_for(view)
        layout = painter.layout(frame)
        assert_fits(layout)
        assert [placed.line for placed in layout.lines] == list(frame.lines)
        for placed in layout.lines:
            # Wrapping drops only the spaces and " · " it breaks at: every word stays.
            assert "".join(placed.rows).replace("·", "").replace(" ", "") == (
                placed.line.text.replace("·", "").replace(" ", "")
            )


def test_a_verdict_keeps_its_headline_large(painter: Painter) -> None:
    for reason, lang in itertools.product(Reason, LANGS):
        layout = painter.layout(frame_for(DoorView(IDLE, Verdict(reason, lang), offline=True)))
        assert layout.lines[0].size >= 24  # a fifth of the short side's ten lines: readable
        assert layout.lines[0].size >= max(placed.size for placed in layout.lines)


_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
_LATIN = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ '-")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zh=st.text(_CJK, min_size=1, max_size=24),
    en=st.text(_LATIN, min_size=1, max_size=40).filter(str.strip),
    open_now=st.booleans(),
    hours=st.sampled_from([None, "08:00–22:00", "00:00–23:59"]),
    inside=st.none() | st.integers(0, 9999),
    capacity=st.none() | st.integers(1, 9999),
    poster=st.sampled_from([None, POSTER, POSTER + "&" + "x" * 120]),
    offline=st.booleans(),
    size=st.sampled_from(SIZES),
)
def test_any_idle_screen_fits(
    zh: str,
    en: str,
    open_now: bool,
    hours: str | None,
    inside: int | None,
    capacity: int | None,
    poster: str | None,
    offline: bool,
    size: tuple[int, int],
) -> None:
    idle = Idle(Words(zh, en), open_now, hours, inside, capacity, poster)
    frame = frame_for(DoorView(idle, offline=offline))
    layout = _painters()[size].layout(frame)
    assert_fits(layout)
    assert (layout.qr is None) == (poster is None)


_PAINTERS: dict[tuple[int, int], Painter] = {}


def _painters() -> dict[tuple[int, int], Painter]:
    if not _PAINTERS:
        _PAINTERS.update({size: Painter(*size, DEFAULT_FONT) for size in SIZES})
    return _PAINTERS


@pytest.mark.parametrize("size", [(128, 128), (128, 160), (480, 320), (480, 480)])
def test_other_screens_from_128_to_480_keep_everything_inside(size: tuple[int, int]) -> None:
    painter = Painter(*size, DEFAULT_FONT)
    # The most crowded of each: every reason with a hint under the offline banner.
    crowded = [
        DoorView(IDLE, Verdict(reason, LANGS[number % 2], HINT), offline=True)
        for number, reason in enumerate(Reason)
    ]
    for view in [*crowded, DoorView(IDLE, offline=True), DoorView(IDLE, emergency=True)]:
        layout = painter.layout(frame_for(view))
        for box in layout.boxes():
            assert box.inside(*size), (view, box)
        if min(size) >= 240:
            assert layout.dropped == ()
    assert painter.draw(frame_for(DoorView(IDLE, offline=True))).size == size


def test_what_cannot_fit_is_left_out_never_cut() -> None:
    words = Line("请" * 300, 30, "#FFFFFF")
    frame = Frame(
        "verdict", "cross", "#000000", "#FF4136", (words,), banner=Line("离" * 900, 14, "#000000")
    )
    layout = Painter(128, 128, DEFAULT_FONT).layout(frame)
    assert layout.dropped == (frame.banner, words)
    assert layout.lines == ()
    assert layout.icon.inside(128, 128)


def test_the_same_frame_gives_the_same_pixels(painter: Painter) -> None:
    frame = frame_for(DoorView(IDLE, Verdict(Reason.MEMBERSHIP_EXPIRED, "en", HINT), offline=True))
    first = painter.draw(frame)
    again = Painter(painter.width, painter.height, DEFAULT_FONT).draw(frame)
    assert first.mode == "RGB"
    assert first.size == painter.size
    assert ImageChops.difference(first, again).getbbox() is None
    other = painter.draw(frame_for(DoorView(IDLE, Verdict(Reason.EXPIRED, "en"))))
    assert ImageChops.difference(first, other).getbbox() is not None


def test_the_poster_qr_scans_to_its_address(painter: Painter) -> None:
    image = painter.draw(frame_for(DoorView(IDLE)))
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [POSTER]
    layout = painter.layout(frame_for(DoorView(IDLE)))
    assert layout.qr is not None
    assert layout.qr.right - layout.qr.left >= 2 * 29  # two pixels a module at least


def test_no_poster_draws_no_qr(painter: Painter) -> None:
    frame = frame_for(DoorView(Idle(IDLE.station, True)))
    assert painter.layout(frame).qr is None
    assert zxingcpp.read_barcodes(painter.draw(frame)) == []


def test_the_offline_banner_is_a_yellow_strip_across_the_top(painter: Painter) -> None:
    strip = painter.layout(frame_for(DoorView(IDLE, offline=True))).banner_strip
    assert strip is not None
    assert strip == Box(0, 0, painter.width, strip.bottom)
    image = painter.draw(frame_for(DoorView(IDLE, offline=True)))
    assert image.getpixel((1, 1)) == Image.new("RGB", (1, 1), YELLOW).getpixel((0, 0))


def _frame_with(icon: Icon) -> Frame:
    return Frame("verdict", icon, "#000000", "#FF4136", (Line("未能开门", 30, "#FFFFFF"),))


def test_every_icon_is_drawn_inside_its_box_and_each_looks_different(painter: Painter) -> None:
    crops = {}
    for icon in get_args(Icon):
        frame = _frame_with(icon)
        box = painter.layout(frame).icon
        image = painter.draw(frame)
        crop = image.crop((box.left, box.top, box.right, box.bottom))
        inked = crop.width * crop.height - crop.convert("L").histogram()[0]
        assert inked > 0.08 * crop.width * crop.height, icon  # visible, not a speck
        crops[icon] = crop.tobytes()
    assert len(set(crops.values())) == len(crops)


# --- wrapping -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(DEFAULT_FONT), 20)


def test_chinese_wraps_between_characters_and_no_row_starts_with_a_comma(
    font: ImageFont.FreeTypeFont,
) -> None:
    text = "会员资格已到期请在工会App续期，谢谢合作，祝您生活愉快，工作顺利，身体健康"
    rows = wrap(text, font, 100)
    assert len(rows) > 3
    assert "".join(rows) == text
    assert all(font.getlength(row) <= 100 for row in rows)
    assert not [row for row in rows if row.startswith("，")]


def test_latin_wraps_between_words_and_breaks_only_a_word_too_long(
    font: ImageFont.FreeTypeFont,
) -> None:
    rows = wrap("Membership lapsed, renew it in the union app today please", font, 120)
    assert " ".join(rows) == "Membership lapsed, renew it in the union app today please"
    long = wrap("https://yizhan.example.cn/m/join/wuyi-road", font, 100)
    assert len(long) > 1
    assert "".join(long) == "https://yizhan.example.cn/m/join/wuyi-road"
    assert all(font.getlength(row) <= 100 for row in long)


def test_two_rows_part_where_the_sense_parts(font: ImageFont.FreeTypeFont) -> None:
    assert wrap("紧急状态 · 门已打开", font, 100) == ("紧急状态", "门已打开")
    assert wrap("会员资格已到期，请在工会App续期", font, 200) == (
        "会员资格已到期，",
        "请在工会App续期",
    )
    assert wrap("Code expired, refresh it in the app", font, 250) == (
        "Code expired,",
        "refresh it in the app",
    )
    assert wrap("离线运行\nOffline", font, 200) == ("离线运行", "Offline")


def test_a_line_too_long_for_two_rows_is_shrunk() -> None:
    long = Line("请" * 40, 24, "#FFFFFF")
    frame = Frame("verdict", "cross", "#000000", "#FF4136", (Line("未能开门", 30, "#FFFFFF"), long))
    layout = Painter(240, 240, DEFAULT_FONT).layout(frame)
    assert layout.lines[1].size < 24
    assert_fits(layout)


# --- the font -----------------------------------------------------------------------------


def test_the_installed_font_has_chinese() -> None:
    assert font_problem(DEFAULT_FONT) is None
    assert Painter(240, 240, DEFAULT_FONT).font_ok


def test_a_missing_font_says_what_to_install_and_the_screen_still_draws(tmp_path: Path) -> None:
    missing = tmp_path / "gone.ttc"
    problem = font_problem(missing)
    assert problem is not None
    assert str(missing) in problem
    assert "is missing" in problem
    assert "install fonts-wqy-microhei" in problem
    assert "[door.screen] font" in problem
    painter = Painter(240, 240, missing)
    assert not painter.font_ok
    assert painter.font_problem == problem
    image = painter.draw(frame_for(DoorView(IDLE, Verdict(Reason.ACCEPTED, "en"))))
    assert image.size == (240, 240)
    assert image.convert("L").histogram()[255] > 100  # the English words are there in white


def test_a_font_without_chinese_is_named_as_such(tmp_path: Path) -> None:
    # Pillow's own default font (Aileron, Latin only), written out as a file.
    latin = tmp_path / "aileron.ttf"
    default = ImageFont.load_default(20)
    assert isinstance(default, ImageFont.FreeTypeFont)
    latin.write_bytes(default.font_bytes)
    problem = font_problem(latin)
    assert problem is not None
    assert f"{latin} has no Chinese glyphs" in problem
    assert "install fonts-wqy-microhei" in problem
    painter = Painter(240, 240, latin)
    assert not painter.font_ok
    assert painter.draw(frame_for(DoorView(IDLE))).size == (240, 240)


def test_a_file_that_is_no_font_cannot_be_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    problem = font_problem(broken)
    assert problem is not None
    assert "cannot be read" in problem

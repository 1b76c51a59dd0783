"""The door screen's model: which words, icon and banner each view becomes, and DoorScreen."""

from importlib.util import find_spec
from pathlib import Path

import pytest
from luma.core.error import DeviceNotFoundError  # type: ignore[import-untyped]
from pydantic import ValidationError

from edge.access.reasons import OPENS, SIGNALS, Reason
from edge.door.face_settings import DEFAULT_FONT, ScreenDriver, ScreenSettings
from edge.door.paint import Painter
from edge.door.screen import (
    EMERGENCY_WORDS,
    HELD_OPEN_WORDS,
    OFFLINE_BANNER,
    DoorScreen,
    Frame,
    ScreenError,
    frame_for,
    headline,
    icon_for,
)
from edge.door.view import LANGS, DoorView, Idle, Lang, Verdict, Words
from edge.hardware.interfaces import HardwareError
from edge.hardware.screen import explain, logical_size, open_tft
from firmware_sim.screen import SimScreen

IDLE = Idle(
    station=Words("五一路职工驿站", "Wuyi Road Workers' Station"),
    open_now=True,
    hours="08:00–22:00",
    inside=12,
    capacity=40,
)
POSTER = "https://yizhan.example.cn/m/join/wuyi-road?p=7Hq2xK9s"


def _verdict(reason: Reason, lang: Lang = "zh-CN", **view: bool) -> Frame:
    return frame_for(DoorView(IDLE, Verdict(reason, lang), **view))


# --- what a verdict says ------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_says_why_in_both_languages_the_persons_first(
    reason: Reason, lang: Lang
) -> None:
    frame = _verdict(reason, lang)
    texts = frame.texts()
    signal = SIGNALS[reason]
    first, second = (signal.zh, signal.en) if lang == "zh-CN" else (signal.en, signal.zh)
    assert frame.kind == "verdict"
    assert texts[0] == headline(reason, lang)  # the verdict, in the person's language, first
    assert texts.index(first) < texts.index(second)
    sizes = {line.text: line.size for line in frame.lines}
    assert sizes[texts[0]] > sizes[first] > sizes[second]
    assert frame.icon == icon_for(reason)


def test_headlines_say_open_or_not_in_the_persons_language() -> None:
    assert headline(Reason.ACCEPTED, "zh-CN") == "验证通过，请通行"
    assert headline(Reason.ACCEPTED, "en") == "Verified, please go in"
    assert headline(Reason.EXPIRED, "zh-CN") == "未能开门"
    assert headline(Reason.FULL, "en") == "Door not opened"
    refused = {headline(reason, "zh-CN") for reason in Reason if reason not in OPENS}
    assert refused == {"未能开门"}
    assert headline(Reason.REMOTE_UNLOCK, "en") != headline(Reason.ACCEPTED, "en")


def test_icons_tell_opened_from_refused_without_colour() -> None:
    opened = {icon_for(reason) for reason in OPENS - {Reason.EMERGENCY}}
    refused = {icon_for(reason) for reason in Reason if reason not in OPENS}
    assert opened == {"tick"}
    assert "tick" not in refused
    assert icon_for(Reason.EXPIRED) == icon_for(Reason.REPLAYED) == "refresh"
    assert icon_for(Reason.OUTSIDE_HOURS) == icon_for(Reason.NOT_BOOKED) == "clock"
    assert icon_for(Reason.FULL) == "full"
    assert icon_for(Reason.NOT_YET_VALID) == "phone_clock"
    assert icon_for(Reason.STALE_CACHE) == icon_for(Reason.NO_KEYS) == "staff"
    assert icon_for(Reason.REVOKED) == "cross"
    assert icon_for(Reason.EMERGENCY) == "warning"


def test_a_hint_follows_the_reason_in_both_languages() -> None:
    hint = Words("预约14:00开始", "Booking starts at 14:00")
    for lang in LANGS:
        texts = frame_for(DoorView(IDLE, Verdict(Reason.NOT_BOOKED, lang, hint))).texts()
        reason_at = texts.index(SIGNALS[Reason.NOT_BOOKED].en)
        first, second = (hint.zh, hint.en) if lang == "zh-CN" else (hint.en, hint.zh)
        assert reason_at < texts.index(first) < texts.index(second)


def test_text_is_light_on_dark_and_colour_only_an_accent() -> None:
    for reason in Reason:
        frame = _verdict(reason)
        assert frame.background == "#000000"
        assert {line.colour for line in frame.lines} <= {"#FFFFFF", "#FFD83D", "#C8C8C8"}
    assert _verdict(Reason.ACCEPTED).accent != _verdict(Reason.EXPIRED).accent


# --- which state wins, and the banner -----------------------------------------------------


def test_emergency_over_held_open_over_verdict_over_idle() -> None:
    verdict = Verdict(Reason.ACCEPTED)
    assert frame_for(DoorView(IDLE)).kind == "idle"
    assert frame_for(DoorView(IDLE, verdict)).kind == "verdict"
    held = frame_for(DoorView(IDLE, verdict, held_open=True))
    assert held.kind == "held_open"
    assert held.texts() == HELD_OPEN_WORDS
    assert held.icon == "door"
    emergency = frame_for(DoorView(IDLE, verdict, held_open=True, emergency=True))
    assert emergency.kind == "emergency"
    assert emergency.texts() == EMERGENCY_WORDS
    assert emergency.icon == "warning"


@pytest.mark.parametrize(
    "view",
    [
        DoorView(IDLE, offline=True),
        DoorView(IDLE, Verdict(Reason.EXPIRED, "en"), offline=True),
        DoorView(IDLE, held_open=True, offline=True),
        DoorView(IDLE, emergency=True, offline=True),
    ],
)
def test_offline_banner_shows_on_whatever_is_shown(view: DoorView) -> None:
    frame = frame_for(view)
    assert frame.banner == OFFLINE_BANNER
    assert frame.texts()[0] == OFFLINE_BANNER.text
    assert "会员仍可进入" in OFFLINE_BANNER.text
    assert "members still admitted" in OFFLINE_BANNER.text
    online = frame_for(DoorView(view.idle, view.verdict, view.held_open, view.emergency))
    assert online.banner is None
    assert frame.lines == online.lines


# --- the idle screen ----------------------------------------------------------------------


def _idle(**idle: object) -> tuple[str, ...]:
    base: dict[str, object] = {"station": IDLE.station, "open_now": True}
    return frame_for(DoorView(Idle(**{**base, **idle}))).texts()  # type: ignore[arg-type]


def test_idle_invites_a_scan_and_names_the_station() -> None:
    texts = _idle()
    assert texts[:2] == ("扫码开门", "Scan to enter")
    assert "五一路职工驿站" in texts
    assert "Wuyi Road Workers' Station" in texts


@pytest.mark.parametrize(
    ("open_now", "hours", "zh", "en"),
    [
        (True, "08:00–22:00", "开放中 · 08:00–22:00", "Open now · 08:00–22:00"),
        (
            False,
            "08:00–22:00",
            "现在不开放 · 开放时间 08:00–22:00",
            "Closed now · open 08:00–22:00",
        ),
        (True, None, "24小时开放", "Open 24 hours"),
        (False, None, "现在不开放", "Closed now"),
    ],
)
def test_idle_says_open_now_or_the_hours(
    open_now: bool, hours: str | None, zh: str, en: str
) -> None:
    texts = _idle(open_now=open_now, hours=hours)
    assert zh in texts
    assert en in texts


def test_idle_shows_people_inside_against_capacity_when_known() -> None:
    assert {"馆内 12/40 人", "Inside: 12 of 40"} <= set(_idle(inside=12, capacity=40))
    assert {"馆内 7 人", "Inside: 7"} <= set(_idle(inside=7))
    assert not [text for text in _idle() if "馆内" in text or "Inside" in text]


def test_idle_shows_the_walk_in_poster_qr_or_a_line_to_ask_the_union() -> None:
    with_poster = frame_for(DoorView(Idle(IDLE.station, True, poster_url=POSTER)))
    assert with_poster.qr == POSTER
    assert {"第一次来？扫码加入", "First time? Scan to join"} <= set(with_poster.texts())
    without = frame_for(DoorView(Idle(IDLE.station, True)))
    assert without.qr is None
    assert {"第一次来？请联系工会办理", "First time? Ask the union to join"} <= set(without.texts())


def test_equal_views_make_equal_frames() -> None:
    assert frame_for(DoorView(IDLE)) == frame_for(DoorView(IDLE))
    assert frame_for(DoorView(IDLE)) != frame_for(DoorView(Idle(IDLE.station, True, inside=13)))


# --- DoorScreen on the emulated panel -----------------------------------------------------


@pytest.fixture
def painter() -> Painter:
    return Painter(240, 240, DEFAULT_FONT)


@pytest.fixture
def panel(tmp_path: Path) -> SimScreen:
    return SimScreen(tmp_path / "frames")


def test_door_screen_paints_a_new_frame_and_skips_an_equal_one(
    panel: SimScreen, painter: Painter
) -> None:
    screen = DoorScreen(panel, painter)
    first = screen.show(DoorView(IDLE))
    assert screen.show(DoorView(IDLE)) == first
    assert (screen.shown, panel.count) == (1, 1)
    assert screen.last_frame == first
    verdict = screen.show(DoorView(IDLE, Verdict(Reason.FULL)))
    assert verdict.kind == "verdict"
    assert (screen.shown, panel.count) == (2, 2)
    assert screen.last_image is not None
    assert screen.last_image.size == (240, 240)


def test_a_dead_display_is_a_screen_error_and_the_next_show_tries_again(
    panel: SimScreen, painter: Painter
) -> None:
    screen = DoorScreen(panel, painter)
    screen.show(DoorView(IDLE))
    panel.broken = True
    with pytest.raises(ScreenError, match=r"door screen did not take a frame .*do_spi 0") as err:
        screen.show(DoorView(IDLE, Verdict(Reason.ACCEPTED)))
    assert isinstance(err.value, HardwareError)
    assert isinstance(err.value.__cause__, OSError)
    assert screen.last_frame == frame_for(DoorView(IDLE))  # what the panel really shows
    panel.broken = False
    screen.show(DoorView(IDLE, Verdict(Reason.ACCEPTED)))
    assert (screen.shown, panel.count) == (2, 2)


class _DiesOnClose:
    """A panel whose cleanup fails, as a screen unplugged while the box runs would."""

    size = (240, 240)

    def display(self, image: object) -> None:
        pass

    def cleanup(self) -> None:
        raise OSError(5, "Input/output error")


def test_close_never_raises(painter: Painter, panel: SimScreen) -> None:
    DoorScreen(_DiesOnClose(), painter).close()
    DoorScreen(panel, painter).close()


def test_a_painter_of_another_size_is_refused_with_the_settings_to_change(
    panel: SimScreen,
) -> None:
    with pytest.raises(ScreenError, match=r"240×240 .* 320×240: set \[door.screen\] width"):
        DoorScreen(panel, Painter(320, 240, DEFAULT_FONT))


# --- the real TFT -------------------------------------------------------------------------


def _no_spi_here() -> bool:
    missing = find_spec("spidev") is None or find_spec("RPi") is None
    return missing or not Path("/dev/spidev0.0").exists()


@pytest.mark.skipif(not _no_spi_here(), reason="this machine has SPI and a TFT may be wired")
@pytest.mark.parametrize("driver", ["st7789", "ili9341"])
def test_open_tft_without_spi_says_what_to_install_and_enable(driver: ScreenDriver) -> None:
    settings = ScreenSettings(driver=driver, width=320, height=240)
    with pytest.raises(ScreenError) as err:
        open_tft(settings)
    message = str(err.value)
    assert message.startswith(f"door screen ({driver} 320×240 on /dev/spidev0.0)")
    assert "sudo raspi-config nonint do_spi 0" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"width": 240, "height": 320}, r"a st7789 is driven at 240x240, 320x240"),
        ({"driver": "ili9341", "width": 480, "height": 320}, r"a ili9341 is driven at 320x240"),
        ({"spi_speed_hz": 30_000_000}, r"spi_speed_hz 30000000 .*\(32000000 suits"),
        ({"gpio_dc": 10}, r"GPIO10, one of SPI0's own lines"),
    ],
)
def test_the_settings_refuse_a_panel_luma_cannot_drive(
    settings: dict[str, object], says: str
) -> None:
    """Refused where check-config sees it, not when the box starts without its screen."""
    with pytest.raises(ValidationError, match=says):
        ScreenSettings.model_validate(settings)


def test_open_tft_leaves_the_emulator_to_firmware_sim() -> None:
    with pytest.raises(ScreenError, match=r"firmware_sim.screen.SimScreen"):
        open_tft(ScreenSettings(driver="emulator"))


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (ModuleNotFoundError("No module named 'spidev'", name="spidev"), "spidev is not installed"),
        (ModuleNotFoundError("No module named 'RPi'", name="RPi"), "RPi.GPIO is not installed"),
        (DeviceNotFoundError("SPI device not found"), "the SPI device is missing: enable SPI"),
        (PermissionError(13, "Permission denied"), "spi and gpio groups"),
        (RuntimeError("GPIO busy"), "in use by another program"),
        (OSError(121, "Remote I/O error"), "check its wiring and power"),
    ],
)
def test_every_way_of_failing_to_open_names_the_fix(failure: Exception, says: str) -> None:
    message = str(explain(failure, ScreenSettings()))
    assert message.startswith("door screen (st7789 240×240 on /dev/spidev0.0)")
    assert says in message
    assert "raspi-config nonint do_spi 0" in message or "groups" in message or "pins" in message


def test_frames_are_drawn_at_the_panels_size_turned_by_rotate() -> None:
    assert logical_size(ScreenSettings(driver="ili9341", width=320, height=240)) == (320, 240)
    turned = ScreenSettings(driver="ili9341", width=320, height=240, rotate=1)
    assert logical_size(turned) == (240, 320)

"""What the door's screen shows, as a plain frame, and the screen that shows it.

:func:`frame_for` turns a :class:`~edge.door.view.DoorView` into a :class:`Frame`: the
words, their sizes and colours, an icon that carries the meaning without colour, and the
walk-in poster's QR. :class:`DoorScreen` paints a frame (``edge.door.paint.Painter``) and
hands the image to a luma device: the real TFT (``edge.hardware.screen.open_tft``) or the
emulator (``firmware_sim.screen.SimScreen``), which cannot be told apart from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, Literal, Protocol

from edge.access.reasons import SIGNALS, Reason
from edge.door.view import Words
from edge.hardware.interfaces import HardwareError

if TYPE_CHECKING:
    from PIL.Image import Image

    from edge.door.view import DoorView, Idle, Lang, Verdict

logger = logging.getLogger(__name__)

FrameKind = Literal["idle", "verdict", "held_open", "emergency"]
Icon = Literal[
    "scan", "tick", "cross", "clock", "people", "full", "warning", "phone_clock", "refresh",
    "staff", "door",
]  # fmt: skip

# High contrast on a small, often sunlit panel: light text on black. Green, red and amber
# are only accents (the icon and a bar), so no meaning rests on colour alone.
BLACK: Final = "#000000"
WHITE: Final = "#FFFFFF"
YELLOW: Final = "#FFD83D"
GREY: Final = "#C8C8C8"  # the second language: 12:1 on black, quieter than white
GREEN: Final = "#2ECC40"
RED: Final = "#FF4136"
AMBER: Final = "#FF9F1C"

# Sizes are pixels on the reference 240-pixel screen (the short side); the painter scales
# them to its own screen and shrinks a line that does not fit.
HEADLINE_PX: Final = 30
PRIMARY_PX: Final = 24
SECONDARY_PX: Final = 17
BANNER_PX: Final = 14
IDLE_HEAD_PX: Final = 34
IDLE_PX: Final = 20
IDLE_SMALL_PX: Final = 14


class ScreenError(HardwareError):
    """The door's screen could not be opened or did not take a frame; the message says
    which screen and what to check."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of words on the screen (it may wrap to several rows)."""

    text: str
    size: int  # px on the reference 240-px screen
    colour: str


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything the screen draws at one moment; equal frames give identical pixels."""

    kind: FrameKind
    icon: Icon
    background: str
    accent: str  # the icon's and the accent bar's colour
    lines: tuple[Line, ...]
    head: int = 1  # how many of the first lines stand beside the icon
    banner: Line | None = None  # the offline banner, across the top
    qr: str | None = None  # the walk-in poster's address, drawn as a QR

    def texts(self) -> tuple[str, ...]:
        """Every word on the frame, the banner's included, in drawing order."""
        banner = () if self.banner is None else (self.banner.text,)
        return banner + tuple(line.text for line in self.lines)


OFFLINE_BANNER: Final = Line(
    "离线运行 · 会员仍可进入\nOffline · members still admitted", BANNER_PX, BLACK
)
# The door refuses every code (no keys, or caches past max_offline_age): nobody should wait.
STAFF_BANNER: Final = Line(
    "暂不能验码 · 请联系工作人员\nCannot check codes · call staff", BANNER_PX, BLACK
)
EMERGENCY_WORDS: Final = ("紧急状态 · 门已打开", "Emergency · door unlocked")
HELD_OPEN_WORDS: Final = ("门未关好，请随手关门", "Door held open, please close it")

_HEADLINES: Final[dict[Reason, tuple[str, str]]] = {
    Reason.ACCEPTED: ("验证通过，请通行", "Verified, please go in"),
    Reason.REMOTE_UNLOCK: ("门已打开，请通行", "Door open, please go in"),
    Reason.EMERGENCY: EMERGENCY_WORDS,
}
_REFUSED: Final = ("未能开门", "Door not opened")

_ICONS: Final[dict[Reason, Icon]] = {
    Reason.ACCEPTED: "tick",
    Reason.REMOTE_UNLOCK: "tick",
    Reason.EMERGENCY: "warning",
    Reason.MALFORMED: "refresh",
    Reason.UNKNOWN_KEY: "refresh",
    Reason.EXPIRED: "refresh",
    Reason.REPLAYED: "refresh",
    Reason.NOT_YET_VALID: "phone_clock",
    Reason.OUTSIDE_HOURS: "clock",
    Reason.NOT_BOOKED: "clock",
    Reason.FULL: "full",
    Reason.GROUP_REQUIRED: "people",
    Reason.STALE_CACHE: "staff",
    Reason.NO_KEYS: "staff",
}
_ACCENTS: Final = {"green": GREEN, "red": RED, "amber": AMBER, "off": GREY}


def icon_for(reason: Reason) -> Icon:
    """The icon beside a verdict: a cross for every refusal without a closer picture."""
    return _ICONS.get(reason, "cross")


def headline(reason: Reason, lang: Lang) -> str:
    """The verdict's first, largest line, in the person's language."""
    zh, en = _HEADLINES.get(reason, _REFUSED)
    return zh if lang == "zh-CN" else en


def _both(zh: str, en: str, lang: Lang, *, big: int, small: int) -> tuple[Line, Line]:
    """A pair of lines, the person's language first and larger."""
    first, second = (zh, en) if lang == "zh-CN" else (en, zh)
    return Line(first, big, YELLOW), Line(second, small, GREY)


def _verdict_frame(verdict: Verdict) -> Frame:
    signal = SIGNALS[verdict.reason]
    lines = [
        Line(headline(verdict.reason, verdict.lang), HEADLINE_PX, WHITE),
        *_both(signal.zh, signal.en, verdict.lang, big=PRIMARY_PX, small=SECONDARY_PX),
    ]
    if verdict.hint is not None:
        hint = _both(
            verdict.hint.zh, verdict.hint.en, verdict.lang, big=PRIMARY_PX, small=SECONDARY_PX
        )
        lines += [Line(hint[0].text, hint[0].size, WHITE), hint[1]]
    return Frame(
        kind="verdict",
        icon=icon_for(verdict.reason),
        background=BLACK,
        accent=_ACCENTS[signal.led],
        lines=tuple(lines),
    )


def _hours(idle: Idle) -> tuple[str, str]:
    if idle.hours is None:
        return ("24小时开放", "Open 24 hours") if idle.open_now else ("现在不开放", "Closed now")
    if idle.open_now:
        return f"开放中 · {idle.hours}", f"Open now · {idle.hours}"
    return f"现在不开放 · 开放时间 {idle.hours}", f"Closed now · open {idle.hours}"


def occupancy_words(inside: int, capacity: int | None) -> Words:
    """People inside, against the capacity when there is one (the idle screen, a full hint)."""
    if capacity is None:
        return Words(f"馆内 {inside} 人", f"Inside: {inside}")
    return Words(f"馆内 {inside}/{capacity} 人", f"Inside: {inside} of {capacity}")


def _occupancy(idle: Idle) -> tuple[str, str] | None:
    if idle.inside is None:
        return None
    words = occupancy_words(idle.inside, idle.capacity)
    return words.zh, words.en


def _pair(words: tuple[str, str] | Words, colour: str) -> tuple[Line, Line]:
    zh, en = words if isinstance(words, tuple) else (words.zh, words.en)
    return Line(zh, IDLE_PX, colour), Line(en, IDLE_SMALL_PX, GREY)


def _idle_frame(idle: Idle) -> Frame:
    lines = [
        Line("扫码开门", IDLE_HEAD_PX, WHITE),
        Line("Scan to enter", IDLE_PX, WHITE),
        *_pair(idle.station, YELLOW),
        *_pair(_hours(idle), WHITE if idle.open_now else YELLOW),
    ]
    occupancy = _occupancy(idle)
    if occupancy is not None:
        lines += _pair(occupancy, WHITE)
    if idle.poster_url is not None:
        lines += _pair(("第一次来？扫码加入", "First time? Scan to join"), WHITE)
    else:
        lines += _pair(("第一次来？请联系工会办理", "First time? Ask the union to join"), WHITE)
    return Frame(
        kind="idle",
        icon="scan",
        background=BLACK,
        accent=WHITE,
        lines=tuple(lines),
        head=2,
        qr=idle.poster_url,
    )


def _alarm_frame(kind: Literal["held_open", "emergency"]) -> Frame:
    zh, en = EMERGENCY_WORDS if kind == "emergency" else HELD_OPEN_WORDS
    return Frame(
        kind=kind,
        icon="warning" if kind == "emergency" else "door",
        background=BLACK,
        accent=AMBER,
        lines=(Line(zh, HEADLINE_PX, YELLOW), Line(en, PRIMARY_PX, WHITE)),
    )


def frame_for(view: DoorView) -> Frame:
    """The frame for a view: emergency over held-open over a verdict over idle, with a
    banner on whichever shows: the staff banner while the door refuses every code, else the
    offline one while the box has no uplink."""
    if view.emergency:
        frame = _alarm_frame("emergency")
    elif view.held_open:
        frame = _alarm_frame("held_open")
    elif view.verdict is not None:
        frame = _verdict_frame(view.verdict)
    else:
        frame = _idle_frame(view.idle)
    if view.refusing:
        return replace(frame, banner=STAFF_BANNER)
    return replace(frame, banner=OFFLINE_BANNER) if view.offline else frame


# --- the screen --------------------------------------------------------------------------


class Display(Protocol):
    """A luma device as the door uses it: the real TFT and the emulator both are one."""

    @property
    def size(self) -> tuple[int, int]: ...

    def display(self, image: Image) -> None: ...

    def cleanup(self) -> None: ...


class FramePainter(Protocol):
    """Turns a frame into the screen's pixels (``edge.door.paint.Painter``)."""

    @property
    def size(self) -> tuple[int, int]: ...

    def draw(self, frame: Frame) -> Image: ...


# Said by every failure to take a frame: what a technician checks first.
CHECK_WIRING: Final = (
    "check the screen's wiring and power, and that SPI is enabled "
    "(sudo raspi-config nonint do_spi 0, then reboot)"
)


class DoorScreen:
    """Shows views on a display, repainting only when the frame changes.

    Not thread-safe and not threaded: the door face's own thread calls :meth:`show`, so a
    slow SPI write never holds up the relay.
    """

    def __init__(self, device: Display, painter: FramePainter, *, name: str = "door screen"):
        if tuple(device.size) != tuple(painter.size):
            raise ScreenError(
                f"{name} is {device.size[0]}×{device.size[1]} but frames are drawn at "
                f"{painter.size[0]}×{painter.size[1]}: set [door.screen] width and height "
                "to the panel's (swapped when rotate is 1 or 3)"
            )
        self.name = name
        self._device = device
        self._painter = painter
        self.last_frame: Frame | None = None
        self.last_image: Image | None = None
        self.shown = 0  # frames painted and handed to the display

    def show(self, view: DoorView) -> Frame:
        """Show the view; the frame it became. Raises :class:`ScreenError` if the display
        does not take it (the next call tries again)."""
        frame = frame_for(view)
        if frame == self.last_frame:
            return frame
        image = self._painter.draw(frame)
        try:
            self._device.display(image)
        except Exception as exc:  # a driver may raise anything: one error out
            raise ScreenError(
                f"{self.name} did not take a frame ({exc!r}): {CHECK_WIRING}"
            ) from exc
        self.last_frame, self.last_image = frame, image
        self.shown += 1
        return frame

    def close(self) -> None:
        """Switch the display off and release its pins; never raises."""
        try:
            self._device.cleanup()
        except Exception:  # closing must never stop the box's shutdown
            logger.warning("%s did not close cleanly", self.name, exc_info=True)

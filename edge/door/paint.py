"""Draw a door-screen frame as pixels: wrapped CJK and Latin text, an icon, the poster's QR.

:meth:`Painter.layout` places everything first and says where (so tests check that nothing
leaves the screen or is cut off); :meth:`Painter.draw` paints that layout. The same frame
always gives the same pixels, which is how the emulator's saved frames are checked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from edge.door.icons import draw_icon
from edge.door.screen import YELLOW, Frame, Line

# Line sizes in frames are for a screen whose short side is this many pixels.
REFERENCE_PX: Final = 240
MIN_PX: Final = 10  # below this a CJK glyph is a smudge on any of these panels
MAX_ROWS: Final = 2  # a line wrapping further is shrunk first
ICON_PX: Final = 56
# Tried in turn until everything fits; past the last, lines are dropped from the end.
SCALES: Final = (1.3, 1.2, 1.1, 1.0, 0.92, 0.85, 0.78, 0.72, 0.66, 0.6, 0.55, 0.5)
LAYOUTS_KEPT: Final = 64  # every reason in both languages, and idle screens besides
QR_SHARE: Final = 0.45  # of the screen's short side the poster QR may take
QR_MAX_SHARE: Final = 0.55  # ... and for a long URL, whose modules would be too fine at 0.45
QR_MODULE_PX: Final = 2  # a module of 1 pixel is too fine for a phone's camera to read

_CJK: Final = "\u2e80-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CLOSING: Final = "，。、；：？！）》」』】,.;:?!)"
# A CJK character (a row may break before any), or a run of other text (a Latin word),
# each carrying closing punctuation with it so no row starts with a comma.
_TOKEN: Final = re.compile(rf"\s+|[{_CJK}][{_CLOSING}]*|[^\s{_CJK}]+[{_CLOSING}]*")

Font = ImageFont.FreeTypeFont


def _font_fix(path: Path) -> str:
    return (
        f"install fonts-wqy-microhei (deploy/pi/install.sh does) or set [door.screen] font "
        f"to a font with Chinese glyphs (now {path})"
    )


@lru_cache(maxsize=128)
def load_font(path: Path, size: int) -> Font:
    """The font at ``path`` in ``size`` pixels, loaded once (raises OSError if unreadable)."""
    # Basic layout: a dozen times faster to measure than raqm, and CJK and Latin need no shaping.
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


def font_problem(path: Path) -> str | None:
    """What is wrong with the screen's font, in one line, or ``None`` when it is fine."""
    if not path.is_file():
        return f"the door screen's font {path} is missing: {_font_fix(path)}"
    try:
        font = load_font(path, 24)
    except OSError as exc:
        return f"the door screen's font {path} cannot be read ({exc}): {_font_fix(path)}"
    # A font without a glyph draws its "missing" box for both, so the two masks agree.
    scan, private = font.getmask("扫"), font.getmask("\ue000")
    if scan.size == private.size and bytes(scan) == bytes(private):
        return f"the door screen's font {path} has no Chinese glyphs: {_font_fix(path)}"
    return None


@lru_cache(maxsize=64)
def _fallback_font(size: int) -> Font:
    font = ImageFont.load_default(size)
    if not isinstance(font, Font):  # only a Pillow built without FreeType
        raise TypeError("Pillow was built without FreeType; the door screen cannot draw text")
    return font


def wrap(text: str, font: Font, width: int) -> tuple[str, ...]:
    """Rows of ``text`` no wider than ``width``: a row per paragraph (``\\n``) at least, CJK
    breaking between characters, Latin between words (a word wider than the row between its
    letters), two rows parted where the sense parts when they can be."""
    return _wrap(text, font, width)[0]


def _wrap(text: str, font: Font, width: int) -> tuple[tuple[str, ...], bool]:
    """:func:`wrap`'s rows, and whether every paragraph of two rows parted where its sense
    does (at a comma or a separator) rather than inside a word."""
    rows: list[str] = []
    sensible = True
    for paragraph in text.split("\n"):
        greedy = _greedy(paragraph, font, width)
        if len(greedy) == 2:
            parted = _parted(paragraph, font, width)
            sensible &= parted is not None
            greedy = parted or _balanced(paragraph, font, width)
        rows += greedy
    return tuple(rows), sensible


def _greedy(text: str, font: Font, width: float) -> list[str]:
    rows: list[str] = []
    row, space = "", False
    for token in _TOKEN.findall(text):
        if token.isspace():
            space = bool(row)
            continue
        candidate = f"{row} {token}" if space else row + token
        space = False
        if font.getlength(candidate) <= width:
            row = candidate
            continue
        if row:
            rows.append(row)
        row = ""
        for char in token:
            if row and font.getlength(row + char) > width:
                rows.append(row)
                row = ""
            row += char
    return [*rows, row] if row or not rows else rows


# Where two rows part best: at a " · " separator (dropped), after a CJK comma or full
# stop, after a Latin comma; any other space only when none of those fits.
_BREAK: Final = re.compile(
    r"(?P<separator>\s·\s)|(?<=[，。；：、！？])(?P<cjk>)|(?<=[,;:.!?])(?P<comma>\s)|(?P<space>\s)"
)
_PLAIN_BREAK_COST: Final = 1.15  # a plain space must be this much more even to win


def _parted(text: str, font: Font, width: float) -> list[str] | None:
    """Two rows parted where the sense parts, the most even of those that fit; or None."""
    best: tuple[float, list[str]] | None = None
    for found in _BREAK.finditer(text):
        first, second = text[: found.start()].rstrip(), text[found.end() :].lstrip()
        if not first or not second:
            continue
        widest = max(font.getlength(first), font.getlength(second))
        if widest > width:
            continue
        cost = widest * (_PLAIN_BREAK_COST if found.lastgroup == "space" else 1.0)
        if best is None or cost < best[0]:
            best = (cost, [first, second])
    return None if best is None else best[1]


def _balanced(text: str, font: Font, width: float) -> list[str]:
    """Two rows as even as they go: the narrowest width that still wraps to two."""
    low, high = font.getlength(text) / 2, float(width)
    rows = _greedy(text, font, high)
    for _ in range(6):  # to within width/128: finer shows nowhere on a door screen
        middle = (low + high) / 2
        narrower = _greedy(text, font, middle)
        if len(narrower) <= 2:
            rows, high = narrower, middle
        else:
            low = middle
    return rows


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in screen pixels; ``right`` and ``bottom`` are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    def inside(self, width: int, height: int) -> bool:
        return 0 <= self.left <= self.right <= width and 0 <= self.top <= self.bottom <= height

    def overlaps(self, other: Box) -> bool:
        return (
            self.left < other.right
            and other.left < self.right
            and self.top < other.bottom
            and other.top < self.bottom
        )


@dataclass(frozen=True, slots=True)
class Placed:
    """One of the frame's lines as laid out: its size, rows, where each row is drawn
    (its left and ascender line), and the ink's bounds."""

    line: Line
    size: int
    rows: tuple[str, ...]
    origins: tuple[tuple[int, int], ...]
    box: Box


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything of a frame goes on one screen."""

    width: int
    height: int
    scale: float
    icon: Box
    lines: tuple[Placed, ...]
    banner: Placed | None = None
    banner_strip: Box | None = None
    qr: Box | None = None
    accent_bar: Box | None = None
    dropped: tuple[Line, ...] = ()  # lines there was no room for, even at the smallest scale

    def boxes(self) -> tuple[Box, ...]:
        """Every drawn thing's bounds: icon, lines, banner, QR."""
        found = [self.icon, *(placed.box for placed in self.lines)]
        found += [box for box in (self.qr, self.banner_strip, self.accent_bar) if box]
        return tuple(found)


class _Attempt:
    """One try at fitting a frame at one scale; :meth:`Painter.layout` keeps the first that fits."""

    def __init__(self, painter: Painter, frame: Frame, scale: float, keep: int) -> None:
        self.p, self.frame, self.scale = painter, frame, scale
        self.lines = frame.lines[:keep]
        unit = min(painter.size) / REFERENCE_PX
        self.margin = max(3, round(6 * unit))
        self.gap = max(2, round(5 * unit * scale))
        self.unit = unit
        self.placed: list[Placed] = []
        self.cramped = False

    def px(self, size: int) -> int:
        return max(MIN_PX, round(size * self.unit * self.scale))

    def fit(self, line: Line, width: int) -> tuple[int, tuple[str, ...]]:
        """The line's size and rows: shrunk until it wraps to at most MAX_ROWS rows."""
        size = self.px(line.size)
        rows, sensible = _wrap(line.text, self.p.font(size), width)
        # Growing past the frame's sizes is for short frames only: never at the cost of a
        # line shrunk again or parted inside a word.
        self.cramped |= self.scale > 1 and (len(rows) > MAX_ROWS or not sensible)
        while len(rows) > MAX_ROWS and size > MIN_PX:
            size -= 1
            rows = wrap(line.text, self.p.font(size), width)
        return size, rows

    def place(
        self,
        line: Line,
        size: int,
        rows: tuple[str, ...],
        *,
        at: tuple[int, int],
        width: int,
        centre: bool,
    ) -> Placed:
        """The line's rows drawn from ``at`` (left, top) in a column ``width`` wide."""
        font = self.p.font(size)
        ascent, descent = font.getmetrics()
        pitch = ascent + descent
        origins, ink = [], []
        for number, row in enumerate(rows):
            shift = (width - round(font.getlength(row))) // 2 if centre else 0
            x, y = at[0] + shift, at[1] + number * pitch
            origins.append((x, y))
            left, top, right, bottom = font.getbbox(row, anchor="la")
            ink.append(
                Box(
                    x + math.floor(left),
                    y + min(math.floor(top), 0),
                    x + math.ceil(right),
                    y + max(math.ceil(bottom), pitch),
                )
            )
        box = Box(
            min(b.left for b in ink),
            min(b.top for b in ink),
            max(b.right for b in ink),
            max(b.bottom for b in ink),
        )
        return Placed(line, size, rows, tuple(origins), box)

    def run(self) -> Layout | None:
        """The layout at this scale, or ``None`` when something does not fit."""
        width, height = self.p.size
        banner, strip, top = self._banner()
        bar, bottom = None, height - self.margin
        if self.frame.kind != "idle":
            bar = Box(0, height - max(3, round(5 * self.unit)), width, height)
            bottom = bar.top - self.margin
        icon = self._head(top + self.margin)
        y = max([icon.bottom, *(placed.box.bottom for placed in self.placed)]) + 2 * self.gap
        qr = self._qr_box(y, bottom)
        for line in self.lines[self.frame.head :]:
            placed = self._body_line(line, y, qr)
            if placed.box.bottom > bottom:
                return None
            self.placed.append(placed)
            y = placed.box.bottom + self.gap
        lowest = max([icon.bottom, *(placed.box.bottom for placed in self.placed)])
        if self.cramped or lowest > bottom:
            return None
        if qr is None:  # a verdict's few lines sit in the middle, not up under the banner
            drop = (bottom - lowest) // 2
            icon = Box(icon.left, icon.top + drop, icon.right, icon.bottom + drop)
            self.placed = [self._moved(placed, drop) for placed in self.placed]
        dropped = self.frame.lines[len(self.lines) :]
        return Layout(
            width, height, self.scale, icon, tuple(self.placed), banner, strip, qr, bar, dropped
        )

    def _head(self, top: int) -> Box:
        """The icon with the first lines beside it, from ``top``; the icon's box."""
        icon_px = round(ICON_PX * self.unit * self.scale)
        left = self.margin + icon_px + 2 * self.gap
        head, head_h = self._stack(
            self.lines[: self.frame.head], left, self.p.size[0] - self.margin - left
        )
        row_h = max(icon_px, head_h)
        self.placed = [self._moved(placed, top + (row_h - head_h) // 2) for placed in head]
        icon_top = top + (row_h - icon_px) // 2
        return Box(self.margin, icon_top, self.margin + icon_px, icon_top + icon_px)

    def _body_line(self, line: Line, y: int, qr: Box | None) -> Placed:
        """A line below the head across the screen, or beside the QR once it reaches it."""
        centre = self.frame.kind != "idle"
        room = self.p.size[0] - 2 * self.margin
        size, rows = self.fit(line, room)
        placed = self.place(line, size, rows, at=(self.margin, y), width=room, centre=centre)
        if qr is None or placed.box.bottom <= qr.top - self.gap:
            return placed
        room = qr.left - 2 * self.gap - self.margin
        size, rows = self.fit(line, room)
        return self.place(line, size, rows, at=(self.margin, y), width=room, centre=centre)

    def _stack(self, lines: tuple[Line, ...], left: int, width: int) -> tuple[list[Placed], int]:
        """Lines one under another from y=0; and their total height."""
        placed, y = [], 0
        for line in lines:
            size, rows = self.fit(line, width)
            placed.append(self.place(line, size, rows, at=(left, y), width=width, centre=False))
            y = placed[-1].box.bottom + self.gap
        return placed, max(0, y - self.gap)

    @staticmethod
    def _moved(placed: Placed, dy: int) -> Placed:
        b = placed.box
        return Placed(
            placed.line,
            placed.size,
            placed.rows,
            tuple((x, y + dy) for x, y in placed.origins),
            Box(b.left, b.top + dy, b.right, b.bottom + dy),
        )

    def _banner(self) -> tuple[Placed | None, Box | None, int]:
        if self.frame.banner is None:
            return None, None, 0
        width = self.p.size[0]
        size, rows = self.fit(self.frame.banner, width - 2 * self.margin)
        pad = self.gap
        placed = self.place(
            self.frame.banner,
            size,
            rows,
            at=(self.margin, pad),
            width=width - 2 * self.margin,
            centre=True,
        )
        strip = Box(0, 0, width, placed.box.bottom + pad)
        return placed, strip, strip.bottom

    def _qr_box(self, top: int, bottom: int) -> Box | None:
        if self.frame.qr is None:
            return None
        modules = len(qr_matrix(self.frame.qr))
        short = min(self.p.size)
        side = min(round(short * QR_SHARE), bottom - top)
        if side // modules < QR_MODULE_PX:  # a long URL: more of the screen, else smaller text
            side = min(round(short * QR_MAX_SHARE), bottom - top)
        module_px = side // modules
        if module_px < QR_MODULE_PX:  # too fine for a phone's camera at the door
            self.cramped = True
            return None
        side = module_px * modules
        right = self.p.size[0] - self.margin
        return Box(right - side, bottom - side, right, bottom)


@lru_cache(maxsize=16)
def qr_matrix(data: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code's modules (True: dark), with a two-module quiet zone."""
    # Only a door with a poster draws one: a box that never does never loads qrcode.
    import qrcode  # noqa: PLC0415

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(data)
    code.make(fit=True)
    return tuple(tuple(bool(module) for module in row) for row in code.get_matrix())


class Painter:
    """Draws frames for one screen size with one font (PIL's own when it cannot be loaded)."""

    def __init__(self, width: int, height: int, font: Path) -> None:
        if not (128 <= width <= 480 and 128 <= height <= 480):
            raise ValueError(f"a door screen is 128..480 pixels a side, not {width}×{height}")
        self.width, self.height = width, height
        self.font_path = font
        self.font_problem = font_problem(font)
        self.font_ok = self.font_problem is None
        # A font without Chinese still draws the English words; only a missing or broken
        # file falls back to PIL's built-in font.
        self._loadable = self.font_ok or (font.is_file() and _loads(font))
        self._layouts: dict[Frame, Layout] = {}  # in use order, the most recent last

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def font(self, size: int) -> Font:
        return load_font(self.font_path, size) if self._loadable else _fallback_font(size)

    def layout(self, frame: Frame) -> Layout:
        """Where the frame's icon, lines, banner and QR go; the largest scale that fits,
        dropping lines from the end only when even the smallest does not."""
        # The same verdicts come back all day: their layouts are kept, the oldest let go.
        if (known := self._layouts.pop(frame, None)) is None:
            known = self._fit(frame)
        self._layouts[frame] = known
        if len(self._layouts) > LAYOUTS_KEPT:
            del self._layouts[next(iter(self._layouts))]
        return known

    def _fit(self, frame: Frame) -> Layout:
        # The largest scale that fits, by bisection: fitting only gets easier as it shrinks.
        low, high, best = 0, len(SCALES) - 1, None
        while low <= high:
            middle = (low + high) // 2
            found = _Attempt(self, frame, SCALES[middle], len(frame.lines)).run()
            if found is None:
                low = middle + 1
            else:
                best, high = found, middle - 1
        if best is not None:
            return best
        for keep in range(len(frame.lines) - 1, -1, -1):
            found = _Attempt(self, frame, SCALES[-1], keep).run()
            if found is not None:
                return found
        # Not even the banner and the icon fit (a frame no door builds): show nothing cut.
        bare = Frame(frame.kind, frame.icon, frame.background, frame.accent, (), head=0)
        empty = _Attempt(self, bare, SCALES[-1], 0).run()
        if empty is None:
            raise ValueError(f"nothing fits on a {self.width}×{self.height} screen")
        banner = () if frame.banner is None else (frame.banner,)
        return replace(empty, dropped=banner + frame.lines)

    def draw(self, frame: Frame) -> Image.Image:
        """The frame as an RGB image of exactly the screen's size."""
        layout = self.layout(frame)
        image = Image.new("RGB", self.size, frame.background)
        draw = ImageDraw.Draw(image)
        if layout.banner is not None and layout.banner_strip is not None:
            strip = layout.banner_strip
            draw.rectangle((strip.left, strip.top, strip.right - 1, strip.bottom - 1), fill=YELLOW)
            self._text(draw, layout.banner)
        for placed in layout.lines:
            self._text(draw, placed)
        icon = layout.icon
        square = (icon.left, icon.top, icon.right - icon.left)
        draw_icon(draw, frame.icon, square, accent=frame.accent, ink=frame.background)
        if layout.qr is not None and frame.qr is not None:
            _paste_qr(image, frame.qr, layout.qr)
        if layout.accent_bar is not None:
            bar = layout.accent_bar
            draw.rectangle((bar.left, bar.top, bar.right - 1, bar.bottom - 1), fill=frame.accent)
        return image

    def _text(self, draw: ImageDraw.ImageDraw, placed: Placed) -> None:
        font = self.font(placed.size)
        for origin, row in zip(placed.origins, placed.rows, strict=True):
            draw.text(origin, row, font=font, fill=placed.line.colour, anchor="la")


def _loads(path: Path) -> bool:
    try:
        load_font(path, MIN_PX)
    except OSError:
        return False
    return True


def _paste_qr(image: Image.Image, data: str, box: Box) -> None:
    matrix = qr_matrix(data)
    modules = Image.new("L", (len(matrix), len(matrix)), 255)
    modules.putdata([0 if dark else 255 for row in matrix for dark in row])
    side = box.right - box.left
    image.paste(modules.resize((side, side), Image.Resampling.NEAREST), (box.left, box.top))

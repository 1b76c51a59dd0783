"""The door screen's icons: PIL primitives in a square, so the meaning never rests on colour.

Each is drawn in the frame's accent with cut-outs in its background: a tick for a door that
opened, a cross for one that did not, a refresh arrow where a new code helps, a clock for
hours and bookings, people for a full room, a warning triangle for an emergency.
"""

from __future__ import annotations

import math
from typing import Final

from PIL import ImageDraw

from edge.door.screen import Icon

Square = tuple[int, int, int]  # left, top, side in screen pixels


class _Pen:
    """Draws in a square box with coordinates as fractions of its side."""

    def __init__(self, draw: ImageDraw.ImageDraw, square: Square, accent: str, ink: str) -> None:
        self.draw, self.accent, self.ink = draw, accent, ink
        self.x, self.y, self.s = square
        self.w = max(2, round(self.s / 10))

    def p(self, fx: float, fy: float) -> tuple[float, float]:
        return self.x + fx * self.s, self.y + fy * self.s

    def box(self, fx0: float, fy0: float, fx1: float, fy1: float) -> tuple[float, ...]:
        return (*self.p(fx0, fy0), *self.p(fx1, fy1))

    def line(self, *points: tuple[float, float], colour: str | None = None) -> None:
        self.draw.line(
            [self.p(*pt) for pt in points], fill=colour or self.accent, width=self.w, joint="curve"
        )

    def disc(
        self, cx: float, cy: float, r: float, *, fill: str | None = None, outline: bool = False
    ) -> None:
        bounds = self.box(cx - r, cy - r, cx + r, cy + r)
        if outline:
            self.draw.ellipse(bounds, fill=fill, outline=self.accent, width=self.w)
        else:
            self.draw.ellipse(bounds, fill=fill or self.accent)

    def person(self, cx: float, top: float, scale: float) -> None:
        r = 0.13 * scale
        self.disc(cx, top + r, r)
        body_top = top + 2 * r + 0.04 * scale
        self.draw.pieslice(
            self.box(cx - 0.24 * scale, body_top, cx + 0.24 * scale, body_top + 0.6 * scale),
            180,
            360,
            fill=self.accent,
        )

    def hands(self, cx: float, cy: float, r: float) -> None:
        self.line((cx, cy - r * 0.65), (cx, cy), (cx + r * 0.5, cy))


def _tick(pen: _Pen) -> None:
    pen.disc(0.5, 0.5, 0.48)
    pen.line((0.27, 0.52), (0.43, 0.68), (0.74, 0.35), colour=pen.ink)


def _cross(pen: _Pen) -> None:
    pen.disc(0.5, 0.5, 0.48)
    pen.line((0.32, 0.32), (0.68, 0.68), colour=pen.ink)
    pen.line((0.68, 0.32), (0.32, 0.68), colour=pen.ink)


def _warning(pen: _Pen) -> None:
    pen.draw.polygon([pen.p(0.5, 0.04), pen.p(0.97, 0.92), pen.p(0.03, 0.92)], fill=pen.accent)
    pen.line((0.5, 0.34), (0.5, 0.62), colour=pen.ink)
    pen.disc(0.5, 0.76, 0.055, fill=pen.ink)


def _clock(pen: _Pen) -> None:
    pen.disc(0.5, 0.5, 0.44, outline=True)
    pen.hands(0.5, 0.5, 0.44)


def _phone_clock(pen: _Pen) -> None:
    pen.draw.rounded_rectangle(
        pen.box(0.1, 0.04, 0.56, 0.96), radius=pen.s * 0.08, outline=pen.accent, width=pen.w
    )
    pen.disc(0.69, 0.66, 0.27, fill=pen.ink, outline=True)
    pen.hands(0.69, 0.66, 0.27)


def _refresh(pen: _Pen) -> None:
    r, start, end = 0.36, 40, 330
    pen.draw.arc(
        pen.box(0.5 - r, 0.5 - r, 0.5 + r, 0.5 + r), start, end, fill=pen.accent, width=pen.w
    )
    a = math.radians(end)
    tip_x, tip_y = 0.5 + r * math.cos(a), 0.5 + r * math.sin(a)
    # The arrow runs clockwise: its head points along the circle's tangent at the end.
    tx, ty, nx, ny, h = -math.sin(a), math.cos(a), math.cos(a), math.sin(a), 0.2
    pen.draw.polygon(
        [
            pen.p(tip_x + tx * h, tip_y + ty * h),
            pen.p(tip_x + nx * h * 0.6, tip_y + ny * h * 0.6),
            pen.p(tip_x - nx * h * 0.6, tip_y - ny * h * 0.6),
        ],
        fill=pen.accent,
    )


def _scan(pen: _Pen) -> None:
    for x, y, dx, dy in (
        (0.08, 0.08, 1, 1),
        (0.92, 0.08, -1, 1),
        (0.08, 0.92, 1, -1),
        (0.92, 0.92, -1, -1),
    ):
        pen.line((x, y + dy * 0.26), (x, y), (x + dx * 0.26, y))
    pen.line((0.2, 0.5), (0.8, 0.5))


def _door(pen: _Pen) -> None:
    # An empty doorway with its leaf swung out towards the viewer: a door left open.
    pen.draw.rectangle(pen.box(0.08, 0.06, 0.56, 0.94), outline=pen.accent, width=pen.w)
    pen.draw.polygon(
        [pen.p(0.56, 0.06), pen.p(0.94, 0.2), pen.p(0.94, 0.84), pen.p(0.56, 0.94)],
        fill=pen.accent,
    )
    pen.disc(0.85, 0.52, 0.04, fill=pen.ink)


def _people(pen: _Pen) -> None:
    pen.person(0.3, 0.2, 0.95)
    pen.person(0.7, 0.2, 0.95)


def _full(pen: _Pen) -> None:
    pen.person(0.2, 0.3, 0.75)
    pen.person(0.8, 0.3, 0.75)
    pen.person(0.5, 0.16, 0.95)


def _staff(pen: _Pen) -> None:
    pen.person(0.5, 0.18, 1.1)
    # A cap with a peak: someone whose job it is.
    pen.draw.chord(pen.box(0.34, 0.1, 0.66, 0.38), 180, 360, fill=pen.accent)
    pen.line((0.34, 0.24), (0.82, 0.24), colour=pen.ink)
    pen.line((0.6, 0.245), (0.84, 0.245))


_ICONS: Final = {
    "tick": _tick,
    "cross": _cross,
    "warning": _warning,
    "clock": _clock,
    "phone_clock": _phone_clock,
    "refresh": _refresh,
    "scan": _scan,
    "door": _door,
    "people": _people,
    "full": _full,
    "staff": _staff,
}


def draw_icon(
    draw: ImageDraw.ImageDraw, icon: Icon, square: Square, *, accent: str, ink: str
) -> None:
    """Draw ``icon`` in ``square`` (left, top, side) in ``accent``, cut-outs in ``ink``."""
    _ICONS[icon](_Pen(draw, square, accent, ink))

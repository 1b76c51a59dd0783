"""What the door's screen shows and its voice says, as plain values.

The door face (``edge.door.face``) builds a :class:`DoorView` from the door's state and
hands it to the screen, which turns it into a :class:`~edge.door.screen.Frame` and then
pixels; a verdict also goes to the voice as ``(reason, lang)``. Nothing here touches
hardware, so the view is what tests read and what the screen's frame is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from edge.access.reasons import OPENS, Reason

Lang = Literal["zh-CN", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh-CN", "en")


@dataclass(frozen=True, slots=True)
class Words:
    """One line in both languages; the screen puts the person's language first."""

    zh: str
    en: str

    def in_(self, lang: Lang) -> str:
        return self.zh if lang == "zh-CN" else self.en


@dataclass(frozen=True, slots=True)
class Idle:
    """What the door shows while nobody is being answered."""

    station: Words  # the station's name
    open_now: bool
    hours: str | None = None  # today's hours, e.g. "08:00-22:00"; None: open all day or closed
    inside: int | None = None  # people inside, when the door counts them
    capacity: int | None = None
    # The venue's walk-in poster URL (the worker app's /m/join/…): a QR for first-timers.
    # None: a text line tells them to ask the union instead.
    poster_url: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One decision, as shown for a few seconds after it."""

    reason: Reason
    # The language to lead with: zh-CN until a member's language reaches the door (a code
    # and the member cache carry none yet); the other language is always shown below.
    lang: Lang = "zh-CN"
    # A fact the person acts on beyond the reason itself ("booking starts at 14:00").
    hint: Words | None = None

    @property
    def opens(self) -> bool:
        return self.reason in OPENS


@dataclass(frozen=True, slots=True)
class DoorView:
    """Everything on the screen at one moment; states later in this list win on screen:
    a verdict over idle, held-open over a verdict, emergency over everything. ``refusing``
    and ``offline`` are banners on whichever of them shows."""

    idle: Idle
    verdict: Verdict | None = None
    held_open: bool = False
    emergency: bool = False
    offline: bool = False
    # The door refuses every code now (no issuer keys, or caches too old to trust).
    refusing: bool = False

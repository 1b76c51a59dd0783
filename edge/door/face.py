"""The door's face and voice, run beside the door and never in its way.

A decision hands itself over with :meth:`DoorFace.decided` and returns: one lock held for
an assignment, the voice's own hand-over (also a slot, see ``edge.door.voice``). This
thread then builds the :class:`~edge.door.view.DoorView` (the verdict for ``show_s``,
else the idle screen with its live count), and the screen repaints only when its frame
changed. A dead screen or speaker is a ``sensor.fault`` event and a line in the log (so in
diagnostics), never an exception on the door's path: the relay, the LEDs and the buzzer
keep working without them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from edge.access.model import Decision
from edge.access.reasons import Reason
from edge.clock import Clock
from edge.door.view import DoorView, Idle, Lang, Verdict, Words
from edge.outbox import NewEvent
from protocol.health import FAULT_EVENT, RECOVERED_EVENT

logger = logging.getLogger(__name__)

# The idle screen is rebuilt this often (a frame equal to the last one is not repainted),
# so a beam crossing shows on the count well within a second.
REFRESH_S: Final = 0.25
# Drawing a frame and handing it to the display this long is a stuck screen: a wedged SPI
# write never returns, and the door's tick says so (DoorFace.watch).
STALL_S: Final = 2.0
SCREEN: Final = "door-screen"
SPEAKER: Final = "door-speaker"
_LATENCIES_KEPT: Final = 100_000

EventSink = Callable[[Sequence[NewEvent]], object]


class Screen(Protocol):
    """Draws a view (``edge.door.screen.DoorScreen``); raises when the display is dead."""

    def show(self, view: DoorView) -> object: ...

    def close(self) -> None: ...


class Voice(Protocol):
    """Speaks a prompt on its own thread (``edge.door.voice.VoicePlayer``)."""

    def say(self, reason: Reason, lang: Lang) -> None: ...

    @property
    def problem(self) -> str | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FaceSources:
    """Where the face reads the door's state; each is called on the face's thread."""

    idle: Callable[[], Idle]
    held_open: Callable[[], bool]
    emergency: Callable[[], bool]
    # What the person acts on beyond the reason ("your booking starts at 14:00").
    hint: Callable[[Decision], Words | None]
    # Whether the door refuses every code now (no keys, caches too old): a staff banner.
    refusing: Callable[[], bool] = lambda: False


def _always_online() -> bool:
    return True


class DoorFace:
    """One thread that keeps the screen true to the door and hands verdicts to the voice."""

    def __init__(
        self,
        *,
        screen: Screen | None,
        voice: Voice | None,
        sources: FaceSources,
        events: EventSink,
        clock: Clock,
        show_s: float = 4.0,
        refresh_s: float = REFRESH_S,
        screen_problem: str | None = None,
        screen_note: str | None = None,
    ) -> None:
        self._screen, self._voice = screen, voice
        self.sources = sources
        self._events, self._clock = events, clock
        self._show_s, self._refresh_s = show_s, refresh_s
        # Set by the agent once its uplink exists: is the cloud reachable now?
        self.online: Callable[[], bool] = _always_online
        self._cond = threading.Condition()
        # The latest decision not yet on screen: (decision, its language, perf_counter()).
        self._pending: tuple[Decision, Lang, float] | None = None
        self._showing: tuple[Verdict, float] | None = None  # (verdict, until: monotonic)
        self._closed = False
        # Seconds from a decision's hand-over to its frame on the display, newest last.
        self.latencies_s: deque[float] = deque(maxlen=_LATENCIES_KEPT)
        self.frames = 0  # views handed to the screen
        self._faults: dict[str, str] = {}
        # A problem the screen has however well it draws (a font without Chinese): it
        # stays reported while frames are drawn.
        self._screen_note = screen_note
        self._round_since: float | None = None  # monotonic, while the display is written
        self._failing: str | None = None  # the last failure of a round, logged once
        if screen_problem is not None or screen_note is not None:  # not even opened, or no font
            self._fault(SCREEN, screen_problem or screen_note or "")
        self._thread = threading.Thread(target=self._run, name="door-face", daemon=True)

    def start(self) -> None:
        """Start the face's thread (again: nothing)."""
        if self._thread.ident is None:
            self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def decided(self, decision: Decision, lang: Lang = "zh-CN") -> None:
        """The door decided: show and say it. Called on the decision's path; never blocks."""
        with self._cond:
            self._pending = (decision, lang, time.perf_counter())
            self._cond.notify()
        if self._voice is not None:
            self._voice.say(decision.reason, lang)

    def poke(self) -> None:
        """Something the idle screen shows changed; redraw now rather than at the next tick."""
        with self._cond:
            self._cond.notify()

    def problems(self) -> dict[str, str]:
        """The face's parts that do not work now, by part ("door-screen", "door-speaker")."""
        with self._cond:
            found = dict(self._faults)
        stuck = self._stuck()
        if stuck is not None:
            found[SCREEN] = stuck
        return found

    def watch(self) -> None:
        """Report a face that cannot report itself: a round stuck in the display's write, or
        a thread that ended. Called on the door's tick, never on the face's own thread."""
        stuck = self._stuck()
        if stuck is not None:
            self._fault(SCREEN, stuck)

    def _stuck(self) -> str | None:
        if self._thread.ident is not None and not self._thread.is_alive() and not self._closed:
            return "the door's screen stopped being updated (its thread ended); restart the box"
        since = self._round_since
        if since is not None and time.monotonic() - since > STALL_S:
            # One wording however long it waits: a new one each second would be a new fault.
            return f"the screen has not taken a frame for over {STALL_S:g} s: check its wiring"
        return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for part in (self._voice, self._screen):
            if part is not None:
                try:
                    part.close()
                except Exception:  # closing must not hide why the box is stopping
                    logger.exception("closing the door's face")

    # -- the face's thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._pending is None and not self._closed:
                    self._cond.wait(self._refresh_s)
                if self._closed:
                    return
                pending, self._pending = self._pending, None
            try:
                self._round(pending)
            except Exception as exc:  # noqa: BLE001 - one bad round (a source failing) must not end the face
                self._round_failed(exc)
            else:
                self._failing = None

    def _round_failed(self, exc: Exception) -> None:
        """Log a failure once, not four times a second, and report it as the screen's."""
        said = f"{type(exc).__name__}: {exc}"
        if said != self._failing:
            self._failing = said
            logger.error("the door's screen could not be updated; trying again", exc_info=exc)
        self._fault(SCREEN, f"the door's screen could not be updated ({said[:150]})")

    def _round(self, pending: tuple[Decision, Lang, float] | None) -> None:
        if self._screen is None:  # a voice only: nothing to draw, its health to follow
            self._check_voice()
            return
        now = time.monotonic()
        if pending is not None:
            decision, lang, _ = pending
            verdict = Verdict(decision.reason, lang, self._hint(decision))
            self._showing = (verdict, now + self._show_s)
        if self._showing is not None and now >= self._showing[1]:
            self._showing = None
        view = DoorView(
            idle=self.sources.idle(),
            verdict=self._showing[0] if self._showing is not None else None,
            held_open=self.sources.held_open(),
            emergency=self.sources.emergency(),
            offline=not self.online(),
            refusing=self.sources.refusing(),
        )
        if self._screen is not None and self._show(view) and pending is not None:
            self.latencies_s.append(time.perf_counter() - pending[2])
        self._check_voice()

    def _hint(self, decision: Decision) -> Words | None:
        """The verdict's hint; a hint that fails (a locked booking cache) is left out."""
        try:
            return self.sources.hint(decision)
        except Exception:  # the verdict matters more than its hint
            logger.warning("no hint for %s", decision.reason, exc_info=True)
            return None

    def _show(self, view: DoorView) -> bool:
        assert self._screen is not None
        # Only the drawing and the display's write are timed: a source that waits (a member
        # cache busy with a sync) is no fault of the screen's.
        self._round_since = time.monotonic()
        try:
            self._screen.show(view)
        except Exception as exc:  # noqa: BLE001 - any display failure is the screen's fault
            self._fault(SCREEN, str(exc) or type(exc).__name__)
            return False
        finally:
            self._round_since = None
        self.frames += 1
        if self._screen_note is None:
            self._recovered(SCREEN)
        else:
            self._fault(SCREEN, self._screen_note)
        return True

    def _check_voice(self) -> None:
        if self._voice is None:
            return
        problem = self._voice.problem
        if problem is None:
            self._recovered(SPEAKER)
        else:
            self._fault(SPEAKER, problem)

    def _fault(self, part: str, problem: str) -> None:
        with self._cond:
            if self._faults.get(part) == problem:
                return
            self._faults[part] = problem
        logger.warning("%s does not work: %s", part, problem)
        self._emit(FAULT_EVENT, {"sensor": part, "problem": problem[:200]})

    def _recovered(self, part: str) -> None:
        with self._cond:
            if self._faults.pop(part, None) is None:
                return
        logger.info("%s works again", part)
        self._emit(RECOVERED_EVENT, {"sensor": part})

    def _emit(self, kind: str, data: dict[str, str | int | float | bool | None]) -> None:
        try:
            self._events([NewEvent(self._clock(), kind, data)])
        except Exception:  # the outbox failing is the door's problem, reported there
            logger.exception("could not record %s", kind)

"""The scan loop: paced frames in, each member code shown at the door out exactly once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from edge.scan import ScanError
from edge.scan.camera import FrameSource
from edge.scan.decoders import Decoder

logger = logging.getLogger(__name__)

# A code that drops out of a few frames (a hand tremor, glare) is still the same showing;
# two seconds away from the lens means the member took the phone down and showed it again.
DEFAULT_HOLD_S: Final = 2.0
# Ten frames per second finds a code within ~100 ms of it being steady, at a few per cent
# of one core while nobody is at the door (`yizhan bench scan` reports idle_cpu_percent).
DEFAULT_FPS: Final = 10.0
# Consecutive frames without an image before the loop gives up on the camera.
MAX_MISSED_FRAMES: Final = 50


class Scanner:
    """Reads ``source`` at ``fps``, decodes with ``decoder`` and reports codes once each.

    A text is reported when it appears and not again while it stays in view; once it has
    been out of view for more than ``hold_s`` it is reported again the next time it shows.
    ``clock`` is monotonic seconds; ``sleep`` waits between frames (``run`` defaults to
    waiting on its stop event, so stopping never waits out a frame period).
    """

    def __init__(
        self,
        source: FrameSource,
        decoder: Decoder,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        fps: float = DEFAULT_FPS,
        hold_s: float = DEFAULT_HOLD_S,
    ) -> None:
        if fps <= 0 or hold_s < 0:
            raise ScanError(f"scanner needs fps > 0 and hold_s >= 0, got {fps} and {hold_s}")
        self._source = source
        self._decoder = decoder
        self._clock = clock
        self._sleep = sleep
        self.period_s = 1.0 / fps
        self.hold_s = hold_s
        self._last_seen: dict[str, float] = {}
        self.missed_frames = 0
        self.frames = 0  # frames read since start: a new release's self-check wants one
        self._reading_since: float | None = None  # clock() when a camera read began

    def stalled_s(self) -> float:
        """Seconds the current camera read has been waiting for a frame (0 between reads).

        Only the read counts: handling a code (a kiosk's redemption waits on the cloud)
        is the door working, not the camera hanging.
        """
        started = self._reading_since
        return 0.0 if started is None else max(0.0, self._clock() - started)

    def poll(self) -> list[str]:
        """Read and decode one frame; return the texts that newly came into view."""
        self._reading_since = self._clock()
        try:
            frame = self._source.read()
        finally:
            self._reading_since = None
        now = self._clock()
        if frame is None:
            self.missed_frames += 1
            texts: list[str] = []
        else:
            self.missed_frames = 0
            self.frames += 1
            texts = self._decoder.decode(frame)
        return self._fresh(texts, now)

    def _fresh(self, texts: list[str], now: float) -> list[str]:
        fresh = [
            text
            for text in dict.fromkeys(texts)
            if now - self._last_seen.get(text, -float("inf")) > self.hold_s
        ]
        for text in texts:
            self._last_seen[text] = now
        # Forget codes gone for longer than hold_s, so memory stays bounded by what is in view.
        self._last_seen = {t: at for t, at in self._last_seen.items() if now - at <= self.hold_s}
        return fresh

    def run(self, on_code: Callable[[str], object], stop_event: threading.Event) -> None:
        """Scan until ``stop_event`` is set, calling ``on_code`` for each new code."""
        wait = self._sleep or stop_event.wait
        next_at = self._clock()
        while not stop_event.is_set():
            for text in self.poll():
                try:
                    on_code(text)
                except Exception:  # one bad code must not stop the door
                    logger.exception("handling a scanned code failed")
            if self.missed_frames >= MAX_MISSED_FRAMES:
                raise ScanError(
                    f"camera gave no frame {self.missed_frames} times in a row: check the "
                    "cable/stream; a video file has simply ended"
                )
            if stop_event.is_set():
                return
            next_at += self.period_s
            now = self._clock()
            if next_at < now:  # decoding overran: start afresh rather than burst to catch up
                next_at = now
            else:
                wait(next_at - now)

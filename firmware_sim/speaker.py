"""A simulated door speaker: takes as long as the sound lasts and remembers what it heard.

:class:`SimSpeaker` is the sound card behind ``edge.hardware.speaker.Speaker``, as ``AlsaSpeaker``
drives a real one. It checks the PCM is whole frames, "plays" it for its real duration
(divided by ``speed``, so tests need not wait seconds), and records each play: a digest of the
samples, their duration and loudest sample, so a test can tell which clip played how loud.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Final

import numpy as np

from edge.hardware.speaker import SpeakerError

_SAMPLE_BYTES: Final = 2  # 16-bit PCM


@dataclass(frozen=True, slots=True)
class Heard:
    """One prompt that reached the speaker."""

    sha256: str  # of the PCM exactly as played (after the volume was applied)
    duration_s: float  # the sound's own length, not the time the simulation took
    peak: int  # the loudest sample's magnitude, 0..32768
    rate: int
    channels: int


class SimSpeaker:
    """Plays PCM into the void, in (scaled) real time; ``broken`` makes it fail like a dead one.

    ``held`` keeps a play from finishing until it is cleared, as a very long prompt would: a
    test can then queue prompts behind one that is surely still playing.
    """

    def __init__(self, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be above 0, not {speed}")
        self.speed = speed
        self.broken = False
        self._cond = threading.Condition()
        self._heard: list[Heard] = []
        self._closed = False
        self._held = False
        self._playing = 0

    @property
    def plays(self) -> list[Heard]:
        """Every prompt played (or begun), oldest first."""
        with self._cond:
            return list(self._heard)

    @property
    def playing(self) -> bool:
        with self._cond:
            return self._playing > 0

    @property
    def held(self) -> bool:
        with self._cond:
            return self._held

    @held.setter
    def held(self, value: bool) -> None:
        with self._cond:
            self._held = value
            self._cond.notify_all()

    def play(self, pcm: bytes, *, rate: int, channels: int) -> None:
        if self.broken:
            raise SpeakerError("the simulated speaker is broken (as if unplugged)")
        heard = _hear(pcm, rate=rate, channels=channels)
        with self._cond:
            if self._closed:
                raise SpeakerError("the simulated speaker is closed")
            self._heard.append(heard)
            self._playing += 1
            try:
                self._cond.wait_for(lambda: self._closed, timeout=heard.duration_s / self.speed)
                self._cond.wait_for(lambda: self._closed or not self._held)
                if self._closed:
                    raise SpeakerError("the simulated speaker was closed while playing")
            finally:
                self._playing -= 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _hear(pcm: bytes, *, rate: int, channels: int) -> Heard:
    frame = _SAMPLE_BYTES * channels
    if rate <= 0 or channels not in (1, 2) or len(pcm) % frame:
        raise SpeakerError(
            f"{len(pcm)} bytes are not whole {channels}-channel 16-bit frames at {rate} Hz"
        )
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    return Heard(
        sha256=hashlib.sha256(pcm).hexdigest(),
        duration_s=len(pcm) / (frame * rate),
        peak=int(np.abs(samples).max()) if samples.size else 0,
        rate=rate,
        channels=channels,
    )

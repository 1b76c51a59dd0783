"""The door's voice: short prompts from WAV clips, played on their own thread through ALSA.

The clips are ``<reason>.<lang>.wav`` in one directory, written at install time by
``edge.door.clips`` or supplied by the union. :class:`VoicePlayer` holds at most one prompt
waiting: a person at a busy door wants the verdict on the scan just made, not a backlog of
other people's, so a newer prompt replaces the waiting one (the one playing finishes).
"""

from __future__ import annotations

import logging
import threading
import wave
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np

from edge.access.reasons import Reason
from edge.door.face_settings import VolumeStep
from edge.door.view import Lang
from edge.errors import EdgeError
from edge.hardware.speaker import Speaker, SpeakerError

logger = logging.getLogger(__name__)

FALLBACK_LANG: Final[Lang] = "zh-CN"
# The command that makes the prompts, as every message about a missing one names it.
MAKE_CLIPS: Final = "yizhan edge voice-clips"
# What a played prompt is remembered as: enough for health and tests, bounded so a door that
# answers thousands of scans a day does not grow its memory for ever.
HISTORY_KEPT: Final = 1000
_SAMPLE_BYTES: Final = 2  # 16-bit PCM
_INT16_MIN: Final = -32768
_INT16_MAX: Final = 32767
_JOIN_S: Final = 5.0
# A prompt is one sentence (espeak-ng's run 2-7 s); a longer WAV the union supplies would hold
# the speaker while later verdicts are dropped, and its samples the box's memory.
MAX_CLIP_S: Final = 15.0
MIN_RATE: Final = 8_000
MAX_RATE: Final = 48_000


class VoiceError(EdgeError, RuntimeError):
    """The prompts cannot be made or read; the message says which and what to do."""


def clip_name(reason: Reason, lang: Lang) -> str:
    """The file a prompt is kept in, generated or supplied: ``expired.zh-CN.wav``."""
    return f"{reason}.{lang}.wav"


@dataclass(frozen=True, slots=True)
class Clip:
    """One prompt as 16-bit little-endian PCM, interleaved when stereo."""

    pcm: bytes
    rate: int
    channels: int

    @classmethod
    def load(cls, path: Path) -> Clip:
        """Read a 16-bit PCM WAV (mono or stereo, any rate), or raise :class:`VoiceError`."""
        try:
            with wave.open(str(path), "rb") as wav:
                width, channels = wav.getsampwidth(), wav.getnchannels()
                rate, frames = wav.getframerate(), wav.getnframes()
                _check_format(path, width, channels, rate)
                # A recorder writing to a pipe leaves 0xFFFFFFFF as the sizes: read no more
                # than the file holds, and no more than a prompt may last.
                limit = min(frames, path.stat().st_size // (width * channels))
                pcm = wav.readframes(min(limit, int(MAX_CLIP_S * rate) + 1))
        except FileNotFoundError as exc:
            raise VoiceError(f"{path} is missing; run `{MAKE_CLIPS}`") from exc
        except (OSError, wave.Error, EOFError, MemoryError) as exc:
            raise VoiceError(
                f"{path} is not a readable PCM WAV file ({exc!s:.80}); replace it with a "
                f"16-bit PCM WAV, or delete it and run `{MAKE_CLIPS}`"
            ) from exc
        pcm = pcm[: len(pcm) - len(pcm) % (width * channels)]  # a cut-off file: whole frames
        if not pcm:
            raise VoiceError(f"{path} holds no sound; replace it or run `{MAKE_CLIPS}`")
        if len(pcm) > MAX_CLIP_S * rate * width * channels:
            raise VoiceError(
                f"{path} lasts more than {MAX_CLIP_S:g} s; a door's prompt is a sentence: "
                "shorten the recording"
            )
        return cls(pcm, rate, channels)

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / (_SAMPLE_BYTES * self.channels * self.rate)

    def scaled(self, percent: int) -> bytes:
        """The samples at ``percent`` of their recorded loudness, clipped to 16 bits."""
        if percent < 0:
            raise ValueError(f"volume must be 0 % or more, not {percent} %")
        samples = np.frombuffer(self.pcm, dtype="<i2").astype(np.float64)
        louder = np.rint(samples * (percent / 100))
        return np.clip(louder, _INT16_MIN, _INT16_MAX).astype("<i2").tobytes()


def _check_format(path: Path, width: int, channels: int, rate: int) -> None:
    if width != _SAMPLE_BYTES or channels not in (1, 2):
        raise VoiceError(
            f"{path} is {8 * width}-bit with {channels} channel(s); the door plays 16-bit "
            f"PCM, mono or stereo: convert it (e.g. `sox IN -b 16 {path.name}`)"
        )
    if not MIN_RATE <= rate <= MAX_RATE:
        raise VoiceError(
            f"{path} is sampled at {rate} Hz; the door plays {MIN_RATE}-{MAX_RATE} Hz: "
            f"convert it (e.g. `sox IN -r 22050 {path.name}`)"
        )


class ClipLibrary:
    """The prompts in one directory, each read once and then kept in memory."""

    def __init__(self, clips_dir: Path) -> None:
        self.clips_dir = clips_dir
        self._cache: dict[str, Clip] = {}
        self._lock = threading.Lock()

    def get(self, reason: Reason, lang: Lang) -> Clip | None:
        """The prompt in ``lang``, else in zh-CN; None when neither can be read."""
        for name in dict.fromkeys((clip_name(reason, lang), clip_name(reason, FALLBACK_LANG))):
            clip = self._load(name)
            if clip is not None:
                return clip
        return None

    def missing(self) -> list[str]:
        """The clip files that cannot be played now (missing or unreadable), by name."""
        return [
            clip_name(reason, lang)
            for reason in Reason
            for lang in ("zh-CN", "en")
            if self._load(clip_name(reason, lang)) is None
        ]

    def _load(self, name: str) -> Clip | None:
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        try:
            clip = Clip.load(self.clips_dir / name)
        except VoiceError:
            return None  # not cached: a clip written later is picked up
        with self._lock:
            self._cache[name] = clip
        return clip


class VolumeSchedule:
    """How loud prompts play at a moment: the venue's steps on its own wall clock."""

    def __init__(self, steps: Sequence[VolumeStep], zone: ZoneInfo) -> None:
        if not steps:
            raise ValueError("a volume schedule needs at least one step")
        self._steps = sorted(steps, key=lambda step: step.at)
        self._zone = zone

    def percent_at(self, at: datetime) -> int:
        """The last step at or before ``at``'s local time; before the day's first step, the
        day's last one still applies (it ran on past midnight)."""
        if at.tzinfo is None:
            raise ValueError(f"{at} has no time zone; the door's clock gives aware times")
        local = at.astimezone(self._zone).time().replace(tzinfo=None)
        current = self._steps[-1]
        for step in self._steps:
            if step.at > local:
                break
            current = step
        return current.percent


@dataclass(frozen=True, slots=True)
class Spoken:
    """A prompt that was played, at the volume it was played at."""

    reason: Reason
    lang: Lang
    percent: int


class VoicePlayer:
    """Speaks door verdicts on its own thread; :meth:`say` never waits for the speaker."""

    def __init__(
        self,
        speaker: Speaker,
        clips: ClipLibrary,
        schedule: VolumeSchedule,
        clock: Callable[[], datetime],
    ) -> None:
        self._speaker, self._clips = speaker, clips
        self._schedule, self._clock = schedule, clock
        self._cond = threading.Condition()
        self._waiting: tuple[Reason, Lang] | None = None
        self._playing = False
        self._closed = False
        self._history: deque[Spoken] = deque(maxlen=HISTORY_KEPT)
        self._dropped = 0
        self._max_queued = 0
        self._problem: str | None = None  # the speaker's, until a prompt plays again
        # Prompts found missing, by file name: a problem until that file is there, however
        # many other prompts play meanwhile (else the fault would come and go scan by scan).
        self._missing: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="door-voice", daemon=True)
        self._thread.start()

    def say(self, reason: Reason, lang: Lang) -> None:
        """Queue the prompt for ``reason``, replacing one still waiting. Never blocks long."""
        with self._cond:
            if self._closed:
                return
            if self._waiting is not None:
                self._dropped += 1
            self._waiting = (reason, lang)
            self._max_queued = max(self._max_queued, 1)
            self._cond.notify()

    @property
    def history(self) -> list[Spoken]:
        """What was played, oldest first (the last :data:`HISTORY_KEPT`)."""
        with self._cond:
            return list(self._history)

    @property
    def dropped(self) -> int:
        """Prompts never played: replaced while waiting, silent (volume 0) or without a clip."""
        with self._cond:
            return self._dropped

    @property
    def max_queued(self) -> int:
        """The most prompts ever waiting at once (the one playing not counted): 0 or 1."""
        with self._cond:
            return self._max_queued

    @property
    def problem(self) -> str | None:
        """The speaker's last failure until a prompt plays again, else a missing prompt's
        until it is there."""
        with self._cond:
            if self._problem is not None:
                return self._problem
            return next(iter(self._missing.values()), None)

    @property
    def healthy(self) -> bool:
        with self._cond:
            found = self._problem is None and not self._missing
            return found and not self._closed and self._thread.is_alive()

    @property
    def idle(self) -> bool:
        """Nothing playing and nothing waiting."""
        with self._cond:
            return self._waiting is None and not self._playing

    def close(self) -> None:
        """Stop the thread, cutting a prompt that is playing short."""
        with self._cond:
            self._closed = True
            self._waiting = None
            self._cond.notify()
        self._speaker.close()
        self._thread.join(timeout=_JOIN_S)
        if self._thread.is_alive():
            logger.warning("the door's voice did not stop within %.0f s", _JOIN_S)

    # -- the voice's thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._waiting is None and not self._closed:
                    self._cond.wait()
                waiting, self._waiting = self._waiting, None
                if self._closed or waiting is None:
                    return
                reason, lang = waiting
                self._playing = True
            try:
                self._speak(reason, lang)
            except Exception as exc:  # the thread outlives any one prompt
                logger.exception("the door's voice failed on %s", reason)
                self._set_problem(f"the door's voice failed: {exc}")
            finally:
                with self._cond:
                    self._playing = False

    def _speak(self, reason: Reason, lang: Lang) -> None:
        percent = self._schedule.percent_at(self._clock())
        if percent == 0:
            self._skip()  # the venue's quiet hours
            return
        clip = self._clips.get(reason, lang)
        name = clip_name(reason, lang)
        if clip is None:
            said = (
                f"no prompt for {reason!s} in {self._clips.clips_dir} ({name}); run `{MAKE_CLIPS}`"
            )
            with self._cond:
                self._dropped += 1
                known = name in self._missing
                self._missing[name] = said
            if not known:
                logger.warning("the door's voice: %s", said)
            return
        with self._cond:
            self._missing.pop(name, None)
        try:
            self._speaker.play(clip.scaled(percent), rate=clip.rate, channels=clip.channels)
        except SpeakerError as exc:
            with self._cond:
                closing = self._closed
            if not closing:
                self._skip(str(exc))
            return
        with self._cond:
            self._history.append(Spoken(reason, lang, percent))
            self._problem = None

    def _skip(self, problem: str | None = None) -> None:
        with self._cond:
            self._dropped += 1
            if problem is None or problem == self._problem:
                return  # said once is enough: a door answers many scans
            self._problem = problem
        logger.warning("the door's voice: %s", problem)

    def _set_problem(self, problem: str) -> None:
        with self._cond:
            self._problem = problem

"""The door's speaker: ALSA through ``aplay``, behind the interface firmware_sim plays too.

``edge.door.voice.VoicePlayer`` hands it one prompt at a time as 16-bit PCM; a real box plays
it on the ALSA device its settings name, ``firmware_sim.speaker.SimSpeaker`` stands in for
the sound card in simulation.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from typing import Final, Protocol

from edge.door.face_settings import ALSA_NAME
from edge.hardware.interfaces import HardwareError

_SAMPLE_BYTES: Final = 2  # 16-bit PCM
# aplay must be done within the clip's length times this, plus the margin (opening the
# device, a busy card): past that it is stuck, and the next prompt needs the device.
_PLAY_STRETCH: Final = 1.5
_PLAY_MARGIN_S: Final = 3.0


class SpeakerError(HardwareError):
    """The speaker did not play a prompt; the message says what to check."""


class Speaker(Protocol):
    """An audio output: the box's ALSA device, or ``firmware_sim.speaker.SimSpeaker``."""

    def play(self, pcm: bytes, *, rate: int, channels: int) -> None:
        """Play 16-bit little-endian PCM and return when it is done; raise SpeakerError."""
        ...

    def close(self) -> None:
        """Stop a prompt that is playing and refuse further ones."""
        ...


class AlsaSpeaker:
    """Plays through ``aplay`` (alsa-utils) on one ALSA PCM, as ``aplay -L`` names it."""

    def __init__(self, device: str) -> None:
        if ALSA_NAME.fullmatch(device) is None:  # the settings refuse it too: a plugin such
            # as tee: or file: would have aplay write wherever the agent may
            raise SpeakerError(f"{device[:40]!r} is not a sound card's name (see `aplay -L`)")
        self.device = device
        self._lock = threading.Lock()
        self._playing: subprocess.Popen[bytes] | None = None
        self._closed = False

    def play(self, pcm: bytes, *, rate: int, channels: int) -> None:
        aplay = shutil.which("aplay")
        if aplay is None:
            raise SpeakerError(
                "aplay is not installed, so the door cannot speak: sudo apt install alsa-utils"
            )
        duration_s = len(pcm) / (_SAMPLE_BYTES * channels * rate)
        command = [aplay, "-q", "-D", self.device, "-t", "raw", "-f", "S16_LE"]
        command += ["-r", str(rate), "-c", str(channels)]
        with self._lock:
            if self._closed:
                raise SpeakerError(f"speaker {self.device!r} is closed")
            try:
                process = subprocess.Popen(  # noqa: S603  # our own argument list, no shell
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                raise SpeakerError(f"aplay could not be started ({exc})") from exc
            self._playing = process
        try:
            _, err = process.communicate(pcm, timeout=duration_s * _PLAY_STRETCH + _PLAY_MARGIN_S)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.communicate()
            raise SpeakerError(
                f"speaker {self.device!r} did not finish a {duration_s:.1f} s prompt in time; "
                "another program may hold the sound card (check `fuser -v /dev/snd/*`)"
            ) from exc
        finally:
            with self._lock:
                self._playing = None
        if process.returncode != 0:
            raise SpeakerError(self._failure(err, process.returncode))

    def _failure(self, err: bytes, code: int) -> str:
        if self._closed:
            return f"speaker {self.device!r} was closed while playing"
        lines = err.decode(errors="replace").strip().splitlines()
        said = lines[0] if lines else f"exit status {code}"
        return (
            f"speaker {self.device!r} failed: {said}; check the device name against "
            "`aplay -L` ([door.voice] device) and that the sound card is connected"
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._playing is not None:
                self._playing.terminate()

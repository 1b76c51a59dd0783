"""Security review of the door's voice: prompts the union supplies, the manifest, aplay.

Each ``xfail(strict=True)`` is a problem found in review: it fails today and passes once
fixed. The plain tests are what was checked and held.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.access.reasons import Reason
from edge.door.clips import MANIFEST, build_clips, check_clips
from edge.door.voice import Clip, VoiceError, clip_name
from edge.hardware.speaker import AlsaSpeaker, SpeakerError
from tests.fixtures import missing_service

UNKNOWN_SIZE = 0xFFFFFFFF  # what a recorder writing to a pipe puts in RIFF and data sizes


def write_wav(
    path: Path,
    *,
    data: bytes = b"\x00\x10" * 800,
    rate: int = 16_000,
    channels: int = 1,
    bits: int = 16,
    fmt_tag: int = 1,
    data_size: int | None = None,
    riff_size: int | None = None,
) -> Path:
    """A WAV file byte by byte, so its header can say what a well-behaved writer never would."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", size) + data
    riff = len(body) if riff_size is None else riff_size
    path.write_bytes(b"RIFF" + struct.pack("<I", riff) + body)
    return path


def write_good_wav(path: Path, *, seconds: float = 0.1, rate: int = 8_000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x08" * round(seconds * rate))
    return path


# --- WAV files the union supplies ---------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"MZ\x90\x00" * 64)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


HOSTILE: dict[str, Callable[[Path], object]] = {
    "8-bit": lambda p: write_wav(p, data=b"\x80" * 100, bits=8),
    "float": lambda p: write_wav(p, fmt_tag=3, bits=32, data=b"\x00" * 400),
    "three channels": lambda p: write_wav(p, channels=3, data=b"\x00" * 600),
    "no samples": lambda p: write_wav(p, data=b""),
    "garbage": _garbage,
    "empty file": _empty,
    "a directory": Path.mkdir,
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_wav_is_a_voice_error_with_a_fix(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "expired.zh-CN.wav"
    HOSTILE[kind](path)
    with pytest.raises(VoiceError) as refused:
        Clip.load(path)
    assert "yizhan edge voice-clips" in str(refused.value) or "16-bit" in str(refused.value)


def test_a_streamed_wav_header_does_not_allocate_gigabytes(tmp_path: Path) -> None:
    """Run under a 1 GB address-space limit, as on a Pi 3 (MemoryMax=512M in the unit)."""
    path = write_wav(
        tmp_path / "accepted.zh-CN.wav", data_size=UNKNOWN_SIZE, riff_size=UNKNOWN_SIZE
    )
    probe = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from pathlib import Path
        from edge.door.voice import Clip, VoiceError
        try:
            clip = Clip.load(Path({str(path)!r}))
        except VoiceError:
            sys.exit(0)  # refused with a reason: fine
        except MemoryError:
            sys.exit(3)
        sys.exit(0 if len(clip.pcm) == 1600 else 4)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-500:]


def test_a_wav_with_rate_zero_is_refused_and_named_by_check_clips(tmp_path: Path) -> None:
    for reason in Reason:
        for lang in ("zh-CN", "en"):
            write_good_wav(tmp_path / clip_name(reason, lang))
    bad = write_wav(tmp_path / clip_name(Reason.EXPIRED, "zh-CN"), rate=0)
    assert any(bad.name in line for line in check_clips(tmp_path))
    with pytest.raises(VoiceError):
        Clip.load(bad)


def test_a_truncated_wav_is_whole_frames_or_refused(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "full.zh-CN.wav", data=b"\x01\x02" * 1000 + b"\x03", data_size=4000)
    try:
        clip = Clip.load(path)
    except VoiceError:
        return
    assert len(clip.pcm) % (2 * clip.channels) == 0
    clip.scaled(50)


def test_a_five_minute_union_recording_is_refused(tmp_path: Path) -> None:
    path = write_good_wav(tmp_path / "accepted.zh-CN.wav", seconds=300)
    with pytest.raises(VoiceError):
        Clip.load(path)


def test_check_clips_names_each_unplayable_clip_without_raising(tmp_path: Path) -> None:
    for reason in Reason:
        for lang in ("zh-CN", "en"):
            write_good_wav(tmp_path / clip_name(reason, lang))
    write_wav(tmp_path / clip_name(Reason.EXPIRED, "en"), bits=8, data=b"\x80" * 64)
    (tmp_path / clip_name(Reason.FULL, "en")).write_bytes(b"not a wav")
    (tmp_path / clip_name(Reason.REVOKED, "en")).unlink()
    problems = check_clips(tmp_path)
    assert len(problems) == 3
    assert all("voice-clips" in line or "16-bit" in line for line in problems)


# --- the manifest, and the clip builder ---------------------------------------------------


def test_a_manifest_entry_that_is_not_a_table_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    write_good_wav(tmp_path / clip_name(Reason.EXPIRED, "zh-CN"))
    (tmp_path / MANIFEST).write_text(json.dumps({"files": {"expired.zh-CN.wav": "x"}}))
    # `true` stands in for the engine: it runs, writes nothing, so each clip is a problem.
    report = build_clips(tmp_path, engine="true")
    assert not report.ok


def test_a_clip_the_union_supplied_is_kept_whatever_the_manifest_says(tmp_path: Path) -> None:
    theirs = write_good_wav(tmp_path / clip_name(Reason.EXPIRED, "zh-CN"), seconds=0.2)
    before = theirs.read_bytes()
    (tmp_path / MANIFEST).write_text(
        json.dumps({"files": {theirs.name: {"sha256": "0" * 64, "replaces": "1" * 64}}})
    )
    report = build_clips(tmp_path, engine="true", force=True)
    assert theirs.name in report.kept
    assert theirs.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-made left behind


# --- aplay ---------------------------------------------------------------------------------


def _aplay() -> None:
    if shutil.which("aplay") is None:
        missing_service("aplay is not installed (apt-get install alsa-utils)")


def test_the_voice_device_cannot_write_files(tmp_path: Path) -> None:
    _aplay()
    victim = tmp_path / "keys.json"
    victim.write_text('{"keys": "the door\'s trust"}')
    before = victim.read_bytes()
    with contextlib.suppress(SpeakerError, ValueError):  # refused: fine
        AlsaSpeaker(f"tee:null,'{victim}',raw").play(b"\x00\x7f" * 800, rate=8000, channels=1)
    assert victim.read_bytes() == before


def _zombies() -> list[int]:
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(stat.parent.name))
    return found


def test_aplay_is_reaped_after_each_prompt_and_a_bad_device_is_a_speaker_error() -> None:
    _aplay()
    speaker = AlsaSpeaker("null")
    speaker.play(b"\x00\x10" * 400, rate=8000, channels=1)
    with pytest.raises(SpeakerError) as failed:
        AlsaSpeaker("no-such-pcm-device").play(b"\x00\x10" * 400, rate=8000, channels=1)
    assert "aplay -L" in str(failed.value)
    speaker.close()
    with pytest.raises(SpeakerError):
        speaker.play(b"\x00\x10" * 400, rate=8000, channels=1)
    assert _zombies() == []


def test_a_device_that_looks_like_an_option_is_only_a_device_name() -> None:
    """``-D`` takes the next word whole: a device such as ``--help`` is no aplay option."""
    _aplay()
    with pytest.raises(SpeakerError) as failed:
        AlsaSpeaker("--version").play(b"\x00\x10" * 400, rate=8000, channels=1)
    assert "'--version' is not a sound card's name" in str(failed.value)

"""The door's prompts: every reason has words, espeak-ng makes them, the union's own stay."""

import json
import re
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.access.reasons import Reason
from edge.door.clips import MANIFEST, PROMPTS, build_clips, check_clips, clip_name
from edge.door.view import LANGS
from edge.door.voice import Clip, VoiceError
from tests.fixtures import missing_service

ALL = [clip_name(reason, lang) for reason in Reason for lang in LANGS]
_CJK = re.compile(r"[\u4e00-\u9fff]")


def write_tone(path: Path, *, width: int = 2, seconds: float = 0.1, rate: int = 8000) -> bytes:
    """A sine tone WAV as a union might supply it; returns the file's bytes."""
    t = np.arange(int(seconds * rate)) / rate
    peak = 2 ** (8 * width - 1) - 1
    samples = (np.sin(2 * np.pi * 440 * t) * peak * 0.5).astype(f"<i{width}")
    if width == 1:  # 8-bit WAV is unsigned
        samples = (samples.astype(np.int16) + 128).astype(np.uint8)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path.read_bytes()


def _manifest(folder: Path) -> dict[str, dict[str, object]]:
    files: dict[str, dict[str, object]] = json.loads((folder / MANIFEST).read_text())["files"]
    return files


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 40 prompts made once by the real espeak-ng (~0.7 s), copied by each test."""
    if shutil.which("espeak-ng") is None:
        missing_service("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("voice") / "clips"
    report = build_clips(folder)
    assert report.problems == ()
    assert sorted(report.written) == sorted(ALL)
    return folder


@pytest.fixture
def clips(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "clips"))


# -- the words ---------------------------------------------------------------------------


def test_every_reason_has_a_prompt_in_both_languages() -> None:
    assert set(PROMPTS) == set(Reason)
    for reason, words in PROMPTS.items():
        # Spoken Chinese: characters only (Latin letters would be spelt out), and short.
        assert _CJK.search(words.zh), reason
        assert not re.search(r"[A-Za-z0-9]", words.zh), reason
        assert len(words.zh) <= 24, reason
        assert words.en.isascii(), reason
        assert 0 < len(words.en) <= 70, reason


def test_clip_names_are_reason_dot_language() -> None:
    assert clip_name(Reason.EXPIRED, "zh-CN") == "expired.zh-CN.wav"
    assert clip_name(Reason.NOT_BOOKED, "en") == "not_booked.en.wav"


# -- building them -----------------------------------------------------------------------


def test_build_writes_a_playable_wav_per_reason_and_language(built: Path) -> None:
    for name in ALL:
        clip = Clip.load(built / name)
        assert clip.channels == 1, name
        assert 0.5 < clip.duration_s < 10, name  # said, not silence, not a runaway
        assert np.abs(np.frombuffer(clip.pcm, dtype="<i2")).max() > 1000, name
    assert (built / "expired.zh-CN.wav").read_bytes() != (built / "expired.en.wav").read_bytes()
    assert sorted(_manifest(built)) == sorted(ALL)
    assert _manifest(built)["expired.zh-CN.wav"]["text"] == PROMPTS[Reason.EXPIRED].zh
    assert not list(built.glob(".*.tmp"))


def test_building_again_leaves_everything_as_it_is(clips: Path) -> None:
    before = {name: (clips / name).read_bytes() for name in ALL}
    report = build_clips(clips)
    assert (report.written, report.kept, report.problems) == ((), (), ())
    assert sorted(report.unchanged) == sorted(ALL)
    assert {name: (clips / name).read_bytes() for name in ALL} == before


def test_a_clip_the_union_supplied_is_never_overwritten(clips: Path, tmp_path: Path) -> None:
    # The union replaced one of ours, and supplies another into a fresh folder of its own.
    theirs = write_tone(clips / "accepted.zh-CN.wav")
    report = build_clips(clips, force=True)
    assert report.kept == ("accepted.zh-CN.wav",)
    assert len(report.written) == len(ALL) - 1
    assert (clips / "accepted.zh-CN.wav").read_bytes() == theirs
    assert "accepted.zh-CN.wav" not in _manifest(clips)  # theirs from now on

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    supplied = write_tone(fresh / "full.en.wav")
    report = build_clips(fresh)
    assert report.kept == ("full.en.wav",)
    assert (fresh / "full.en.wav").read_bytes() == supplied


def test_a_prompt_whose_words_changed_is_made_again(clips: Path) -> None:
    manifest = json.loads((clips / MANIFEST).read_text())
    manifest["files"]["expired.en.wav"]["text"] = "Code expired"  # what an older version said
    (clips / MANIFEST).write_text(json.dumps(manifest))
    report = build_clips(clips)
    assert report.written == ("expired.en.wav",)
    assert len(report.unchanged) == len(ALL) - 1
    assert _manifest(clips)["expired.en.wav"]["text"] == PROMPTS[Reason.EXPIRED].en


def test_a_build_cut_short_before_its_rename_remakes_the_old_clip(clips: Path) -> None:
    # The manifest was saved for a new clip, then the power went before the rename: the old
    # clip on disk is the one the entry replaces, so it is ours and made again, not "theirs".
    manifest = json.loads((clips / MANIFEST).read_text())
    entry = manifest["files"]["full.zh-CN.wav"]
    entry["replaces"], entry["sha256"] = entry["sha256"], "0" * 64
    (clips / MANIFEST).write_text(json.dumps(manifest))
    report = build_clips(clips)
    assert report.written == ("full.zh-CN.wav",)
    assert report.kept == ()


def test_an_unreadable_manifest_keeps_every_clip(clips: Path) -> None:
    (clips / MANIFEST).write_text("{not json")
    report = build_clips(clips)
    assert sorted(report.kept) == sorted(ALL)
    assert report.written == ()
    assert len(report.problems) == 1
    assert MANIFEST in report.problems[0]


def test_a_missing_engine_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match=r"sudo apt install espeak-ng \(deploy/pi/install.sh"):
        build_clips(tmp_path, engine=str(tmp_path / "espeak-ng"))


def test_an_engine_that_fails_leaves_problems_and_no_clips(tmp_path: Path) -> None:
    if shutil.which("false") is None:
        pytest.skip("no `false` command to stand for a failing engine")
    report = build_clips(tmp_path, engine="false")
    assert report.written == ()
    assert len(report.problems) == len(ALL)
    assert report.problems[0].startswith(f"{ALL[0]}: false -v ")
    assert sorted(path.name for path in tmp_path.iterdir()) == []


# -- checking them -----------------------------------------------------------------------


def test_check_clips_names_each_problem(tmp_path: Path) -> None:
    folder = tmp_path / "voice"
    assert check_clips(folder) == [
        f"{folder} does not exist: run `yizhan edge voice-clips` to make the prompts"
    ]
    folder.mkdir()
    assert check_clips(folder) == [
        f"{folder} has none of the door's prompts: run `yizhan edge voice-clips`"
    ]
    for name in ALL:
        write_tone(folder / name)
    assert check_clips(folder) == []

    (folder / "full.en.wav").unlink()
    (folder / "expired.zh-CN.wav").write_bytes(b"RIFF, but not really")
    write_tone(folder / "passback.en.wav", width=1)
    problems = check_clips(folder)
    assert len(problems) == 3
    assert problems[0] == f"{folder / 'full.en.wav'} is missing: run `yizhan edge voice-clips`"
    assert problems[1].startswith(f"{folder / 'expired.zh-CN.wav'} is not a readable PCM WAV")
    assert problems[2].startswith(f"{folder / 'passback.en.wav'} is 8-bit with 1 channel(s)")

"""The door's voice: clips, the volume schedule, the player's one-slot queue, ALSA playback."""

import hashlib
import shutil
import threading
import wave
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.access.reasons import Reason
from edge.door.clips import build_clips
from edge.door.face_settings import VolumeStep
from edge.door.view import LANGS, Lang
from edge.door.voice import (
    Clip,
    ClipLibrary,
    Spoken,
    VoiceError,
    VoicePlayer,
    VolumeSchedule,
    clip_name,
)
from edge.hardware.speaker import AlsaSpeaker, SpeakerError
from firmware_sim.speaker import SimSpeaker
from tests.fixtures import missing_service
from tests.helpers import wait_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
STEPS = (VolumeStep(at=time(7, 0), percent=80), VolumeStep(at=time(22, 0), percent=30))
NIGHT = datetime(2025, 1, 28, 23, 0, tzinfo=SHANGHAI)  # 30 %
WAIT_S = 10.0
Asked = tuple[Reason, Lang]


def write_wav(
    path: Path,
    *,
    hz: float = 440,
    seconds: float = 0.2,
    rate: int = 8000,
    channels: int = 1,
    amplitude: int = 20_000,
) -> None:
    t = np.arange(int(seconds * rate)) / rate
    mono = (np.sin(2 * np.pi * hz * t) * amplitude).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(mono, channels).tobytes())


@pytest.fixture
def tones(tmp_path: Path) -> Path:
    """A clip per reason and language, each a tone of its own pitch (so each sounds apart)."""
    folder = tmp_path / "voice"
    folder.mkdir()
    for index, (reason, lang) in enumerate((r, lang) for r in Reason for lang in LANGS):
        write_wav(folder / clip_name(reason, lang), hz=200 + 10 * index)
    return folder


@pytest.fixture(scope="module")
def spoken_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real prompts, made by espeak-ng."""
    if shutil.which("espeak-ng") is None:
        missing_service("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("spoken")
    assert build_clips(folder).problems == ()
    return folder


@pytest.fixture
def aplay() -> None:
    if shutil.which("aplay") is None:
        missing_service("aplay is not installed (apt-get install alsa-utils)")


@pytest.fixture
def speaker() -> Iterator[SimSpeaker]:
    sim = SimSpeaker(speed=1000)
    yield sim
    sim.close()


@pytest.fixture
def make_player(speaker: SimSpeaker) -> Iterator[Callable[..., VoicePlayer]]:
    players: list[VoicePlayer] = []

    def make(
        clips_dir: Path,
        *,
        steps: Sequence[VolumeStep] = STEPS,
        now: datetime = NIGHT,
        speaker: SimSpeaker | AlsaSpeaker = speaker,
    ) -> VoicePlayer:
        player = VoicePlayer(
            speaker, ClipLibrary(clips_dir), VolumeSchedule(steps, SHANGHAI), lambda: now
        )
        players.append(player)
        return player

    yield make
    for player in players:
        player.close()


def _settle(player: VoicePlayer) -> None:
    wait_for(lambda: player.idle, timeout=WAIT_S, message="the voice to finish")


def _problem(player: VoicePlayer) -> str:
    problem = wait_for(lambda: player.problem, timeout=WAIT_S, message="the voice's problem")
    assert problem is not None
    return problem


def _is_subsequence(part: Sequence[Asked], whole: Sequence[Asked]) -> bool:
    rest = iter(whole)
    return all(item in rest for item in part)


# -- clips -------------------------------------------------------------------------------


def test_a_clip_loads_16_bit_mono_or_stereo_at_any_rate(tmp_path: Path) -> None:
    write_wav(tmp_path / "mono.wav", rate=22050, seconds=0.5)
    write_wav(tmp_path / "stereo.wav", rate=44100, channels=2, seconds=0.25)
    mono, stereo = Clip.load(tmp_path / "mono.wav"), Clip.load(tmp_path / "stereo.wav")
    assert (mono.rate, mono.channels) == (22050, 1)
    assert mono.duration_s == pytest.approx(0.5)
    assert (stereo.rate, stereo.channels) == (44100, 2)
    assert stereo.duration_s == pytest.approx(0.25)


def test_a_clip_that_is_not_16_bit_pcm_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with wave.open(str(tmp_path / "8bit.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(800))
    with pytest.raises(VoiceError, match=r"8bit.wav is 8-bit .* the door plays 16-bit PCM"):
        Clip.load(tmp_path / "8bit.wav")
    (tmp_path / "mp3.wav").write_bytes(b"ID3\x04\x00 an mp3 renamed")
    with pytest.raises(VoiceError, match=r"mp3.wav is not a readable PCM WAV file"):
        Clip.load(tmp_path / "mp3.wav")
    with pytest.raises(VoiceError, match=r"gone.wav is missing; run `yizhan edge voice-clips`"):
        Clip.load(tmp_path / "gone.wav")


def test_scaling_sets_the_loudness_and_clips_at_16_bits() -> None:
    clip = Clip(np.array([1000, -1000, 30000, -32768], dtype="<i2").tobytes(), 8000, 1)
    assert np.frombuffer(clip.scaled(50), dtype="<i2").tolist() == [500, -500, 15000, -16384]
    assert np.frombuffer(clip.scaled(0), dtype="<i2").tolist() == [0, 0, 0, 0]
    assert np.frombuffer(clip.scaled(200), dtype="<i2").tolist() == [2000, -2000, 32767, -32768]
    assert clip.scaled(100) == clip.pcm


def test_the_library_falls_back_to_chinese_and_lists_what_is_missing(tones: Path) -> None:
    (tones / "full.en.wav").unlink()
    (tones / "expired.en.wav").write_bytes(b"not a wav")
    library = ClipLibrary(tones)
    assert library.get(Reason.FULL, "en") == Clip.load(tones / "full.zh-CN.wav")
    assert library.get(Reason.EXPIRED, "en") == Clip.load(tones / "expired.zh-CN.wav")
    assert library.missing() == ["expired.en.wav", "full.en.wav"]
    (tones / "full.zh-CN.wav").unlink()
    assert library.get(Reason.FULL, "zh-CN") is not None  # read once, kept in memory
    assert ClipLibrary(tones).get(Reason.FULL, "en") is None


# -- the volume schedule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "percent"),
    [(0, 0, 30), (6, 59, 30), (7, 0, 80), (12, 0, 80), (21, 59, 80), (22, 0, 30), (23, 59, 30)],
)
def test_the_volume_is_the_last_step_before_and_wraps_past_midnight(
    hour: int, minute: int, percent: int
) -> None:
    at = datetime(2025, 1, 28, hour, minute, tzinfo=SHANGHAI)
    assert VolumeSchedule(STEPS, SHANGHAI).percent_at(at) == percent


def test_the_volume_follows_the_venues_clock_not_utc() -> None:
    at = datetime(2025, 1, 28, 23, 30, tzinfo=UTC)  # 07:30 the next morning in Shanghai
    assert VolumeSchedule(STEPS, SHANGHAI).percent_at(at) == 80
    assert VolumeSchedule(STEPS, ZoneInfo("UTC")).percent_at(at) == 30
    with pytest.raises(ValueError, match="no time zone"):
        VolumeSchedule(STEPS, SHANGHAI).percent_at(datetime(2025, 1, 28, 12, 0))  # noqa: DTZ001


def test_a_single_step_holds_all_day() -> None:
    schedule = VolumeSchedule((VolumeStep(at=time(9, 0), percent=55),), SHANGHAI)
    assert schedule.percent_at(datetime(2025, 1, 28, 3, 0, tzinfo=SHANGHAI)) == 55


# -- the player --------------------------------------------------------------------------


def test_every_reason_plays_its_own_clip_once_at_the_schedules_volume(
    spoken_clips: Path, speaker: SimSpeaker, make_player: Callable[..., VoicePlayer]
) -> None:
    player = make_player(spoken_clips)
    library = ClipLibrary(spoken_clips)
    asked = [(reason, lang) for reason in Reason for lang in LANGS]
    for reason, lang in asked:
        player.say(reason, lang)
        _settle(player)
    assert player.history == [Spoken(reason, lang, 30) for reason, lang in asked]
    heard = speaker.plays
    assert len(heard) == len(asked)
    for (reason, lang), play in zip(asked, heard, strict=True):
        clip = library.get(reason, lang)
        assert clip is not None
        assert play.sha256 == hashlib.sha256(clip.scaled(30)).hexdigest(), (reason, lang)
        assert play.duration_s == pytest.approx(clip.duration_s)
        loudest = int(np.abs(np.frombuffer(clip.pcm, dtype="<i2").astype(np.int32)).max())
        assert play.peak == pytest.approx(loudest * 0.3, abs=1)
    assert (player.dropped, player.problem, player.healthy) == (0, None, True)


def test_a_newer_prompt_replaces_the_waiting_one_and_the_playing_one_finishes(
    tones: Path, speaker: SimSpeaker, make_player: Callable[..., VoicePlayer]
) -> None:
    player = make_player(tones)
    speaker.held = True  # the first prompt is surely still playing while the others come
    player.say(Reason.FULL, "zh-CN")
    wait_for(lambda: speaker.playing, timeout=WAIT_S, message="the first prompt to start")
    for reason in (Reason.EXPIRED, Reason.REPLAYED, Reason.ACCEPTED):
        player.say(reason, "en")
    assert (player.max_queued, player.dropped) == (1, 2)
    speaker.held = False
    _settle(player)
    assert [(s.reason, s.lang) for s in player.history] == [
        (Reason.FULL, "zh-CN"),
        (Reason.ACCEPTED, "en"),
    ]


def test_a_burst_of_20_prompts_never_queues_more_than_one(
    tones: Path, make_player: Callable[..., VoicePlayer]
) -> None:
    slow = SimSpeaker(speed=1.0)  # 0.2 s tones, asked every 0.1 s: some must wait
    player = make_player(tones, speaker=slow)  # closing the player closes its speaker
    asked: list[Asked] = [(reason, LANGS[i % 2]) for i, reason in enumerate(Reason)]
    pacer = threading.Event()
    for reason, lang in asked:  # 20 decisions within 2 s, as at a busy door
        player.say(reason, lang)
        pacer.wait(0.1)  # paces the input; nothing below depends on this timing
    _settle(player)
    played = [(s.reason, s.lang) for s in player.history]
    assert player.max_queued <= 1
    assert _is_subsequence(played, asked)
    assert played[-1] == asked[-1]
    assert len(played) + player.dropped == len(asked)
    assert len(slow.plays) == len(played)


def test_a_broken_speaker_is_a_problem_until_a_prompt_plays_again(
    tones: Path, speaker: SimSpeaker, make_player: Callable[..., VoicePlayer]
) -> None:
    player = make_player(tones)
    speaker.broken = True
    player.say(Reason.ACCEPTED, "zh-CN")
    problem = _problem(player)
    assert "broken" in problem
    assert not player.healthy
    assert (player.history, player.dropped) == ([], 1)
    speaker.broken = False
    player.say(Reason.EXPIRED, "zh-CN")
    wait_for(lambda: player.healthy, timeout=WAIT_S, message="the voice to recover")
    assert player.history == [Spoken(Reason.EXPIRED, "zh-CN", 30)]


def test_a_missing_clip_is_a_problem_not_an_exception(
    tones: Path, speaker: SimSpeaker, make_player: Callable[..., VoicePlayer]
) -> None:
    (tones / "full.zh-CN.wav").unlink()
    (tones / "full.en.wav").unlink()
    player = make_player(tones)
    player.say(Reason.FULL, "en")
    problem = _problem(player)
    assert "full.en.wav" in problem
    assert "yizhan edge voice-clips" in problem
    player.say(Reason.ACCEPTED, "en")  # the thread lives on
    wait_for(lambda: player.history, timeout=WAIT_S, message="the next prompt")
    assert len(speaker.plays) == 1
    # Still a problem while the file is missing (it would flap with every other prompt)...
    assert player.problem == problem
    write_wav(tones / "full.en.wav")
    player.say(Reason.FULL, "en")
    wait_for(lambda: len(speaker.plays) == 2, timeout=WAIT_S, message="the prompt, now there")
    assert player.problem is None  # ...and gone once it is there


def test_volume_zero_plays_nothing_and_counts_it_skipped(
    tones: Path, speaker: SimSpeaker, make_player: Callable[..., VoicePlayer]
) -> None:
    silent = (VolumeStep(at=time(7, 0), percent=80), VolumeStep(at=time(22, 0), percent=0))
    player = make_player(tones, steps=silent)
    player.say(Reason.ACCEPTED, "zh-CN")
    wait_for(lambda: player.dropped == 1, timeout=WAIT_S, message="the prompt skipped")
    _settle(player)
    assert (player.history, speaker.plays, player.problem) == ([], [], None)


def test_close_cuts_a_playing_prompt_short_and_later_prompts_are_ignored(
    tones: Path, speaker: SimSpeaker, make_player: Callable[..., VoicePlayer]
) -> None:
    player = make_player(tones)
    speaker.held = True
    player.say(Reason.ACCEPTED, "zh-CN")
    wait_for(lambda: speaker.playing, timeout=WAIT_S, message="the prompt to start")
    player.close()
    assert not player.healthy
    assert player.problem is None  # stopping is not a fault
    player.say(Reason.FULL, "zh-CN")
    assert (player.history, len(speaker.plays)) == ([], 1)


# -- ALSA --------------------------------------------------------------------------------


@pytest.mark.usefixtures("aplay")
def test_alsa_plays_a_spoken_clip_to_the_null_device(
    spoken_clips: Path, make_player: Callable[..., VoicePlayer]
) -> None:
    clip = Clip.load(spoken_clips / "expired.zh-CN.wav")
    AlsaSpeaker("null").play(clip.scaled(80), rate=clip.rate, channels=clip.channels)
    player = make_player(spoken_clips, speaker=AlsaSpeaker("null"))
    player.say(Reason.EXPIRED, "en")
    wait_for(lambda: player.history, timeout=WAIT_S, message="the prompt played through aplay")
    assert player.history == [Spoken(Reason.EXPIRED, "en", 30)]
    assert player.healthy


@pytest.mark.usefixtures("aplay")
def test_alsa_names_a_wrong_device_and_what_to_check(tones: Path) -> None:
    clip = Clip.load(tones / "full.zh-CN.wav")
    with pytest.raises(SpeakerError) as raised:
        AlsaSpeaker("plughw:CARD=NoSuchCard").play(clip.pcm, rate=clip.rate, channels=clip.channels)
    message = str(raised.value)
    said = message.removeprefix("speaker 'plughw:CARD=NoSuchCard' failed: ").partition(";")[0]
    assert said  # aplay's own words ("… Unknown PCM no_such_card")
    assert said != message
    assert "check the device name against `aplay -L`" in message


def test_alsa_without_aplay_says_to_install_alsa_utils(
    tones: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a box where alsa-utils was never installed
    clip = Clip.load(tones / "full.zh-CN.wav")
    with pytest.raises(SpeakerError, match="sudo apt install alsa-utils"):
        AlsaSpeaker("default").play(clip.pcm, rate=clip.rate, channels=clip.channels)

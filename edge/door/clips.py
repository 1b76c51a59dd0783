"""What the door says for each reason, and making those prompts with an offline voice at install.

``yizhan edge voice-clips`` (run by deploy/pi/install.sh) writes ``<reason>.<lang>.wav`` for
every reason and language with espeak-ng. A union may put its own recordings there under the
same names: a manifest (``generated.json``) lists the files we wrote and what they say, so
ours are remade when their words change and theirs are never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from edge.access.reasons import Reason
from edge.door.view import LANGS, Lang, Words
from edge.door.voice import MAKE_CLIPS, Clip, VoiceError, clip_name
from edge.update.layout import write_atomic

__all__ = [
    "MANIFEST",
    "PROMPTS",
    "SPEED_WPM",
    "VOICES",
    "BuildReport",
    "build_clips",
    "check_clips",
    "clip_name",
]

# Spoken, so no Latin letters in the Chinese lines ("App" would be read letter by letter) and
# nothing that changes from scan to scan (a booking's hour is on the screen, not in a clip).
PROMPTS: Final[dict[Reason, Words]] = {
    Reason.ACCEPTED: Words("验证通过，请通行", "Verified, please go in"),
    Reason.REMOTE_UNLOCK: Words("门已远程打开，请通行", "Opened remotely, please go in"),
    Reason.EMERGENCY: Words(
        "紧急状态，门已打开，请有序离开", "Emergency, the door is open, please leave calmly"
    ),
    Reason.MALFORMED: Words("无法识别，请重新出示二维码", "Could not read the code, show it again"),
    Reason.NOT_MEMBER_CODE: Words(
        "这不是工会会员码，请出示工会应用里的会员码",
        "This is not a union member code, show the code in the union app",
    ),
    Reason.UNSUPPORTED: Words("请升级工会应用后重试", "Please update the union app and try again"),
    Reason.UNKNOWN_KEY: Words(
        "会员码无法验证，请刷新后重试", "The code cannot be checked, refresh it and try again"
    ),
    Reason.BAD_SIGNATURE: Words(
        "会员码无效，请刷新后重试", "Invalid code, refresh it and try again"
    ),
    Reason.EXPIRED: Words("二维码已过期，请刷新后重试", "Code expired, refresh it and try again"),
    Reason.NOT_YET_VALID: Words(
        "请检查手机时间后重试", "Check the time on your phone and try again"
    ),
    Reason.REVOKED: Words(
        "会员资格已停用，请联系工会", "Membership suspended, please contact the union"
    ),
    Reason.MEMBERSHIP_EXPIRED: Words(
        "会员资格已到期，请在工会应用续期", "Membership lapsed, renew it in the union app"
    ),
    Reason.REPLAYED: Words(
        "该码已使用，请刷新后重试", "Code already used, refresh it and try again"
    ),
    Reason.OUTSIDE_HOURS: Words(
        "现在不在开放时间，请看门上的开放时间",
        "Closed at this hour, see the opening hours on the door",
    ),
    Reason.FULL: Words("已满员，请稍后再试", "Full right now, please try again shortly"),
    Reason.PASSBACK: Words(
        "刚刚已刷过，请勿重复刷码", "Already scanned just now, no need to scan again"
    ),
    Reason.NOT_BOOKED: Words(
        "此房间需要预约，请在工会应用预约", "This room needs a booking, book it in the union app"
    ),
    Reason.GROUP_REQUIRED: Words(
        "此区域仅限特定会员，如有疑问请联系工会",
        "Reserved for another member group, ask the union if unsure",
    ),
    Reason.STALE_CACHE: Words(
        "设备需要联网更新，请联系管理员", "The door needs an update, please call staff"
    ),
    Reason.NO_KEYS: Words("设备未配置，请联系管理员", "The door is not set up, please call staff"),
}

# espeak-ng 1.51 (Debian 12, Raspberry Pi OS bookworm): plain `cmn` turns characters into
# pinyin and then reads the pinyin as English; `cmn-latn-pinyin` reads it as Mandarin.
# https://github.com/espeak-ng/espeak-ng/issues/1163 (and #1028, #1236)
VOICES: Final[dict[Lang, str]] = {"zh-CN": "cmn-latn-pinyin", "en": "en"}
# A little slower than espeak-ng's 175 words a minute: a noisy doorway, a helmet on.
SPEED_WPM: Final = 160
MANIFEST: Final = "generated.json"
_ENGINE_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What :func:`build_clips` did, by clip file name."""

    written: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # supplied by the union: never overwritten
    unchanged: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (
            f"{len(self.written)} prompts written, {len(self.unchanged)} unchanged, "
            f"{len(self.kept)} supplied by the union kept, {len(self.problems)} problems"
        )


@dataclass(slots=True)
class _Manifest:
    """The clips we generated: name -> {"text", "voice", "speed", "sha256", "replaces"}.

    An entry is saved before its clip is renamed into place, naming the digest of the clip
    it replaces: a build cut short between the two leaves the old clip, which is then still
    known as ours (and remade), never mistaken for one the union supplied.
    """

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> tuple[_Manifest, str | None]:
        """The manifest, and a problem if it could not be read (then it starts empty, so
        every clip present is kept as the union's: the safe side)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path), None
        except (OSError, ValueError) as exc:
            return cls(path), _unreadable(path, str(exc))
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, dict):
            return cls(path), _unreadable(path, "it has no 'files' table")
        if not all(isinstance(entry, dict) for entry in files.values()):
            return cls(path), _unreadable(path, "an entry of its 'files' table is not a table")
        return cls(path, files), None

    def whose(self, name: str, clip: Path, recipe: dict[str, Any]) -> _Whose:
        if not clip.exists():
            return "absent"
        entry = self.files.get(name, {})
        digest = _sha256(clip)
        if digest == entry.get("sha256"):
            same = all(entry.get(key) == value for key, value in recipe.items())
            return "ours" if same else "ours, outdated"
        return "ours, outdated" if digest == entry.get("replaces") else "theirs"

    def save(self) -> None:
        text = json.dumps({"engine": "espeak-ng", "files": self.files}, indent=1, sort_keys=True)
        try:
            write_atomic(self.path, text.encode())
        except OSError as exc:
            raise VoiceError(f"could not write {self.path} ({exc})") from exc


_Whose = Literal["absent", "ours", "ours, outdated", "theirs"]
_Outcome = Literal["written", "kept", "unchanged", "problems"]


def build_clips(out_dir: Path, *, engine: str = "espeak-ng", force: bool = False) -> BuildReport:
    """Make every reason's prompt in every language; ``force`` remakes all of ours.

    A clip we did not write (not in the manifest, or changed since) is the union's and kept.
    """
    binary = shutil.which(engine)
    if binary is None:
        raise VoiceError(
            f"{engine} is not installed: sudo apt install espeak-ng (deploy/pi/install.sh does)"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VoiceError(f"cannot make {out_dir} for the door's prompts ({exc})") from exc
    manifest, problem = _Manifest.load(out_dir / MANIFEST)
    done: dict[_Outcome, list[str]] = {"written": [], "kept": [], "unchanged": [], "problems": []}
    if problem is not None:
        done["problems"].append(problem)
    for reason in Reason:
        for lang in LANGS:
            outcome, line = _build_one(binary, manifest, reason, lang, force=force)
            done[outcome].append(line)
    return BuildReport(
        written=tuple(done["written"]),
        kept=tuple(done["kept"]),
        unchanged=tuple(done["unchanged"]),
        problems=tuple(done["problems"]),
    )


def _build_one(
    binary: str, manifest: _Manifest, reason: Reason, lang: Lang, *, force: bool
) -> tuple[_Outcome, str]:
    """One clip: kept, left as it is or made again; (outcome, its name or the problem)."""
    name = clip_name(reason, lang)
    clip = manifest.path.parent / name
    recipe = {"text": PROMPTS[reason].in_(lang), "voice": VOICES[lang], "speed": SPEED_WPM}
    whose = manifest.whose(name, clip, recipe)
    if whose == "theirs":
        if manifest.files.pop(name, None) is not None:
            manifest.save()  # the union replaced our clip: theirs from now on
        return "kept", name
    if whose == "ours" and not force:
        return "unchanged", name
    temporary = clip.with_name(f".{name}.tmp")
    try:
        digest = _speak(binary, recipe, temporary)
        replaces = _sha256(clip) if whose != "absent" else None
        manifest.files[name] = {**recipe, "sha256": digest, "replaces": replaces}
        manifest.save()
        temporary.replace(clip)
    except VoiceError as exc:
        return "problems", f"{name}: {exc}"
    except OSError as exc:
        return "problems", f"{name}: could not write {clip} ({exc})"
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return "written", name


def check_clips(clips_dir: Path) -> list[str]:
    """One line per problem with the prompts in ``clips_dir``, for ``check-config``."""
    if not clips_dir.is_dir():
        return [f"{clips_dir} does not exist: run `{MAKE_CLIPS}` to make the prompts"]
    names = [clip_name(reason, lang) for reason in Reason for lang in LANGS]
    missing = [name for name in names if not (clips_dir / name).exists()]
    if len(missing) == len(names):
        return [f"{clips_dir} has none of the door's prompts: run `{MAKE_CLIPS}`"]
    problems = [f"{clips_dir / name} is missing: run `{MAKE_CLIPS}`" for name in missing]
    for name in names:
        if name in missing:
            continue
        try:
            Clip.load(clips_dir / name)
        except VoiceError as exc:
            problems.append(str(exc))
    return problems


def _unreadable(manifest: Path, why: str) -> str:
    return (
        f"{manifest} could not be read ({why}), so every clip there is kept as the union's; "
        "delete the clips you want made again and run this again"
    )


def _speak(binary: str, recipe: dict[str, Any], out: Path) -> str:
    """Have the engine say the recipe's text into ``out``, flushed to disk; its sha256."""
    engine = Path(binary).name
    command = [binary, "-b", "1", "-v", recipe["voice"], "-s", str(recipe["speed"])]
    command += ["-w", str(out), recipe["text"]]
    try:
        done = subprocess.run(  # noqa: S603  # our own argument list, no shell
            command, capture_output=True, timeout=_ENGINE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoiceError(f"{engine} could not be run ({exc})") from exc
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        said = lines[0] if lines else f"exit status {done.returncode}"
        raise VoiceError(
            f"{engine} -v {recipe['voice']} failed: {said} "
            f"(check that `{engine} --voices` lists {recipe['voice']})"
        )
    try:
        Clip.load(out)  # a clip the door cannot play is not put in place
    except VoiceError as exc:
        raise VoiceError(f"{engine} wrote no playable clip: {exc}") from exc
    _fsync(out)
    return _sha256(out)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

"""`yizhan release build`: the project's wheel and its dependencies' wheels in one folder,
with an unsigned release.json naming them.

The project is built from a copy of its folder, so setuptools' ``build/`` and egg-info
never land in a working tree others are editing (nor race a second build).
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import ValidationError

from protocol.release import ROOT_DISTRIBUTION, Release, ReleaseWheel, wheel_sha256
from yizhan.release.errors import InputError, PipError
from yizhan.release.files import RELEASE_FILE, write_atomic
from yizhan.release.lock import read_lock
from yizhan.release.pip import Pip, Sources
from yizhan.release.resolve import Missing, Resolver, Wheel
from yizhan.release.target import Target

# Serials count seconds from here, so each build's default is above every earlier one.
SERIAL_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)
_NOT_SOURCE: Final = (
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".yizhan",
    "node_modules",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    target: Target
    source: Path
    sources: Sources
    out: Path | None = None
    lock: Path | None = None
    serial: int | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Built:
    """A build's outcome: ``release`` is None when a wheel is missing (nothing to sign)."""

    folder: Path
    release: Release | None
    wheels: list[Wheel]
    missing: list[Missing]


def build_release(
    options: BuildOptions,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[str], None] = lambda _line: None,
) -> Built:
    source = options.source
    if not (source / "pyproject.toml").is_file():
        raise InputError(f"{source} has no pyproject.toml; give --source the project's folder")
    lock = read_lock(options.lock or source / "constraints.txt")
    for folder in options.sources.find_links:
        if not folder.is_dir():
            raise InputError(f"--find-links {folder} is not a folder of wheels")
    now = clock()
    serial = options.serial or default_serial(now)
    pip = Pip(options.sources)
    if options.out is not None:
        _prepare_out(options.out)  # before the slow build: a full folder is refused at once
    with tempfile.TemporaryDirectory(prefix="yizhan-release-") as scratch:
        progress(f"building the project's wheel from {source}")
        built = _build_project(source, Path(scratch), pip=pip)
        out = (
            options.out
            or Path("dist") / f"release-{built.version}-{options.target.machine}-{serial}"
        )
        _prepare_out(out)
        root = Wheel.at(Path(shutil.move(built.path, out / built.path.name)))
    resolver = Resolver(lock=lock, target=options.target, pip=pip, dest=out, progress=progress)
    resolution = resolver.resolve(root)
    if resolution.missing:
        return Built(out, None, resolution.wheels, resolution.missing)
    release = _release(root, resolution.wheels, options, serial=serial, created_at=now)
    write_atomic(out / RELEASE_FILE, release.model_dump_json(indent=1).encode() + b"\n")
    return Built(out, release, resolution.wheels, [])


def default_serial(now: datetime) -> int:
    return max(1, int((now - SERIAL_EPOCH).total_seconds()))


def _build_project(source: Path, scratch: Path, *, pip: Pip) -> Wheel:
    copy = scratch / "source"
    try:
        shutil.copytree(source, copy, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    except (OSError, shutil.Error) as exc:
        raise InputError(f"cannot copy the project {source}: {exc}") from None
    wheels = scratch / "wheel"
    pip.build_wheel(copy, wheels, isolated=not _backend_at_hand(copy / "pyproject.toml"))
    found = sorted(wheels.glob("*.whl"))
    if len(found) != 1:
        raise PipError(f"pip built {len(found)} wheels from {source}, expected the project's one")
    wheel = Wheel.at(found[0])
    if wheel.name != ROOT_DISTRIBUTION:
        raise InputError(
            f"{source} is the project {wheel.name!r}; a release is built from {ROOT_DISTRIBUTION}"
        )
    return wheel


def _backend_at_hand(pyproject: Path) -> bool:
    """Whether this Python has the build backend already (no isolated build, no index)."""
    try:
        requires = tomllib.loads(pyproject.read_text("utf-8"))["build-system"]["requires"]
        for line in requires:
            requirement = Requirement(line)
            if not requirement.specifier.contains(metadata.version(requirement.name), True):
                return False
    except (KeyError, TypeError, tomllib.TOMLDecodeError, InvalidRequirement):
        return False
    except metadata.PackageNotFoundError:
        return False
    return True


def _prepare_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(
            f"{out} is not an empty folder; each release is built into a new one (--out)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make {out}: {exc.strerror}") from None


def _release(
    root: Wheel, wheels: list[Wheel], options: BuildOptions, *, serial: int, created_at: datetime
) -> Release:
    entries = [
        ReleaseWheel(name=wheel.path.name, sha256=wheel_sha256(wheel.path), size=wheel.size)
        for wheel in wheels
    ]
    try:
        return Release(
            version=root.version,
            serial=serial,
            python=options.target.python,
            machine=options.target.machine,
            created_at=created_at,
            notes=options.notes,
            wheels=entries,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "release"
        raise InputError(f"the release would be invalid: {where}: {first['msg']}") from None

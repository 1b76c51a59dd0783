"""Which wheels a box needs: the project's dependencies, followed through each wheel's own
metadata, at the lock's exact versions, for the target's machine and Python.

Markers are evaluated for the box, not for the machine building the release (pip's
``download --platform`` would evaluate them for this one), and each wheel is fetched
alone (``--no-deps``), so what a release carries is decided here, in one readable place.
"""

from __future__ import annotations

import platform
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from yizhan.release.errors import PipError
from yizhan.release.lock import Lock
from yizhan.release.pip import Pip
from yizhan.release.target import Target


@dataclass(frozen=True, slots=True)
class Wheel:
    """A wheel file in the wheelhouse."""

    path: Path
    name: NormalizedName
    version: str

    @property
    def tag(self) -> str:
        """``py3-none-any``: the file name's last three parts."""
        return "-".join(self.path.name.removesuffix(".whl").split("-")[-3:])

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @classmethod
    def at(cls, path: Path) -> Wheel:
        try:
            name, version, _build, _tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            raise PipError(f"{path.name} is not a wheel's file name") from None
        return cls(path=path, name=name, version=str(version))

    def requirements(self) -> list[Requirement]:
        """Its ``Requires-Dist`` lines, as its METADATA gives them."""
        try:
            with zipfile.ZipFile(self.path) as archive:
                metadata = next(
                    member
                    for member in archive.namelist()
                    if member.count("/") == 1 and member.endswith(".dist-info/METADATA")
                )
                text = archive.read(metadata).decode("utf-8")
        except (OSError, zipfile.BadZipFile, StopIteration, UnicodeDecodeError) as exc:
            raise PipError(f"{self.path.name} is not a readable wheel ({exc!r})") from None
        lines = Parser().parsestr(text).get_all("Requires-Dist") or []
        try:
            return [Requirement(line) for line in lines]
        except InvalidRequirement as exc:
            raise PipError(f"{self.path.name} names a requirement pip cannot read: {exc}") from None


@dataclass(frozen=True, slots=True)
class Missing:
    """A wheel the release needs and does not have; ``line`` says what to do. ``glibc``:
    the minor of the glibc its only wheel needs, when a newer target would have it."""

    name: str
    line: str
    glibc: int | None = None


@dataclass(slots=True)
class Resolution:
    wheels: list[Wheel] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)


@dataclass(slots=True)
class _Walk:
    """What the walk has seen so far."""

    wanted: dict[NormalizedName, set[str]] = field(default_factory=dict)
    needed_by: dict[NormalizedName, str] = field(default_factory=dict)
    fetched: dict[NormalizedName, Wheel] = field(default_factory=dict)
    expanded: dict[NormalizedName, set[str]] = field(default_factory=dict)
    missing: dict[NormalizedName, str] = field(default_factory=dict)


class Resolver:
    """Walks the dependencies from the project's wheel, fetching a level at a time."""

    def __init__(
        self,
        *,
        lock: Lock,
        target: Target,
        pip: Pip,
        dest: Path,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self._lock = lock
        self._target = target
        self._pip = pip
        self._dest = dest
        self._progress = progress
        self._environment = _marker_environment(target)

    def resolve(self, root: Wheel) -> Resolution:
        walk = _Walk()
        walk.fetched[root.name] = root
        walk.wanted[root.name] = set()
        while True:
            self._expand(walk)
            pending = [name for name in walk.wanted if name not in walk.fetched | walk.missing]
            if not pending:
                break
            self._progress(f"fetching {len(pending)} wheels for {self._target.platform}")
            self._fetch(pending, walk)
        return self._result(walk)

    def _expand(self, walk: _Walk) -> None:
        """Add the requirements of every fetched wheel not yet read with its extras."""
        for name, wheel in list(walk.fetched.items()):
            extras = walk.wanted[name]
            if name in walk.expanded and extras <= walk.expanded[name]:
                continue
            walk.expanded[name] = set(extras)
            for requirement in wheel.requirements():
                if self._applies(requirement, extras):
                    self._want(requirement, parent=f"{wheel.name} {wheel.version}", walk=walk)

    def _applies(self, requirement: Requirement, extras: set[str]) -> bool:
        if requirement.marker is None:
            return True
        return any(
            requirement.marker.evaluate({**self._environment, "extra": extra})
            for extra in {"", *extras}
        )

    def _want(self, requirement: Requirement, *, parent: str, walk: _Walk) -> None:
        name = canonicalize_name(requirement.name)
        if name in walk.missing:
            return
        walk.needed_by.setdefault(name, parent)
        pinned = self._lock.version_of(name)
        if pinned is None:
            walk.missing[name] = (
                f"{requirement.name} (needed by {parent}) is not pinned in {self._lock.path}: "
                "refresh the lock (`make lock`) so a release is the set CI tested"
            )
            return
        if not requirement.specifier.contains(pinned, prereleases=True):
            walk.missing[name] = (
                f"{self._lock.path} pins {requirement.name}=={pinned}, but {parent} needs "
                f"{requirement.name}{requirement.specifier}: refresh the lock (`make lock`)"
            )
            return
        walk.wanted.setdefault(name, set()).update(requirement.extras)

    def _fetch(self, pending: list[NormalizedName], walk: _Walk) -> None:
        batch = {name: f"{name}=={self._lock.pins[name]}" for name in pending}
        while batch:
            refused = self._pip.download(
                list(batch.values()), self._dest, target=self._target.pip_args()
            )
            if refused is None:
                break
            name = canonicalize_name(refused)
            if name not in batch:
                raise PipError(f"pip found no wheel for {refused}, which was not asked for")
            walk.missing[name] = self._no_wheel_line(batch.pop(name), walk.needed_by[name])
        for path in sorted(self._dest.glob("*.whl")):
            wheel = Wheel.at(path)
            if wheel.name in batch and Version(wheel.version) == self._lock.pins[wheel.name]:
                walk.fetched[wheel.name] = wheel
        for name in batch.keys() - walk.fetched.keys():
            raise PipError(f"pip reported {batch[name]} fetched, but it is not in {self._dest}")

    def _no_wheel_line(self, pin: str, parent: str) -> str:
        target = self._target
        return (
            f"{pin} (needed by {parent}): no wheel for Python {target.python} on "
            f"{target.machine} at {self._pip.sources.describe()} (none, or only its source); "
            f"boxes never build from source: build it on a {target.machine} machine "
            f"(`pip wheel {pin}`) and give its folder with --find-links"
        )

    def _result(self, walk: _Walk) -> Resolution:
        result = Resolution()
        glibc: dict[str, int] = {}
        for name in sorted(walk.fetched):
            wheel = walk.fetched[name]
            needs = self._target.glibc_needed(wheel.path.name)
            if needs is None:
                result.wheels.append(wheel)
                continue
            glibc[name] = needs
            machine = self._target.machine
            walk.missing[name] = (
                f"{wheel.name}=={wheel.version}: its {machine} wheel needs glibc 2.{needs} "
                f"({wheel.tag}), newer than {self._target.platform} promises; give --platform "
                f"manylinux_2_{needs}_{machine} if every box has glibc 2.{needs} or newer "
                "(Debian and Raspberry Pi OS bookworm have 2.36), or pin an older version"
            )
        result.missing = [
            Missing(name, walk.missing[name], glibc.get(name)) for name in sorted(walk.missing)
        ]
        return result


def _marker_environment(target: Target) -> dict[str, str]:
    """The environment markers of a box: Linux, CPython, the target's machine and Python."""
    environment = {key: str(value) for key, value in default_environment().items()}
    full = platform.python_version()
    if not full.startswith(f"{target.python}."):
        full = f"{target.python}.0"
    environment.update(
        {
            "platform_machine": target.machine,
            "python_version": target.python,
            "python_full_version": full,
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
        }
    )
    return environment

"""The lock (constraints.txt): the exact version of every package a release may carry.

A release is the set CI tested, so each wheel is the lock's version and nothing newer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from yizhan.release.errors import InputError


@dataclass(frozen=True, slots=True)
class Lock:
    path: Path
    pins: dict[str, Version]  # by canonical name

    def version_of(self, name: str) -> Version | None:
        return self.pins.get(canonicalize_name(name))


def read_lock(path: Path) -> Lock:
    """The pins of ``path`` (``NAME==VERSION`` lines, ``#`` comments)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot read the lock {path}: {exc.strerror}; give --lock constraints.txt"
        ) from None
    pins: dict[str, Version] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        try:
            pinned = Version(version.strip()) if sep else None
        except InvalidVersion:
            pinned = None
        if pinned is None:
            raise InputError(
                f"{path}:{number}: {raw.strip()!r} is not NAME==VERSION; a lock pins exact "
                "versions (`make lock` writes one)"
            )
        pins[canonicalize_name(name.strip())] = pinned
    return Lock(path=path, pins=pins)

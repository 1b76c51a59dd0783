"""The platform a release is built for: its wheel tags, its machine, and why a wheel misses it.

A ``manylinux_2_X_ARCH`` tag names a box whose glibc is at least 2.X (PEP 600), so a box
with that tag runs every wheel tagged for 2.X or older. pip's ``--platform`` matches tags
exactly, so the target hands pip the whole list, newest first (pip prefers earlier tags:
of two builds of one version the newest the box can run wins). After those come the tags
of newer glibcs, which the box cannot run: pip then fetches such a wheel rather than none,
and the build names the glibc it needs instead of a bare "not found".
https://peps.python.org/pep-0600/; pip's side: pip/_internal/utils/compatibility_tags.py
"""

from __future__ import annotations

import platform as host_platform
import re
import sys
from dataclasses import dataclass
from typing import Final

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from protocol.release import MACHINES
from yizhan.release.errors import InputError

NATIVE: Final = "native"
# The oldest glibc each machine has manylinux wheels for: manylinux1 (2.5) on x86_64,
# manylinux2014 (2.17) on the ARM machines.
_OLDEST_GLIBC: Final = {"x86_64": 5, "aarch64": 17, "armv7l": 17}
# Newer glibcs asked of pip only to explain a miss; 2.41 is Debian trixie's.
_NEWEST_GLIBC: Final = 45
# The PEP 513/571/599 names of glibc 2.5, 2.12 and 2.17, still on many wheels.
_LEGACY: Final = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
_MANYLINUX = re.compile(r"^manylinux_2_(?P<minor>[0-9]{1,2})_(?P<arch>[a-z0-9_]+)$")
_LEGACY_TAG = re.compile(r"^(?P<name>manylinux1|manylinux2010|manylinux2014)_(?P<arch>[a-z0-9_]+)$")
_HOST_MACHINES: Final = {"arm64": "aarch64", "amd64": "x86_64", "armv8l": "armv7l"}


@dataclass(frozen=True, slots=True)
class Target:
    """A release's platform: ``glibc`` None for the native platform (pip's own tags)."""

    platform: str
    machine: str
    python: str
    glibc: int | None

    @property
    def native(self) -> bool:
        return self.glibc is None

    def pip_args(self) -> list[str]:
        """pip's options that select this target's wheels (and only wheels)."""
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        if self.glibc is None:
            return args
        oldest = _OLDEST_GLIBC[self.machine]
        runnable = range(self.glibc, oldest - 1, -1)
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in runnable]
        tags += [
            f"{name}_{self.machine}"
            for name, minor in _LEGACY.items()
            if oldest <= minor <= self.glibc and _legacy_exists(name, self.machine)
        ]
        tags += [
            f"manylinux_2_{minor}_{self.machine}"
            for minor in range(self.glibc + 1, _NEWEST_GLIBC + 1)
        ]
        for tag in tags:
            args += ["--platform", tag]
        return args

    def glibc_needed(self, wheel_name: str) -> int | None:
        """The glibc minor a wheel needs when this target's boxes cannot run it, else None."""
        if self.glibc is None:
            return None  # pip chose it for this very machine
        try:
            tags = parse_wheel_filename(wheel_name)[3]
        except InvalidWheelFilename:
            return None
        needs = [_tag_glibc(tag.platform, self.machine) for tag in tags]
        if any(need is not None and need <= self.glibc for need in needs):
            return None
        known = [need for need in needs if need is not None]
        return min(known) if known else None


def _legacy_exists(name: str, machine: str) -> bool:
    # manylinux1 and manylinux2010 were defined for x86 only.
    return name == "manylinux2014" or machine == "x86_64"


def _tag_glibc(tag: str, machine: str) -> int | None:
    """The glibc minor a platform tag needs on ``machine``; 0 for ``any``; None: not ours."""
    if tag == "any":
        return 0
    if match := _MANYLINUX.match(tag):
        return int(match["minor"]) if match["arch"] == machine else None
    if match := _LEGACY_TAG.match(tag):
        return _LEGACY[match["name"]] if match["arch"] == machine else None
    return None


def parse_target(platform: str, *, python: str) -> Target:
    """The target a ``--platform`` names; InputError saying which tags are understood."""
    if not re.fullmatch(r"3\.[0-9]{1,2}", python):
        raise InputError(f"--python {python!r} is not a Python version such as 3.11")
    if platform == NATIVE:
        machine = host_platform.machine().lower()
        machine = _HOST_MACHINES.get(machine, machine)
        if machine not in MACHINES or not sys.platform.startswith("linux"):
            raise InputError(
                f"this machine ({sys.platform}, {machine}) is not a box platform; give "
                "--platform manylinux_2_X_aarch64, _armv7l or _x86_64"
            )
        return Target(platform=NATIVE, machine=machine, python=python, glibc=None)
    glibc = _tag_glibc(platform, _arch_of(platform))
    machine = _arch_of(platform)
    if glibc is None or glibc == 0:
        if platform.startswith("musllinux"):
            raise InputError(
                f"{platform}: boxes run Debian (glibc), not musl; give manylinux_2_X_{machine}"
            )
        raise InputError(
            f"--platform {platform!r} is not understood; give a manylinux tag such as "
            "manylinux_2_17_aarch64 (the box's glibc 2.17 or newer) or `native`"
        )
    if machine not in MACHINES:
        raise InputError(f"{platform}: no box is a {machine}; boxes are {', '.join(MACHINES)}")
    if glibc < _OLDEST_GLIBC[machine]:
        raise InputError(
            f"{platform}: there are no manylinux wheels for {machine} before glibc "
            f"2.{_OLDEST_GLIBC[machine]}; give manylinux_2_{_OLDEST_GLIBC[machine]}_{machine}"
        )
    return Target(platform=platform, machine=machine, python=python, glibc=glibc)


def _arch_of(platform: str) -> str:
    for pattern in (_MANYLINUX, _LEGACY_TAG):
        if match := pattern.match(platform):
            return match["arch"]
    return platform.rsplit("_", 1)[-1]

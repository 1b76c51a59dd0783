"""Tiny wheels and a tiny project, so release builds run offline in a second or two."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

# The project a fake release is built from: named like the real one (a release carries the
# yizhan wheel), with two dependencies, one of them through an extra.
PROJECT_VERSION = "9.9.0"
PROJECT_REQUIRES = ("alpha>=1", "beta[fast]>=2")
# What the folder of wheels offers: beta pulls gamma through its extra, armonly only on
# aarch64 boxes, winonly only on Windows; gamma is a compiled wheel, built for two machines.
GOOD_LOCK = "# test lock\nalpha==1.0\nbeta==2.0\ngamma==3.0\narmonly==1.0\nwinonly==1.0\n"


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires: Iterable[str] = (),
    extras: Iterable[str] = (),
) -> Path:
    """A minimal valid wheel whose METADATA names ``requires``."""
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}-{tag}.whl"
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Provides-Extra: {extra}\n" for extra in extras)
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist}/__init__.py", f"VERSION = {version!r}\n")
        archive.writestr(f"{info}/METADATA", metadata)
        archive.writestr(
            f"{info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return path


def make_house(folder: Path) -> Path:
    """The dependencies' wheels of the fake project, as a --find-links folder."""
    folder.mkdir(parents=True, exist_ok=True)
    make_wheel(folder, "alpha", "1.0")
    make_wheel(
        folder,
        "beta",
        "2.0",
        extras=["fast"],
        requires=[
            'gamma>=3; extra == "fast"',
            'winonly; sys_platform == "win32"',
            'armonly; platform_machine == "aarch64"',
        ],
    )
    for machine in ("aarch64", "x86_64"):
        make_wheel(folder, "gamma", "3.0", tag=f"cp311-cp311-manylinux_2_17_{machine}")
    make_wheel(folder, "armonly", "1.0")
    make_wheel(folder, "winonly", "1.0")
    return folder


def make_project(folder: Path, *, lock: str = GOOD_LOCK) -> Path:
    """A project folder `pip wheel` builds into yizhan-9.9.0-py3-none-any.whl."""
    (folder / "yzfake").mkdir(parents=True)
    (folder / "yzfake" / "__init__.py").write_text("")
    requires = ", ".join(f'"{line}"' for line in PROJECT_REQUIRES)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "yizhan"\nversion = "{PROJECT_VERSION}"\n'
        f"dependencies = [{requires}]\n"
        '[tool.setuptools]\npackages = ["yzfake"]\n'
    )
    (folder / "constraints.txt").write_text(lock)
    return folder

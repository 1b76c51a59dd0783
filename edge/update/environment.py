"""A release's environment: a virtual environment whose packages are store entries.

``python -m venv --without-pip`` makes the interpreter folder in well under a second;
one ``.pth`` file puts each of the release's unpacked wheels on ``sys.path`` in the
manifest's order. Nothing is downloaded or compiled here, and no package index is asked.
Before the folder counts, its Python must import the agent (a release that cannot even do
that fails here, with the door still running the old one).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Final

from edge.update.layout import MANIFEST_FILE, Layout, building
from edge.update.store import WheelStore, site_dir
from protocol.release import Release

PTH_FILE: Final = "yizhan-release.pth"
# What the new environment must import before it counts: the service and the installer.
SMOKE: Final = "import yizhan.box, edge.update.install"
_SMOKE_TIMEOUT_S: Final = 120


class BuildError(RuntimeError):
    """The release's environment could not be made; the message says why."""


def site_packages(venv: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / version / "site-packages"


def build_release(
    layout: Layout,
    release: Release,
    manifest: bytes,
    *,
    python: str = sys.executable,
    system_site: bool = False,
) -> Path:
    """The complete release folder for ``release``; its wheels must be in the store."""
    final = layout.release_dir(release.version)
    if layout.is_complete(release.version):
        return final
    store = WheelStore(layout)
    missing = [wheel.name for wheel in release.wheels if not store.holds(wheel.sha256)]
    if missing:
        raise BuildError(f"wheels not unpacked yet: {', '.join(missing[:5])}")
    with building(final, release.version) as temp:
        _venv(python, temp, system_site=system_site)
        # Absolute: the service runs the release through the `current` link, and site
        # joins relative lines to the unresolved prefix (one folder shallower).
        lines = [str(site_dir(store.entry(wheel.sha256)).absolute()) for wheel in release.wheels]
        (site_packages(temp) / PTH_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
        (temp / MANIFEST_FILE).write_bytes(manifest)
        _smoke(temp)
    return final


def relocate(layout: Layout, old_root: Path) -> None:
    """Point a copied install root's releases at its own store (a copy's .pth files name
    the original's). Files are replaced, never changed in place: a copy made of hard links
    shares them with the original."""
    old, new = str(old_root.absolute()), str(layout.root.absolute())
    for version in layout.versions():
        pth = site_packages(layout.release_dir(version)) / PTH_FILE
        text = pth.read_text(encoding="utf-8").replace(old, new)
        pth.unlink()
        pth.write_text(text, encoding="utf-8")


def _venv(python: str, folder: Path, *, system_site: bool) -> None:
    command = [python, "-m", "venv", "--without-pip"]
    if system_site:  # a Pi's GPIO library comes from apt, built for its kernel
        command.append("--system-site-packages")
    done = subprocess.run([*command, str(folder)], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BuildError(f"python -m venv failed: {_last_line(done.stderr)}")


def _smoke(folder: Path) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [str(folder / "bin" / "python"), "-I", "-c", SMOKE],
            capture_output=True,
            text=True,
            check=False,
            timeout=_SMOKE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"importing the agent took over {_SMOKE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise BuildError(f"the new release cannot import the agent: {_last_line(done.stderr)}")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no message"

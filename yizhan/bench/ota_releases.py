"""Signed releases for update tests and ``yizhan bench ota``, built the way a union builds.

The first release is ``yizhan release build --platform native`` (the project's wheel and
every dependency's, from the lock) signed with a fresh release key; later versions change
the project's wheel only (ota_wheels.reversion), optionally with a fault, and are signed
with higher serials. Every wheel of every release sits in one folder, as the cloud's
artifact store would hold them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.release import (
    Release,
    ReleaseKey,
    ReleaseWheel,
    load_private_key,
    private_key_pem,
    public_of,
    sign_release,
    wheel_sha256,
)
from yizhan.bench.ota_wheels import reversion

PROJECT = Path(__file__).resolve().parents[2]


class ReleaseBuildError(RuntimeError):
    """The base release could not be built; the message is the builder's last words."""


@dataclass
class Releases:
    folder: Path  # every wheel of every release, by file name
    key_file: Path  # the release public key a box pins
    private_key: Ed25519PrivateKey
    base: str  # the version built from the project
    signed: dict[str, bytes] = field(default_factory=dict)  # version -> signed manifest
    releases: dict[str, Release] = field(default_factory=dict)

    def wheel_path(self, wheel: ReleaseWheel) -> Path:
        return self.folder / wheel.name

    def wheelhouse(self, version: str, out: Path) -> Path:
        """A folder with one release's wheels (hard links) and its manifest.json."""
        out.mkdir(parents=True, exist_ok=True)
        for wheel in self.releases[version].wheels:
            target = out / wheel.name
            if not target.exists():
                target.hardlink_to(self.wheel_path(wheel))
        (out / "manifest.json").write_bytes(self.signed[version])
        return out

    def add(
        self,
        version: str,
        *,
        patch: Mapping[str, tuple[str, str]] | None = None,
        notes: str = "",
    ) -> Release:
        """A new release: the base's wheels with the project's wheel as ``version``."""
        base = self.releases[self.base]
        root = base.root_wheel()
        assert root is not None  # a Release always has its root wheel
        built = reversion(self.folder / root.name, version, self.folder, patch=patch)
        new_root = ReleaseWheel(
            name=built.name, sha256=wheel_sha256(built), size=built.stat().st_size
        )
        serial = max(release.serial for release in self.releases.values()) + 1
        wheels = [new_root if wheel is root else wheel for wheel in base.wheels]
        release = base.model_copy(
            update={"version": version, "serial": serial, "wheels": wheels, "notes": notes}
        )
        release = Release.model_validate(release.model_dump())
        self.releases[version] = release
        self.signed[version] = sign_release(release, self.private_key)
        return release


def build_releases(work: Path) -> Releases:
    """Build the base release from the project (offline when pip's cache holds the lock)."""
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "wheels"
    if folder.exists():
        shutil.rmtree(folder)
    done = subprocess.run(  # noqa: S603 - our own command line, fixed arguments
        [sys.executable, "-m", "yizhan", "release", "build", "--platform", "native",
         "--source", str(PROJECT), "--out", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ReleaseBuildError("yizhan release build failed: " + " / ".join(last))
    data = json.loads((folder / "release.json").read_text(encoding="utf-8"))
    release = Release.model_validate(data)
    private = Ed25519PrivateKey.generate()
    key_pem = work / "release-key.pem"
    key_pem.write_bytes(private_key_pem(private))
    key_file = work / "release-key.pub.json"
    key_file.write_text(public_of(private).to_json(), encoding="utf-8")
    releases = Releases(folder, key_file, load_private_key(key_pem), release.version)
    releases.releases[release.version] = release
    releases.signed[release.version] = sign_release(release, private)
    return releases


def pinned_key(releases: Releases) -> ReleaseKey:
    return ReleaseKey.load(releases.key_file)

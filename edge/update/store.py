"""Wheels unpacked once each, by sha256, and shared by every release that names them.

A release that changes one wheel unpacks one wheel: the rest of its environment is the
same folders as the release before. Installing is the PyPA ``installer`` library's job
(it checks each file against the wheel's RECORD); this module decides where, and makes an
entry appear whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile

from edge.update.layout import COMPLETE, Layout, fsync_dir, write_atomic
from protocol.release import ReleaseError, ReleaseRefusal, ReleaseWheel, wheel_sha256


class StoreError(RuntimeError):
    """A wheel could not be unpacked; the message names it and why."""


def site_dir(entry: Path) -> Path:
    return entry / "site"


class WheelStore:
    def __init__(self, layout: Layout) -> None:
        self._folder = layout.store

    def entry(self, sha256: str) -> Path:
        return self._folder / sha256

    def holds(self, sha256: str) -> bool:
        return (self.entry(sha256) / COMPLETE).is_file()

    def unpack(self, wheel: ReleaseWheel, path: Path, *, python: str) -> Path:
        """Unpack the file at ``path`` (checked against ``wheel``) as the store's entry."""
        final = self.entry(wheel.sha256)
        if self.holds(wheel.sha256):
            return final
        actual = wheel_sha256(path)
        if actual != wheel.sha256:
            raise ReleaseError(
                ReleaseRefusal.HASH_MISMATCH,
                f"{wheel.name} has sha256 {actual[:12]}…, the manifest says {wheel.sha256[:12]}…",
            )
        self._folder.mkdir(parents=True, exist_ok=True)
        temp = self._folder / f".{wheel.sha256}.{secrets.token_hex(4)}.tmp"
        try:
            self._install(path, temp, python=python)
            os.sync()  # every unpacked file on the card before the entry counts as whole
            write_atomic(temp / COMPLETE, wheel.sha256.encode())
            if final.exists():  # a leftover without its marker
                shutil.rmtree(final)
            os.replace(temp, final)
            fsync_dir(self._folder)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return final

    @staticmethod
    def _install(path: Path, folder: Path, *, python: str) -> None:
        site = str(site_dir(folder))
        scheme = {
            "purelib": site,
            "platlib": site,
            "headers": str(folder / "include"),
            "scripts": str(folder / "bin"),
            "data": str(folder / "data"),
        }
        # Byte code now, as root: the agent may not write into the store at run time.
        destination = SchemeDictionaryDestination(
            scheme, interpreter=python, script_kind="posix", bytecode_optimization_levels=(0,)
        )
        try:
            with WheelFile.open(path) as source:
                source.validate_record()
                install(source, destination, {"INSTALLER": b"yizhan-edge-update\n"})
        except (InstallerError, ValueError, OSError) as exc:
            raise StoreError(f"cannot unpack {path.name}: {exc}") from None

    def clean(self, keep: set[str]) -> int:
        """Remove entries no kept release names and leftovers of cut unpacks; how many."""
        removed = 0
        if not self._folder.is_dir():
            return 0
        for entry in self._folder.iterdir():
            leftover = entry.name.startswith(".")
            if leftover or (entry.name not in keep):
                with contextlib.suppress(OSError):
                    shutil.rmtree(entry)
                    removed += 1
        return removed

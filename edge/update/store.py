"""Wheels unpacked once each, by sha256, and shared by every release that names them.

A release that changes one wheel unpacks one wheel: the rest of its environment is the
same folders as the release before. Installing is the PyPA ``installer`` library's job
(it checks each file against the wheel's RECORD); this module decides where, and makes an
entry appear whole or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import zipfile
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile

from edge.update.layout import COMPLETE, Layout, building, remove_tree
from protocol.release import ReleaseError, ReleaseRefusal, ReleaseWheel


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

    def unpack(self, wheel: ReleaseWheel, source: BinaryIO, *, python: str) -> Path:
        """Unpack ``source`` (checked against ``wheel``) as the store's entry.

        The bytes are copied into a root-owned folder while they are hashed, and installed
        from that copy: the file the agent left cannot be swapped between check and use.
        """
        final = self.entry(wheel.sha256)
        if self.holds(wheel.sha256):
            return final
        with building(final, wheel.sha256) as temp:
            copy = temp.parent / f"{temp.name.removesuffix('.tmp')}.wheel.tmp" / wheel.name
            copy.parent.mkdir(parents=True)
            try:
                digest, size = hashlib.sha256(), 0
                with copy.open("wb") as out:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        size += len(block)
                        if size > wheel.size:
                            break
                        digest.update(block)
                        out.write(block)
                if size != wheel.size or digest.hexdigest() != wheel.sha256:
                    raise ReleaseError(
                        ReleaseRefusal.HASH_MISMATCH,
                        f"{wheel.name} does not match the manifest's sha256 and size",
                    )
                self._install(copy, temp, python=python)
            finally:
                shutil.rmtree(copy.parent, ignore_errors=True)
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
        except (InstallerError, ValueError, OSError, zipfile.BadZipFile) as exc:
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
                    if leftover:
                        shutil.rmtree(entry)
                    else:
                        remove_tree(entry)
                    removed += 1
        return removed

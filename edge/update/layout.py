"""The A/B layout under the install root, and the crash-safe file steps it is changed with.

::

    /opt/yizhan/
      releases/0.2.0/        one virtual environment per release (bin/python, a .pth
      releases/0.3.0/        naming its wheels in the store, release.json, .complete)
      store/<sha256>/        one unpacked wheel each, shared by every release that has it
      current -> releases/0.3.0      what the service runs
      previous -> releases/0.2.0     the last release that was healthy, for rollback
      release-key.json       the pinned release public key (protocol/release.py)
      update-journal.json    the update under way, step by step (journal.py)
      accepted-serial        the newest release serial that ran healthy: the replay floor

A link is changed by making a new link beside it and renaming it over the old one, then
syncing the folder: a power cut leaves the old link or the new one, never none.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

RELEASES: Final = "releases"
STORE: Final = "store"
CURRENT: Final = "current"
PREVIOUS: Final = "previous"
KEY_FILE: Final = "release-key.json"
JOURNAL_FILE: Final = "update-journal.json"
SERIAL_FILE: Final = "accepted-serial"
# Held by the installer while it works: the boot check leaves a live update alone (the agent
# restarts during a trial, and its ExecStartPre must not undo what is being tried).
LOCK_FILE: Final = "update.lock"
# Written last into a release folder and a store entry: without it the folder is a leftover.
COMPLETE: Final = ".complete"
MANIFEST_FILE: Final = "release.json"


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """``path`` holds ``data`` or what it held before, whatever happens, once this returns."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask (the unit's is 0077): the agent reads these
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)


def point(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` (relative to the link's folder), atomically."""
    relative = os.path.relpath(target, link.parent)
    temp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.tmp")
    os.symlink(relative, temp)
    try:
        os.replace(temp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(link.parent)


def remove_tree(folder: Path) -> None:
    """Remove a folder so that a cut halfway leaves a ``.tmp`` leftover, never a folder whose
    ``.complete`` marker outlived its other files."""
    if not folder.exists():
        return
    trash = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.trash.tmp"
    os.replace(folder, trash)
    fsync_dir(folder.parent)
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def building(final: Path, marker: str) -> Iterator[Path]:
    """A temporary folder beside ``final`` to fill; on a clean exit it becomes ``final``.

    Everything written is synced to the card, then the ``.complete`` marker, then the
    folder is renamed into place: after a cut, ``final`` is whole or is not there (or is a
    leftover without its marker, which nothing trusts). On an error the folder goes.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}.{secrets.token_hex(4)}.tmp"
    try:
        yield temp
        os.sync()
        write_atomic(temp / COMPLETE, marker.encode())
        if final.exists():  # a leftover without its marker
            remove_tree(final)
        os.replace(temp, final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @property
    def releases(self) -> Path:
        return self.root / RELEASES

    @property
    def store(self) -> Path:
        return self.root / STORE

    @property
    def current(self) -> Path:
        return self.root / CURRENT

    @property
    def previous(self) -> Path:
        return self.root / PREVIOUS

    @property
    def key_file(self) -> Path:
        return self.root / KEY_FILE

    @property
    def journal_file(self) -> Path:
        return self.root / JOURNAL_FILE

    def release_dir(self, version: str) -> Path:
        return self.releases / version

    def is_complete(self, version: str) -> bool:
        return (self.release_dir(version) / COMPLETE).is_file()

    def target(self, link: Path) -> str | None:
        """The release a link points at, or None when it is missing or points elsewhere."""
        try:
            destination = Path(os.readlink(link))
        except OSError:
            return None
        if destination.parent.name != RELEASES:
            return None
        return destination.name

    def point(self, link: Path, version: str) -> None:
        point(link, self.release_dir(version))

    def exists(self) -> bool:
        return self.releases.is_dir() and self.current.is_symlink()

    def accepted_serial(self) -> int:
        try:
            return int((self.root / SERIAL_FILE).read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return 0

    def accept_serial(self, serial: int) -> None:
        if serial > self.accepted_serial():
            write_atomic(self.root / SERIAL_FILE, f"{serial}\n".encode())

    @contextlib.contextmanager
    def locked(self) -> Iterator[bool]:
        """Hold the installer's lock; yields False (holding nothing) when another holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock; so does a power cut

    def versions(self) -> list[str]:
        if not self.releases.is_dir():
            return []
        return sorted(entry.name for entry in self.releases.iterdir() if entry.is_dir())


def layout_of_running(prefix: Path) -> tuple[Layout, str] | None:
    """The layout and release this interpreter runs from (``sys.prefix``), if it is one."""
    resolved = prefix.resolve()
    if resolved.parent.name != RELEASES:
        return None
    layout = Layout(resolved.parent.parent)
    return (layout, resolved.name) if layout.store.is_dir() else None

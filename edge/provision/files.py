"""Private files on the box: written whole or not at all, readable by its owner only."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

PRIVATE: Final = 0o600  # claim secrets, broker passwords and API tokens live in these files


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600.

    A power cut at any moment leaves either the old file or the new one, never a torn one:
    the bytes reach the disk in a temporary file first, then a rename swaps it in, and the
    folder is synced so the rename itself survives.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), PRIVATE)  # a leftover tmp file may have had another mode
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    _sync_dir(path.parent)


def remove(path: Path) -> None:
    """Delete ``path`` if it is there, and make the deletion durable."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

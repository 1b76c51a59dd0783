"""A release folder on disk: its wheels, release.json (unsigned) and manifest.json (signed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from protocol.release import MAX_MANIFEST_BYTES, Release, ReleaseWheel, wheel_sha256
from yizhan.release.errors import InputError

RELEASE_FILE: Final = "release.json"
MANIFEST_FILE: Final = "manifest.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` whole: a reader never sees half a manifest."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` with ``mode``; never replace a file that is there."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise InputError(f"{path} exists already; it is not replaced") from None
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def load_release(folder: Path) -> Release:
    """The unsigned release.json of a built folder."""
    path = folder / RELEASE_FILE
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give the folder `yizhan release build` made")
    if not path.is_file():
        raise InputError(
            f"{folder} has no {RELEASE_FILE}: build it with `yizhan release build` (a build "
            "that missed a wheel writes none)"
        )
    try:
        return Release.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "$"
        raise InputError(f"{path} is not a release: {where}: {first['msg']}") from None


def load_manifest(folder: Path) -> tuple[bytes, Release]:
    """The signed manifest's bytes and the release it names (its signature is the box's
    to check; the API checks it too)."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise InputError(
            f"{folder} has no {MANIFEST_FILE}: sign it first (`yizhan release sign {folder} "
            "--key release-key.pem`)"
        )
    raw = path.read_bytes()
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InputError(f"{path} is {len(raw)} bytes, too large for a manifest")
    try:
        release = Release.model_validate(json.loads(raw)["release"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a signed manifest ({exc}); sign again") from None
    return raw, release


def wheel_problems(folder: Path, wheels: list[ReleaseWheel]) -> list[str]:
    """One line per wheel whose file is not the one the release names."""
    problems = []
    for wheel in wheels:
        path = folder / wheel.name
        if not path.is_file():
            problems.append(f"{wheel.name} is missing from {folder}")
            continue
        size = path.stat().st_size
        if size != wheel.size:
            problems.append(f"{wheel.name} is {size} bytes, the release says {wheel.size}")
        elif (digest := wheel_sha256(path)) != wheel.sha256:
            problems.append(
                f"{wheel.name} has sha256 {digest[:12]}…, the release says {wheel.sha256[:12]}…"
            )
    return problems

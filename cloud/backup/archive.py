"""The backup archive: one plain ``.tar`` written atomically, read as if hostile.

Reading never calls ``extract``: each member is checked (a regular file, a name from the
short list a backup can hold, listed in the manifest, within its size cap) and then copied
out by hand while its SHA-256 is computed, so no archive can write outside the folder it is
unpacked into or swap in a link.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cloud.backup.errors import ArchiveError, BackupError
from cloud.backup.manifest import (
    DATABASE_NAMES,
    MANIFEST_NAME,
    SECRETS_NAME,
    Manifest,
    MemberDigest,
    parse_manifest,
)

# Caps per member: the manifest and the sealed secrets are read into memory; a database
# dump is streamed to disk, and its cap only stops a forged header from claiming exabytes.
SIZE_CAPS: dict[str, int] = {
    MANIFEST_NAME: 1024 * 1024,
    SECRETS_NAME: 64 * 1024 * 1024,
    **dict.fromkeys(DATABASE_NAMES.values(), 1024**4),
}
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UnpackedArchive:
    """A verified archive's manifest and where its members were copied to."""

    manifest: Manifest
    paths: dict[str, Path]

    @property
    def database(self) -> Path:
        return self.paths[self.manifest.database_member]

    @property
    def secrets(self) -> Path | None:
        return self.paths.get(SECRETS_NAME)


def archive_name(manifest: Manifest) -> str:
    return f"yizhan-backup-{manifest.created_at:%Y%m%dT%H%M%SZ}.tar"


def write_archive(target: Path, *, manifest: Manifest, members: Mapping[str, Path]) -> None:
    """Write manifest + members as ``target`` (mode 0600): all of it, or nothing."""
    if target.exists():
        raise BackupError(f"{target} already exists; wait a second or pick another --out")
    mtime = int(manifest.created_at.timestamp())
    # mkstemp makes the file 0600; the rename publishes it only once it is complete.
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                rendered = manifest.render()
                tar.addfile(_info(MANIFEST_NAME, len(rendered), mtime), io.BytesIO(rendered))
                for name, path in members.items():
                    with path.open("rb") as handle:
                        tar.addfile(_info(name, path.stat().st_size, mtime), handle)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o600
    return info


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unpack_verified(archive: Path, *, into: Path) -> UnpackedArchive:
    """Check every member of ``archive`` against its manifest, copying it into ``into``."""
    try:
        with tarfile.open(archive, mode="r:") as tar:
            members = _checked_members(tar)
            manifest = parse_manifest(_read_member(tar, members[MANIFEST_NAME]))
            _match_manifest(members, manifest)
            paths = {
                name: _copy_member(tar, members[name], expected=digest, into=into)
                for name, digest in manifest.members.items()
            }
    except FileNotFoundError:
        raise ArchiveError(f"there is no backup at {archive}; check the path") from None
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(
            f"{archive} is not a readable tar archive ({exc}); it is damaged or not a backup"
        ) from None
    return UnpackedArchive(manifest=manifest, paths=paths)


def _checked_members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        name = member.name
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise ArchiveError(f"archive member {name!r} points outside the archive; refused")
        if not member.isreg():
            raise ArchiveError(f"archive member {name!r} is a link or special file; refused")
        if name not in SIZE_CAPS:
            raise ArchiveError(f"archive member {name!r} is not part of a yizhan backup")
        if name in members:
            raise ArchiveError(f"archive member {name!r} appears twice; refused")
        if member.size > SIZE_CAPS[name]:
            raise ArchiveError(f"archive member {name!r} claims {member.size} bytes; refused")
        members[name] = member
    if MANIFEST_NAME not in members:
        raise ArchiveError(f"the archive has no {MANIFEST_NAME}; it is not a yizhan backup")
    return members


def _match_manifest(members: Mapping[str, tarfile.TarInfo], manifest: Manifest) -> None:
    present = set(members) - {MANIFEST_NAME}
    unlisted = sorted(present - set(manifest.members))
    if unlisted:
        raise ArchiveError(f"archive members {unlisted} are not listed in the manifest; refused")
    missing = sorted(set(manifest.members) - present)
    if missing:
        raise ArchiveError(f"the archive lacks {missing}, which its manifest lists; incomplete")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:  # only for non-regular members, which were refused already
        raise ArchiveError(f"archive member {member.name!r} has no content")
    with handle:
        return handle.read(SIZE_CAPS[member.name] + 1)


def _copy_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, *, expected: MemberDigest, into: Path
) -> Path:
    handle = tar.extractfile(member)
    if handle is None:
        raise ArchiveError(f"archive member {member.name!r} has no content")
    target = into / member.name
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with handle, os.fdopen(fd, "wb") as out:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if (digest.hexdigest(), size) != (expected.sha256, expected.size):
        raise ArchiveError(
            f"{member.name} does not match its checksum in the manifest; the archive was "
            "damaged or changed after the backup. Nothing was restored: use another backup"
        )
    return target

"""Read a backup archive's members and build altered or hostile archives from them."""

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any


def read_members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        found = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            found[member.name] = handle.read()
        return found


def manifest_of(archive: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(read_members(archive)["manifest.json"])
    return loaded


def digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def write_tar(
    path: Path, members: dict[str, bytes], *, links: dict[str, str] | None = None
) -> Path:
    """A tar of ``members`` (name -> content) in order, plus symlinks (name -> target)."""
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def rewrite(archive: Path, out: Path, replace: dict[str, bytes]) -> Path:
    """``archive`` with some members replaced and the manifest's checksums made to match:
    what someone who can write to the backup store could produce."""
    members = read_members(archive)
    manifest = json.loads(members.pop("manifest.json"))
    for name, data in replace.items():
        members[name] = data
        manifest["members"][name] = digest(data)
    return write_tar(out, {"manifest.json": json.dumps(manifest).encode(), **members})


def flip_byte(archive: Path, member: str, *, at: int = 100) -> None:
    """Change one byte inside ``member``'s content, leaving the tar structure intact."""
    with tarfile.open(archive) as tar:
        offset = tar.getmember(member).offset_data + at
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0x01
    archive.write_bytes(bytes(data))

"""The secret files a backup carries (issuer keys, the broker's dynsec JSON, a CA key).

They travel as one JSON document (name and base64 content per file) that is sealed as a
whole, so the archive shows neither how many secrets there are nor their names. Restored
files are written mode 0600 and never replace an existing file unless forced.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloud.backup.errors import ArchiveError, BackupError, SecretExistsError

# A plain file name (".env" included, "." and ".." not): restoring can never write outside
# the folder it is given.
NAME_RE = re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]{1,100}")
# All files together, before sealing. A broker's dynsec file takes ~1.5 KB per box, so this
# holds tens of thousands of boxes; a larger "secret" is a mistake (a database, a log). Base64
# inside the sealed document makes it 4/3 larger, still under the archive's 64 MiB cap.
MAX_TOTAL_BYTES = 40 * 1024 * 1024
MAX_FILES = 64


@dataclass(frozen=True, slots=True)
class SecretFile:
    name: str
    data: bytes


def read_secret_files(paths: Sequence[Path]) -> list[SecretFile]:
    """Read the files to seal, by their base names; refuses clashes and oversized sets."""
    if len(paths) > MAX_FILES:
        raise BackupError(f"{len(paths)} secret files given; at most {MAX_FILES} fit a backup")
    files: dict[str, SecretFile] = {}
    total = 0
    for path in paths:
        name = _plain_name(path, taken=files)
        try:
            total += path.stat().st_size
            if total > MAX_TOTAL_BYTES:
                raise BackupError(
                    f"the secret files pass {MAX_TOTAL_BYTES // 2**20} MiB at {path}; "
                    "is that a secret?"
                )
            files[name] = SecretFile(name, path.read_bytes())
        except OSError as exc:
            raise BackupError(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    return list(files.values())


def _plain_name(path: Path, *, taken: Mapping[str, SecretFile]) -> str:
    name = path.name
    if not NAME_RE.fullmatch(name):
        raise BackupError(
            f"secret file name {name!r} is not a plain name (letters, digits, . _ -); "
            "copy it under such a name"
        )
    if name in taken:
        raise BackupError(
            f"two secret files are named {name!r}; restore writes them into one folder, "
            "so copy one under another name first"
        )
    return name


def pack(files: Sequence[SecretFile]) -> bytes:
    """The files as the JSON document that gets sealed."""
    entries = [{"name": f.name, "data": base64.b64encode(f.data).decode()} for f in files]
    return json.dumps({"files": entries}, separators=(",", ":")).encode()


def unpack(plaintext: bytes) -> list[SecretFile]:
    """The files of an opened secrets document; refuses names that are not plain."""
    try:
        entries = json.loads(plaintext)["files"]
        files = [
            SecretFile(str(e["name"]), base64.b64decode(e["data"], validate=True)) for e in entries
        ]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ArchiveError(f"the sealed secrets are not a yizhan secrets list ({exc})") from None
    names = [f.name for f in files]
    bad = [n for n in names if not NAME_RE.fullmatch(n)]
    if bad or len(set(names)) != len(names) or len(files) > MAX_FILES:
        raise ArchiveError(
            f"the sealed secrets hold unsafe or repeated names {bad or names!r}; "
            "this archive was not made by yizhan"
        )
    return files


def check_writable(files: Sequence[SecretFile], *, directory: Path, force: bool) -> None:
    """Refuse before anything is written if a secret would replace an existing file."""
    if force:
        return
    existing = [str(directory / f.name) for f in files if (directory / f.name).exists()]
    if existing:
        raise SecretExistsError(
            f"{', '.join(existing)} already exist; move them away, restore the secrets into "
            "another folder (--secrets-to), or pass --force to replace them"
        )


def write_secret_files(files: Sequence[SecretFile], *, directory: Path, force: bool) -> list[Path]:
    """Write each file as ``directory/name`` with mode 0600; returns the paths written."""
    check_writable(files, directory=directory, force=force)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for secret in files:
        target = directory / secret.name
        try:
            _write_private(target, secret.data, replace=force)
        except FileExistsError:
            raise SecretExistsError(
                f"{target} appeared while restoring; nothing replaced it"
            ) from None
        except OSError as exc:
            raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
        written.append(target)
    return written


def _write_private(target: Path, data: bytes, *, replace: bool) -> None:
    if not replace:
        # O_EXCL: never follow a symlink or clobber a file that appeared since the check.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    # mkstemp creates 0600; the rename replaces the old file (and its old mode) at once.
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

"""The release key's life on the signing machine: made once, signs releases, hands over.

The private half stays where it was made (never on the cloud's hosts); boxes pin the
public half's file at install.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.release import (
    Release,
    ReleaseError,
    ReleaseKey,
    load_private_key,
    private_key_pem,
    public_of,
    sign_release,
    sign_rotation,
    verify_release,
)
from yizhan.release.errors import InputError
from yizhan.release.files import (
    MANIFEST_FILE,
    load_release,
    wheel_problems,
    write_atomic,
    write_new,
)

PRIVATE_FILE: Final = "release-key.pem"
PUBLIC_FILE: Final = "release-key.pub.json"


def keygen(folder: Path) -> ReleaseKey:
    """A new release key in ``folder``: the PEM readable by its owner only, and the public file."""
    private_path, public_path = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(
                f"{path} exists already; a release key is made once (boxes pin it): give "
                "another --out, or rotate to a new key with `yizhan release rotate-key`"
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make {folder}: {exc.strerror}") from None
    private = Ed25519PrivateKey.generate()
    public = public_of(private)
    write_new(private_path, private_key_pem(private), mode=0o600)
    write_new(public_path, public.to_json().encode(), mode=0o644)
    return public


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        return load_private_key(path)
    except ValueError as exc:
        hint = ""
        if path.suffix == ".json":
            hint = " (a .json file is a public or an issuer key; sign with release-key.pem)"
        raise InputError(f"{exc}{hint}") from None


def load_public(path: Path) -> ReleaseKey:
    try:
        return ReleaseKey.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {exc}; give the release-key.pub.json keygen wrote") from None


def sign_folder(folder: Path, key_path: Path) -> tuple[Release, ReleaseKey]:
    """Sign a built folder's release.json into its manifest.json, if every wheel matches."""
    release = load_release(folder)
    private = load_key(key_path)
    problems = wheel_problems(folder, release.wheels)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(
            f"not signed: {problems[0]}{more}; a wheel changed after the build, so build "
            "the release again"
        )
    manifest = sign_release(release, private)
    public = public_of(private)
    try:
        verify_release(manifest, public)  # what a box will do, before anyone relies on it
    except ReleaseError as exc:
        raise InputError(f"the signed manifest does not verify: {exc}") from None
    write_atomic(folder / MANIFEST_FILE, manifest)
    return release, public


def rotation_statement(
    old_path: Path, new_public_path: Path, out: Path, *, issued_at: datetime
) -> tuple[str, str]:
    """A statement, signed with the old key, that the new one signs from now on."""
    old = load_key(old_path)
    new = load_public(new_public_path)
    old_id = public_of(old).key_id
    if new.key_id == old_id:
        raise InputError(f"{new_public_path} is the old key's own public half ({old_id})")
    statement = sign_rotation(old, new, issued_at=issued_at)
    write_new(out, statement, mode=0o644)
    return old_id, new.key_id

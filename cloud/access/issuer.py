"""The development member-code issuer: a local Ed25519 key for demos and tests.

Production issuance belongs to the union app's backend, whose private keys never reach
a venue; edge boxes get only the public keys (see docs/protocol.md).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.access import KeySet
from protocol.membercode import KID_RE, IssuerKey


class IssuerKeyError(ValueError):
    """The key file is missing, unreadable or not a key."""


def load_existing(path: Path) -> IssuerKey:
    """The issuer key at ``path``; a missing file is an error (nothing is created)."""
    if not path.exists():
        raise IssuerKeyError(
            f"no issuer key at {path}; create one with `yizhan member keys` or fix the path"
        )
    return load_or_create(path)


def load_or_create(path: Path, *, kid: str = "dev-1") -> IssuerKey:
    """Load the dev issuer key at ``path``; create it (mode 0600) on first use."""
    if not KID_RE.fullmatch(kid):
        raise IssuerKeyError(f"key id {kid!r} must be 1-8 lowercase letters, digits or '-'")
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            seed = base64.b64decode(data["seed"], validate=True)
            return IssuerKey(str(data["kid"]), Ed25519PrivateKey.from_private_bytes(seed))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IssuerKeyError(
                f"{path} is not a yizhan issuer key ({exc}); move it away to create a new one"
            ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"kid": kid, "seed": base64.b64encode(seed).decode()}, handle)
    return IssuerKey(kid, key)


def public_keyset(key: IssuerKey) -> dict[str, str]:
    """``{kid: base64 raw public key}``: what an edge box is given, and all it needs."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {key.kid: base64.b64encode(raw).decode()}


def keyset_json(key: IssuerKey, *, version: int = 1) -> str:
    """The public key set as a door's ``keys.json`` (the shared ``KeySet`` model)."""
    return KeySet(version=version, keys=public_keyset(key)).model_dump_json()

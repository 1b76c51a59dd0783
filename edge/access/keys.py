"""The issuer public keys a door trusts, by kid, kept in one JSON file replaced atomically."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from edge.errors import EdgeError
from protocol.access import KeySet


class KeyFileError(EdgeError, ValueError):
    """The key file cannot be used; the message says what is wrong and what to do."""


class KeyRing:
    """Issuer public keys by kid. Several kids at once is a rotation in progress.

    An empty ring is legal (a box not yet provisioned) and makes the verifier refuse every
    code with ``no_keys``: fail secure, and say so at the door.
    """

    def __init__(
        self, keys: Mapping[str, Ed25519PublicKey] | None = None, version: int = 0
    ) -> None:
        self._keys: dict[str, Ed25519PublicKey] = dict(keys or {})
        self.version = version

    @classmethod
    def from_keyset(cls, keyset: KeySet) -> KeyRing:
        keys = {kid: Ed25519PublicKey.from_public_bytes(raw) for kid, raw in keyset.raw().items()}
        return cls(keys, keyset.version)

    def replace_with(self, keyset: KeySet) -> None:
        """Take a newer key set in place (a rotation synced from the cloud).

        One assignment swaps the whole map, so a verification running meanwhile sees
        either the old keys or the new ones, never a mix.
        """
        fresh = KeyRing.from_keyset(keyset)
        self._keys, self.version = fresh._keys, fresh.version

    def to_keyset(self) -> KeySet:
        return KeySet(
            version=self.version,
            keys={
                kid: base64.b64encode(key.public_bytes_raw()).decode("ascii")
                for kid, key in sorted(self._keys.items())
            },
        )

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read a key file: missing is an empty ring, broken is a :class:`KeyFileError`."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(
                f"cannot read key file {path}: {exc}; re-provision the box"
            ) from None
        try:
            keyset = KeySet.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            raise KeyFileError(
                f"key file {path} is broken at {where}: {first['msg']}; "
                'expected {"version": n, "keys": {kid: base64 raw Ed25519}}, '
                "re-provision the box or fix the file"
            ) from None
        return cls.from_keyset(keyset)

    def save(self, path: Path) -> None:
        """Write the ring so a crash leaves either the old file or the new one, never half."""
        data = self.to_keyset().model_dump_json(indent=2) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    def add(self, kid: str, key: Ed25519PublicKey) -> None:
        self._keys[kid] = key

    def retire(self, kid: str) -> None:
        self._keys.pop(kid, None)

    @property
    def keys(self) -> Mapping[str, Ed25519PublicKey]:
        return self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

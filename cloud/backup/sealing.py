"""Seal bytes with a passphrase: scrypt derives the key, AES-256-GCM encrypts and authenticates.

Layout of a sealed blob (all integers big-endian)::

    magic "YZSEAL" | version u8 | log2(n) u8 | r u8 | p u8 | salt 16 | nonce 12 | ciphertext+tag

The header is authenticated as GCM associated data, together with a caller's ``context``
(the backup binds the database dump's digest there), so changing the cost parameters, the
salt or the dump it belongs to makes opening fail exactly like a wrong passphrase.
"""

from __future__ import annotations

import os
import struct
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from cloud.backup.errors import ArchiveError, PassphraseError, WrongPassphraseError

MAGIC = b"YZSEAL"
VERSION = 1
_HEADER = struct.Struct(">6sBBBB16s12s")
SALT_BYTES = 16
NONCE_BYTES = 12  # the GCM nonce size NIST SP 800-38D recommends
KEY_BYTES = 32  # AES-256
# What a header may make a restore allocate: twice the default cost (128 MiB).
MAX_SCRYPT_MEMORY = 256 * 2**20
# At least this many characters: a backup travels off the host, so the passphrase is the
# only thing between a stolen archive and the issuer's signing keys.
MIN_PASSPHRASE_CHARS = 16


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt's work factors; memory is 128 * r * 2**log2_n bytes."""

    log2_n: int = 17  # 128 MiB and ~0.5 s on a server core: cheap once, dear a billion times
    r: int = 8
    p: int = 1

    def check(self) -> None:
        # Bounds on what a header may ask for, so a forged archive cannot make a restore
        # allocate gigabytes; 2**15 is the floor the runbook promises.
        memory = 128 * self.r * 2**self.log2_n
        bounded = 15 <= self.log2_n <= 20 and 1 <= self.r <= 16 and 1 <= self.p <= 4
        if not bounded or memory > MAX_SCRYPT_MEMORY:
            raise ArchiveError(
                f"the sealed secrets ask for scrypt n=2**{self.log2_n}, r={self.r}, p={self.p}, "
                "outside what yizhan accepts; the file is damaged or was not made by yizhan"
            )


def check_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too short to seal secrets with."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise PassphraseError(
            f"the backup passphrase has {len(passphrase)} characters, fewer than "
            f"{MIN_PASSPHRASE_CHARS}; use a long random one, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
        )


def _derive(passphrase: str, *, salt: bytes, cost: ScryptCost) -> bytes:
    # NFC so the same passphrase typed on two keyboards derives the same key.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=2**cost.log2_n, r=cost.r, p=cost.p)
    return kdf.derive(secret)


def seal(
    plaintext: bytes, *, passphrase: str, context: bytes = b"", cost: ScryptCost | None = None
) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``passphrase``; refuses short ones."""
    check_passphrase(passphrase)
    cost = cost or ScryptCost()
    cost.check()
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = _HEADER.pack(MAGIC, VERSION, cost.log2_n, cost.r, cost.p, salt, nonce)
    key = _derive(passphrase, salt=salt, cost=cost)
    return header + AESGCM(key).encrypt(nonce, plaintext, header + context)


def unseal(blob: bytes, *, passphrase: str, context: bytes = b"") -> bytes:
    """The plaintext of a sealed ``blob``; a wrong passphrase or any change raises."""
    if len(blob) < _HEADER.size + 16:
        raise ArchiveError("the sealed secrets are truncated; the archive is damaged")
    magic, version, log2_n, r, p, salt, nonce = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ArchiveError("the sealed secrets do not start with YZSEAL; not a yizhan file")
    if version != VERSION:
        raise ArchiveError(
            f"the sealed secrets use format {version}, this yizhan reads format {VERSION}; "
            "open them with the yizhan version that made the backup"
        )
    cost = ScryptCost(log2_n=log2_n, r=r, p=p)
    cost.check()
    header = blob[: _HEADER.size]
    key = _derive(passphrase, salt=salt, cost=cost)
    try:
        return AESGCM(key).decrypt(nonce, blob[_HEADER.size :], header + context)
    except InvalidTag:
        raise WrongPassphraseError(
            "the passphrase does not open the sealed secrets (or they were changed after the "
            "backup); check the passphrase file or YZ_BACKUP_PASSPHRASE, and try an older "
            "backup if the passphrase is right"
        ) from None

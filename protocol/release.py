"""Software releases for boxes: the signed manifest, the release key and its rotation.

A release is a set of wheels (the ``yizhan`` wheel and every dependency the box runs,
built for one Python and one machine) named in a manifest. The manifest is signed with the
union's **release key**, an Ed25519 key kept off the cloud's API hosts and distinct from the
issuer keys that sign member codes: a box pins the release key's public half at install and
believes nothing else. The signature covers a context string, so no other yizhan signature
(a member code, a phone certificate) can ever be replayed as a manifest.

Wire form of a signed manifest (JSON, UTF-8)::

    {"release": {...}, "key_id": "rk-…", "signature": "<base64 Ed25519>"}

The signed bytes are ``MANIFEST_CONTEXT`` + the canonical JSON of ``release`` (sorted
keys, no spaces, UTF-8), computed from the object as received, so a re-encoding in transit
does not matter and any change to a field does.

A box refuses a manifest that is not signed by its pinned key, that names another Python or
machine, or whose ``serial`` is not above the newest it ever accepted (a replayed older
manifest is a downgrade attack; going back is done by publishing a new serial).

The key is rotated by a statement signed with the old key naming the new one; a box walks
the chain of statements from the key it holds (``follow_rotations``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from protocol.payloads import SCHEMA_VERSION, ShortText, Timestamp

MANIFEST_CONTEXT: Final = b"yizhan release manifest v1\x00"
ROTATION_CONTEXT: Final = b"yizhan release key rotation v1\x00"
# The distribution whose wheel every release carries and whose version names the release.
ROOT_DISTRIBUTION: Final = "yizhan"
MAX_MANIFEST_BYTES: Final = 256 * 1024
MAX_WHEELS: Final = 300
MAX_WHEEL_BYTES: Final = 512 * 1024 * 1024
MACHINES: Final = ("aarch64", "armv7l", "x86_64")

# PEP 440 public versions as yizhan releases spell them: 0.2.0, 0.2.0rc1, 0.2.1.post1.
VERSION_PATTERN: Final = r"^[0-9]{1,4}(\.[0-9]{1,4}){1,3}((a|b|rc|\.post|\.dev)[0-9]{1,4})?$"
ReleaseVersion = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# A wheel's file name: no folders, nothing a path could be made of.
WheelName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]{1,180}\.whl$", max_length=184)
]
KeyId = Annotated[str, StringConstraints(pattern=r"^rk-[0-9a-f]{16}$")]
PythonVersion = Annotated[str, StringConstraints(pattern=r"^3\.[0-9]{1,2}$")]


class ReleaseRefusal(StrEnum):
    """Why a box refuses a manifest or a wheel: a closed set, each with a sentence."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    DOWNGRADE = "downgrade"
    WRONG_PLATFORM = "wrong_platform"
    HASH_MISMATCH = "hash_mismatch"


class ReleaseError(ValueError):
    """A manifest, statement or wheel this box must not trust; ``reason`` says which check."""

    def __init__(self, reason: ReleaseRefusal, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ReleaseWheel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: WheelName
    sha256: Sha256
    size: Annotated[int, Field(ge=1, le=MAX_WHEEL_BYTES)]


class Release(BaseModel):
    """What a release is made of; signed as a whole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
    version: ReleaseVersion
    # Strictly increasing over a union's releases: the box's defence against replays.
    serial: Annotated[int, Field(ge=1, le=2**53)]
    python: PythonVersion
    machine: Literal["aarch64", "armv7l", "x86_64"]
    created_at: Timestamp
    notes: ShortText = ""
    wheels: Annotated[list[ReleaseWheel], Field(min_length=1, max_length=MAX_WHEELS)]

    @model_validator(mode="after")
    def _whole(self) -> Release:
        names = [wheel.name for wheel in self.wheels]
        if len(set(names)) != len(names):
            raise ValueError("a wheel is named twice; each file appears once")
        if len({wheel.sha256 for wheel in self.wheels}) != len(self.wheels):
            raise ValueError("two wheels have the same sha256; each file appears once")
        if self.root_wheel() is None:
            raise ValueError(
                f"no {ROOT_DISTRIBUTION}-{self.version}-*.whl among the wheels: a release "
                f"carries the {ROOT_DISTRIBUTION} wheel of its own version"
            )
        return self

    def root_wheel(self) -> ReleaseWheel | None:
        prefix = f"{ROOT_DISTRIBUTION}-{self.version}-"
        return next((wheel for wheel in self.wheels if wheel.name.startswith(prefix)), None)

    @property
    def total_bytes(self) -> int:
        return sum(wheel.size for wheel in self.wheels)


@dataclass(frozen=True, slots=True)
class ReleaseKey:
    """A release key's public half, as a box pins it."""

    key_id: str
    public_key: Ed25519PublicKey

    @classmethod
    def from_raw(cls, raw: bytes) -> ReleaseKey:
        if len(raw) != 32:
            raise ValueError(f"a raw Ed25519 public key is 32 bytes, this one {len(raw)}")
        return cls(key_id(raw), Ed25519PublicKey.from_public_bytes(raw))

    @property
    def raw(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def to_json(self) -> str:
        return json.dumps({"key_id": self.key_id, "public_key": _b64(self.raw)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ReleaseKey:
        """The pinned-key file's content; ValueError saying what is wrong with it."""
        try:
            data = json.loads(text)
            key = cls.from_raw(_unb64(data["public_key"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a release public key file ({exc})") from None
        if data.get("key_id") != key.key_id:
            raise ValueError(f"its key_id {data.get('key_id')!r} is not its key's ({key.key_id})")
        return key

    @classmethod
    def load(cls, path: Path) -> ReleaseKey:
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read the release key {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None


def key_id(raw_public: bytes) -> str:
    return "rk-" + hashlib.sha256(raw_public).hexdigest()[:16]


def public_of(private: Ed25519PrivateKey) -> ReleaseKey:
    return ReleaseKey.from_raw(
        private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    )


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64 text")  # noqa: TRY004 - callers catch ValueError
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None


def sign_release(release: Release, private: Ed25519PrivateKey) -> bytes:
    """The signed manifest's bytes, ready to publish."""
    body = release.model_dump(mode="json")
    signature = private.sign(MANIFEST_CONTEXT + canonical(body))
    envelope = {"release": body, "key_id": public_of(private).key_id, "signature": _b64(signature)}
    return json.dumps(envelope, ensure_ascii=False, indent=1).encode() + b"\n"


def _envelope(raw: bytes, body_field: str) -> tuple[dict[str, Any], str, bytes]:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ReleaseError(ReleaseRefusal.MALFORMED, f"{len(raw)} bytes is too large to trust")
    try:
        data = json.loads(raw.decode("utf-8"))
        body, kid, signature = data[body_field], data["key_id"], _unb64(data["signature"])
        canonical(body)  # a lone surrogate cannot be signed bytes: refuse it here
    except (UnicodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ReleaseError(
            ReleaseRefusal.MALFORMED, f"not a signed {body_field} ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(body, dict) or not isinstance(kid, str):
        raise ReleaseError(ReleaseRefusal.MALFORMED, f"not a signed {body_field}")
    return body, kid, signature


def _verify(key: ReleaseKey, kid: str, context: bytes, body: dict[str, Any], sig: bytes) -> None:
    if kid != key.key_id:
        raise ReleaseError(
            ReleaseRefusal.UNKNOWN_KEY,
            f"signed by {kid[:40]!r}, but this box trusts only release key {key.key_id}",
        )
    try:
        key.public_key.verify(sig, context + canonical(body))
    except InvalidSignature:
        raise ReleaseError(
            ReleaseRefusal.BAD_SIGNATURE,
            f"the signature does not match the content under key {key.key_id}: "
            "it was changed after signing",
        ) from None


def verify_release(raw: bytes, key: ReleaseKey) -> Release:
    """The release in ``raw`` if ``key`` signed exactly it, else :class:`ReleaseError`."""
    body, kid, signature = _envelope(raw, "release")
    _verify(key, kid, MANIFEST_CONTEXT, body, signature)
    try:
        return Release.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "$"
        raise ReleaseError(ReleaseRefusal.MALFORMED, f"{where}: {first['msg']}") from None


def check_installable(release: Release, *, newest_serial: int, python: str, machine: str) -> None:
    """Refuse a replayed or foreign release; ``newest_serial`` is the newest ever accepted."""
    if release.serial <= newest_serial:
        raise ReleaseError(
            ReleaseRefusal.DOWNGRADE,
            f"release {release.version} has serial {release.serial}, not above {newest_serial} "
            "which this box accepted already: an old manifest replayed; publish a new release "
            "to go back",
        )
    if (release.python, release.machine) != (python, machine):
        raise ReleaseError(
            ReleaseRefusal.WRONG_PLATFORM,
            f"release {release.version} is built for Python {release.python} on "
            f"{release.machine}; this box runs Python {python} on {machine}",
        )


class KeyRotation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["release-key-rotation"] = "release-key-rotation"
    old_key_id: KeyId
    new_key_id: KeyId
    new_public_key: Annotated[str, StringConstraints(max_length=64)]
    issued_at: Timestamp

    def new_key(self, *, signed_by: str) -> ReleaseKey:
        if self.old_key_id != signed_by:
            raise ValueError(f"it names {self.old_key_id} as its signer, not {signed_by}")
        key = ReleaseKey.from_raw(_unb64(self.new_public_key))
        if key.key_id != self.new_key_id:
            raise ValueError(f"new_key_id {self.new_key_id} is not its key's ({key.key_id})")
        return key


def sign_rotation(old: Ed25519PrivateKey, new: ReleaseKey, *, issued_at: Any) -> bytes:
    """A statement, signed by ``old``, that ``new`` signs releases from now on."""
    statement = KeyRotation(
        old_key_id=public_of(old).key_id,
        new_key_id=new.key_id,
        new_public_key=_b64(new.raw),
        issued_at=issued_at,
    )
    body = statement.model_dump(mode="json")
    signature = old.sign(ROTATION_CONTEXT + canonical(body))
    envelope = {"rotation": body, "key_id": statement.old_key_id, "signature": _b64(signature)}
    return json.dumps(envelope, indent=1).encode() + b"\n"


def follow_rotations(key: ReleaseKey, statements: list[bytes]) -> ReleaseKey:
    """The key reached from ``key`` through the statements that apply to it, in any order.

    A statement signed by a key not on the chain is skipped (it is for another union or an
    older chain); one that claims to come from a key on the chain but does not verify is
    refused, since it can only be forged.
    """
    pending = []
    for raw in statements:
        try:
            pending.append(_envelope(raw, "rotation"))
        except ReleaseError:  # unreadable: it can move no key, so it cannot block one
            continue
    current = key
    progressed = True
    while progressed:
        progressed = False
        for body, kid, signature in pending:
            if kid != current.key_id:
                continue
            _verify(current, kid, ROTATION_CONTEXT, body, signature)
            try:
                current = KeyRotation.model_validate(body).new_key(signed_by=kid)
            except (ValidationError, ValueError) as exc:
                raise ReleaseError(ReleaseRefusal.MALFORMED, f"rotation: {exc}") from None
            pending = [item for item in pending if item[1] != kid]
            progressed = True
            break
    return current


UPDATE_STATE_EVENT: Final = "update.state"


class UpdateState(StrEnum):
    """Where one box is with one release; the cloud adds ``pending`` (sent, not yet heard)."""

    PENDING = "pending"
    WAITING = "waiting"  # for the venue's update window
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    HEALTHY = "healthy"
    FAILED = "failed"  # refused, or could not download or build: the box never switched
    ROLLED_BACK = "rolled_back"  # switched, was not healthy in time, back on the old one


class UpdateReport(BaseModel):
    """The data of an ``update.state`` event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release: ReleaseVersion
    state: UpdateState
    rollout: Annotated[str, StringConstraints(max_length=40)] = ""
    running: Annotated[str, StringConstraints(max_length=40)] = ""  # the version now running
    detail: ShortText = ""
    downloaded_bytes: Annotated[int, Field(ge=0)] = 0
    reused_bytes: Annotated[int, Field(ge=0)] = 0

    def event_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def private_key_pem(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The release signing key at ``path`` (PKCS#8 PEM); ValueError saying what is wrong."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ValueError(f"cannot read the release key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key; release keys are Ed25519")  # noqa: TRY004
    return key


def wheel_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

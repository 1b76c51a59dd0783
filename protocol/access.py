"""Wire models the cloud and the doors share for access: member snapshots, deltas, key sets.

A member snapshot can hold a million rows, so it travels as **NDJSON** rather than as one
JSON document: the first line is a :class:`SnapshotHeader`, then exactly ``count`` lines of
:class:`MemberEntry`. Both sides stream it (``dump_snapshot`` / ``load_snapshot``) and never
hold the whole body in memory; a cut-off download is caught by the count. Small snapshots
(tests, a venue with a few hundred members) may use :class:`MemberSnapshot`, the same data as
one object. Deltas are small and are one JSON object (:class:`MemberDelta`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Annotated, Final, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from protocol.errors import PayloadError
from protocol.payloads import Timestamp

ACCESS_SCHEMA_VERSION: Final = 1
# A delta is one MQTT/HTTP body: past this many changes the cloud sends a snapshot instead.
MAX_DELTA_CHANGES: Final = 10_000
MAX_GROUPS: Final = 16
MAX_KEYS: Final = 16  # several kids at once during a rotation; dozens would be a mistake
ED25519_PUBLIC_BYTES: Final = 32
MAX_LINE: Final = 4096  # one NDJSON member line; a real one is under 200 bytes
# The union's guest pass for a first-time walk-in worker is a member whose groups are exactly
# this one (and who has a valid_until): every guest pass carries it, and only guest passes do,
# so a door policy can refuse guests (admit_guests = false) without a list of who they are.
GUEST_GROUP: Final = "guest"

MemberId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,24}$")]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,12}$")]
Kid = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,8}$")]
Version = Annotated[int, Field(ge=0, le=2**62, strict=True)]


class MemberStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # suspended, expelled, or left: every code of theirs is refused


class MemberRecord(NamedTuple):
    """One member row as the door cache stores it (a plain tuple: bulk loads are fast)."""

    member_id: str
    status: MemberStatus
    groups: tuple[str, ...] = ()
    # Phone certificates (mode 2) valid from before this Unix second are refused: how a lost
    # phone is withdrawn without listing phone keys. None = no phone withdrawn.
    phone_certs_after: int | None = None
    # The membership lapses at this Unix second: from then on the door refuses the member
    # with ``membership_expired`` (offline too) until the union renews it. None = no end.
    valid_until: int | None = None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberEntry(_Model):
    """One member's state; in a delta, the member's new state (last one wins)."""

    member_id: MemberId
    status: MemberStatus
    groups: tuple[GroupName, ...] = Field(default=(), max_length=MAX_GROUPS)
    phone_certs_after: Timestamp | None = None
    valid_until: Timestamp | None = None

    def record(self) -> MemberRecord:
        after, until = self.phone_certs_after, self.valid_until
        return MemberRecord(
            self.member_id,
            self.status,
            self.groups,
            None if after is None else int(after.timestamp()),
            None if until is None else int(until.timestamp()),
        )


class SnapshotHeader(_Model):
    """First line of an NDJSON snapshot: which version, made when, how many lines follow."""

    v: Literal[1] = ACCESS_SCHEMA_VERSION
    kind: Literal["member_snapshot"] = "member_snapshot"
    version: Version
    generated_at: Timestamp
    count: Annotated[int, Field(ge=0, le=10**8, strict=True)]


class MemberSnapshot(_Model):
    """A whole member list at one version, as a single object (small venues and tests)."""

    v: Literal[1] = ACCESS_SCHEMA_VERSION
    version: Version
    generated_at: Timestamp
    members: tuple[MemberEntry, ...]

    def header(self) -> SnapshotHeader:
        return SnapshotHeader(
            version=self.version, generated_at=self.generated_at, count=len(self.members)
        )


class MemberDelta(_Model):
    """The changes that take a cache from ``from_version`` to ``to_version``.

    A door applies it only if its cache is exactly at ``from_version``; otherwise it fetches
    a snapshot. ``from_version == to_version`` with no changes is a heartbeat: "nothing
    changed, you are current as of ``generated_at``".
    """

    v: Literal[1] = ACCESS_SCHEMA_VERSION
    from_version: Version
    to_version: Version
    generated_at: Timestamp
    changes: tuple[MemberEntry, ...] = Field(default=(), max_length=MAX_DELTA_CHANGES)

    @model_validator(mode="after")
    def _forward(self) -> MemberDelta:
        if self.to_version < self.from_version:
            raise ValueError(
                f"to_version {self.to_version} is before from_version {self.from_version}"
            )
        return self


class KeySet(_Model):
    """The issuer public keys a door trusts, by kid; several at once during a rotation.

    Also the on-disk format of a door's key file (``edge/access/keys.py``).
    """

    version: Version
    keys: dict[Kid, str] = Field(max_length=MAX_KEYS)

    @field_validator("keys")
    @classmethod
    def _raw_ed25519(cls, keys: dict[str, str]) -> dict[str, str]:
        for kid, text in keys.items():
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"key {kid!r} is not base64") from None
            if len(raw) != ED25519_PUBLIC_BYTES:
                raise ValueError(f"key {kid!r} is {len(raw)} bytes; a raw Ed25519 public key is 32")
        return keys

    def raw(self) -> dict[str, bytes]:
        return {kid: base64.b64decode(text) for kid, text in self.keys.items()}


def _error(line: int, exc: ValidationError) -> PayloadError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "$"
    return PayloadError(f"line {line}.{where}", first["msg"])


def dump_snapshot(header: SnapshotHeader, members: Iterable[MemberEntry]) -> Iterator[str]:
    """NDJSON lines (each ending in a newline) for a snapshot; checks the count as it goes."""
    yield header.model_dump_json(exclude_none=True) + "\n"
    written = 0
    for entry in members:
        written += 1
        yield entry.model_dump_json(exclude_none=True) + "\n"
    if written != header.count:
        raise PayloadError("$", f"header promised {header.count} members but {written} followed")


def load_snapshot(
    lines: Iterable[str | bytes],
) -> tuple[SnapshotHeader, Iterator[MemberEntry]]:
    """Parse an NDJSON snapshot: the header now, the members lazily.

    Raises :class:`PayloadError` (the iterator raises it mid-way) for a bad line, a line over
    ``MAX_LINE`` bytes, or a count that does not match: a door must then discard the
    half-applied snapshot, which ``MemberCache.apply_snapshot`` does by its transaction.
    """
    stream = iter(lines)
    try:
        first = next(stream)
    except StopIteration:
        raise PayloadError("$", "snapshot is empty; expected a header line") from None
    try:
        header = SnapshotHeader.model_validate_json(first)
    except ValidationError as exc:
        raise _error(1, exc) from None

    def members() -> Iterator[MemberEntry]:
        count = 0
        for number, line in enumerate(stream, start=2):
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                raise PayloadError(f"line {number}", f"over {MAX_LINE} bytes")
            try:
                entry = MemberEntry.model_validate_json(line)
            except ValidationError as exc:
                raise _error(number, exc) from None
            count += 1
            if count > header.count:
                raise PayloadError(f"line {number}", f"more than the {header.count} promised")
            yield entry
        if count != header.count:
            raise PayloadError(
                "$", f"snapshot ended after {count} of {header.count} members; download it again"
            )

    return header, members()

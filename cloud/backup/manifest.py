"""``manifest.json``: what a backup archive holds, who made it, and every member's digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from cloud.backup.errors import ArchiveError

# Bump when the archive layout changes in a way an older yizhan cannot read.
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SECRETS_NAME = "secrets.enc"
DatabaseKind = Literal["sqlite", "postgresql"]
DATABASE_NAMES: dict[str, str] = {
    "sqlite": "database.sqlite3",  # a SQLite file made with the online backup API
    "postgresql": "database.pgdump",  # pg_dump --format=custom
}
_CHUNK = 1024 * 1024


class MemberDigest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = FORMAT_VERSION
    created_at: AwareDatetime
    yizhan_version: str = Field(max_length=64)
    database: DatabaseKind
    # Alembic's current heads at backup time, comma-separated (cloud.migrate.current_revision).
    schema_revision: str = Field(min_length=1, max_length=400)
    members: dict[str, MemberDigest]

    @model_validator(mode="after")
    def _known_members(self) -> Self:
        allowed = {self.database_member, SECRETS_NAME}
        unknown = sorted(set(self.members) - allowed)
        if unknown or self.database_member not in self.members:
            raise ValueError(
                f"members must be {self.database_member} and optionally {SECRETS_NAME}, "
                f"not {sorted(self.members)}"
            )
        return self

    @property
    def database_member(self) -> str:
        return DATABASE_NAMES[self.database]

    @property
    def has_secrets(self) -> bool:
        return SECRETS_NAME in self.members

    def render(self) -> bytes:
        return (self.model_dump_json(indent=2) + "\n").encode()


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest of an archive; a newer format or a malformed one is refused by name."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise ArchiveError(f"{MANIFEST_NAME} is not JSON; the archive is damaged") from None
    made_by = data.get("yizhan_version", "an unknown version") if isinstance(data, dict) else ""
    if isinstance(data, dict) and data.get("format") != FORMAT_VERSION:
        raise ArchiveError(
            f"the archive has format {data.get('format')!r}, made by yizhan {made_by}; this "
            f"yizhan reads format {FORMAT_VERSION}: restore it with yizhan {made_by} or newer"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in problem["loc"]) or "the document"
        raise ArchiveError(
            f"{MANIFEST_NAME} is not a yizhan manifest ({where}: {problem['msg']}); "
            "the archive is damaged or was not made by yizhan"
        ) from None


def digest_file(path: Path) -> MemberDigest:
    """The SHA-256 and size of ``path``, read in chunks (dumps can be gigabytes)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return MemberDigest(sha256=digest.hexdigest(), size=size)

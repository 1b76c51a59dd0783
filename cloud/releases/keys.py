"""Which release key the cloud believes: the configured one, carried along stored rotations.

The cloud checks a manifest exactly as a box would (protocol.release): a box pins the key
it was installed with and walks the rotation statements the cloud serves, so the key a
publish must be signed with is the end of the same walk.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from cloud.releases.errors import ReleasesError
from cloud.releases.models import KeyRotationRow
from protocol.release import (
    KeyRotation,
    ReleaseError,
    ReleaseKey,
    follow_rotations,
)


def load_pinned(path: Path | None) -> ReleaseKey | None:
    """The configured release public key; ValueError naming the file if it is not one."""
    return None if path is None else ReleaseKey.load(path)


def no_key() -> ReleasesError:
    # 409, not 503: the cloud is up and answers; it is set up without the key (a state an
    # operator changes), like a route whose feature is not configured.
    return ReleasesError(
        409,
        code="release_key_missing",
        message="the cloud has no release public key, so it cannot check a manifest; set "
        "YZ_CLOUD_RELEASES__KEY_FILE to the release key's public JSON (yizhan release key)",
    )


def statements(session: Session) -> list[str]:
    """Every stored rotation statement's raw text, oldest first."""
    rows = session.exec(select(KeyRotationRow).order_by(col(KeyRotationRow.id)))
    return [row.statement for row in rows]


def current_key(session: Session, pinned: ReleaseKey | None) -> ReleaseKey:
    """The key a release must be signed with now."""
    if pinned is None:
        raise no_key()
    raw = [text.encode() for text in statements(session)]
    try:
        return follow_rotations(pinned, raw)
    except ReleaseError as exc:  # a stored statement that no longer verifies: never expected
        raise ReleasesError(
            500, code="rotation_broken", message=f"a stored key rotation is invalid: {exc}"
        ) from exc


def add_rotation(
    *, session: Session, pinned: ReleaseKey | None, raw: bytes, by: str, now: datetime
) -> tuple[KeyRotationRow, bool]:
    """Store a statement signed by the current key; (row, True if new)."""
    current = current_key(session, pinned)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ReleasesError(
            422, code="malformed", message="the statement is not UTF-8 JSON text"
        ) from None
    for row in session.exec(select(KeyRotationRow)):
        if row.statement == text:
            return row, False
    try:
        new = follow_rotations(current, [raw])
    except ReleaseError as exc:
        raise ReleasesError(422, code=exc.reason.value, message=str(exc)) from None
    if new.key_id == current.key_id:
        raise ReleasesError(
            422,
            code="rotation_not_chained",
            message=f"this statement is not signed by the current release key "
            f"{current.key_id}; sign the rotation with that key",
        )
    statement = KeyRotation.model_validate(_body(raw))
    row = KeyRotationRow(
        old_key_id=statement.old_key_id,
        new_key_id=statement.new_key_id,
        statement=text,
        added_at=now,
        added_by=by[:80],
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, True


def _body(raw: bytes) -> object:
    return json.loads(raw)["rotation"]  # verified by follow_rotations already

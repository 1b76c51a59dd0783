"""Publishing a release: the signed manifest is checked as a box would check it, then kept.

Refusals, in the order they are checked: a manifest that does not verify under the current
release key (422, the protocol's reason as the code), a version already published (409
``release_exists``; the identical bytes again are accepted as a repeat), a serial not above
every stored one (409 ``serial_not_newer``: boxes would refuse it as a downgrade), wheels not
uploaded yet (422 ``missing_blobs``, listing them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from cloud.releases.artifacts import ArtifactStore
from cloud.releases.errors import ReleasesError
from cloud.releases.keys import current_key
from cloud.releases.models import ReleaseRow
from protocol.release import Release, ReleaseError, ReleaseKey, verify_release


def publish(
    *,
    session: Session,
    store: ArtifactStore,
    pinned: ReleaseKey | None,
    raw: bytes,
    by: str,
    now: datetime,
) -> tuple[ReleaseRow, bool]:
    """Store the manifest ``raw`` unchanged; (row, True if new). ReleasesError says why not."""
    key = current_key(session, pinned)
    try:
        release = verify_release(raw, key)
    except ReleaseError as exc:
        raise ReleasesError(422, code=exc.reason.value, message=str(exc)) from None
    existing = session.get(ReleaseRow, release.version)
    if existing is not None:
        if existing.manifest == raw:
            return existing, False
        raise ReleasesError(
            409,
            code="release_exists",
            message=f"release {release.version} is published already with another manifest; "
            "a release is never replaced: build a new version with a higher serial",
        )
    _refuse_old_serial(session, release)
    _refuse_missing_blobs(store, release)
    row = ReleaseRow(
        version=release.version,
        serial=release.serial,
        python=release.python,
        machine=release.machine,
        notes=release.notes,
        created_at=release.created_at,
        total_bytes=release.total_bytes,
        wheel_count=len(release.wheels),
        wheels=[wheel.model_dump() for wheel in release.wheels],
        key_id=key.key_id,
        manifest=raw,
        published_at=now,
        published_by=by[:80],
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a publish of the same version or serial that won the race
        session.rollback()
        raise ReleasesError(
            409,
            code="serial_not_newer",
            message=f"release {release.version} (serial {release.serial}) was published by "
            "someone else at the same moment; list the releases and build a newer one",
        ) from None
    session.refresh(row)
    return row, True


def _refuse_old_serial(session: Session, release: Release) -> None:
    newest = session.exec(select(func.max(ReleaseRow.serial))).one()
    if newest is not None and release.serial <= newest:
        raise ReleasesError(
            409,
            code="serial_not_newer",
            message=f"release {release.version} has serial {release.serial}, not above "
            f"{newest} already published; boxes would refuse it as a downgrade: sign it "
            f"again with a serial above {newest}",
        )


def _refuse_missing_blobs(store: ArtifactStore, release: Release) -> None:
    missing = [wheel for wheel in release.wheels if not store.exists(wheel.sha256)]
    if missing:
        names = ", ".join(wheel.name for wheel in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ReleasesError(
            422,
            code="missing_blobs",
            message=f"{len(missing)} wheel(s) of release {release.version} are not uploaded: "
            f"{names}{more}; upload each with PUT /api/v1/releases/blobs/{{sha256}} first",
            details=[{"name": w.name, "sha256": w.sha256, "size": w.size} for w in missing],
        )

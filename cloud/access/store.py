"""Writes and reads of door sync: members with a change log, issuer keys, bookings.

Plain functions taking the session as a keyword; each write commits its own transaction.
Inputs are validated with the wire models (protocol/access.py, protocol/sync.py), so the
cloud can never store what a door would refuse; a bad input raises ``ValueError`` (pydantic's
``ValidationError``) naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from cloud.access.models import Booking, IssuerPublicKey, Member, MemberChange, Stream, SyncStream
from cloud.core.db import table_of
from cloud.core.time import as_utc, utc_now
from protocol.access import KeySet, MemberDelta, MemberEntry, MemberStatus
from protocol.sync import BookingChange, BookingSet, MemberSnapshotPage


class AccessStoreError(LookupError):
    """A write names something the store does not hold."""


@dataclass(frozen=True, slots=True)
class SnapshotRequired:
    """A delta cannot take the door from its version to the cloud's: fetch the full set."""

    reason: str


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _now(now: datetime | None) -> datetime:
    return utc_now() if now is None else now


def _take_versions(session: Session, stream: Stream, count: int = 1) -> int:
    """Reserve ``count`` versions of ``stream``; returns the last one.

    The UPDATE holds the stream's row lock until the caller commits, so writers of one
    stream commit in version order (see SyncStream).
    """
    statement = (
        update(SyncStream)
        .where(col(SyncStream.name) == stream.value)
        .values(version=col(SyncStream.version) + count)
        .returning(col(SyncStream.version))
    )
    last = session.exec(statement).scalar_one_or_none()
    if last is None:  # only on a database built without the migration's seed rows
        session.add(SyncStream(name=stream.value, version=count))
        session.flush()
        return count
    return int(last)


def _stream(session: Session, stream: Stream) -> SyncStream:
    row = session.get(SyncStream, stream.value, populate_existing=True)
    return row if row is not None else SyncStream(name=stream.value)


def stream_version(*, session: Session, stream: Stream) -> int:
    return _stream(session, stream).version


def _commit_versioned(
    session: Session, row: IssuerPublicKey | Booking, *, version: int, now: datetime | None
) -> int:
    """Stamp a changed row with its stream version and time, and commit it; returns the version.

    Callers take the version (:func:`_take_versions`) where they always have, so the order of
    the row's and the stream's locks stays what it was.
    """
    if isinstance(row, Booking):
        row.version = version  # a booking's version goes on the wire as BookingChange.version
    else:
        row.updated_version = version
    row.updated_at = _now(now)
    session.add(row)
    session.commit()
    return version


# --- members -----------------------------------------------------------------------------


# The roster's own columns of a member row (cloud.members.roster writes them); door sync
# never reads them.
ROSTER_COLUMNS = ("standing", "display_name", "phone_tail", "changed_by")


def _member_row(entry: MemberEntry) -> dict[str, Any]:
    return {
        "member_id": entry.member_id,
        "status": entry.status.value,
        "groups": list(entry.groups),
        "phone_certs_after": entry.phone_certs_after,
        "valid_until": entry.valid_until,
    }


def _entry(
    member_id: str,
    status: str,
    groups: Sequence[str],
    phone_certs_after: datetime | None,
    valid_until: datetime | None,
) -> MemberEntry:
    return MemberEntry(
        member_id=member_id,
        status=MemberStatus(status),
        groups=tuple(groups),
        phone_certs_after=_opt_utc(phone_certs_after),
        valid_until=_opt_utc(valid_until),
    )


def _standing(entry: MemberEntry) -> str:
    """The roster word for a door status written without one (revoked stays revoked)."""
    return "active" if entry.status is MemberStatus.ACTIVE else "revoked"


def upsert_members(
    *,
    session: Session,
    entries: Sequence[MemberEntry],
    now: datetime | None = None,
    roster: Sequence[dict[str, Any]] | None = None,
) -> int:
    """Store members' new states and log each as a change, in one transaction.

    Returns the stream version after the write. Bulk imports go through here: one
    statement for the members, one for the log. ``roster`` (one dict per entry, keys from
    :data:`ROSTER_COLUMNS`) is the roster's own columns; without it a member's standing
    follows its door status and the other roster columns are left as they are. What the
    caller added to the session before (the roster's audit) commits with it.
    """
    if not entries:
        return stream_version(session=session, stream=Stream.MEMBERS)
    at = _now(now)
    last = _take_versions(session, Stream.MEMBERS, len(entries))
    first = last - len(entries) + 1
    extra = roster if roster is not None else [{"standing": _standing(e)} for e in entries]
    rows = [
        _member_row(entry) | extra[i] | {"updated_version": first + i, "updated_at": at}
        for i, entry in enumerate(entries)
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table_of(Member))
    changed = (
        "status", "groups", "phone_certs_after", "valid_until", "updated_version", "updated_at",
        *(ROSTER_COLUMNS if roster is not None else ("standing",)),
    )  # fmt: skip
    session.exec(
        insert.on_conflict_do_update(
            index_elements=["member_id"], set_={name: insert.excluded[name] for name in changed}
        ),
        params=rows,
    )
    changes = [
        _member_row(entry) | {"version": first + i, "at": at} for i, entry in enumerate(entries)
    ]
    session.exec(dialect.insert(table_of(MemberChange)), params=changes)
    session.commit()
    return last


def upsert_member(
    *,
    session: Session,
    member_id: str,
    status: MemberStatus | str = MemberStatus.ACTIVE,
    groups: Sequence[str] = (),
    phone_certs_after: datetime | None = None,
    valid_until: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Set one member's state; returns the version of the change."""
    entry = MemberEntry(
        member_id=member_id,
        status=MemberStatus(status),
        groups=tuple(groups),
        phone_certs_after=phone_certs_after,
        valid_until=_opt_utc(valid_until),
    )
    return upsert_members(session=session, entries=[entry], now=now)


def revoke_member(*, session: Session, member_id: str, now: datetime | None = None) -> int:
    """Revoke a member (known or not: a revocation must reach the doors either way)."""
    member = session.get(Member, member_id)
    groups: Sequence[str] = () if member is None else member.groups
    after = None if member is None else member.phone_certs_after
    until = None if member is None else member.valid_until
    return upsert_member(
        session=session,
        member_id=member_id,
        status=MemberStatus.REVOKED,
        groups=groups,
        phone_certs_after=after,
        valid_until=until,
        now=now,
    )


def snapshot(
    *,
    session: Session,
    after_member_id: str | None = None,
    limit: int,
    now: datetime | None = None,
) -> MemberSnapshotPage:
    """One page of members ordered by id, starting after ``after_member_id``."""
    # The version first, then the rows (a later statement): every row is at least this new.
    version = stream_version(session=session, stream=Stream.MEMBERS)
    # SQLAlchemy's select: sqlmodel's is typed for at most four columns.
    query = sa_select(
        col(Member.member_id),
        col(Member.status),
        col(Member.groups),
        col(Member.phone_certs_after),
        col(Member.valid_until),
    ).order_by(col(Member.member_id))
    if after_member_id is not None:
        query = query.where(col(Member.member_id) > after_member_id)
    rows = session.execute(query.limit(limit + 1)).all()
    members = tuple(_entry(*row) for row in rows[:limit])
    return MemberSnapshotPage(
        version=version,
        generated_at=_now(now),
        members=members,
        next_after=members[-1].member_id if len(rows) > limit else None,
    )


def delta(
    *, session: Session, from_version: int, limit: int, now: datetime | None = None
) -> MemberDelta | SnapshotRequired:
    """The changes after ``from_version`` (at most ``limit``), or why a snapshot is needed.

    Fewer than ``limit`` changes means the door is then current; a full page means ask
    again from the returned ``to_version``.
    """
    query = (
        select(MemberChange)
        .where(col(MemberChange.version) > from_version)
        .order_by(col(MemberChange.version))
        .limit(limit)
    )
    changes = session.exec(query).all()
    # Read after the changes: a compaction committed before them shows in the floor, so
    # a log with a hole is never served as complete (at worst a delta is refused needlessly).
    stream = _stream(session, Stream.MEMBERS)
    if from_version < stream.floor:
        return SnapshotRequired(
            f"changes before version {stream.floor} were compacted; version {from_version} "
            "is too old for a delta"
        )
    if from_version > stream.version:
        return SnapshotRequired(
            f"version {from_version} is newer than the cloud's {stream.version}; the cloud "
            "database was replaced or restored"
        )
    return MemberDelta(
        from_version=from_version,
        to_version=changes[-1].version if changes else from_version,
        generated_at=_now(now),
        changes=tuple(
            _entry(c.member_id, c.status, c.groups, c.phone_certs_after, c.valid_until)
            for c in changes
        ),
    )


def compact_member_log(*, session: Session, through_version: int) -> int:
    """Delete changes up to ``through_version``; doors older than that need a snapshot.

    Returns how many changes went. Keep the log long enough for a box that was offline for
    a normal outage (days), or every such box will download the whole member list.
    """
    # Lock the stream row like a writer does, so the floor and the delete commit together.
    _take_versions(session, Stream.MEMBERS, 0)
    stream = _stream(session, Stream.MEMBERS)
    if through_version > stream.version:
        session.rollback()
        raise ValueError(
            f"cannot compact through version {through_version}: the stream is at {stream.version}"
        )
    result = session.exec(delete(MemberChange).where(col(MemberChange.version) <= through_version))
    stream.floor = max(stream.floor, through_version)
    session.add(stream)
    session.commit()
    return int(result.rowcount)


# --- issuer keys ---------------------------------------------------------------------------


def put_key(
    *,
    session: Session,
    kid: str,
    public_key: str,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    active: bool = True,
    now: datetime | None = None,
) -> int:
    """Add or replace an issuer public key (standard base64 of the 32 raw bytes)."""
    KeySet(version=0, keys={kid: public_key})  # the doors' own check of kid and key
    version = _take_versions(session, Stream.KEYS)
    row = session.get(IssuerPublicKey, kid)
    if row is None:
        row = IssuerPublicKey(kid=kid, public_key=public_key, updated_version=version)
    row.public_key = public_key
    row.active = active
    row.not_before = not_before
    row.not_after = not_after
    return _commit_versioned(session, row, version=version, now=now)


def retire_key(*, session: Session, kid: str, now: datetime | None = None) -> int:
    """Stop distributing a key; doors then refuse its codes as ``unknown_key``."""
    row = session.get(IssuerPublicKey, kid)
    if row is None:
        raise AccessStoreError(f"there is no issuer key {kid!r}")
    row.active = False
    version = _take_versions(session, Stream.KEYS)
    return _commit_versioned(session, row, version=version, now=now)


def keyset(*, session: Session, now: datetime | None = None) -> KeySet:
    """The keys doors should trust now.

    A key past its ``not_after`` is retired (with a new version) the first time anyone asks
    after that moment, so the set's version changes whenever its content does. A key before
    its ``not_before`` is sent anyway: doors must hold a key before codes signed with it
    appear (protocol.md, key rotation), and holding it early lets nobody mint codes.
    """
    at = _now(now)
    for row in session.exec(select(IssuerPublicKey).where(col(IssuerPublicKey.active))).all():
        if row.not_after is not None and as_utc(row.not_after) <= at:
            retire_key(session=session, kid=row.kid, now=at)
    version = stream_version(session=session, stream=Stream.KEYS)
    rows = session.exec(
        select(IssuerPublicKey)
        .where(col(IssuerPublicKey.active))
        .order_by(col(IssuerPublicKey.kid))
    ).all()
    return KeySet(version=version, keys={row.kid: row.public_key for row in rows})


# --- bookings ------------------------------------------------------------------------------


def upsert_booking(
    *,
    session: Session,
    booking_id: str,
    venue_id: str,
    door: str,
    member_id: str,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime | None = None,
    room_id: str | None = None,
    booked_by: str | None = None,
) -> int:
    """Create or move a booking; returns its new version."""
    version = _take_versions(session, Stream.BOOKINGS)
    checked = BookingChange(
        booking_id=booking_id,
        door_id=door,
        member_id=member_id,
        start=starts_at,
        end=ends_at,
        version=version,
    )
    row = session.get(Booking, booking_id)
    if row is None:
        row = Booking(
            id=checked.booking_id,
            venue_id=venue_id,
            door=checked.door_id,
            member_id=checked.member_id,
            starts_at=checked.start,
            ends_at=checked.end,
            version=version,
        )
    elif row.venue_id != venue_id:
        session.rollback()
        raise AccessStoreError(
            f"booking {booking_id!r} belongs to venue {row.venue_id!r}, not {venue_id!r}; "
            "cancel it and book again"
        )
    row.door, row.member_id = checked.door_id, checked.member_id
    row.starts_at, row.ends_at = checked.start, checked.end
    row.cancelled = False
    if room_id is not None:
        row.room_id, row.booked_by = room_id, booked_by
    return _commit_versioned(session, row, version=version, now=now)


def lock_bookings(session: Session) -> None:
    """Hold the bookings stream's lock until the caller commits: booking writers queue.

    What a writer reads after this (the bookings of a slot) stays true until it commits, so
    two requests for a slot's last place cannot both take it.
    """
    _take_versions(session, Stream.BOOKINGS, 0)


def cancel_booking(*, session: Session, booking_id: str, now: datetime | None = None) -> int:
    row = session.get(Booking, booking_id)
    if row is None:
        raise AccessStoreError(f"there is no booking {booking_id!r}")
    row.cancelled = True
    version = _take_versions(session, Stream.BOOKINGS)
    return _commit_versioned(session, row, version=version, now=now)


def _booking_change(row: Booking) -> BookingChange:
    return BookingChange(
        booking_id=row.id,
        door_id=row.door,
        member_id=row.member_id,
        start=as_utc(row.starts_at),
        end=as_utc(row.ends_at),
        cancelled=row.cancelled,
        version=row.version,
    )


def bookings(
    *,
    session: Session,
    venue_id: str,
    from_version: int,
    limit: int,
    now: datetime | None = None,
) -> BookingSet | SnapshotRequired:
    """The venue's bookings changed after ``from_version``; from 0, the current ones only."""
    at = _now(now)
    current = stream_version(session=session, stream=Stream.BOOKINGS)
    if from_version > current:
        return SnapshotRequired(
            f"version {from_version} is newer than the cloud's {current}; the cloud database "
            "was replaced or restored: fetch the bookings from version 0"
        )
    query = select(Booking).where(
        col(Booking.venue_id) == venue_id, col(Booking.version) > from_version
    )
    full = from_version == 0
    if full:
        query = query.where(~col(Booking.cancelled), col(Booking.ends_at) > at)
    rows = session.exec(query.order_by(col(Booking.version)).limit(limit)).all()
    # Versions commit in order, so every row up to `current` (read before the rows) is
    # among them; on a full page the next page starts after the last row instead.
    to_version = max([current, *(row.version for row in rows)])
    if len(rows) == limit:
        to_version = rows[-1].version
    return BookingSet(
        venue=venue_id,
        from_version=from_version,
        to_version=to_version,
        generated_at=at,
        full=full,
        bookings=tuple(_booking_change(row) for row in rows),
    )

"""The door's member/revocation cache: a versioned snapshot plus deltas, in SQLite.

A code's signature proves membership; this cache only says who has been **revoked** since
(and which phone certificates were withdrawn). A member missing from the cache (joined after
the last sync) is therefore not refused. What the cache must be is recent: older than
``max_offline_age`` and the verifier refuses everyone (``stale_cache``), because a revocation
the door has not heard of would otherwise let a suspended member in indefinitely.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Final

from edge.errors import EdgeError
from edge.storage import open_sqlite
from protocol.access import MemberRecord, MemberStatus

DEFAULT_MAX_OFFLINE_AGE: Final = timedelta(days=7)
_BATCH: Final = 50_000  # rows per executemany: bounded memory for a streamed snapshot

_MEMBERS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS {table} (
    member_id TEXT PRIMARY KEY,
    revoked INTEGER NOT NULL,
    groups TEXT NOT NULL,
    phone_certs_after INTEGER,
    valid_until INTEGER
) WITHOUT ROWID
"""
_SCHEMA: Final = (
    _MEMBERS_TABLE.format(table="members")
    + """;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""
)
_INSERT: Final = (
    "INSERT OR REPLACE INTO {table} (member_id, revoked, groups, phone_certs_after, valid_until) "
    "VALUES (?, ?, ?, ?, ?)"
)
_ROW = tuple[str, int, str, int | None, int | None]


class MembersError(EdgeError):
    """Base of the member cache's errors."""


class DeltaGapError(MembersError):
    """A delta that does not start at the cache's version: the caller must fetch a snapshot."""


def _row(record: MemberRecord) -> _ROW:
    member_id, status, groups, after, until = record
    return member_id, int(status == MemberStatus.REVOKED), " ".join(groups), after, until


def _rows(records: Iterable[MemberRecord]) -> Iterator[list[_ROW]]:
    iterator = iter(records)
    while batch := [_row(record) for record in islice(iterator, _BATCH)]:
        yield batch


class MemberCache:
    """Persisted in one SQLite file (WAL); lookups are a primary-key read."""

    def __init__(self, path: Path | str) -> None:
        self._db = open_sqlite(path, synchronous="NORMAL")
        self._db.executescript(_SCHEMA)
        self._add_valid_until()

    def _add_valid_until(self) -> None:
        """A cache written before memberships had an end gains the column (empty: no end)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(members)")}
        if "valid_until" not in columns:
            self._db.execute("ALTER TABLE members ADD COLUMN valid_until INTEGER")

    def close(self) -> None:
        self._db.close()

    def _meta(self, name: str) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def _set_meta(self, version: int, synced_at: datetime) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
            [("version", version), ("synced_at", int(synced_at.timestamp()))],
        )

    @property
    def version(self) -> int | None:
        """The version of the last snapshot or delta applied; None if never synced."""
        return self._meta("version")

    @property
    def synced_at(self) -> datetime | None:
        """When the cloud last vouched for this cache (snapshot, delta or heartbeat)."""
        value = self._meta("synced_at")
        return None if value is None else datetime.fromtimestamp(value, UTC)

    def age(self, now: datetime) -> timedelta | None:
        synced = self.synced_at
        return None if synced is None else now - synced

    def staleness(
        self, now: datetime, max_offline_age: timedelta = DEFAULT_MAX_OFFLINE_AGE
    ) -> str | None:
        """None if the cache may be used at ``now``; otherwise why not and what to do."""
        age = self.age(now)
        if age is None:
            return "member cache was never synced; connect the box to the network to sync it"
        if age > max_offline_age:
            return (
                f"member cache is {_human(age)} old (last sync {self.synced_at:%Y-%m-%d %H:%M} "
                f"UTC, limit {_human(max_offline_age)}); restore the box's network so it can "
                "sync, the door refuses members until then"
            )
        return None

    def apply_snapshot(
        self, version: int, members: Iterable[MemberRecord], *, synced_at: datetime
    ) -> int:
        """Replace the whole cache, atomically; returns the member count.

        Rows go into a fresh table that replaces the old one in the same transaction, so a
        snapshot that breaks off mid-stream (bad line, lost connection) leaves the old cache,
        and lookups never see half of each.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DROP TABLE IF EXISTS members_new")
            db.execute(_MEMBERS_TABLE.format(table="members_new"))
            count = 0
            for batch in _rows(members):
                db.executemany(_INSERT.format(table="members_new"), batch)
                count += len(batch)
            db.execute("DROP TABLE members")
            db.execute("ALTER TABLE members_new RENAME TO members")
            self._set_meta(version, synced_at)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # A snapshot passes through the WAL whole; give the space back to a small SD card.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    def apply_delta(
        self,
        from_version: int,
        to_version: int,
        changes: Iterable[MemberRecord],
        *,
        synced_at: datetime,
    ) -> None:
        """Apply changes that take the cache from ``from_version`` to ``to_version``.

        Raises :class:`DeltaGapError` if the cache is not at ``from_version`` (missed deltas,
        or never synced): fetch a snapshot. An empty delta with equal versions is a heartbeat
        that only renews ``synced_at``.
        """
        if to_version < from_version:
            raise DeltaGapError(f"delta goes backwards ({from_version} -> {to_version})")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._expect_version(from_version)
            for batch in _rows(changes):
                db.executemany(_INSERT.format(table="members"), batch)
            self._set_meta(to_version, synced_at)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _expect_version(self, from_version: int) -> None:
        current = self.version
        if current != from_version:
            raise DeltaGapError(
                f"delta starts at version {from_version} but the cache is at {current}; "
                "fetch a snapshot"
            )

    def lookup(self, member_id: str) -> MemberRecord | None:
        row = self._db.execute(
            "SELECT revoked, groups, phone_certs_after, valid_until FROM members "
            "WHERE member_id = ?",
            (member_id,),
        ).fetchone()
        if row is None:
            return None
        status = MemberStatus.REVOKED if row[0] else MemberStatus.ACTIVE
        return MemberRecord(member_id, status, tuple(row[1].split()), row[2], row[3])

    def is_revoked(self, member_id: str) -> bool:
        row = self._db.execute(
            "SELECT revoked FROM members WHERE member_id = ?", (member_id,)
        ).fetchone()
        return row is not None and bool(row[0])

    def __len__(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM members").fetchone()[0]
        return count


def _human(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"

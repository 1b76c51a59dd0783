"""Leader election: exactly one cloud process runs the scheduled jobs.

PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection for as
long as the process leads. The server drops it the moment that connection dies, so a killed
leader is replaced at the next attempt of another process, with no lease to wait out.

SQLite (one machine, no advisory locks): a lease row ``job_leader(name, holder,
expires_at)``, renewed well before it lapses and taken over by anyone once it has.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Final, Protocol

from sqlalchemy import Connection, Engine, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from cloud.core.db import table_of
from cloud.core.time import Clock, as_utc
from cloud.jobs.models import JobLeader

logger = logging.getLogger(__name__)

LEADER_NAME: Final = "cloud-jobs"
# Not cloud.migrate.ADVISORY_LOCK_KEY ("yizhan"): that one is transaction-scoped for
# upgrades. This is "yzjobs" in ASCII, so it is recognisable in pg_locks.
JOBS_LOCK_KEY: Final = 0x797A6A6F6273

JOB_LEADER = table_of(JobLeader)


class LeaderElector(Protocol):
    holder: str

    def try_lead(self) -> bool:
        """Take or keep the leadership; whether this process leads now."""

    def is_leader(self) -> bool:
        """Whether this process may run jobs at this moment (no database round trip)."""

    def release(self) -> None:
        """Give the leadership up so another process takes over at once."""


def new_holder_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseElector:
    """A lease row renewed by its holder and taken over by anyone once it has expired."""

    def __init__(
        self, engine: Engine, *, lease: timedelta, clock: Clock, holder: str | None = None
    ) -> None:
        self.holder = holder or new_holder_id()
        self._engine = engine
        self._lease = lease
        self._clock = clock
        self._expires_at: datetime | None = None

    def try_lead(self) -> bool:
        now = as_utc(self._clock())
        expires = now + self._lease
        c = JOB_LEADER.c
        try:
            with self._engine.begin() as conn:
                taken = conn.execute(
                    update(JOB_LEADER)
                    .where(c.name == LEADER_NAME, or_(c.holder == self.holder, c.expires_at <= now))
                    .values(holder=self.holder, expires_at=expires)
                ).rowcount
                if not taken:
                    taken = _insert_if_absent(conn, self.holder, expires)
        except DBAPIError:
            logger.exception("could not renew the job leader lease; not leading until it works")
            taken = 0
        was_leader = self.is_leader()
        self._expires_at = expires if taken else None
        if taken and not was_leader:
            logger.info("%s leads the scheduled jobs (lease until %s)", self.holder, expires)
        return bool(taken)

    def is_leader(self) -> bool:
        # A lease that lapsed without renewal may already be someone else's.
        return self._expires_at is not None and as_utc(self._clock()) < self._expires_at

    def release(self) -> None:
        if self._expires_at is None:
            return
        self._expires_at = None
        c = JOB_LEADER.c
        with self._engine.begin() as conn:
            conn.execute(
                update(JOB_LEADER)
                .where(c.name == LEADER_NAME, c.holder == self.holder)
                .values(expires_at=as_utc(self._clock()))
            )


def _insert_if_absent(conn: Connection, holder: str, expires: datetime) -> int:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(JOB_LEADER)
        .values(name=LEADER_NAME, holder=holder, expires_at=expires)
        .on_conflict_do_nothing(index_elements=["name"])
        # rowcount is -1 for this statement on some drivers; RETURNING is exact.
        .returning(JOB_LEADER.c.name)
    )
    return len(conn.execute(stmt).all())


class AdvisoryLockElector:
    """PostgreSQL's session advisory lock, held on one connection kept open while leading."""

    def __init__(self, engine: Engine, *, key: int = JOBS_LOCK_KEY) -> None:
        self.holder = new_holder_id()
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None

    def try_lead(self) -> bool:
        if self._conn is not None:
            try:  # a lock is only as alive as the connection that holds it
                self._conn.execute(text("SELECT 1"))
            except DBAPIError:
                logger.exception("lost the connection holding the job leader lock")
                self._drop()
            else:
                return True
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError:
            logger.exception("cannot reach the database to take the job leader lock")
            return False
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
        ).scalar_one()
        if not got:
            conn.close()
            return False
        self._conn = conn
        logger.info("%s leads the scheduled jobs (advisory lock %#x)", self.holder, self._key)
        return True

    def is_leader(self) -> bool:
        return self._conn is not None

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        finally:
            conn.close()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()
            conn.close()


def make_elector(engine: Engine, *, lease: timedelta, clock: Clock) -> LeaderElector:
    """The advisory lock on PostgreSQL, the lease row elsewhere (SQLite)."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLockElector(engine)
    return LeaseElector(engine, lease=lease, clock=clock)

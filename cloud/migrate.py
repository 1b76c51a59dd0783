"""Bring a cloud database to the newest schema with Alembic, from code, on every start."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works as long as every process uses the same one; this is "yizhan" in ASCII
# so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = 0x79697A68616E


def lock_against_concurrent_upgrades(connection: Connection) -> None:
    """On PostgreSQL, wait for any other upgrade to commit before looking at the schema.

    Two ingest workers starting together would both see an empty alembic_version and both
    CREATE TABLE. The lock is transaction-scoped: it is released when the upgrade commits,
    after which the waiting caller reads the new version and has nothing left to do.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


@contextmanager
def _one_upgrader_per_file(engine: Engine) -> Iterator[None]:
    """On a SQLite file, the same guarantee through a lock file beside it.

    SQLite runs Alembic's CREATE TABLEs outside a transaction, so ``cloud ingest &`` and
    ``cloud serve &`` started together on a new file both created the tables, and one died
    with "table … already exists". ``flock`` is released when the process ends, however.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def alembic_config(connection: Connection) -> Config:
    """An Alembic config built in code: the shipped migrations, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py picks the connection up from here instead of building its own engine.
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, *, revision: str = "heads") -> None:
    """Migrate the database behind ``engine`` to ``revision``; a no-op when already there.

    Safe to call from several processes at once: on PostgreSQL through an advisory lock
    (the whole upgrade is one transaction there), on a SQLite file through a lock file. Not
    safe from two threads of one process: Alembic keeps its migration context in a
    module global.
    """
    with _one_upgrader_per_file(engine), engine.begin() as connection:
        lock_against_concurrent_upgrades(connection)
        command.upgrade(alembic_config(connection), revision)


def head_revision() -> str:
    """The newest revisions shipped with this code, comma-separated.

    Features add their tables on branches from a common base (several heads); ``upgrade``
    applies every head, so the branches never have to be merged by hand.
    """
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    if not heads:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}; the package is incomplete")
    return ",".join(sorted(heads))


def current_revision(engine: Engine) -> str | None:
    """The revisions the database is at (comma-separated), or ``None`` if never migrated."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) if heads else None

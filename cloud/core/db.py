"""Database engines: SQLite in WAL mode by default, PostgreSQL (psycopg 3) at scale."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


class DatabaseUrlError(ValueError):
    """A database URL this project cannot use."""


class DatabaseUnreachableError(Exception):
    """The database refused, or did not answer, a connection; the message names it."""


def shown_url(url: str) -> str:
    """``url`` as it may be printed: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL has no password to find
        return "the configured database"


def unreachable(url: str | None, exc: OperationalError) -> DatabaseUnreachableError:
    """One line: which database (when known), the driver's own first line, what to do."""
    # The driver's message goes on with hints over several lines ("Is the server
    # running…"); its first line names host, port and reason.
    said = str(exc.orig if exc.orig is not None else exc).strip()
    reason = said.splitlines()[0] if said else type(exc).__name__
    return DatabaseUnreachableError(
        f"cannot use the database{f' at {shown_url(url)}' if url else ''}: {reason}; "
        "start it, or point --database-url (YZ_CLOUD_DATABASE_URL) at one that answers"
    )


@contextmanager
def reporting_unreachable(url: str) -> Iterator[None]:
    """Turn SQLAlchemy's OperationalError inside the block into DatabaseUnreachableError."""
    try:
        yield
    except OperationalError as exc:
        raise unreachable(url, exc) from exc


def normalize_url(url: str) -> str:
    """Accept the URLs people type (``postgresql://…``) and pick the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a terse message
        raise DatabaseUrlError(
            f"database URL {url!r} is not valid: use sqlite:///path/to/cloud.db or "
            "postgresql://user@host:5432/dbname"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(
            f"database {parsed.get_backend_name()!r} is not supported: use SQLite or PostgreSQL"
        )
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while ingest writes; NORMAL sync is durable across process
    # crashes (power loss may lose the last transaction, never corrupt the file).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` (SQLite files get their folder created)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # connect_timeout: a database host that stops answering makes /healthz say 503 in
    # seconds instead of hanging every request.
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"connect_timeout": 5}
    )


def table_of(model: Any) -> Table:
    """The Core ``Table`` behind a SQLModel table class, typed (SQLModel leaves it ``Any``)."""
    table: Table = model.__table__
    return table


def no_nul(text: str) -> str:
    """``text`` with U+0000 replaced by U+FFFD, so PostgreSQL can store it.

    PostgreSQL text cannot hold U+0000; one device string carrying it would make the whole
    ingest transaction fail on every retry and stall ingest for every device.
    """
    return text.replace("\x00", "\ufffd")

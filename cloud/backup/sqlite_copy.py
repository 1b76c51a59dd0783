"""SQLite dump and restore with SQLite's online backup API.

``Connection.backup`` copies a consistent snapshot page by page while the cloud keeps
writing (WAL lets readers and one writer proceed), so a running cloud is backed up without
stopping it; copying the file instead could catch it between the database and its -wal file.
See https://www.sqlite.org/backup.html.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from cloud.backup.errors import BackupError, DatabaseCommandError

# Wait this long for a writer's lock rather than fail a nightly backup on a busy moment.
BUSY_TIMEOUT_S = 30.0


def require_sqlite_file(path: Path) -> None:
    """Refuse a missing database file (connecting would create an empty one)."""
    if not path.is_file():
        raise BackupError(
            f"there is no SQLite database at {path}; check --data-dir or --database-url"
        )


def dump_sqlite(source: Path, *, to: Path) -> None:
    """Copy the database at ``source`` into the new file ``to``."""
    require_sqlite_file(source)
    try:
        with (
            closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)) as src,
            closing(sqlite3.connect(to)) as dst,
        ):
            src.backup(dst)
            # One self-contained file in the archive, not a WAL database expecting a -wal.
            dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise DatabaseCommandError(f"cannot back up the SQLite database {source}: {exc}") from None


def restore_sqlite(dump: Path, *, target: Path) -> None:
    """Replace everything in the database at ``target`` (created if missing) with ``dump``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            closing(sqlite3.connect(dump)) as src,
            closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT_S)) as dst,
        ):
            problem = src.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise DatabaseCommandError(
                    f"the SQLite database in the backup is damaged ({problem}); use another backup"
                )
            src.backup(dst)
    except sqlite3.Error as exc:
        raise DatabaseCommandError(f"cannot restore into {target}: {exc}") from None

"""The database a backup is taken from or restored into, whichever of SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from cloud.backup.errors import BackupError, SchemaTooNewError
from cloud.backup.manifest import DatabaseKind, Manifest
from cloud.backup.postgres_dump import clear_schema, dump_postgres, find_tool, restore_postgres
from cloud.backup.sqlite_copy import dump_sqlite, require_sqlite_file, restore_sqlite
from cloud.core.db import DatabaseUrlError, make_engine, normalize_url
from cloud.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade


@dataclass(frozen=True, slots=True)
class Database:
    url: URL
    kind: DatabaseKind

    @classmethod
    def from_url(cls, url: str) -> Database:
        """The database behind a SQLAlchemy URL as ``yizhan cloud`` commands take it."""
        try:
            parsed = make_url(normalize_url(url))
        except DatabaseUrlError as exc:
            raise BackupError(str(exc)) from None
        if parsed.get_backend_name() == "postgresql":
            return cls(parsed, "postgresql")
        if parsed.database in (None, "", ":memory:"):
            raise BackupError("an in-memory SQLite database cannot be backed up or restored")
        return cls(parsed, "sqlite")

    def __str__(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.database or "")

    def check_tool(self, name: str) -> None:
        """Fail before any work if the PostgreSQL tool this will need is missing."""
        if self.kind == "postgresql":
            find_tool(name)

    @contextmanager
    def _engine(self) -> Iterator[Engine]:
        engine = make_engine(self.url.render_as_string(hide_password=False))
        try:
            yield engine
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise BackupError(
                f"cannot reach the database {self}: {reason}; check the URL, and that the "
                "database exists (create an empty one to restore into)"
            ) from None
        finally:
            engine.dispose()

    def revision(self) -> str | None:
        """The schema revision of an existing database (a missing SQLite file is an error)."""
        if self.kind == "sqlite":
            require_sqlite_file(self.sqlite_path)
        with self._engine() as engine:
            return current_revision(engine)

    def tables(self) -> list[str]:
        """The tables the database holds already (empty for a new database)."""
        if self.kind == "sqlite" and not self.sqlite_path.exists():
            return []
        with self._engine() as engine:
            return sorted(inspect(engine).get_table_names())

    def dump(self, *, to: Path) -> None:
        if self.kind == "postgresql":
            dump_postgres(self.url, to=to)
        else:
            dump_sqlite(self.sqlite_path, to=to)

    def load(self, dump: Path, *, replace: bool) -> None:
        """Load ``dump``; ``replace`` first removes what a PostgreSQL target holds.

        (A SQLite restore replaces every page of the target anyway.)
        """
        if self.kind == "sqlite":
            restore_sqlite(dump, target=self.sqlite_path)
            return
        if not replace:
            restore_postgres(dump, url=self.url)
            return
        # Clearing commits on its own, so keep what the database holds now: a load that
        # fails (a damaged dump, a client too old) puts it back instead of leaving it empty.
        before = dump.with_name("before-restore.dump")
        dump_postgres(self.url, to=before)
        self._clear()
        try:
            restore_postgres(dump, url=self.url)
        except BackupError as exc:
            self._clear()
            restore_postgres(before, url=self.url)
            raise BackupError(f"{exc}; the database was put back as it was before") from exc

    def _clear(self) -> None:
        with self._engine() as engine, engine.begin() as connection:
            clear_schema(connection)

    def upgrade(self) -> str | None:
        """Migrate to this code's schema; returns the revision reached."""
        with self._engine() as engine:
            upgrade(engine)
            return current_revision(engine)


def check_known_revision(manifest: Manifest, *, version: str) -> None:
    """Refuse a backup whose schema is newer than the migrations shipped with this code."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = sorted(set(manifest.schema_revision.split(",")) - known)
    if unknown:
        raise SchemaTooNewError(
            f"the backup is at schema revision {manifest.schema_revision}, made by yizhan "
            f"{manifest.yizhan_version}; this yizhan ({version}) knows revisions up to "
            f"{head_revision()} and not {', '.join(unknown)}. Restore it with yizhan "
            f"{manifest.yizhan_version} or newer"
        )

"""PostgreSQL dump and restore with ``pg_dump --format=custom`` and ``pg_restore``.

The custom format is compressed, restores tables in dependency order and can be inspected
with ``pg_restore --list``; ``--no-owner`` lets a dump taken as one role load as another.
The password goes to the tools in ``PGPASSWORD``, never on the command line, where every
user of the host could read it in ``ps``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import URL

from cloud.backup.errors import DatabaseCommandError, ToolMissingError

# A host that does not answer fails the backup in seconds instead of hanging the timer.
CONNECT_TIMEOUT_S = 10
# The last lines of a tool's error output are the ones that say what went wrong.
_STDERR_LINES = 8


def find_tool(name: str) -> str:
    """The path of ``name`` (pg_dump, pg_restore) on PATH, or a clear error."""
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(
            f"{name} was not found on PATH; install the Debian package postgresql-client "
            f"(`apt-get install postgresql-client`), at least the server's major version"
        )
    return found


def libpq_target(url: URL) -> tuple[str, dict[str, str]]:
    """A connection URI without the password, and the environment that carries it."""
    # URL.set(password=None) keeps the password (None means "unchanged"): build anew.
    bare = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    uri = bare.render_as_string(hide_password=False)
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_S))
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return uri, env


def dump_postgres(url: URL, *, to: Path) -> None:
    """``pg_dump`` the database at ``url`` into the new file ``to`` (one consistent snapshot)."""
    uri, env = libpq_target(url)
    argv = [find_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={to}", "--", uri]
    _run(argv, env=env, what="pg_dump")


def restore_postgres(dump: Path, *, url: URL) -> None:
    """``pg_restore`` ``dump`` into the database at ``url``, all of it or (on error) none."""
    uri, env = libpq_target(url)
    argv = [
        find_tool("pg_restore"),
        "--no-owner",
        # Grants name roles of the source cluster, which the target may not have.
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={uri}",
        str(dump),
    ]
    _run(argv, env=env, what="pg_restore")


def _run(argv: list[str], *, env: dict[str, str], what: str) -> None:
    result = subprocess.run(  # noqa: S603  (fixed argv from a found tool, no shell)
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        said = "\n".join(result.stderr.strip().splitlines()[-_STDERR_LINES:])
        raise DatabaseCommandError(
            f"{what} failed (exit {result.returncode}): {said or 'no output'}. If it names a "
            "version mismatch, install postgresql-client of the server's major version"
        )


def clear_schema(connection: Connection) -> None:
    """Drop every view, table, sequence and function of the connection's current schema.

    ``--force`` restores into a database that has data; the dump can only be loaded into an
    empty schema, and a schema of a newer yizhan may hold tables the dump does not name.
    """
    found = inspect(connection)
    quote = connection.dialect.identifier_preparer.quote
    for kind, names in (
        ("VIEW", found.get_view_names()),
        ("TABLE", found.get_table_names()),
        ("SEQUENCE", found.get_sequence_names()),
    ):
        for name in names:
            connection.execute(text(f"DROP {kind} IF EXISTS {quote(name)} CASCADE"))
    # Functions that belong to an extension (deptype 'e') go with the extension, not here.
    functions = connection.execute(
        text(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = current_schema() AND NOT EXISTS"
            " (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
        )
    ).scalars()
    for signature in list(functions):
        connection.execute(text(f"DROP FUNCTION IF EXISTS {signature} CASCADE"))

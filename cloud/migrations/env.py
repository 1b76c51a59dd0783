"""Alembic environment: migrate the connection :func:`cloud.migrate.upgrade` hands over.

There is no ``alembic.ini`` and no URL here on purpose: the process's composition root owns
the engine, and the migration runs inside the transaction (and, on PostgreSQL, under the
advisory lock) that cloud.migrate.upgrade opened.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise TypeError(
            "the cloud migrations run on a connection handed over by "
            "cloud.migrate.upgrade(engine); call that instead of the alembic command line"
        )
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use cloud.migrate.upgrade")
run_migrations_online()

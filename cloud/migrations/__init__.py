"""Alembic migrations of the cloud store; run them with :func:`cloud.migrate.upgrade`."""

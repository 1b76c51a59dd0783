"""The notify tests' seeded database and app, shared with the security review's tests.

The review's regressions run on SQLite alone: the notify, reports and settings tests they
guard already run every query on SQLite and PostgreSQL, and doubling these would cost the
suite about a minute for no query it does not already run.
"""

import shutil
from pathlib import Path

import pytest

from tests.cloud.notify.conftest import engine, robots, services, site  # noqa: F401


@pytest.fixture
def migrated_db_url(tmp_path: Path, _sqlite_template: Path) -> str:
    path = tmp_path / "cloud.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"

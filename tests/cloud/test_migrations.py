"""The Alembic migrations build exactly the schema of cloud.models, idempotently, concurrently."""

import fcntl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, SQLModel, select

from cloud.core.db import make_engine
from cloud.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    lock_against_concurrent_upgrades,
    upgrade,
)
from cloud.models import Venue

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_fresh_database_has_no_revision(engine: Engine) -> None:
    assert current_revision(engine) is None


def test_upgrade_builds_the_schema_of_the_models(engine: Engine) -> None:
    upgrade(engine)

    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Station 1"))
        session.commit()

    upgrade(engine)

    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []
    with Session(engine) as session:
        assert [v.id for v in session.exec(select(Venue))] == ["v1"]


def _start_upgrade_process(url: str) -> subprocess.Popen[bytes]:
    code = (
        "import sys\n"
        "from cloud.core.db import make_engine\n"
        "from cloud.migrate import upgrade\n"
        "engine = make_engine(sys.argv[1])\n"
        "upgrade(engine)\n"
        "engine.dispose()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO_ROOT)


def _waiting_for_lock(engine: Engine) -> int:
    with engine.connect() as connection:
        waiting: int = connection.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalar_one()
        return waiting


def _wait_until(condition: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.05)


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgres_wait_for_each_other(pg_url: str) -> None:
    # Hold the lock ourselves so both workers provably start the upgrade at the same time;
    # without the lock they would both CREATE TABLE and one would fail.
    engine = make_engine(pg_url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with engine.connect() as holder:
            holder.begin()
            lock_against_concurrent_upgrades(holder)
            processes = [_start_upgrade_process(pg_url) for _ in range(2)]
            _wait_until(lambda: _waiting_for_lock(engine) == 2, timeout=60)
            holder.commit()
        assert [p.wait(timeout=60) for p in processes] == [0, 0]
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        engine.dispose()


def _blocked_on(path: Path) -> int:
    """Processes waiting for a flock on ``path`` (``/proc/locks`` marks waiters with ->)."""
    inode = f":{path.stat().st_ino} "
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line and "FLOCK" in line and inode in line)


def test_concurrent_upgrades_of_a_new_sqlite_file_wait_for_each_other(tmp_path: Path) -> None:
    """``cloud ingest &`` and ``cloud serve &`` on a new file: both start, neither dies."""
    database = tmp_path / "cloud.db"
    url = f"sqlite:///{database}"
    lock_path = tmp_path / "cloud.db.migrate-lock"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with lock_path.open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            processes = [_start_upgrade_process(url) for _ in range(2)]
            _wait_until(lambda: _blocked_on(lock_path) == 2, timeout=60)
            fcntl.flock(held, fcntl.LOCK_UN)
        assert [p.wait(timeout=60) for p in processes] == [0, 0]
        engine = make_engine(url)
        assert current_revision(engine) == head_revision()
        engine.dispose()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _boxes_and_checks(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as connection:
        boxes = connection.execute(text("SELECT serial FROM pending_box ORDER BY serial")).all()
        checks = connection.execute(
            text('SELECT serial, "check" FROM pending_box_check ORDER BY serial')
        ).all()
    return [tuple(r) for r in boxes], [tuple(r) for r in checks]


def test_0005_moves_each_boxs_check_into_its_own_table(engine: Engine) -> None:
    upgrade(engine, revision="0004_devices")
    with engine.begin() as connection:
        connection.execute(
            text(
                'INSERT INTO pending_box (serial, "check", first_seen_at, last_seen_at, '
                "failed_attempts) VALUES (:serial, :check, :at, :at, 0)"
            ),
            [
                {"serial": "aaaaaaaaaa", "check": "a" * 64, "at": "2026-01-01 00:00:00+00:00"},
                {"serial": "bbbbbbbbbb", "check": "b" * 64, "at": "2026-01-02 00:00:00+00:00"},
            ],
        )

    upgrade(engine)

    assert schema_differences(engine) == []
    # On SQLite, rebuilding pending_box must not have taken the moved checks with it.
    assert _boxes_and_checks(engine) == (
        [("aaaaaaaaaa",), ("bbbbbbbbbb",)],
        [("aaaaaaaaaa", "a" * 64), ("bbbbbbbbbb", "b" * 64)],
    )
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0004_devices")
    with engine.connect() as connection:
        back = connection.execute(
            text('SELECT serial, "check" FROM pending_box ORDER BY serial')
        ).all()
    assert [tuple(r) for r in back] == [("aaaaaaaaaa", "a" * 64), ("bbbbbbbbbb", "b" * 64)]

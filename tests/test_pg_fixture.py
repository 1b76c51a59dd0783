"""The worker's PostgreSQL copy (tests/fixtures/postgres.py) comes back as it was made.

Every PostgreSQL test that asks for a migrated database gets the same copy after another
test used it, so these check that nothing a test can leave behind reaches the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url
from sqlmodel import Session

from cloud.core.db import make_engine
from cloud.models import Venue
from cloud.points import ledger
from tests.fixtures.postgres import _database, _libpq, _server_url, _WorkerCopy

pytestmark = pytest.mark.postgres

NOW = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
# Past pg_reset's 64 kB, so the reading table takes the TRUNCATE path, the others DELETE.
READINGS = 3000


@pytest.fixture
def template(_pg_template: str) -> str:
    return _pg_template


@pytest.fixture
def copies(_pg_template: str) -> Iterator[_WorkerCopy]:
    """A worker copy of its own, so these tests never hand the shared one on changed."""
    copy = _WorkerCopy(_server_url(), _pg_template)
    yield copy
    copy.close()


def _contents(url: str) -> dict[str, str]:
    """Every table's rows and every sequence's position, as text."""
    with psycopg.connect(_libpq(make_url(url))) as conn:
        tables = [
            str(name)
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        found = {}
        for table in tables:
            query = sql.SQL(
                "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {} AS t"
            ).format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            assert row is not None
            found[table] = str(row[0])
        for (name,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            query = sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.Identifier(str(name))
            )
            found[f"sequence {name}"] = repr(conn.execute(query).fetchone())
    return found


def _fill(url: str) -> None:
    """Rows in plain, append-only and seeded tables, and sequences moved on."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            session.add(Venue(id="v1", name="徐汇骑手驿站"))
            session.commit()
            ledger.post(
                session=session,
                key="fill-1",
                kind="grant",
                lines=[("pool:union", -5), ("member:M-1", 5)],
                at=NOW,
            )
    finally:
        engine.dispose()
    with psycopg.connect(_libpq(make_url(url))) as conn:
        conn.execute(
            "INSERT INTO reading (device_id, seq, venue_id, metric, ts, value, received_at)"
            " SELECT 'hub-1', n, 'v1', 'temperature_c', now(), n, now()"
            " FROM generate_series(1, %s) AS n",
            (READINGS,),
        )
        conn.execute("UPDATE alert_rule SET enabled = NOT enabled")
        conn.execute("DELETE FROM member_group")


def test_a_copy_taken_back_holds_what_a_new_copy_holds(copies: _WorkerCopy, template: str) -> None:
    url = copies.lend()
    _fill(url)
    assert _contents(url)["posting"]  # the fill reached the append-only ledger
    copies.take_back()

    assert copies.lend() == url  # put back, not made again
    with psycopg.connect(_libpq(make_url(url))) as conn:
        row = conn.execute("SELECT pg_relation_size('reading')").fetchone()
    assert row == (0,)  # truncated, not emptied row by row: no space left for the next test
    with _database(_server_url(), template=template) as new:
        expected = _contents(new)
    assert expected["alert_rule"]  # rows the migrations seed
    assert expected["member_group"]
    assert _contents(url) == expected


def test_a_session_left_open_is_ended_and_the_copy_still_put_back(copies: _WorkerCopy) -> None:
    url = copies.lend()
    _fill(url)
    leaked = psycopg.connect(_libpq(make_url(url)))
    leaked.execute("LOCK TABLE venue IN ACCESS EXCLUSIVE MODE")  # and never commits

    copies.take_back()

    with pytest.raises(psycopg.OperationalError):
        leaked.execute("SELECT 1")  # the server ended it
    leaked.close()
    assert copies.lend() == url
    assert _contents(url)["venue"] == ""


def test_a_copy_whose_schema_a_test_changed_is_made_again(copies: _WorkerCopy) -> None:
    url = copies.lend()
    with psycopg.connect(_libpq(make_url(url)), autocommit=True) as conn:
        conn.execute("CREATE TABLE stray (x int)")
    copies.take_back()

    again = copies.lend()
    assert again != url
    assert "stray" not in _contents(again)

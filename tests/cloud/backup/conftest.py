"""A populated source database, an empty restore target of the same kind, and row snapshots."""

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session

from cloud.core.db import make_engine
from cloud.devices.models import Device
from cloud.ingest.inbound import classify
from cloud.ingest.store import IngestStore
from cloud.migrate import upgrade
from cloud.models import Venue
from cloud.points import ledger
from tests.fixtures.postgres import _admin_connection, _drop, _server_url

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"  # 28 characters: above the 16 minimum
# Tables the round trip compares, each filled by populate().
COMPARED_TABLES = ("venue", "device", "reading", "device_event", "posting", "ledger_entry")


def populate(engine: Engine) -> None:
    """A venue, a device, three stored readings, one event and one ledger grant."""
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Station 1", district="徐汇区"))
        session.flush()  # no relationship tells the session the venue must go first
        session.add(Device(id="d1", venue_id="v1", role="sensor-hub"))
        session.commit()
    items = [
        {"seq": seq, "ts": "2026-11-21T02:59:00Z", "metric": "temperature_c", "value": 4.5 + seq}
        for seq in (1, 2, 3)
    ]
    event = {"seq": 4, "ts": "2026-11-21T02:59:30Z", "type": "door.opened", "data": {"n": 1}}
    store = IngestStore(engine, clock=lambda: NOW)
    stats = store.write(
        [
            classify(0, "yz/v1/v1/d1/telemetry", _batch(items)),
            classify(1, "yz/v1/v1/d1/event", _batch([event])),
        ]
    )
    assert stats.stored == 4
    with Session(engine) as session:
        ledger.post(
            session=session,
            key="grant:m-1",
            kind="grant",
            lines=[(ledger.POOL, -50), (ledger.member_account("m-1"), 50)],
            at=NOW,
        )


def _batch(items: Sequence[Mapping[str, object]]) -> bytes:
    return json.dumps({"v": 1, "device": "d1", "items": items}).encode()


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the compared tables, in a stable order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table: sorted(
                    (tuple(row) for row in connection.execute(text(f"SELECT * FROM {table}"))),
                    key=repr,
                )
                for table in COMPARED_TABLES
            }
    finally:
        engine.dispose()


def table_names(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.fixture
def source_url(db_url: str) -> str:
    """The database under test (SQLite and PostgreSQL), migrated and populated."""
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        populate(engine)
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def target_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as ``db_url`` to restore into."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/restored/cloud.db"
        return
    server = _server_url()
    name = f"yizhan_test_{uuid.uuid4().hex[:16]}"
    with _admin_connection(server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        _drop(server, name)

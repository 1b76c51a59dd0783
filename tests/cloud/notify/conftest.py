"""A migrated database with two venues, one staff user per role, a fridge probe, fake robots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alerts.models import SensorRole
from cloud.auth import store
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.core.db import make_engine
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.notify.services import NotifyServices
from tests.cloud.notify.fake_robots import FakeRobots

NOW = datetime(2025, 7, 15, 6, 30, tzinfo=UTC)
PASSWORD = "a long enough password"
LINK_KEY = b"notify-tests-link-key-0123456789abcdef"
# username -> (role, venues)
STAFF = {
    "ada": (Role.ADMIN, []),
    "mia": (Role.MANAGER, ["v1"]),
    "max": (Role.MANAGER, ["v2"]),
    "tom": (Role.TECHNICIAN, []),
}


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="徐汇骑手驿站", kind="outdoor-station"))
        session.add(Venue(id="v2", name="职工之家", kind="home"))
        session.commit()
        session.add(Device(id="hub-1", venue_id="v1", online=True, last_seen_at=NOW))
        session.commit()
        session.add(SensorRole(device_id="hub-1", sensor="28-fridge", venue_id="v1", role="fridge"))
        for username, (role, venues) in STAFF.items():
            store.create_user(
                session=session,
                user_in=UserCreate(
                    username=username, role=role, venue_ids=venues, password=PASSWORD
                ),
            )
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def robots() -> Iterator[FakeRobots]:
    fake = FakeRobots()
    yield fake
    fake.close()


@pytest.fixture
def services() -> NotifyServices:
    return NotifyServices(
        link_base_url="http://dash.test",
        link_key=LINK_KEY,
        allow_loopback_robots=True,
        timeout_s=2.0,
    )

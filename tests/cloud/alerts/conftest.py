"""A migrated database with two venues, three devices and two probes with roles."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alerts.models import SensorRole
from cloud.core.db import make_engine
from cloud.devices.models import Device
from cloud.models import Venue
from tests.cloud.alerts.factories import NOW


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Riders' station", kind="outdoor-station"))
        session.add(Venue(id="v2", name="Workers' home", kind="home"))
        session.commit()
        session.add(Device(id="hub-1", venue_id="v1", online=True, last_seen_at=NOW))
        session.add(Device(id="door-1", venue_id="v1", online=True, last_seen_at=NOW))
        session.add(Device(id="hub-2", venue_id="v2", online=True, last_seen_at=NOW))
        session.commit()
        session.add(SensorRole(device_id="hub-1", sensor="28-fridge", venue_id="v1", role="fridge"))
        session.add(SensorRole(device_id="hub-1", sensor="28-room", venue_id="v1", role="ambient"))
        session.commit()
    yield engine
    engine.dispose()

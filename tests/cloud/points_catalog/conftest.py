"""Two databases for the catalog and earning tests: a bare migrated one, and the auth world."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.access.models import Member
from cloud.core.db import make_engine
from cloud.devices.models import Device
from cloud.models import Venue
from tests.cloud.auth_world import ALICE, BOB, VENUE_A, VENUE_B, World, open_world
from tests.cloud.points_catalog.factories import (
    KIOSK_A,
    KIOSK_B,
    MEMBER,
    SHANGHAI_VENUE,
    UTC_VENUE,
)


def add_members(engine: Engine, *member_ids: str) -> None:
    with Session(engine) as session:
        for member_id in member_ids:
            session.add(Member(member_id=member_id, status="active", updated_version=1))
        session.commit()


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """A migrated database with a Shanghai venue, a UTC venue and one member."""
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id=SHANGHAI_VENUE, name="Riders' station"))
        session.add(Venue(id=UTC_VENUE, name="Abroad", timezone="UTC"))
        session.commit()
    add_members(engine, MEMBER)
    yield engine
    engine.dispose()


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    """The auth world plus a kiosk at each venue and Alice and Bob as members."""
    with open_world(migrated_db_url) as world:
        with Session(world.engine) as session:
            session.add(Device(id=KIOSK_A, venue_id=VENUE_A, online=True))
            session.add(Device(id=KIOSK_B, venue_id=VENUE_B, online=True))
            session.commit()
        add_members(world.engine, ALICE, BOB)
        yield world

"""The batched live figures walk each venue exactly as ``live_occupancy`` does."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.occupancy import live_occupancy, set_occupancy
from cloud.aggregates.occupancy_many import live_figures
from cloud.aggregates.rollups import run_rollups
from cloud.models import Venue
from tests.cloud.aggregates.conftest import OPTIONS, add, event, reading, shanghai, visit

QUIET = 4
ZONE = ZoneInfo("Asia/Shanghai")


def _seed(engine: Engine) -> None:
    """v1 counts at a door, v2 with a beam, v3 had a head count inside an hour, v4 is quiet."""
    with Session(engine) as session:
        session.add_all([Venue(id="v3", name="three"), Venue(id="v4", name="four")])
        session.commit()
    add(
        engine,
        visit(shanghai(2024, 5, 1, 8, 10), "m1"),
        visit(shanghai(2024, 5, 1, 9, 15), "m2"),
        visit(shanghai(2024, 5, 1, 10, 5), "m3"),
        event("door.opened", shanghai(2024, 5, 1, 10, 20), cause="exit_button"),
        reading("people_in", 5, shanghai(2024, 5, 1, 8, 30), venue="v2", device="beam"),
        reading("people_out", 2, shanghai(2024, 5, 1, 9, 30), venue="v2", device="beam"),
        reading("people_in", 4, shanghai(2024, 5, 1, 10, 40), venue="v2", device="beam"),
        visit(shanghai(2024, 5, 1, 10, 41), "m9", venue="v2", device="door2"),
        reading("people_in", 3, shanghai(2024, 5, 1, 9, 50), venue="v3", device="beam3"),
    )
    run_rollups(engine, now=shanghai(2024, 5, 1, 10, 2), options=OPTIONS)
    set_occupancy(
        engine, "v3", count=7, now=shanghai(2024, 5, 1, 10, 25), by="manager", quiet_hour=QUIET
    )
    add(
        engine,
        # Before the head count in its own hour: the count already holds this one.
        reading("people_in", 5, shanghai(2024, 5, 1, 10, 10), venue="v3", device="beam3"),
        reading("people_in", 2, shanghai(2024, 5, 1, 10, 30), venue="v3", device="beam3"),
    )


@pytest.mark.parametrize("minute", [45, 61, 125])
def test_every_venue_agrees_with_live_occupancy(engine: Engine, minute: int) -> None:
    _seed(engine)
    now = shanghai(2024, 5, 1, 10, 0) + timedelta(minutes=minute)
    venues = ("v1", "v2", "v3", "v4")
    with engine.connect() as conn:
        many = live_figures(conn, dict.fromkeys(venues, ZONE), now=now, quiet_hour=QUIET)
        for venue in venues:
            one = live_occupancy(conn, venue, zone=ZONE, now=now, quiet_hour=QUIET)
            assert (many[venue].count, many[venue].visits_today) == (one.count, one.visits_today)
            assert many[venue].baseline == one.baseline
    assert (many["v1"].count, many["v1"].visits_today) == (2, 3)
    assert (many["v2"].count, many["v2"].entries_today, many["v2"].visits_today) == (7, 9, 1)
    assert many["v3"].count == 9  # the head count, then two more through the beam
    assert many["v4"].count == 0


def test_no_venue_asks_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        assert live_figures(conn, {}, now=datetime.now(ZONE), quiet_hour=QUIET) == {}

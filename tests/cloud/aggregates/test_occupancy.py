"""Live occupancy: never negative, counters preferred to door events, reset at the quiet hour."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.aggregates.models import Occupancy, OccupancyHourly
from cloud.aggregates.occupancy import live_occupancy, set_occupancy, walk
from cloud.aggregates.rollups import run_rollups
from tests.cloud.aggregates.conftest import OPTIONS, add, event, reading, shanghai, visit

QUIET = 4


def _count(engine: Engine, venue: str = "v1") -> Occupancy:
    with Session(engine) as session:
        row = session.get(Occupancy, venue)
        assert row is not None
        return row


def test_walk_is_clamped_at_zero() -> None:
    t = shanghai(2024, 5, 1, 10, 0)
    assert [n for _, n in walk(1, [(t, -3), (t, 2), (t, -1)])] == [0, 2, 1]


def test_more_out_than_in_never_goes_negative(engine: Engine) -> None:
    add(
        engine,
        reading("people_in", 2, shanghai(2024, 5, 1, 9, 10)),
        reading("people_out", 5, shanghai(2024, 5, 1, 10, 10)),
        reading("people_in", 3, shanghai(2024, 5, 1, 11, 10)),
    )
    run_rollups(engine, now=shanghai(2024, 5, 1, 11, 30), options=OPTIONS)
    assert _count(engine).count == 3  # 2, then 0 (not -3), then 3
    with Session(engine) as session:
        history = [
            r.count
            for r in session.exec(
                select(OccupancyHourly)
                .where(col(OccupancyHourly.venue_id) == "v1")
                .order_by(col(OccupancyHourly.hour_utc))
            ).all()
        ]
    assert history[-3:] == [2, 0, 3]


def test_door_events_count_when_the_venue_has_no_beam_counter(engine: Engine) -> None:
    add(
        engine,
        visit(shanghai(2024, 5, 1, 9, 10), "m1"),
        visit(shanghai(2024, 5, 1, 9, 11), "m2"),
        event("door.opened", shanghai(2024, 5, 1, 9, 40), cause="exit_button"),
        event("door.opened", shanghai(2024, 5, 1, 9, 41), cause="access"),
    )
    run_rollups(engine, now=shanghai(2024, 5, 1, 9, 50), options=OPTIONS)
    assert _count(engine).count == 1


def test_the_quiet_hour_resets_the_drift(engine: Engine) -> None:
    add(engine, reading("people_in", 7, shanghai(2024, 5, 1, 22, 0)))
    run_rollups(engine, now=shanghai(2024, 5, 1, 23, 0), options=OPTIONS)
    assert _count(engine).count == 7

    add(engine, reading("people_in", 1, shanghai(2024, 5, 2, 5, 0)))
    run_rollups(engine, now=shanghai(2024, 5, 2, 5, 30), options=OPTIONS)
    row = _count(engine)
    assert row.count == 1
    assert row.reconciled_by == "quiet_hour"


def test_a_managers_count_is_the_new_baseline(engine: Engine) -> None:
    add(engine, reading("people_in", 7, shanghai(2024, 5, 1, 9, 0)))
    run_rollups(engine, now=shanghai(2024, 5, 1, 9, 30), options=OPTIONS)
    set_occupancy(
        engine, "v1", count=2, now=shanghai(2024, 5, 1, 9, 30), by="manager:li", quiet_hour=QUIET
    )
    add(engine, reading("people_in", 1, shanghai(2024, 5, 1, 9, 45)))
    run_rollups(engine, now=shanghai(2024, 5, 1, 9, 50), options=OPTIONS)
    row = _count(engine)
    assert (row.count, row.reconciled_by) == (3, "manager:li")
    run_rollups(engine, now=shanghai(2024, 5, 1, 9, 50) + timedelta(seconds=1), options=OPTIONS)
    assert _count(engine).count == 3


def _live(engine: Engine, at: datetime) -> int:
    with engine.connect() as conn:
        return live_occupancy(
            conn,
            "v1",
            zone=ZoneInfo("Asia/Shanghai"),
            now=at,
            quiet_hour=QUIET,
            day_start=shanghai(2024, 5, 1, 0, 0),
        ).count


def test_the_live_count_adds_this_hours_rows_once(engine: Engine) -> None:
    add(engine, visit(shanghai(2024, 5, 1, 9, 10), "m1"))
    # A door clock a minute ahead: the rollup at 9:20 already counts this 9:21 visit.
    add(engine, visit(shanghai(2024, 5, 1, 9, 21), "m2"))
    run_rollups(engine, now=shanghai(2024, 5, 1, 9, 20), options=OPTIONS)
    assert _count(engine).count == 2
    assert _live(engine, shanghai(2024, 5, 1, 9, 20)) == 2  # not 3
    add(engine, visit(shanghai(2024, 5, 1, 9, 25), "m3"))
    assert _live(engine, shanghai(2024, 5, 1, 9, 26)) == 3  # before any rollup
    add(engine, event("door.opened", shanghai(2024, 5, 1, 9, 30), cause="exit_button"))
    assert _live(engine, shanghai(2024, 5, 1, 9, 31)) == 2
    assert _count(engine).count == 2  # nothing was written


def test_the_live_count_takes_earlier_hours_from_their_rollups(engine: Engine) -> None:
    add(engine, visit(shanghai(2024, 5, 1, 8, 10), "m1"))
    run_rollups(engine, now=shanghai(2024, 5, 1, 8, 50), options=OPTIONS)
    assert _live(engine, shanghai(2024, 5, 1, 9, 5)) == 1
    add(engine, visit(shanghai(2024, 5, 1, 9, 6), "m2"))
    assert _live(engine, shanghai(2024, 5, 1, 9, 7)) == 2


def test_an_hour_no_rollup_has_closed_is_counted_from_raw_rows(engine: Engine) -> None:
    add(engine, visit(shanghai(2024, 5, 1, 8, 58), "m1"))
    # 9:02: the 8 o'clock hour was last rolled up at 8:50, before this visit arrived.
    run_rollups(engine, now=shanghai(2024, 5, 1, 8, 50), options=OPTIONS)
    assert _live(engine, shanghai(2024, 5, 1, 9, 2)) == 1


def test_the_live_count_starts_again_at_the_quiet_hour(engine: Engine) -> None:
    add(engine, visit(shanghai(2024, 5, 1, 3, 10), "m1"))
    run_rollups(engine, now=shanghai(2024, 5, 1, 3, 50), options=OPTIONS)
    assert _live(engine, shanghai(2024, 5, 1, 3, 55)) == 1
    assert _live(engine, shanghai(2024, 5, 1, 4, 30)) == 0

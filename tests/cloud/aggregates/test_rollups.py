"""Traffic and temperature rollups from seeded raw rows: time zones, idempotence, late rows."""

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.aggregates.models import TemperatureHourly, TrafficDaily, TrafficHourly
from cloud.aggregates.rollups import RollupOptions, rollup_range, run_rollups
from cloud.core.time import as_utc
from tests.cloud.aggregates.conftest import NOW, OPTIONS, add, event, reading, shanghai, visit


def _rows(engine: Engine, model: Any) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(model)).all())


def _hourly(engine: Engine) -> dict[Any, TrafficHourly]:
    return {as_utc(r.hour_utc): r for r in _rows(engine, TrafficHourly)}


def _daily(engine: Engine) -> dict[date, TrafficDaily]:
    return {r.local_date: r for r in _rows(engine, TrafficDaily)}


def seed_traffic(engine: Engine) -> None:
    add(
        engine,
        reading("people_in", 3, shanghai(2024, 4, 30, 23, 30)),  # 30 Apr local, 15:30 UTC
        reading("people_out", 1, shanghai(2024, 4, 30, 23, 45)),
        reading("people_in", 2, shanghai(2024, 5, 1, 0, 10)),  # 1 May local, still 30 Apr UTC
        visit(shanghai(2024, 4, 30, 23, 31), "m1"),
        visit(shanghai(2024, 5, 1, 0, 11), "m1"),
        visit(shanghai(2024, 5, 1, 0, 12), "m2"),
        visit(shanghai(2024, 5, 1, 0, 20), "m1"),
        event("access.decision", shanghai(2024, 5, 1, 0, 21), reason="revoked", member="m3"),
        reading("people_in", 9, shanghai(2024, 5, 1, 0, 30), venue="v2"),
    )


def test_traffic_hourly_and_daily_follow_the_local_calendar(engine: Engine) -> None:
    seed_traffic(engine)
    rollup_range(
        engine,
        venue_id="v1",
        since=shanghai(2024, 4, 30, 0, 0),
        until=NOW,
        now=NOW,
        options=OPTIONS,
    )

    hours = _hourly(engine)
    first = hours[shanghai(2024, 4, 30, 23, 0)]
    assert (first.people_in, first.people_out, first.visits, first.unique_members) == (3, 1, 1, 1)
    second = hours[shanghai(2024, 5, 1, 0, 0)]
    assert (second.people_in, second.visits, second.unique_members) == (2, 3, 2)

    days = _daily(engine)
    assert (days[date(2024, 4, 30)].people_in, days[date(2024, 4, 30)].visits) == (3, 1)
    may = days[date(2024, 5, 1)]
    # m1 came twice on 1 May and once on 30 Apr: unique per day, not summed from hours.
    assert (may.people_in, may.visits, may.unique_members) == (2, 3, 2)
    assert all(r.venue_id == "v1" for r in _rows(engine, TrafficDaily))


def test_rerunning_a_rollup_gives_the_same_rows(engine: Engine) -> None:
    seed_traffic(engine)
    for _ in range(3):
        rollup_range(
            engine,
            venue_id="v1",
            since=shanghai(2024, 4, 30, 0, 0),
            until=NOW,
            now=NOW,
            options=OPTIONS,
        )
    assert _hourly(engine)[shanghai(2024, 5, 1, 0, 0)].people_in == 2
    assert _daily(engine)[date(2024, 5, 1)].visits == 3
    assert len(_rows(engine, TrafficHourly)) == 2


def test_the_job_rolls_up_late_arrivals_in_the_hour_they_belong_to(engine: Engine) -> None:
    seed_traffic(engine)
    first = run_rollups(engine, now=NOW, options=OPTIONS)
    assert first.venues == 2

    # A box drains its outbox a day later: the rows are old, their arrival is new.
    later = NOW + timedelta(days=1)
    add(engine, reading("people_in", 4, shanghai(2024, 5, 1, 0, 40), received_at=later))
    run_rollups(engine, now=later + timedelta(minutes=10), options=OPTIONS)
    assert _hourly(engine)[shanghai(2024, 5, 1, 0, 0)].people_in == 6
    assert _daily(engine)[date(2024, 5, 1)].people_in == 6

    # Nothing new past the arrival margin: the next run has nothing to redo.
    again = run_rollups(engine, now=later + timedelta(minutes=20), options=OPTIONS)
    assert again.hours == 0
    assert _daily(engine)[date(2024, 5, 1)].people_in == 6


def test_hours_past_the_raw_retention_keep_their_rollups(engine: Engine) -> None:
    old = shanghai(2024, 3, 1, 10, 0)
    add(engine, reading("people_in", 5, old))
    long_ago = RollupOptions(raw_retention=timedelta(days=365), backfill=timedelta(days=400))
    rollup_range(
        engine, venue_id="v1", since=old, until=old + timedelta(hours=1), now=NOW, options=long_ago
    )
    assert _hourly(engine)[old].people_in == 5

    add(engine, reading("people_in", 1, old + timedelta(minutes=5), received_at=NOW))
    report = run_rollups(engine, now=NOW, options=OPTIONS)  # 30-day retention
    assert report.skipped_hours == 1
    assert _hourly(engine)[old].people_in == 5


def test_temperature_min_avg_max_per_sensor_and_hour(engine: Engine) -> None:
    hour = shanghai(2024, 5, 1, 9, 0)
    add(
        engine,
        reading("temperature_c", 4.0, hour + timedelta(minutes=1), sensor="fridge"),
        reading("temperature_c", 6.0, hour + timedelta(minutes=31), sensor="fridge"),
        reading("temperature_c", 8.0, hour + timedelta(minutes=59), sensor="fridge"),
        reading("temperature_c", 28.0, hour + timedelta(minutes=2)),
        reading("temperature_c", 9.0, hour + timedelta(minutes=60), sensor="fridge"),
    )
    rollup_range(
        engine, venue_id="v1", since=hour, until=hour + timedelta(hours=2), now=NOW, options=OPTIONS
    )
    stats = {(r.sensor, as_utc(r.hour_utc)): r for r in _rows(engine, TemperatureHourly)}
    fridge = stats[("fridge", hour)]
    assert (fridge.min_c, fridge.avg_c, fridge.max_c, fridge.count) == (4.0, 6.0, 8.0, 3)
    assert stats[("", hour)].count == 1
    assert stats[("fridge", hour + timedelta(hours=1))].max_c == 9.0

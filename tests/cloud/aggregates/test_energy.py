"""Cumulative meter register → kWh per local day: normal use, resets, rollover, jitter."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.aggregates.energy import MeterSample, StepKind, energy_by_day, meter_step, meter_steps
from cloud.aggregates.models import EnergyDaily
from cloud.aggregates.rollups import RollupOptions, rollup_range
from tests.cloud.aggregates.conftest import NOW, OPTIONS, add, reading, shanghai

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def test_normal_step_is_the_difference() -> None:
    assert meter_step(100.0, 101.5, register_max=None) == (1.5, StepKind.NORMAL)


def test_a_drop_is_a_reset_and_counting_restarts_from_the_new_value() -> None:
    steps = meter_steps(
        [
            MeterSample(T0, 500.0),
            MeterSample(T0 + timedelta(hours=1), 3.0),
            MeterSample(T0 + timedelta(hours=2), 5.5),
        ],
        baseline=498.0,
        register_max=None,
    )
    assert [(s.kwh, s.kind) for s in steps] == [
        (2.0, StepKind.NORMAL),
        (0.0, StepKind.RESET),
        (2.5, StepKind.NORMAL),
    ]


def test_a_wrap_at_the_register_maximum_is_rollover() -> None:
    kwh, kind = meter_step(99_998.0, 1.5, register_max=100_000.0)
    assert kind is StepKind.ROLLOVER
    assert abs(kwh - 3.5) < 1e-9


def test_a_large_drop_near_no_maximum_is_a_reset_even_with_a_maximum() -> None:
    assert meter_step(50_000.0, 10.0, register_max=100_000.0) == (0.0, StepKind.RESET)


def test_read_jitter_is_not_a_reset_and_never_negative() -> None:
    assert meter_step(100.0, 99.99, register_max=None) == (0.0, StepKind.NORMAL)


def test_steps_land_on_the_local_day_they_end_on() -> None:
    late = shanghai(2024, 5, 1, 23, 30)  # 15:30 UTC, still 1 May in Shanghai
    after = shanghai(2024, 5, 2, 0, 30)
    days = energy_by_day(
        meter_steps(
            [MeterSample(late, 10.0), MeterSample(after, 12.0)], baseline=9.0, register_max=None
        ),
        SHANGHAI,
    )
    assert days[date(2024, 5, 1)].kwh == 1.0
    assert days[date(2024, 5, 2)].kwh == 2.0


def _energy(engine: Engine) -> dict[date, EnergyDaily]:
    with Session(engine) as session:
        return {e.local_date: e for e in session.exec(select(EnergyDaily)).all()}


def test_daily_rollup_uses_the_previous_days_last_value_and_counts_resets(
    engine: Engine,
) -> None:
    add(
        engine,
        reading("energy_kwh", 100.0, shanghai(2024, 4, 30, 22, 0)),
        reading("energy_kwh", 101.0, shanghai(2024, 4, 30, 23, 30)),  # 30 Apr local
        reading("energy_kwh", 104.0, shanghai(2024, 5, 1, 6, 0)),
        reading("energy_kwh", 2.0, shanghai(2024, 5, 1, 8, 0)),  # meter replaced
        reading("energy_kwh", 7.0, shanghai(2024, 5, 1, 11, 0)),
    )
    rollup_range(
        engine,
        venue_id="v1",
        since=shanghai(2024, 4, 30, 0, 0),
        until=NOW,
        now=NOW,
        options=OPTIONS,
    )

    days = _energy(engine)
    assert days[date(2024, 4, 30)].kwh == 1.0
    assert days[date(2024, 5, 1)].kwh == 8.0  # 101→104, reset, 2→7
    assert days[date(2024, 5, 1)].meter_resets == 1


def test_daily_rollup_handles_rollover_with_a_known_register_maximum(engine: Engine) -> None:
    add(
        engine,
        reading("energy_kwh", 999_990.0, shanghai(2024, 5, 1, 1, 0)),
        reading("energy_kwh", 5.0, shanghai(2024, 5, 1, 2, 0)),
    )
    options = RollupOptions(
        raw_retention=OPTIONS.raw_retention,
        backfill=OPTIONS.backfill,
        register_max_kwh=1_000_000.0,
    )
    rollup_range(
        engine, venue_id="v1", since=shanghai(2024, 5, 1, 0, 0), until=NOW, now=NOW, options=options
    )

    day = _energy(engine)[date(2024, 5, 1)]
    assert day.kwh == 15.0
    assert (day.meter_rollovers, day.meter_resets) == (1, 0)

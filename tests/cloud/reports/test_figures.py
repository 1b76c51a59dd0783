"""A report's figures for the seeded district, each venue on its own calendar."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from cloud.reports.export_rows import parse_range
from cloud.reports.figures import Report, build_report
from cloud.reports.handling import median, percentile
from cloud.reports.period import Period, PeriodError, parse_period
from cloud.reports.venues import load_venues
from tests.cloud.reports.world import DISTRICT, EXPECTED, NOW, RIDERS, RIDERS_NAME, URUMQI

NOVEMBER = Period.containing("month", date(2026, 11, 17))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _report(
    engine: Engine, *, venue_id: str | None = None, scope: frozenset[str] | None = None
) -> Report:
    with engine.connect() as conn:
        if venue_id is not None:
            venues = load_venues(conn, scope=scope, venue_id=venue_id)
            return build_report(
                conn, venues, NOVEMBER, scope="venue", name=RIDERS_NAME, key=RIDERS, now=NOW
            )
        venues = load_venues(conn, scope=scope, district=DISTRICT)
        return build_report(
            conn, venues, NOVEMBER, scope="district", name=DISTRICT, key=DISTRICT, now=NOW
        )


def test_a_venue_month_and_its_days_have_their_own_calendar_figures(engine: Engine) -> None:
    report = _report(engine, venue_id=RIDERS)
    f = report.venues[0].total

    got = {
        "visits": f.visits,
        "unique_members": f.unique_members,
        "people_in": f.people_in,
        "people_out": f.people_out,
        "peak": f.peak.count,
        "open_hours": f.open_hours,
        "energy": f.energy_kwh,
        "fridge_minutes": f.fridge_minutes,
        "alerts": f.alerts.count,
        "ack_median": f.alerts.minutes("ack", 0.5),
        "ack_p95": f.alerts.minutes("ack", 0.95),
        "resolve_median": f.alerts.minutes("resolve", 0.5),
        "resolve_p95": f.alerts.minutes("resolve", 0.95),
        "redemptions": f.redeemed.count,
        "points": f.redeemed.points,
    }
    assert got == EXPECTED
    assert f.peak.at == datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI)
    assert dict(f.alerts.by_kind) == {"fridge_warm": 2, "door_held_open": 1}
    probe = report.venues[0].excursions[0]
    assert (probe.label, probe.limit_c, probe.max_c, probe.minutes) == ("饮料冰箱", 8.0, 9.5, 85.0)
    # Each day carries the figures of its own local day.
    days = report.venues[0].days
    assert len(days) == 30
    assert (days["2026-11-01"].visits, days["2026-11-01"].energy_kwh) == (10, 3.5)
    assert days["2026-11-01"].alerts.count == 1  # opened 00:30 local, 16:30 UTC the day before
    assert days["2026-11-10"].fridge_minutes == 85.0
    assert days["2026-11-30"].peak.count == 40
    assert (days["2026-11-30"].redeemed.count, days["2026-11-30"].redeemed.points) == (1, 50)
    assert days["2026-11-02"].energy_kwh is None  # no meter: not a zero


def test_a_district_has_a_row_per_venue_in_scope_and_totals(engine: Engine) -> None:
    report = _report(engine)

    assert [v.venue.id for v in report.venues] == ["home", RIDERS, URUMQI]
    assert report.total.visits == 15 + 7 + 3
    assert report.total.energy_kwh == 5.75
    # Urumqi's 23:00 on 30 November (17:00 UTC) is November on its own calendar.
    assert (report.total.peak.count, report.total.peak.at) == (
        55,
        datetime(2026, 11, 30, 23, 0, tzinfo=ZoneInfo("Asia/Urumqi")),
    )
    scoped = _report(engine, scope=frozenset({RIDERS}))
    assert [v.venue.id for v in scoped.venues] == [RIDERS]
    assert scoped.total.visits == 15


def test_periods_are_local_days_weeks_from_monday_and_months() -> None:
    assert Period.containing("week", date(2026, 12, 6)).first == date(2026, 11, 30)
    assert Period.containing("week", date(2026, 12, 6)).last == date(2026, 12, 6)
    assert Period.containing("month", date(2024, 2, 10)).last == date(2024, 2, 29)
    assert Period.containing("month", date(2026, 12, 31)).slug == "2026-12"
    assert parse_period("month", None, today=date(2026, 12, 6)) == NOVEMBER
    assert NOVEMBER.bounds(SHANGHAI)[0].isoformat() == "2026-10-31T16:00:00+00:00"


def test_bad_periods_say_what_was_wrong() -> None:
    codes = []
    for kind, day in (("year", "2026-11-01"), ("month", "2026-13-01"), ("week", "2026-12-07")):
        try:
            parse_period(kind, day, today=date(2026, 12, 6))
        except PeriodError as exc:
            codes.append(exc.code)
    assert codes == ["unknown_period", "bad_date", "future_period"]


def test_percentiles_are_values_that_occurred() -> None:
    assert percentile([240, 600, 1800], 0.95) == 1800
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert median([1, 3]) == 2
    assert median([]) is None


def test_days_off_the_calendar_are_refused_not_crashed_on() -> None:
    today = date(2026, 12, 6)
    codes = []
    for kind, day in (("day", "0001-01-01"), ("month", "9999-12-31"), ("week", "1999-12-31")):
        try:
            parse_period(kind, day, today=today)
        except PeriodError as exc:
            codes.append(exc.code)
    assert codes == ["bad_date", "future_period", "bad_date"]
    assert parse_range(None, "2027-01-31", today=today, max_days=31).last == today
    with pytest.raises(PeriodError, match="after today") as refused:
        parse_range("2026-12-08", None, today=today, max_days=31)
    assert refused.value.code == "future_period"

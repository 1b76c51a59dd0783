"""A seeded district for the report tests: known figures around the November 2026 boundary.

Venue "riders" (Shanghai, UTC+8) has rows just inside and just outside November on its own
calendar, so a report that reads UTC days or the wrong zone gets a figure wrong. Venue
"home" is in the same district, "urumqi" too but six hours from UTC; "pudong" is elsewhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

from sqlmodel import Session

from cloud.aggregates.models import (
    EnergyDaily,
    OccupancyHourly,
    TemperatureHourly,
    TrafficDaily,
    VenueSettings,
)
from cloud.alerts.models import Alert, SensorRole
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Reading, Venue
from cloud.points.models import Redemption, RedemptionState

PASSWORD: Final = "a long enough password"
# Sunday 6 December 2026, 12:00 in Shanghai: November is a whole month behind us.
NOW: Final = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
DISTRICT: Final = "徐汇区"
RIDERS, HOME, URUMQI, PUDONG = "riders", "home", "urumqi", "pudong"
RIDERS_NAME: Final = "徐汇骑手驿站"
RIDERS_EN: Final = "Xuhui Riders' Station"
# What November holds for "riders" on its own calendar.
EXPECTED: Final = {
    "visits": 15,
    "unique_members": 2,
    "people_in": 18,
    "people_out": 17,
    "peak": 40,
    "open_hours": 360.0,  # 30 days x 12 h
    "energy": 5.75,
    "fridge_minutes": 85.0,  # 25 min held above 8 °C, then a whole hour above it
    "alerts": 3,
    "ack_median": 10.0,
    "ack_p95": 30.0,
    "resolve_median": 40.0,
    "resolve_p95": 60.0,
    "redemptions": 2,
    "points": 80,
}


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A venue-local time as a spreadsheet holds it: no zone (Excel has none)."""
    return datetime(year, month, day, hour)  # noqa: DTZ001 - what openpyxl reads back


def _traffic(
    venue: str, day: date, visits: int, unique: int, people_in: int, out: int
) -> TrafficDaily:
    return TrafficDaily(
        venue_id=venue, local_date=day, visits=visits, unique_members=unique,
        people_in=people_in, people_out=out,
    )  # fmt: skip


def _decision(seq: int, at: datetime, member: str, *, reason: str = "accepted") -> DeviceEvent:
    data = {"door": "main", "reason": reason, "member": member, "mode": 1}
    return DeviceEvent(
        device_id="door-01", seq=seq, venue_id=RIDERS, type="access.decision", ts=at, data=data
    )


def _alert(n: int, opened: datetime, ack_min: int | None, resolve_min: int | None) -> Alert:
    return Alert(
        ack_note="冰箱门没关好" if n == 2 else None,
        venue_id=RIDERS,
        kind="fridge_warm" if n % 2 else "door_held_open",
        severity="warning",
        status="resolved" if resolve_min is not None else "acknowledged",
        dedupe_key=f"k{n}",
        opened_at=opened,
        last_seen_at=opened,
        message_zh="冰箱温度过高",
        message_en="fridge too warm",
        acknowledged_by="mia" if ack_min is not None else None,
        acknowledged_at=None if ack_min is None else opened + timedelta(minutes=ack_min),
        resolved_by="mia" if resolve_min is not None else None,
        resolved_at=None if resolve_min is None else opened + timedelta(minutes=resolve_min),
    )


def _redemption(txn: str, at: datetime, price: int, state: RedemptionState) -> Redemption:
    return Redemption(
        transaction_id=txn, member_id="M-1", kiosk_id="kiosk-01", slot="1", price=price,
        state=state.value, reserved_at=at - timedelta(seconds=20),
        expires_at=at + timedelta(minutes=2), settled_at=at,
    )  # fmt: skip


def _venues(session: Session) -> None:
    session.add(Venue(id=RIDERS, name=RIDERS_NAME, name_en=RIDERS_EN, district=DISTRICT))
    session.add(Venue(id=HOME, name="徐汇职工之家", district=DISTRICT))
    session.add(Venue(id=URUMQI, name="乌鲁木齐驿站", district=DISTRICT, timezone="Asia/Urumqi"))
    session.add(Venue(id=PUDONG, name="浦东之家", district="浦东新区"))
    session.commit()
    session.add(VenueSettings(venue_id=RIDERS, open_hours_per_day=12))
    session.add(Device(id="kiosk-01", venue_id=RIDERS, role="kiosk"))
    session.add(Device(id="hub-01", venue_id=RIDERS, role="sensor-hub"))
    session.add(SensorRole(device_id="hub-01", sensor="28-aaa", venue_id=RIDERS, role="fridge",
                           label="饮料冰箱"))  # fmt: skip
    session.commit()


def _riders_traffic(session: Session) -> None:
    session.add_all(
        [
            _traffic(RIDERS, date(2026, 10, 31), 100, 90, 100, 100),  # October: not counted
            _traffic(RIDERS, date(2026, 11, 1), 10, 7, 12, 11),
            _traffic(RIDERS, date(2026, 11, 30), 5, 4, 6, 6),
            _traffic(RIDERS, date(2026, 12, 1), 200, 100, 200, 200),  # December
            EnergyDaily(venue_id=RIDERS, local_date=date(2026, 11, 1), kwh=3.5, meters=1),
            EnergyDaily(venue_id=RIDERS, local_date=date(2026, 11, 30), kwh=2.25, meters=1),
            EnergyDaily(venue_id=RIDERS, local_date=date(2026, 12, 1), kwh=100, meters=1),
            # 23:00 on 30 November local is November's peak; midnight after is December's.
            OccupancyHourly(venue_id=RIDERS, hour_utc=_utc(2026, 11, 30, 15), count=40),
            OccupancyHourly(venue_id=RIDERS, hour_utc=_utc(2026, 11, 30, 16), count=99),
            OccupancyHourly(venue_id=RIDERS, hour_utc=_utc(2026, 10, 31, 15), count=98),
            OccupancyHourly(venue_id=RIDERS, hour_utc=_utc(2026, 11, 10, 2), count=12),
            # Member A twice and B once in November; C on 1 December local; D refused.
            _decision(1, _utc(2026, 10, 31, 17), "M-A"),
            _decision(2, _utc(2026, 11, 15, 2), "M-A"),
            _decision(3, _utc(2026, 11, 30, 15, 30), "M-B"),
            _decision(4, _utc(2026, 11, 30, 16, 10), "M-C"),
            _decision(5, _utc(2026, 11, 20, 2), "M-D", reason="expired"),
        ]
    )


def _riders_fridge(session: Session) -> None:
    probe = {"venue_id": RIDERS, "device_id": "hub-01", "sensor": "28-aaa"}
    session.add_all(
        [
            TemperatureHourly(**probe, hour_utc=_utc(2026, 11, 10, 2), min_c=5.0, avg_c=7.0,
                              max_c=9.5, count=60),
            TemperatureHourly(**probe, hour_utc=_utc(2026, 11, 10, 3), min_c=8.5, avg_c=8.7,
                              max_c=9.0, count=60),
            TemperatureHourly(**probe, hour_utc=_utc(2026, 10, 31, 15), min_c=9.0, avg_c=9.5,
                              max_c=10.0, count=60),  # 23:00 on 31 October local
        ]
    )  # fmt: skip
    for minute in range(60):
        session.add(
            Reading(
                device_id="hub-01", seq=minute, venue_id=RIDERS, metric="temperature_c",
                sensor="28-aaa", ts=_utc(2026, 11, 10, 2, minute),
                value=9.5 if minute < 25 else 5.0,
            )
        )  # fmt: skip


def _riders_alerts_and_points(session: Session) -> None:
    session.add_all(
        [
            # 00:30 on 1 November local: November's. Acknowledged after 4, resolved after 20.
            _alert(1, _utc(2026, 10, 31, 16, 30), 4, 20),
            _alert(2, _utc(2026, 11, 15, 2), 10, 60),
            _alert(3, _utc(2026, 11, 20, 2), 30, None),
            _alert(4, _utc(2026, 11, 30, 16, 30), 1, 1),  # 00:30 on 1 December local
        ]
    )
    committed = RedemptionState.COMMITTED
    session.add_all(
        [
            _redemption("t1", _utc(2026, 11, 3, 2), 30, committed),
            _redemption("t2", _utc(2026, 11, 30, 15, 50), 50, committed),
            _redemption("t3", _utc(2026, 11, 4, 2), 70, RedemptionState.CANCELLED),
            _redemption("t4", _utc(2026, 11, 30, 16, 5), 90, committed),  # December local
        ]
    )


def _others(session: Session) -> None:
    session.add_all(
        [
            _traffic(HOME, date(2026, 11, 2), 7, 6, 0, 0),
            _traffic(URUMQI, date(2026, 11, 30), 3, 3, 0, 0),
            _traffic(URUMQI, date(2026, 12, 1), 50, 50, 0, 0),
            _traffic(PUDONG, date(2026, 11, 2), 1000, 1000, 0, 0),
            # 23:00 on 30 November in Urumqi (17:00 UTC) is November there but 1 December in
            # Shanghai: the district's report must read it on Urumqi's calendar.
            OccupancyHourly(venue_id=URUMQI, hour_utc=_utc(2026, 11, 30, 17), count=55),
        ]
    )


def _users(session: Session) -> None:
    for username, role, venues in (
        ("ada", Role.ADMIN, []),
        ("mia", Role.MANAGER, [RIDERS]),
        ("max", Role.MANAGER, [PUDONG]),
        ("tom", Role.TECHNICIAN, []),
    ):
        create_user(
            session=session,
            user_in=UserCreate(username=username, password=PASSWORD, role=role, venue_ids=venues),
        )


def seed(session: Session) -> None:
    _venues(session)
    _riders_traffic(session)
    _riders_fridge(session)
    _riders_alerts_and_points(session)
    _others(session)
    session.commit()
    _users(session)
    session.commit()

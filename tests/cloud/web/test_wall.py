"""The wall screen: a district's live figures on one page, scoped, bounded, never reloaded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.models import EnergyDaily
from cloud.alerts.models import Alert
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.pages.wall import MAX_ALERTS
from tests.cloud.web.helpers import PASSWORD, sign_in

NOW = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = open_database(CloudSettings(data_dir=tmp_path))
    with Session(made) as session:
        session.add_all(
            [
                Venue(id="a1", name="徐汇一站", district="徐汇区"),
                Venue(id="a2", name="徐汇二站", district="徐汇区"),
                Venue(id="b1", name="浦东一站", district="浦东新区"),
            ]
        )
        session.commit()
        session.add(Device(id="door-a1", venue_id="a1", role="door", online=True))
        session.add(EnergyDaily(venue_id="a1", local_date=date(2025, 6, 1), kwh=12.5))
        session.add(EnergyDaily(venue_id="a2", local_date=date(2025, 5, 31), kwh=99.0))
        for n in range(MAX_ALERTS + 3):
            key = f"door_forced:a1:{n}"
            session.add(
                Alert(
                    venue_id="a1" if n % 2 else "b1",
                    kind="door_forced",
                    severity="critical",
                    dedupe_key=key,
                    active_key=key,
                    opened_at=NOW - timedelta(minutes=n),
                    last_seen_at=NOW,
                    message_zh=f"门被强行打开 {n}",
                    message_en=f"door forced {n}",
                )
            )
        session.add(
            DeviceEvent(
                device_id="door-a1",
                seq=1,
                venue_id="a1",
                type="access.decision",
                ts=NOW - timedelta(minutes=3),
                data={"reason": "accepted", "member": "M1"},
                received_at=NOW - timedelta(minutes=3),
            )
        )
        for username, role, venues in (
            ("root", Role.ADMIN, []),
            ("xuhui", Role.MANAGER, ["a1", "a2"]),
            ("tech", Role.TECHNICIAN, []),
        ):
            create_user(
                session=session,
                user_in=UserCreate(
                    username=username, password=PASSWORD, role=role, venue_ids=venues
                ),
            )
        session.commit()
    yield made
    made.dispose()


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, clock=lambda: NOW)
    with TestClient(app) as made:
        yield made


def test_a_manager_sees_their_venues_live_totals_and_alerts(client: TestClient) -> None:
    sign_in(client, "xuhui")
    text = client.get("/wall").text
    assert 'data-tile="a1"' in text
    assert 'data-tile="a2"' in text
    assert 'data-tile="b1"' not in text  # another district's venue is out of scope
    assert 'data-fig-sum="visits" data-wall-total="visits">1<' in text
    assert 'data-wall-total="energy">12.5<' in text  # today's kWh only
    assert 'data-fig-src="/live/figures?venues=a1%2Ca2&amp;energy=1"' in text
    assert "门被强行打开" in text
    assert '<header class="top"' not in text  # its own dark frame, no dashboard menu


def test_the_alert_list_is_bounded_and_re_renders_alone(client: TestClient) -> None:
    sign_in(client, "root")
    text = client.get("/wall?part=alerts").text.strip()
    assert text.startswith('<section class="wall-alerts" data-live-part="alerts"')
    assert text.count("data-wall-alert") == MAX_ALERTS
    assert 'data-live-topics="alerts:a1 alerts:a2 alerts:b1"' in text


def test_a_district_filter_narrows_the_wall(client: TestClient) -> None:
    sign_in(client, "root")
    text = client.get("/wall?district=浦东新区").text
    assert 'data-tile="b1"' in text
    assert 'data-tile="a1"' not in text


def test_the_figures_carry_the_walls_energy(client: TestClient) -> None:
    sign_in(client, "xuhui")
    figures = client.get("/live/figures?venues=a1,a2&energy=1").json()["figures"]
    assert figures["total:energy"] == 12.5
    assert figures["a1:visits"] == 1


def test_only_admins_and_managers_get_the_wall(client: TestClient) -> None:
    sign_in(client, "tech")
    assert client.get("/wall").status_code == 403

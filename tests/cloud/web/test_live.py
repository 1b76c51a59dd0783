"""The live feed: which venues' topics move when rows arrive, and who hears of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.occupancy import set_venue_settings
from cloud.alerts.models import Alert, AlertStatus
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device, DeviceHealth, PendingBox
from cloud.models import DeviceEvent, Reading, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.live import LiveFeed, Watch, scan, topics_for
from tests.cloud.web.helpers import PASSWORD, sign_in

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = open_database(CloudSettings(data_dir=tmp_path))
    with Session(made) as session:
        session.add_all([Venue(id="v1", name="one"), Venue(id="v2", name="two")])
        session.commit()
        session.add(Device(id="v1-door-1", venue_id="v1"))
        session.commit()
    yield made
    made.dispose()


def _event(engine: Engine, seq: int, *, venue: str = "v1", at: datetime = NOW) -> None:
    with Session(engine) as session:
        session.add(
            DeviceEvent(
                device_id=f"{venue}-door-1",
                seq=seq,
                venue_id=venue,
                type="access.decision",
                ts=at,
                data={"reason": "accepted"},
                received_at=at,
            )
        )
        session.commit()


def test_the_first_scan_primes_and_a_quiet_database_says_nothing(engine: Engine) -> None:
    watch = Watch()
    _event(engine, 1)
    assert scan(engine, watch, now=NOW) == set()
    assert scan(engine, watch, now=NOW + timedelta(seconds=1)) == set()


def test_new_rows_name_their_venue(engine: Engine) -> None:
    watch = Watch()
    scan(engine, watch, now=NOW)
    _event(engine, 1, venue="v2")
    with Session(engine) as session:
        session.add(
            Reading(
                device_id="v1-hub-1",
                seq=1,
                venue_id="v1",
                metric="temperature_c",
                ts=NOW,
                value=21.0,
                received_at=NOW,
            )
        )
        session.commit()
    # A door decision moves occupancy (traffic); a temperature is other news of the venue.
    assert scan(engine, watch, now=NOW) == {("venue", "v1"), ("traffic", "v2")}


def test_a_row_committed_late_with_an_older_arrival_time_is_still_seen(engine: Engine) -> None:
    watch = Watch()
    _event(engine, 5)
    scan(engine, watch, now=NOW)
    # Another ingest worker's transaction commits after the scan, with an earlier stamp.
    _event(engine, 4, at=NOW - timedelta(seconds=2))
    assert ("traffic", "v1") in scan(engine, watch, now=NOW)


def test_rows_leaving_the_look_back_window_are_not_news(engine: Engine) -> None:
    watch = Watch()
    _event(engine, 1)
    scan(engine, watch, now=NOW)
    assert scan(engine, watch, now=NOW + timedelta(minutes=5)) == set()


def test_alert_and_device_changes_are_their_own_topics(engine: Engine) -> None:
    watch = Watch()
    scan(engine, watch, now=NOW)
    with Session(engine) as session:
        alert = Alert(
            venue_id="v1",
            kind="door_forced",
            severity="critical",
            dedupe_key="k",
            active_key="k",
            opened_at=NOW,
            last_seen_at=NOW,
            message_zh="门",
            message_en="door",
        )
        session.add(alert)
        session.commit()
        assert scan(engine, watch, now=NOW) == {("alerts", "v1")}
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = NOW + timedelta(seconds=1)
        session.add(alert)
        device = session.get(Device, "v1-door-1")
        assert device is not None
        device.online = True
        session.add(device)
        session.commit()
    assert scan(engine, watch, now=NOW) == {("alerts", "v1"), ("devices", "v1")}


def test_each_viewer_hears_only_of_their_venues() -> None:
    changed = {("venue", "v1"), ("alerts", "v2"), ("devices", "v2"), ("pending", "all")}
    assert topics_for(changed, None) == ["alerts:v2", "devices:v2", "pending:all", "venue:v1"]
    assert topics_for(changed, frozenset({"v1"})) == ["venue:v1"]
    assert topics_for(changed, frozenset({"v1", "all"})) == ["venue:v1"]
    assert topics_for(changed, frozenset()) == []


def test_a_box_saying_hello_is_news_once_and_its_heartbeats_are_health(engine: Engine) -> None:
    watch = Watch()
    scan(engine, watch, now=NOW)
    with Session(engine) as session:
        session.add(PendingBox(serial="abcde12345", first_seen_at=NOW, last_seen_at=NOW))
        session.commit()
    assert scan(engine, watch, now=NOW) == {("pending", "all")}
    with Session(engine) as session:
        box = session.get(PendingBox, "abcde12345")
        assert box is not None
        box.last_seen_at = NOW + timedelta(seconds=5)  # its next hello
        session.add(box)
        session.add(
            DeviceHealth(
                device_id="v1-door-1", seq=1, ts=NOW, uptime_s=60, outbox_depth=0, received_at=NOW
            )
        )
        session.commit()
    assert scan(engine, watch, now=NOW) == {("health", "v1")}


def test_the_feed_polls_only_while_someone_listens(engine: Engine) -> None:
    clock = [NOW]

    async def run() -> set[tuple[str, str]]:
        feed = LiveFeed(engine, clock=lambda: clock[0], interval_s=0.01)
        async with feed.subscription() as queue:
            assert feed.subscribers == 1
            # The first scan primes; what arrives after it is news.
            deadline = asyncio.get_running_loop().time() + 10
            while feed.scans < 1:
                assert asyncio.get_running_loop().time() < deadline, "the feed never scanned"
                await asyncio.sleep(0.01)
            await asyncio.to_thread(_event, engine, 1)
            got = await asyncio.wait_for(queue.get(), timeout=10)
        assert feed.subscribers == 0
        await feed.stop()
        return got

    assert asyncio.run(run()) == {("traffic", "v1")}


# ---- the figures a live page writes in place ------------------------------------------


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    with Session(engine) as session:
        for username, role, venues in (
            ("root", Role.ADMIN, []),
            ("boss", Role.MANAGER, ["v1"]),
            ("mo", Role.MEMBER, []),
        ):
            user_in = UserCreate(
                username=username,
                password=PASSWORD,
                role=role,
                venue_ids=venues,
                member_id="M-0001" if role is Role.MEMBER else None,
            )
            create_user(session=session, user_in=user_in)
    set_venue_settings(engine, "v1", now=NOW, capacity=1)
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, clock=lambda: NOW)
    with TestClient(app) as made:
        yield made


def _figures(client: TestClient, query: str) -> dict[str, object]:
    answer = client.get(f"/live/figures?{query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    figures: dict[str, object] = answer.json()["figures"]
    return figures


def test_the_figures_follow_the_rows_without_rendering_a_page(
    engine: Engine, client: TestClient
) -> None:
    sign_in(client, "boss")
    before = _figures(client, "venues=v1")
    assert before["v1:inside"] == 0
    assert before["v1:over"] is False
    _event(engine, 1, at=NOW - timedelta(minutes=2))
    _event(engine, 2, at=NOW - timedelta(minutes=1))
    after = _figures(client, "venues=v1")
    assert (after["v1:inside"], after["v1:visits"], after["v1:today"]) == (2, 2, 2)
    assert (after["v1:over"], after["v1:bar"], after["v1:fill"]) == (True, "over", 100)
    assert after["v1:devices"] == "0 / 1"
    assert after["v1:devices_state"] == "warn"
    # A handful of numbers, not a page: what a phone pays for each update.
    assert len(client.get("/live/figures?venues=v1").content) < 400


def test_each_viewer_gets_only_their_venues_figures(client: TestClient) -> None:
    sign_in(client, "boss")
    figures = _figures(client, "venues=v1,v2&totals=1")
    assert {key.split(":")[0] for key in figures} == {"v1", "total"}
    assert figures["total:venues"] == 1  # the manager's one venue, not both
    sign_in(client, "root")
    assert {key.split(":")[0] for key in _figures(client, "venues=v1,v2")} == {"v1", "v2"}


def test_too_many_venues_are_refused_with_a_reason(client: TestClient) -> None:
    sign_in(client, "root")
    answer = client.get("/live/figures?venues=" + ",".join(f"x{n}" for n in range(201)))
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "too_many_venues"
    assert "200" in answer.json()["error"]["message"]


def test_members_and_strangers_get_no_figures(client: TestClient) -> None:
    assert client.get("/live/figures?venues=v1", follow_redirects=False).status_code == 303
    sign_in(client, "mo")
    assert client.get("/live/figures?venues=v1").status_code == 403

"""The points page: catalog, stock per kiosk slot with restocking, the redemptions report."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.core.cells import csv_cell
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.points.catalog_models import KioskSlot, MovementKind, Product, StockMovement
from cloud.points.models import Redemption, RedemptionState
from cloud.service import open_database
from cloud.settings import CloudSettings
from tests.cloud.web.helpers import PASSWORD, sign_in

# 12:00 in Shanghai: "today" there began at 16:00 UTC the day before.
NOW = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)
LOCAL_MIDNIGHT = datetime(2025, 6, 9, 16, 0, tzinfo=UTC)
WATER, SOAP = 1, 2


def _redemption(
    txn: str, kiosk: str, *, state: RedemptionState, at: datetime, price: int = 5
) -> Redemption:
    return Redemption(
        transaction_id=txn,
        member_id="M-1",
        kiosk_id=kiosk,
        slot="1",
        price=price,
        state=state.value,
        reserved_at=at - timedelta(seconds=20),
        expires_at=at + timedelta(minutes=2),
        settled_at=None if state is RedemptionState.RESERVED else at,
    )


def _take(txn: str, kiosk: str, venue: str, *, at: datetime) -> StockMovement:
    return StockMovement(
        kiosk_id=kiosk,
        slot=1,
        venue_id=venue,
        product_id=WATER,
        kind=MovementKind.TAKE.value,
        delta=-1,
        stock_after=0,
        transaction_id=txn,
        by="system",
        at=at,
    )


def _seed(session: Session) -> None:
    session.add(Venue(id="v1", name="徐汇驿站", timezone="Asia/Shanghai"))
    session.add(Venue(id="v2", name="浦东之家"))
    session.add(Product(id=WATER, name_zh="矿泉水", name_en="Water", price=5))
    session.add(Product(id=SOAP, name_zh="香皂", name_en="Soap", price=8, active=False))
    session.commit()
    session.add(Device(id="kiosk-1", venue_id="v1", role="kiosk", online=True))
    session.add(Device(id="kiosk-2", venue_id="v2", role="kiosk"))
    session.add(Device(id="door-1", venue_id="v1", role="door"))
    session.commit()
    session.add_all(
        [
            KioskSlot(kiosk_id="kiosk-1", slot=1, venue_id="v1", product_id=WATER, stock=2,
                      capacity=10, low_stock_threshold=3),
            KioskSlot(kiosk_id="kiosk-1", slot=2, venue_id="v1", product_id=SOAP, stock=5,
                      capacity=5, low_stock_threshold=1),
            KioskSlot(kiosk_id="kiosk-2", slot=1, venue_id="v2", product_id=WATER, stock=7,
                      capacity=9, low_stock_threshold=2),
        ]
    )  # fmt: skip
    committed = RedemptionState.COMMITTED
    rows = [
        # v1 today (local): two committed water, one cancelled, one timed out, one pending
        ("t-today-1", "kiosk-1", committed, NOW - timedelta(hours=1)),
        ("t-today-2", "kiosk-1", committed, LOCAL_MIDNIGHT + timedelta(minutes=30)),
        ("t-cancel", "kiosk-1", RedemptionState.CANCELLED, NOW - timedelta(hours=2)),
        ("t-expired", "kiosk-1", RedemptionState.EXPIRED, NOW - timedelta(hours=3)),
        ("t-pending", "kiosk-1", RedemptionState.RESERVED, NOW - timedelta(minutes=1)),
        # v1 yesterday 23:30 local, and 10 days ago
        ("t-yesterday", "kiosk-1", committed, LOCAL_MIDNIGHT - timedelta(minutes=30)),
        ("t-old", "kiosk-1", committed, NOW - timedelta(days=10)),
        # v2 today
        ("t-v2", "kiosk-2", committed, NOW - timedelta(hours=1)),
    ]
    for txn, kiosk, state, at in rows:
        session.add(_redemption(txn, kiosk, state=state, at=at))
        if state is committed:
            session.add(_take(txn, kiosk, "v1" if kiosk == "kiosk-1" else "v2", at=at))
    for username, role, venues, member in (
        ("root", Role.ADMIN, [], None),
        ("boss", Role.MANAGER, ["v1"], None),
        ("mel", Role.MEMBER, [], "M-1"),
    ):
        create_user(
            session=session,
            user_in=UserCreate(
                username=username, password=PASSWORD, role=role, venue_ids=venues, member_id=member
            ),
        )
    session.commit()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = CloudSettings(data_dir=tmp_path)
    engine: Engine = open_database(settings)
    with Session(engine) as session:
        _seed(session)
    app = create_app(settings=settings, engine=engine, clock=lambda: NOW)
    with TestClient(app) as made:
        yield made
    engine.dispose()


def row(html: str, attribute: str) -> str:
    found = re.search(rf"<tr {re.escape(attribute)}[^>]*>(.*?)</tr>", html, re.DOTALL)
    assert found is not None, f"no row {attribute}"
    return found.group(1)


def cell(row_html: str, hook: str) -> int:
    found = re.search(rf"{hook}>(\d+)<", row_html)
    assert found is not None, f"no {hook} in {row_html}"
    return int(found.group(1))


def test_staff_see_the_catalog_with_prices_and_state(client: TestClient) -> None:
    sign_in(client, "root")
    html = client.get("/points").text
    water, soap = row(html, f'data-product="{WATER}"'), row(html, f'data-product="{SOAP}"')
    assert "矿泉水" in water
    assert cell(water, "data-price") == 5
    assert 'data-active="true"' in water
    assert cell(soap, "data-price") == 8
    assert 'data-active="false"' in soap


def test_stock_per_slot_with_a_restock_form_calling_the_api(client: TestClient) -> None:
    sign_in(client, "root")
    html = client.get("/points").text
    slot = row(html, 'data-stock-slot="kiosk-1:1"')
    assert cell(slot, "data-slot-stock") == 2
    assert cell(slot, "data-slot-threshold") == 3
    assert "库存不足" in slot  # 2 left, low at 3
    assert 'data-api-form="/api/v1/kiosks/kiosk-1/slots/1/restock"' in slot
    assert 'type="number" name="quantity" min="1" max="8"' in slot
    full = row(html, 'data-stock-slot="kiosk-1:2"')
    assert "data-api-form" not in full  # nothing fits
    assert 'data-stock-slot="kiosk-2:1"' in html
    assert 'data-kiosk="door-1"' not in html  # doors have no slots


def test_the_restock_form_target_adds_stock_and_the_page_shows_it(client: TestClient) -> None:
    sign_in(client, "boss")
    html = client.get("/points").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    header = re.search(r'<meta name="csrf-header" content="([^"]+)">', html)
    assert token is not None
    assert header is not None
    answer = client.post(
        "/api/v1/kiosks/kiosk-1/slots/1/restock",
        json={"quantity": 6},
        headers={header.group(1): token.group(1)},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["stock_after"] == 8
    slot = row(client.get("/points").text, 'data-stock-slot="kiosk-1:1"')
    assert cell(slot, "data-slot-stock") == 8
    assert "库存不足" not in slot


def test_redemptions_per_venue_and_product_over_the_period(client: TestClient) -> None:
    sign_in(client, "root")
    html = client.get("/points").text  # the last 7 venue-local days
    v1 = row(html, 'data-redemption-venue="v1"')
    assert (cell(v1, "data-redeemed"), cell(v1, "data-points")) == (3, 15)
    assert (cell(v1, "data-cancelled"), cell(v1, "data-expired")) == (1, 1)
    v2 = row(html, 'data-redemption-venue="v2"')
    assert (cell(v2, "data-redeemed"), cell(v2, "data-points")) == (1, 5)
    water = row(html, f'data-redemption-product="{WATER}"')
    assert (cell(water, "data-redeemed"), cell(water, "data-points")) == (4, 20)
    month = row(client.get("/points?period=30d").text, 'data-redemption-venue="v1"')
    assert cell(month, "data-redeemed") == 4


def test_today_starts_at_the_venues_local_midnight(client: TestClient) -> None:
    sign_in(client, "root")
    v1 = row(client.get("/points?period=today").text, 'data-redemption-venue="v1"')
    # 00:30 local counts, 23:30 local the evening before does not
    assert cell(v1, "data-redeemed") == 2


def test_a_manager_sees_only_their_venues_kiosks_and_redemptions(client: TestClient) -> None:
    sign_in(client, "boss")
    html = client.get("/points").text
    assert 'data-stock-slot="kiosk-1:1"' in html
    assert "kiosk-2" not in html
    assert 'data-redemption-venue="v2"' not in html
    water = row(html, f'data-redemption-product="{WATER}"')
    assert cell(water, "data-redeemed") == 3  # v2's redemption is not counted
    assert "浦东之家" not in client.get("/points/redemptions.csv").text
    asked_for_v2 = client.get("/points?venue=v2")  # not theirs: nothing, not more
    assert asked_for_v2.status_code == 200
    assert "kiosk-2" not in asked_for_v2.text
    assert "data-kiosks-empty" in asked_for_v2.text


def test_the_report_downloads_as_csv(client: TestClient) -> None:
    sign_in(client, "root")
    answer = client.get("/points/redemptions.csv?period=30d")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "v1,徐汇驿站,4,20,1,1,0" in answer.text


def test_the_low_stock_filter_keeps_only_low_slots(client: TestClient) -> None:
    sign_in(client, "root")
    html = client.get("/points?low=1").text
    assert 'data-stock-slot="kiosk-1:1"' in html
    assert 'data-stock-slot="kiosk-1:2"' not in html
    assert "kiosk-2" not in html


def test_a_member_gets_the_not_for_your_role_page(client: TestClient) -> None:
    sign_in(client, "mel")
    answer = client.get("/points")
    assert answer.status_code == 403
    assert "您的角色无权查看此页面" in answer.text
    assert "data-stock-slot" not in answer.text


def test_english_with_the_language_cookie(client: TestClient) -> None:
    sign_in(client, "root")
    assert "积分与兑换" in client.get("/points").text
    client.cookies.set("yz_lang", "en")
    html = client.get("/points").text
    assert "Points and kiosks" in html
    assert "Water" in row(html, 'data-stock-slot="kiosk-1:1"')
    assert "积分与兑换" not in html


@pytest.mark.parametrize("hostile", ['=HYPERLINK("x")', "+1", "-1+2", "@SUM(A1)"])
def test_a_venue_name_in_the_report_never_starts_a_formula(hostile: str) -> None:
    assert csv_cell(hostile) == f"'{hostile}"
    assert csv_cell("徐汇驿站") == "徐汇驿站"

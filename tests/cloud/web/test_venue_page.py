"""The venue page: scope, live occupancy, door decisions with pseudonyms, kiosk stock, charts."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.occupancy import set_venue_settings
from cloud.alerts.models import SensorRole
from cloud.api.app import create_app
from cloud.api.state import ApiState
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.pseudonym import pseudonymize
from cloud.auth.store import create_user
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Reading, Venue
from cloud.points.catalog import SlotSetting, create_product, set_slot
from cloud.points.catalog_models import ProductCreate
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.render import STATIC_DIR, TEMPLATES_DIR
from tests.cloud.web.helpers import PASSWORD, sign_in

NOW = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
MEMBER = "M-ZHANG-0042"
_seq = count(1)


def decision(reason: str, *, minutes_ago: int = 10, venue: str = "v1") -> DeviceEvent:
    """What edge/door/controller.py publishes for one decision at a door."""
    return DeviceEvent(
        device_id="door1" if venue == "v1" else "door2",
        seq=next(_seq),
        venue_id=venue,
        type="access.decision",
        ts=NOW - timedelta(minutes=minutes_ago),
        data={"door": "main", "reason": reason, "detail": "test", "member": MEMBER, "mode": 1},
    )


def add(engine: Engine, *rows: object) -> None:
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


def _seed_kiosk(session: Session, kiosk: Device) -> None:
    water = create_product(
        session=session,
        product_in=ProductCreate(name_zh="矿泉水", name_en="Water", price=10),
        by="test",
        now=NOW,
    )
    soap = create_product(
        session=session,
        product_in=ProductCreate(name_zh="香皂", name_en="Soap", price=20),
        by="test",
        now=NOW,
    )
    for slot, product, stock in ((1, water.id, 12), (2, soap.id, 1)):
        setting = SlotSetting(product_id=product, capacity=20, low_stock_threshold=2, stock=stock)
        set_slot(session=session, kiosk=kiosk, slot=slot, setting=setting, by="test", now=NOW)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = open_database(CloudSettings(data_dir=tmp_path))
    with Session(made) as session:
        session.add(Venue(id="v1", name="徐汇驿站", district="徐汇区", kind="outdoor-station"))
        session.add(Venue(id="v2", name="浦东之家", district="浦东新区", kind="worker-home"))
        session.commit()
        kiosk = Device(id="kiosk1", venue_id="v1", role="kiosk", online=True)
        session.add_all(
            [
                Device(id="door1", venue_id="v1", role="door", online=True),
                Device(id="door2", venue_id="v2", role="door", online=True),
                kiosk,
            ]
        )
        session.commit()
        _seed_kiosk(session, kiosk)
        for username, role, venues in (
            ("root", Role.ADMIN, []),
            ("boss", Role.MANAGER, ["v1"]),
            ("other", Role.MANAGER, ["v2"]),
        ):
            user_in = UserCreate(username=username, password=PASSWORD, role=role, venue_ids=venues)
            create_user(session=session, user_in=user_in)
    set_venue_settings(made, "v1", now=NOW, capacity=30)
    yield made
    made.dispose()


@pytest.fixture
def app(tmp_path: Path, engine: Engine) -> FastAPI:
    return create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, clock=lambda: NOW)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as made:
        yield made


def page(client: TestClient, venue_id: str = "v1") -> str:
    answer = client.get(f"/venues/{venue_id}")
    assert answer.status_code == 200, answer.text
    text: str = answer.text
    return text


def inside(text: str, venue_id: str = "v1") -> int:
    found = re.search(rf'<strong [^>]*data-occupancy="{venue_id}">(\d+)</strong>', text)
    assert found is not None, "the page shows no occupancy"
    return int(found.group(1))


def access_rows(text: str) -> list[str]:
    return re.findall(r"<tr data-access-event.*?</tr>", text, flags=re.DOTALL)


def test_an_admin_sees_the_venue_with_member_ids(engine: Engine, client: TestClient) -> None:
    add(engine, decision("accepted"))
    sign_in(client, "root")
    text = page(client)
    assert "徐汇驿站" in text
    assert "徐汇区" in text
    assert "Asia/Shanghai" in text
    # Every figure moves in place: nothing re-renders <main>.
    assert 'data-live=""' in text
    assert 'data-live-figures="traffic:v1 occupancy:v1 alerts:v1 devices:v1"' in text
    assert 'data-fig-src="/live/figures?venues=v1"' in text
    assert re.search(r'data-kpi="capacity">30<', text)
    assert 'href="/alerts?venue=v1"' in text
    (row,) = access_rows(text)
    assert MEMBER in row
    assert "06-01 11:50:00" in row  # 03:50 UTC, shown on the venue's Shanghai clock
    assert "data-pseudonymized" not in text


def test_a_manager_sees_pseudonyms_and_translated_reasons(
    app: FastAPI, engine: Engine, client: TestClient
) -> None:
    add(engine, decision("expired", minutes_ago=5), decision("accepted", minutes_ago=30))
    add(engine, decision("accepted", venue="v2"))
    sign_in(client, "boss")
    text = page(client)
    state = app.state.api
    assert isinstance(state, ApiState)
    pseudonym = pseudonymize(MEMBER, key=state.auth.pseudonym_key)
    assert MEMBER not in text
    newest, older = access_rows(text)  # only v1's two decisions, newest first
    assert pseudonym in newest
    assert pseudonym in older
    assert "会员码已过期" in newest
    assert "验证通过" in older
    assert "data-pseudonymized" in text

    client.cookies.set("yz_lang", "en")
    newest_en = access_rows(page(client))[0]
    assert "code expired" in newest_en
    assert "Refused" in newest_en


def test_an_unknown_reason_shows_as_its_code(engine: Engine, client: TestClient) -> None:
    add(engine, decision("lunar_eclipse"))
    sign_in(client, "boss")
    (row,) = access_rows(page(client))
    assert "data-reason-text>lunar_eclipse</td>" in row


@pytest.mark.parametrize("venue_id", ["v1", "nowhere"])
def test_a_venue_outside_the_scope_is_not_found(client: TestClient, venue_id: str) -> None:
    sign_in(client, "other")
    answer = client.get(f"/venues/{venue_id}")
    assert answer.status_code == 404
    assert "data-error-page" in answer.text
    assert "徐汇驿站" not in answer.text


def test_a_page_without_a_sign_in_goes_to_the_login(client: TestClient) -> None:
    answer = client.get("/venues/v1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/venues/v1")


def test_occupancy_counts_a_member_let_in_before_any_rollup(
    engine: Engine, client: TestClient
) -> None:
    sign_in(client, "boss")
    assert inside(page(client)) == 0
    add(engine, decision("accepted", minutes_ago=1))
    add(engine, decision("revoked", minutes_ago=1))  # a refused member is not inside
    text = page(client)
    assert inside(text) == 1
    assert re.search(r'data-kpi="visits">1<', text)


def test_over_capacity_is_marked(engine: Engine, client: TestClient) -> None:
    set_venue_settings(engine, "v1", now=NOW, capacity=1)
    add(engine, decision("accepted", minutes_ago=3), decision("accepted", minutes_ago=2))
    sign_in(client, "root")
    text = page(client)
    assert inside(text) == 2
    assert "data-over-capacity" in text


def test_kiosk_slots_show_stock_and_low_marks(client: TestClient) -> None:
    sign_in(client, "boss")
    text = page(client)
    water = re.search(
        r'<tr data-stock-slot="kiosk1:1" data-stock-state="(\w+)">(.*?)</tr>', text, re.S
    )
    soap = re.search(
        r'<tr data-stock-slot="kiosk1:2" data-stock-state="(\w+)">(.*?)</tr>', text, re.S
    )
    assert water is not None
    assert soap is not None
    assert water.group(1) == "ok"
    assert "矿泉水" in water.group(2)
    assert "12 / 20" in water.group(2)
    assert soap.group(1) == "low"
    assert "库存不足" in soap.group(2)


def test_every_chart_address_answers_with_the_sign_in_cookie(client: TestClient) -> None:
    sign_in(client, "boss")
    text = page(client)
    kinds = re.findall(r'data-chart="(\w+)" data-src="([^"]+)"', text)
    assert [kind for kind, _ in kinds] == ["occupancy", "traffic", "energy", "temperature"]
    for kind, src in kinds:
        answer = client.get(html.unescape(src))
        assert answer.status_code == 200, (kind, answer.text)
        assert answer.json()["venue_id"] == "v1"
    occupancy = client.get(html.unescape(kinds[0][1])).json()
    assert occupancy["since"] == "2025-05-31T16:00:00+00:00"  # midnight in Shanghai


def test_charts_load_from_this_site_only(client: TestClient) -> None:
    template = (TEMPLATES_DIR / "venue.html").read_text(encoding="utf-8")
    assert "static_url('vendor/echarts/echarts.min.js')" in template
    assert "static_url('charts.js')" in template
    assert not re.search(r"https?://", template)
    assert not re.search(r"https?://", (STATIC_DIR / "charts.js").read_text(encoding="utf-8"))
    sign_in(client, "root")
    scripts = re.findall(r'<script src="(/static/[^"]+)" defer></script>', page(client))
    assert any(s.startswith("/static/charts.js?v=") for s in scripts)
    for src in scripts:
        assert client.get(src).status_code == 200, src


def test_the_chart_library_is_cached_for_a_year_and_sent_compressed(client: TestClient) -> None:
    sign_in(client, "root")
    (src,) = re.findall(r'src="(/static/vendor/echarts/echarts.min.js\?v=\w+)"', page(client))
    answer = client.get(src, headers={"Accept-Encoding": "gzip"})
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.num_bytes_downloaded < 250_000  # 664 kB as it is on disk
    # Without the content's hash (or with an old one) the browser must ask again; the
    # ETag makes that a 304 with no body.
    bare = client.get("/static/vendor/echarts/echarts.min.js?v=0ld")
    assert bare.headers["cache-control"] == "no-cache"
    again = client.get(
        "/static/vendor/echarts/echarts.min.js", headers={"If-None-Match": bare.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"


def test_a_past_day_is_charted_from_its_own_bounds(client: TestClient) -> None:
    sign_in(client, "boss")
    text = page_at(client, "/venues/v1?from=2025-05-20&to=2025-05-20")
    sources = dict(re.findall(r'data-chart="(\w+)" data-src="([^"]+)"', text))
    occupancy = client.get(html.unescape(sources["occupancy"])).json()
    # Midnight to midnight in Shanghai, shareable in the address.
    assert occupancy["since"] == "2025-05-19T16:00:00+00:00"
    assert occupancy["until"] == "2025-05-20T16:00:00+00:00"
    assert "resolution=hour" in sources["traffic"]
    assert 'value="2025-05-20"' in text
    assert "data-range-problem" not in text


def test_a_month_is_charted_by_day_and_the_presets_mark_themselves(client: TestClient) -> None:
    sign_in(client, "boss")
    text = page_at(client, "/venues/v1?range=30d")
    sources = dict(re.findall(r'data-chart="(\w+)" data-src="([^"]+)"', text))
    assert "resolution=day" in sources["traffic"]
    assert 'data-range="30d" href="/venues/v1?range=30d" aria-current="true"' in text
    assert 'value="2025-05-03"' in text  # 30 days up to 2025-06-01 in Shanghai
    # A past range hears no live news in its charts: its days are over.
    past = page_at(client, "/venues/v1?range=yesterday")
    assert 'data-live-topics=""' in past


@pytest.mark.parametrize(
    ("query", "problem", "first"),
    [
        ("from=2025-13-01", "日期格式应为", "2025-06-01"),
        ("from=2025-05-20&to=2025-05-10", "已对调", "2025-05-10"),
        ("from=2025-05-30&to=2025-07-01", "已截止到今天", "2025-05-30"),
        ("from=2024-01-01&to=2025-06-01", "一次最多查看 92 天", "2025-03-02"),
    ],
)
def test_unusable_dates_say_what_the_page_did_instead(
    client: TestClient, query: str, problem: str, first: str
) -> None:
    sign_in(client, "boss")
    text = page_at(client, f"/venues/v1?{query}")
    assert "data-range-problem" in text
    assert problem in text
    assert f'name="from" value="{first}"' in text


def test_the_door_log_re_renders_alone(engine: Engine, client: TestClient) -> None:
    sign_in(client, "boss")
    add(engine, decision("accepted", minutes_ago=1))
    answer = client.get("/venues/v1?part=access", headers={"X-Yizhan-Fragment": "1"})
    assert answer.status_code == 200
    text = answer.text.strip()
    assert text.startswith('<section class="card" data-access-events data-live-part="access"')
    assert text.endswith("</section>")
    assert len(access_rows(text)) == 1
    assert "data-chart" not in text
    assert "<html" not in text
    kiosks = client.get("/venues/v1?part=kiosks", headers={"X-Yizhan-Fragment": "1"}).text
    assert 'data-stock-slot="kiosk1:1"' in kiosks
    assert "data-access-events" not in kiosks
    # Another venue's part is as out of reach as its page.
    assert client.get("/venues/v2?part=access").status_code == 404


def test_a_venue_without_a_door_shows_the_beams_entries(engine: Engine, client: TestClient) -> None:
    add(
        engine,
        Reading(
            device_id="beam2",
            seq=1,
            venue_id="v2",
            metric="people_in",
            ts=NOW - timedelta(minutes=5),
            value=21,
            received_at=NOW - timedelta(minutes=5),
        ),
    )
    with Session(engine) as session:
        door = session.get(Device, "door2")
        assert door is not None
        session.delete(door)
        session.commit()
    sign_in(client, "other")
    text = page(client, "v2")
    assert re.search(r'data-fig="v2:entries" data-kpi="entries">21<', text)
    assert 'data-kpi="visits"' not in text  # no door: no 0 that contradicts the chart
    assert "门禁验证通过、放行入场的人次" in text  # each figure says what it counts


def test_the_fridge_limit_and_sensor_names_reach_the_chart(
    engine: Engine, client: TestClient
) -> None:
    add(
        engine,
        SensorRole(device_id="hub-01", sensor="28-6174025e7a57", venue_id="v1", role="fridge"),
        SensorRole(device_id="hub-01", sensor="28-aa", venue_id="v1", role="ambient", label="大厅"),
    )
    sign_in(client, "boss")
    text = page(client)
    chart = re.search(r'<div class="chart"[^>]*data-chart="temperature"[^>]*>', text)
    assert chart is not None
    attrs = html.unescape(chart.group(0))
    assert 'data-fridge-limit="8.0"' in attrs  # the shipped fridge rule's threshold
    assert '"hub-01/28-aa": {"label": "\\u5927\\u5385", "role": "ambient"}' in attrs  # 大厅
    assert 'data-label-fridge="冰箱"' in attrs


def page_at(client: TestClient, address: str) -> str:
    answer = client.get(address)
    assert answer.status_code == 200, answer.text
    text: str = answer.text
    return text

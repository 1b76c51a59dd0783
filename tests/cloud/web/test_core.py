"""The dashboard's frame: signing in, the cookie on the API, CSRF, language, fragments, scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.cookie import CSRF_HEADER, SESSION_COOKIE
from cloud.auth.models import UserCreate, UserUpdate
from cloud.auth.principal import Role
from cloud.auth.store import create_user, get_user_by_username, update_user
from cloud.models import DeviceEvent, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.i18n import COMMON, Catalog
from cloud.web.pages import PAGES
from cloud.web.render import TEMPLATES_DIR
from tests.cloud.web.helpers import PASSWORD, csrf_of, sign_in


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = open_database(CloudSettings(data_dir=tmp_path))
    with Session(made) as session:
        session.add(Venue(id="v1", name="徐汇驿站", district="徐汇区", kind="outdoor-station"))
        session.add(Venue(id="v2", name="浦东之家", district="浦东新区", kind="worker-home"))
        session.commit()
        for username, role, venues in (
            ("root", Role.ADMIN, []),
            ("boss", Role.MANAGER, ["v1"]),
            ("tech", Role.TECHNICIAN, []),
        ):
            create_user(
                session=session,
                user_in=UserCreate(
                    username=username, password=PASSWORD, role=role, venue_ids=venues
                ),
            )
    yield made
    made.dispose()


@pytest.fixture
def client(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine)
    with TestClient(app) as made:
        yield made


def test_a_page_without_a_sign_in_goes_to_the_login_and_comes_back(client: TestClient) -> None:
    answer = client.get("/alerts?state=all", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/alerts%3Fstate%3Dall"
    login = client.post(
        "/login",
        data={"username": "boss", "password": PASSWORD, "next": "/alerts?state=all"},
        follow_redirects=False,
    )
    assert login.headers["location"] == "/alerts?state=all"
    cookie = login.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_a_wrong_password_says_so_in_the_page_language(client: TestClient) -> None:
    answer = client.post("/login", data={"username": "boss", "password": "nope", "next": "/"})
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.text
    assert SESSION_COOKIE not in client.cookies
    client.cookies.set("yz_lang", "en")
    answer = client.post("/login", data={"username": "nobody", "password": "x", "next": "/"})
    assert "Wrong username or password" in answer.text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_the_login_never_redirects_off_the_site(client: TestClient, target: str) -> None:
    answer = client.post(
        "/login",
        data={"username": "boss", "password": PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_the_cookie_works_on_the_api_but_changes_need_the_csrf_header(
    client: TestClient,
) -> None:
    sign_in(client, "root")
    assert client.get("/api/v1/venues").status_code == 200
    refused = client.post("/api/v1/issuer-keys", json={})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    page = client.get("/")
    wrong = client.post("/api/v1/issuer-keys", json={}, headers={CSRF_HEADER: "0" * 32})
    assert wrong.json()["error"]["code"] == "csrf_failed"
    right = client.post("/api/v1/issuer-keys", json={}, headers={CSRF_HEADER: csrf_of(page.text)})
    # Past the CSRF check, the route's own validation answers (the body is empty).
    assert right.status_code == 422


def test_a_disabled_account_is_sent_back_to_the_login(client: TestClient, engine: Engine) -> None:
    sign_in(client, "boss")
    assert client.get("/").status_code == 200
    with Session(engine) as session:
        user = get_user_by_username(session=session, username="boss")
        assert user is not None
        update_user(session=session, user=user, user_in=UserUpdate(disabled=True))
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303
    assert "expired=1" in answer.headers["location"]
    # A background refresh gets a plain 401 (the script reloads into the login).
    assert client.get("/", headers={"X-Yizhan-Fragment": "1"}).status_code == 401


def test_signing_out_forgets_the_cookie_but_only_from_our_page(client: TestClient) -> None:
    sign_in(client, "boss")
    token = csrf_of(client.get("/").text)
    # Another site's form posting to /logout carries no token: the desk stays signed in.
    client.post("/logout", follow_redirects=False)
    assert client.get("/", follow_redirects=False).status_code == 200
    client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_dashboard_sign_in_lasts_a_shift(client: TestClient) -> None:
    answer = client.post(
        "/login", data={"username": "boss", "password": PASSWORD}, follow_redirects=False
    )
    assert "Max-Age=43200" in answer.headers["set-cookie"]  # 12 hours


def test_zh_cn_is_the_default_and_the_switch_is_remembered(client: TestClient) -> None:
    sign_in(client, "boss")
    page = client.get("/", headers={"Accept-Language": "en-US,en"})
    assert '<html lang="zh-CN">' in page.text
    assert "阵地总览" in page.text
    switched = client.get("/lang/en?next=/alerts", follow_redirects=False)
    assert switched.headers["location"] == "/alerts"
    client.cookies.set("yz_lang", "en")
    page = client.get("/")
    assert '<html lang="en">' in page.text
    assert "All venues" in page.text


def test_a_fragment_is_the_main_alone(client: TestClient) -> None:
    sign_in(client, "boss")
    fragment = client.get("/", headers={"X-Yizhan-Fragment": "1"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'data-venue-row="v1"' in fragment.text
    assert fragment.headers["cache-control"] == "no-store"


def test_pages_refuse_framing_and_inline_scripts(client: TestClient) -> None:
    sign_in(client, "boss")
    page = client.get("/")
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy


def test_a_server_error_on_a_page_is_a_page_without_the_cause(
    tmp_path: Path, engine: Engine
) -> None:
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500
    assert "<html" in answer.text
    assert "secret detail" not in answer.text


def test_an_unknown_address_is_a_page_for_people_and_json_for_programs(
    client: TestClient,
) -> None:
    sign_in(client, "boss")
    page = client.get("/venue/x")
    assert page.status_code == 404
    assert "<html" in page.text
    assert client.get("/api/v1/nothing-here").json()["error"]


def test_a_manager_sees_only_their_venues(client: TestClient) -> None:
    sign_in(client, "boss")
    page = client.get("/").text
    assert 'data-venue-row="v1"' in page
    assert 'data-venue-row="v2"' not in page
    assert "浦东之家" not in page


def test_search_and_district_filter_the_overview(client: TestClient) -> None:
    sign_in(client, "root")
    assert 'data-venue-row="v2"' in client.get("/").text
    by_name = client.get("/", params={"q": "浦东"}).text
    assert 'data-venue-row="v2"' in by_name
    assert 'data-venue-row="v1"' not in by_name
    assert "data-venue-row" not in client.get("/", params={"q": "%"}).text
    by_district = client.get("/", params={"district": "徐汇区"}).text
    assert 'data-kpi="venues">1<' in by_district  # the figures follow the filters too
    assert 'data-venue-row="v1"' in by_district
    assert 'data-venue-row="v2"' not in by_district


def test_a_member_entering_raises_the_overview_count_before_any_rollup(
    client: TestClient, engine: Engine
) -> None:
    sign_in(client, "boss")

    def shown() -> int:
        found = re.search(r'data-occupancy="v1">(\d+)<', client.get("/").text)
        assert found is not None
        return int(found.group(1))

    before = shown()
    with Session(engine) as session:
        session.add(
            DeviceEvent(
                device_id="v1-door-1",
                seq=1,
                venue_id="v1",
                type="access.decision",
                ts=datetime.now(UTC),
                data={"reason": "accepted", "member": "M00000001"},
            )
        )
        session.commit()
    assert shown() == before + 1


def test_a_hostile_venue_name_is_text_not_markup(client: TestClient, engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Venue(id="v3", name='<script>alert("x")</script>', district="x"))
        session.commit()
    sign_in(client, "root")
    page = client.get("/").text
    assert '<script>alert("x")</script>' not in page
    assert "&lt;script&gt;" in page


def test_a_bad_query_value_is_an_error_page_not_json(client: TestClient) -> None:
    sign_in(client, "boss")
    answer = client.get("/alerts", params={"state": "nonsense"})
    assert answer.status_code == 422
    assert "<html" in answer.text
    # The API keeps answering in JSON.
    assert client.get("/api/v1/alerts", params={"status": "nonsense"}).json()["error"]


def test_every_message_key_a_template_uses_is_translated() -> None:
    catalog = Catalog.merged([COMMON, *(page.TEXT for page in PAGES)])
    used: set[str] = set()
    for template in TEMPLATES_DIR.glob("*.html"):
        used |= set(
            re.findall(r'\bt\(\s*"([a-z_.\-]*[a-z_\-])"', template.read_text(encoding="utf-8"))
        )
    missing = sorted(key for key in used if key not in catalog.messages)
    assert not missing, f"templates use keys with no translation: {missing}"
    for key, (zh, en) in catalog.messages.items():
        assert zh.strip(), key
        assert en.strip(), key


def test_a_key_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        Catalog.merged([{"a.b": ("一", "one")}, {"a.b": ("二", "two")}])
    assert Catalog.merged([]).text("en", "no.such.key") == "no.such.key"


def test_visits_today_start_at_the_venues_local_midnight(engine: Engine) -> None:
    from cloud.aggregates.models import TrafficHourly  # noqa: PLC0415
    from cloud.web.pages.overview import venue_rows  # noqa: PLC0415

    now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    with Session(engine) as session:
        # 23:00 on the 20th in Shanghai (yesterday) and 00:00 on the 21st (today).
        for hour, visits in (
            (datetime(2026, 11, 20, 15, tzinfo=UTC), 5),
            (datetime(2026, 11, 20, 16, tzinfo=UTC), 3),
        ):
            session.add(TrafficHourly(venue_id="v1", hour_utc=hour, visits=visits))
        session.commit()
        venue = session.get(Venue, "v1")
        assert venue is not None
    with engine.connect() as conn:
        (row,) = venue_rows(conn, [venue], now=now, quiet_hour=4)
    assert row.visits_today == 3

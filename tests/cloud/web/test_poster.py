"""The venue's walk-in poster page and the venue page's profile section: who may print and
edit, a QR that holds the poster's signed address, and renewing it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.api.state import ApiState
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.models import Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.qr import qr_svg
from cloud.worker.identity import WorkerKeys
from cloud.worker.profile import AMENITIES
from tests.cloud.web.helpers import PASSWORD, csrf_of, sign_in

NOW = datetime(2027, 5, 6, 4, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = open_database(CloudSettings(data_dir=tmp_path))
    with Session(made) as session:
        session.add(
            Venue(
                id="v1",
                name="徐汇驿站",
                amenities=["water", "microwave"],
                hours=["mon-fri 07:00-22:00", "sat,sun 09:00-18:00"],
                address="漕溪北路 1 号",
            )
        )
        session.add(Venue(id="v2", name="浦东之家"))
        session.commit()
        for username, role, venues in (
            ("root", Role.ADMIN, []),
            ("boss", Role.MANAGER, ["v1"]),
            ("other", Role.MANAGER, ["v2"]),
            ("tech", Role.TECHNICIAN, []),
        ):
            user_in = UserCreate(username=username, password=PASSWORD, role=role, venue_ids=venues)
            create_user(session=session, user_in=user_in)
    yield made
    made.dispose()


@pytest.fixture
def app(tmp_path: Path, engine: Engine) -> FastAPI:
    return create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, clock=lambda: NOW)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as made:
        yield made


def keys(app: FastAPI) -> WorkerKeys:
    state = app.state.api
    assert isinstance(state, ApiState)
    return WorkerKeys.derive(state.auth.pseudonym_key)


def poster(client: TestClient, venue_id: str = "v1") -> str:
    answer = client.get(f"/venues/{venue_id}/poster")
    assert answer.status_code == 200, answer.text
    text: str = answer.text
    return text


def printed_url(text: str) -> str:
    found = re.search(r"<code data-poster-url>([^<]+)</code>", text)
    assert found is not None, "the poster writes no address"
    return html.unescape(found.group(1))


def printed_qr(text: str) -> str:
    found = re.search(r"<div class=\"poster-qr\" data-poster-qr>(<svg.*?</svg>)</div>", text)
    assert found is not None, "the poster shows no QR"
    return found.group(1)


def tag_of(url: str) -> str:
    (tag,) = parse_qs(urlsplit(url).query)["p"]
    return tag


def test_the_poster_holds_the_venues_signed_join_address(app: FastAPI, client: TestClient) -> None:
    sign_in(client, "root")
    text = poster(client)
    assert "新朋友扫码入站" in text
    assert "徐汇驿站" in text
    assert "手机号登记" in text
    assert "访客通行证" in text
    url = printed_url(text)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", "/m/join/v1")
    assert keys(app).poster_holds("v1", 1, tag_of(url))
    assert not keys(app).poster_holds("v2", 1, tag_of(url))
    # The QR is the drawing of exactly this address (qr_svg is deterministic).
    assert printed_qr(text) == qr_svg(url, label="徐汇驿站")
    assert "@media print" in text
    assert re.search(r"@media print \{.*header\.top[^{]*\{ display: none", text, re.DOTALL)
    assert "data-renew-poster" in text  # an admin may retire the printed ones

    client.cookies.set("yz_lang", "en")
    english = poster(client)
    assert "First time here? Scan to get in" in english
    assert "register with your phone number" in english
    assert printed_url(english) == url


def test_renewing_retires_the_printed_posters(app: FastAPI, client: TestClient) -> None:
    sign_in(client, "root")
    text = poster(client)
    old = tag_of(printed_url(text))
    button = re.search(r'data-renew-poster data-api="([^"]+)"', text)
    assert button is not None
    answer = client.post(button.group(1), headers={"X-CSRF-Token": csrf_of(text)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["poster_edition"] == 2

    new = tag_of(printed_url(poster(client)))
    assert new != old
    assert keys(app).poster_holds("v1", 2, new)
    assert not keys(app).poster_holds("v1", 2, old)
    assert 'data-poster-edition="2"' in poster(client)


def test_the_venues_manager_prints_it_without_renewing(app: FastAPI, client: TestClient) -> None:
    sign_in(client, "boss")
    text = poster(client)
    assert keys(app).poster_holds("v1", 1, tag_of(printed_url(text)))
    assert "data-renew-poster" not in text


def test_another_venues_manager_finds_no_poster(client: TestClient) -> None:
    sign_in(client, "other")
    theirs = client.get("/venues/v1/poster")
    missing = client.get("/venues/nowhere/poster")
    # As on the venue page: another manager's venue looks like no venue at all.
    assert theirs.status_code == missing.status_code == 404
    assert "data-poster-url" not in theirs.text
    assert "徐汇驿站" not in theirs.text


def test_a_technician_may_not_print_posters(client: TestClient) -> None:
    sign_in(client, "tech")
    answer = client.get("/venues/v1/poster")
    assert answer.status_code == 403
    assert "data-poster-url" not in answer.text


def test_the_poster_needs_a_sign_in(client: TestClient) -> None:
    answer = client.get("/venues/v1/poster", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/venues/v1/poster")


# --- the venue page's profile section -----------------------------------------------------


def venue_page(client: TestClient) -> str:
    answer = client.get("/venues/v1")
    assert answer.status_code == 200, answer.text
    text: str = answer.text
    return text


def profile_form(text: str) -> str:
    found = re.search(r"<form id=\"venue-profile\".*?</form>", text, re.DOTALL)
    assert found is not None, "the page has no profile form"
    return found.group(0)


def test_an_admin_edits_the_profile_through_the_venues_api(client: TestClient) -> None:
    sign_in(client, "root")
    text = venue_page(client)
    assert "对外信息" in text
    form = profile_form(text)
    assert 'data-api-form="/api/v1/venues/v1" data-method="PATCH"' in form
    assert 'name="address" maxlength="120" autocomplete="off" value="漕溪北路 1 号"' in form
    boxes = re.findall(
        r'<input type="checkbox" data-for="amenities" value="(\w+)"( checked)?>', form
    )
    assert [word for word, _ in boxes] == list(AMENITIES)
    assert [word for word, checked in boxes if checked] == ["water", "microwave"]
    assert "微波炉" in form  # the words the worker's phone shows
    assert ">mon-fri 07:00-22:00\nsat,sun 09:00-18:00</textarea>" in form
    assert re.search(r'<input type="checkbox" data-for="admits_guests" checked>', form)
    hidden = re.findall(r'<input type="hidden" name="(\w+)" data-json data-from="(\w+)">', form)
    assert dict(hidden) == {
        "latitude": "number",
        "longitude": "number",
        "amenities": "list",
        "hours": "lines",
        "admits_guests": "bool",
    }
    assert 'href="/venues/v1/poster"' in form
    assert re.search(r'<script src="/static/venue\.js\?v=[0-9a-f]+" defer></script>', text)

    client.cookies.set("yz_lang", "en")
    english = venue_page(client)
    assert "Public profile" in english
    assert "Microwave" in english
    assert "Print the walk-in poster" in english


def test_what_the_form_sends_is_stored(client: TestClient, engine: Engine) -> None:
    sign_in(client, "root")
    text = venue_page(client)
    # What static/venue.js and app.js make of the form after an admin's edit.
    body = {
        "address": "漕溪北路 2 号",
        "description": "有热水",
        "latitude": 31.19,
        "longitude": 121.43,
        "amenities": ["water", "charging"],
        "hours": ["daily 00:00-24:00"],
        "admits_guests": False,
    }
    answer = client.patch("/api/v1/venues/v1", json=body, headers={"X-CSRF-Token": csrf_of(text)})
    assert answer.status_code == 200, answer.text
    with Session(engine) as session:
        stored = session.get(Venue, "v1")
        assert stored is not None
        assert (stored.address, stored.amenities, stored.admits_guests) == (
            "漕溪北路 2 号",
            ["water", "charging"],
            False,
        )
    form = profile_form(venue_page(client))
    assert 'data-for="latitude" value="31.19"' in form
    assert '<input type="checkbox" data-for="admits_guests">' in form


def test_a_manager_reads_the_profile_and_prints_but_may_not_edit(client: TestClient) -> None:
    sign_in(client, "boss")
    text = venue_page(client)
    assert "data-venue-profile" in text
    assert 'id="venue-profile"' not in text
    assert "漕溪北路 1 号" in text
    assert "饮水 · 微波炉" in text
    assert 'data-poster-link href="/venues/v1/poster"' in text
    answer = client.patch(
        "/api/v1/venues/v1", json={"address": "x"}, headers={"X-CSRF-Token": csrf_of(text)}
    )
    assert answer.status_code == 403


def test_a_technician_sees_no_profile_section(client: TestClient) -> None:
    sign_in(client, "tech")
    text = venue_page(client)
    assert "data-venue-profile" not in text
    assert "/venues/v1/poster" not in text

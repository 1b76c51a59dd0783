"""A migrated database with two venues, one staff user per role, a fridge probe, fake robots."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.alerts.models import SensorRole
from cloud.api.app import create_app
from cloud.auth import store
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.auth.tokens import AuthKeys, issue_access_token
from cloud.core.db import make_engine
from cloud.core.time import utc_now
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.notify.services import NotifyServices
from cloud.notify.settings import NotifySettings
from cloud.settings import CloudSettings
from tests.cloud.notify.fake_robots import FakeRobots

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2025, 7, 15, 6, 30, tzinfo=UTC)
PASSWORD = "a long enough password"
LINK_KEY = b"notify-tests-link-key-0123456789abcdef"
JWT_SECRET = "Zr8-qT3vLx9_Np2Wm6Ks4Hd7Bf1Gy5Jc0"
# username -> (role, venues)
STAFF = {
    "ada": (Role.ADMIN, []),
    "mia": (Role.MANAGER, ["v1"]),
    "max": (Role.MANAGER, ["v2"]),
    "tom": (Role.TECHNICIAN, []),
}


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="徐汇骑手驿站", kind="outdoor-station"))
        session.add(Venue(id="v2", name="职工之家", kind="home"))
        session.commit()
        session.add(Device(id="hub-1", venue_id="v1", online=True, last_seen_at=NOW))
        session.commit()
        session.add(SensorRole(device_id="hub-1", sensor="28-fridge", venue_id="v1", role="fridge"))
        for username, (role, venues) in STAFF.items():
            store.create_user(
                session=session,
                user_in=UserCreate(
                    username=username, role=role, venue_ids=venues, password=PASSWORD
                ),
            )
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def robots() -> Iterator[FakeRobots]:
    fake = FakeRobots()
    yield fake
    fake.close()


@pytest.fixture
def services() -> NotifyServices:
    return NotifyServices(
        link_base_url="http://dash.test",
        link_key=LINK_KEY,
        allow_loopback_robots=True,
        timeout_s=2.0,
    )


@dataclass
class Site:
    """The cloud's app on the seeded database, signed in per user on demand."""

    client: TestClient
    engine: Engine
    _tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            # Minted, not logged in: a login hashes a password, which is most of a test.
            with Session(self.engine) as session:
                user = store.get_user_by_username(session=session, username=username)
                assert user is not None
                principal = store.principal_for_user(session=session, user=user)
            keys = AuthKeys.from_settings(site_settings())
            self._tokens[username] = issue_access_token(principal, keys=keys, now=utc_now())
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def call(self, username: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.client.request(
            method, f"/api/v1{url}", headers=self.headers(username), **kwargs
        )
        return response


def site_settings(*, loopback: bool = True) -> CloudSettings:
    return CloudSettings(
        mode="development",
        auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET)),
        notify=NotifySettings(allow_loopback_robots=loopback, link_base_url="http://testserver"),
    )


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    app = create_app(settings=site_settings(), engine=engine)
    with TestClient(app) as client:
        yield Site(client, engine)

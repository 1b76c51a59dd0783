"""A small seeded world for auth tests: two venues, one user per role, decisions at both doors.

Venue B's ids and Bob's member id are distinctive strings, so a test can assert that a
manager of venue A never finds them anywhere in an answer.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.access.models import Booking
from cloud.api.app import create_app
from cloud.auth import store
from cloud.auth.models import ApiTokenCreate, UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.bookings.models import Activity, ActivitySignup, Room
from cloud.core.db import make_engine
from cloud.devices.models import Device
from cloud.migrate import upgrade
from cloud.models import DeviceEvent, Reading, Venue
from cloud.settings import CloudSettings

with warnings.catch_warnings():
    # Starlette 1.10 prefers the httpx2 fork and warns when it falls back to httpx, which
    # is what the dev dependencies install; the fallback works the same for these tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
LEGACY_TOKEN = "k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs"
JWT_SECRET = "Zr8-qT3vLx9_Np2Wm6Ks4Hd7Bf1Gy5Jc0"
PASSWORD = "correct horse battery staple"
VENUE_A, VENUE_B = "venue-alpha", "venue-bravo"
DEVICE_A, DEVICE_B = "door-alpha", "door-bravo"
ALICE, BOB = "M-ALICE-0001", "M-BOB-0002"  # Alice visits venue A, Bob venue B
USERS = {
    "ada": (Role.ADMIN, [], None),
    "mia": (Role.MANAGER, [VENUE_A], None),
    "tom": (Role.TECHNICIAN, [], None),
    "mel": (Role.MEMBER, [], ALICE),
}


def settings() -> CloudSettings:
    return CloudSettings(
        mode="development",
        api_token=SecretStr(LEGACY_TOKEN),
        auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET), jwt_minutes=30),
    )


def decision(device: str, venue: str, seq: int, *, member: str, reason: str) -> DeviceEvent:
    data = {"door": "main", "reason": reason, "detail": "ok", "member": member, "mode": 1}
    return DeviceEvent(
        device_id=device,
        seq=seq,
        venue_id=venue,
        type="access.decision",
        ts=NOW - timedelta(hours=1, minutes=seq),
        data=data,
    )


def seed(engine: Engine) -> dict[str, int]:
    """The world; returns the user ids by username."""
    with Session(engine) as session:
        session.add(Venue(id=VENUE_A, name="Riders' station"))
        session.add(Venue(id=VENUE_B, name="Workers' home"))
        session.commit()  # before the devices: the unit of work does not order by foreign key
        session.add(Device(id=DEVICE_A, venue_id=VENUE_A, online=True, software="1.2"))
        session.add(Device(id=DEVICE_B, venue_id=VENUE_B, online=False, software="1.1"))
        session.add_all(
            [
                decision(DEVICE_A, VENUE_A, 1, member=ALICE, reason="accepted"),
                decision(DEVICE_A, VENUE_A, 2, member=ALICE, reason="accepted"),
                decision(DEVICE_A, VENUE_A, 3, member=BOB, reason="expired"),
                decision(DEVICE_B, VENUE_B, 1, member=BOB, reason="accepted"),
                Reading(
                    device_id=DEVICE_B,
                    seq=1,
                    venue_id=VENUE_B,
                    metric="temperature_c",
                    ts=NOW - timedelta(hours=1),
                    value=21.0,
                ),
            ]
        )
        session.commit()
        _seed_bookings(session)
        ids = {}
        for username, (role, venues, member_id) in USERS.items():
            user_in = UserCreate(
                username=username,
                role=role,
                venue_ids=venues,
                member_id=member_id,
                password=PASSWORD,
            )
            user = store.create_user(session=session, user_in=user_in)
            assert user.id is not None
            ids[username] = user.id
    return ids


ROOM_A = "court-alpha"
ACTIVITY_A = "act-00000000000a"
BOOKING_A = "bk-alice-alpha"


def _seed_bookings(session: Session) -> None:
    """A room of venue A with Alice's booking, and an activity she signed up for."""
    session.add(Room(id=ROOM_A, venue_id=VENUE_A, door="court", name_zh="球场", name_en="Court"))
    session.add(
        Booking(
            id=BOOKING_A, venue_id=VENUE_A, door="court", member_id=ALICE, room_id=ROOM_A,
            starts_at=NOW + timedelta(hours=2), ends_at=NOW + timedelta(hours=3), version=1,
        )
    )  # fmt: skip
    session.add(
        Activity(
            id=ACTIVITY_A, venue_id=VENUE_A, title="First aid", starts_at=NOW + timedelta(days=1),
            ends_at=NOW + timedelta(days=1, hours=2), capacity=10, created_by="ada",
        )
    )  # fmt: skip
    session.commit()
    session.add(ActivitySignup(activity_id=ACTIVITY_A, member_id=ALICE, signed_up_by="mel"))
    session.commit()


@dataclass
class World:
    client: TestClient
    engine: Engine
    user_ids: dict[str, int]
    clock: list[datetime] = field(default_factory=lambda: [NOW])
    _tokens: dict[str, str] = field(default_factory=dict)

    def login(self, username: str, password: str = PASSWORD) -> str:
        response = self.client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def headers(self, who: str) -> dict[str, str]:
        """Authorization for a username, "legacy" (the settings token) or "nobody"."""
        if who == "nobody":
            return {}
        if who == "legacy":
            return {"Authorization": f"Bearer {LEGACY_TOKEN}"}
        if who not in self._tokens:
            self._tokens[who] = self.login(who)
        return {"Authorization": f"Bearer {self._tokens[who]}"}

    def api_token(self, *, role: Role = Role.SERVICE, venues: list[str] | None = None) -> str:
        with Session(self.engine) as session:
            token_in = ApiTokenCreate(name="door sync", role=role, venue_ids=venues or [])
            _, secret = store.create_api_token(session=session, token_in=token_in, created_by="ada")
        return secret


@contextmanager
def open_world(db_url: str) -> Iterator[World]:
    """The seeded world on a fresh database; use as a fixture: ``yield from`` it."""
    engine = make_engine(db_url)
    upgrade(engine)
    user_ids = seed(engine)
    clock = [NOW]
    app = create_app(settings=settings(), engine=engine, clock=lambda: clock[0])
    with TestClient(app) as client:
        try:
            yield World(client=client, engine=engine, user_ids=user_ids, clock=clock)
        finally:
            engine.dispose()

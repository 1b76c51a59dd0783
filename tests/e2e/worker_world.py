"""The worker app's world: the dashboard's fleet and door, a second door that refuses guests,
stations on the map, a room and an activity, and the phone app with an SMS inbox.

Built on ``tests.e2e.dashboard_world`` (secure broker, cloud, ingest, the door at
``station-07`` on firmware_sim). The phone app is served by a second API process on the
same database, as a second replica behind a load balancer would be: building it here is
what lets the test hold its development SMS sender (``DevSender.last_code``) and its
poster keys, which the fleet's own API keeps to itself. The second door, at ``home-03``,
says ``admit_guests = false`` like a library would.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.access.models import Booking, Member
from cloud.api.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.bookings import activities, rooms
from cloud.bookings.activities import ActivityIn
from cloud.bookings.models import ActivitySignup
from cloud.bookings.rooms import RoomIn
from cloud.jobs.settings import JobSettings
from cloud.models import Venue
from cloud.settings import CloudSettings
from cloud.sms.sender import DevSender
from cloud.web.settings import WebSettings
from cloud.web.worker.state import WorkerState
from cloud.worker import accounts
from cloud.worker.identity import WorkerKeys
from edge.access.reasons import Reason
from tests.e2e.browsers import serving
from tests.e2e.dashboard_world import (
    DEADLINE_S,
    OTHER_VENUE,
    VENUE,
    DashboardWorld,
    DoorBox,
    dashboard_world,
    utc_now,
)
from tests.helpers import wait_for
from yizhan.bench.provision_world import DOOR_WIRING, SecureCloud, new_box, wait_pending

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
LIBRARY: Final = "jingan-lib"  # a third station, members only, with hours
GUESTLESS_DOOR: Final = "home-03-door-1"
ROOM: Final = "rest-room"
ROOM_NAME_ZH: Final = "休息室"
ACTIVITY_TITLE: Final = "防暑降温讲座"
# Where each station is (WGS-84), what it offers: a worker standing at HERE is 0.3 km from
# the Xuhui station, 4.4 km from the library and 10 km from Minhang's home.
HERE: Final = (31.1900, 121.4385)
_PLACES: Final = {
    VENUE: (31.1880, 121.4365, "漕溪北路 100 号", ["water", "microwave", "charging", "toilet"]),
    OTHER_VENUE: (31.1120, 121.3810, "莘庄路 8 号", ["water", "rest_area"]),
}
# The door box's wiring, with the one line a library adds to its policy.
_NO_GUESTS_WIRING: Final = DOOR_WIRING.replace(
    'door_id = "main"\n', 'door_id = "main"\nadmit_guests = false\n'
)


@dataclass(frozen=True, slots=True)
class WorkerWorld:
    fleet: DashboardWorld
    guestless: DoorBox  # at home-03: guest passes are refused
    url: str  # the phone app's API process
    sender: DevSender
    keys: WorkerKeys
    activity_id: str

    @property
    def engine(self) -> Engine:
        return self.fleet.cloud.engine

    @property
    def door(self) -> DoorBox:
        return self.fleet.door

    def poster_path(self, venue_id: str = VENUE) -> str:
        """What the venue's printed poster QR opens, from the site's root."""
        with Session(self.engine) as session:
            venue = session.get(Venue, venue_id)
            assert venue is not None, venue_id
            return f"/m/join/{venue_id}?p={self.keys.poster_tag(venue_id, venue.poster_edition)}"

    def sms_code(self, phone: str) -> str:
        """The code the development sender 'texted' to ``phone``."""
        code = self.sender.last_code(phone)  # sent before the page said so
        assert code is not None, f"no sign-in code was sent to {phone}"
        return code

    def member_of(self, phone: str) -> str:
        """The member id of the worker who signed up with ``phone``."""
        with Session(self.engine) as session:
            worker = accounts.by_phone(session, self.keys.phone_hash(phone))
            assert worker is not None, f"nobody signed up with {phone}"
            return worker.member_id

    def member(self, member_id: str) -> Member:
        with Session(self.engine) as session:
            found = session.get(Member, member_id)
            assert found is not None, member_id
            return found

    def visits_of(self, member_id: str) -> int:
        """Doors that let ``member_id`` in, as the cloud has stored their decisions."""
        with Session(self.engine) as session:
            return accounts.guest_visits(session, member_id, since=utc_now() - timedelta(days=1))

    def live_bookings(self, member_id: str) -> list[Booking]:
        with Session(self.engine) as session:
            query = select(Booking).where(
                col(Booking.member_id) == member_id, col(Booking.cancelled).is_(False)
            )
            return list(session.exec(query))

    def live_signups(self, member_id: str) -> list[ActivitySignup]:
        with Session(self.engine) as session:
            query = select(ActivitySignup).where(
                col(ActivitySignup.member_id) == member_id,
                col(ActivitySignup.cancelled_at).is_(None),
            )
            return list(session.exec(query))


def refused(door: DoorBox, code: str, reason: Reason, *, timeout: float = DEADLINE_S) -> None:
    """Hold ``code`` up to ``door``'s camera until the door refuses it for ``reason``."""
    wait_for(door.ready, timeout=timeout, message="the door never synced its keys")
    runtime = door.runtime
    assert runtime is not None
    decisions = runtime.controller.decisions
    before = decisions.get(reason, 0)
    door.camera.show(code)
    try:
        wait_for(
            lambda: decisions.get(reason, 0) > before,
            timeout=timeout,
            message=f"the door never refused the code ({reason})",
        )
    finally:
        door.camera.show(None)
    assert door.accepted() == 0, "the door let a guest in"


def tomorrow_at(hour: int) -> datetime:
    """``hour`` o'clock tomorrow in Shanghai (the venues' zone), so always still to come."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def _seed_stations(engine: Engine) -> None:
    with Session(engine) as session:
        for venue_id, (lat, lon, address, amenities) in _PLACES.items():
            venue = session.get(Venue, venue_id)
            assert venue is not None
            venue.latitude, venue.longitude = lat, lon
            venue.address, venue.amenities = address, amenities
            session.add(venue)
        session.add(
            Venue(
                id=LIBRARY,
                name="静安职工书屋",
                kind="library",
                district="静安区",
                latitude=31.2290,
                longitude=121.4480,
                hours=["daily 09:00-21:00"],
                amenities=["wifi", "water"],
                admits_guests=False,
            )
        )
        session.commit()


def _seed_bookables(engine: Engine) -> str:
    """A rest room to book by the hour and a talk tomorrow, both at the Xuhui station."""
    with Session(engine) as session:
        room = RoomIn(door="rest-door", name_zh=ROOM_NAME_ZH, name_en="Rest room", capacity=4)
        rooms.put_room(session=session, venue_id=VENUE, room_id=ROOM, room_in=room)
        talk = ActivityIn(
            title=ACTIVITY_TITLE,
            starts_at=tomorrow_at(14),
            ends_at=tomorrow_at(16),
            capacity=30,
            points=10,
        )
        row = activities.create(
            session=session, venue_id=VENUE, activity_in=talk, by="boss", now=utc_now()
        )
        return row.id


def _claim_guestless_door(cloud: SecureCloud, stack: ExitStack) -> DoorBox:
    door = DoorBox(
        new_box(cloud, "guestless-door-box", hardware='kind = "sim"', wiring=_NO_GUESTS_WIRING)
    )
    door.power_on()
    stack.callback(door.power_off)
    wait_pending(cloud, door.box.code.serial, timeout=DEADLINE_S)
    body = {
        "code": door.box.code.text(),
        "venue_id": OTHER_VENUE,
        "role": "door",
        "device_id": GUESTLESS_DOOR,
    }
    with cloud.client() as client:
        client.post("/devices/claim", body)
    return door


def _phone_api(root: Path, engine: Engine, sender: DevSender) -> tuple[FastAPI, WorkerKeys]:
    """A second API process on the fleet's database, whose texts land in ``sender``."""
    settings = CloudSettings(
        mode="development",
        data_dir=root / "phone-api",
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
        web=WebSettings(issuer_key_file=root / "issuer.json"),  # the union's, as the fleet's
    )
    app = create_app(settings=settings, engine=engine, clock=utc_now)
    state: WorkerState = app.state.worker
    app.state.worker = WorkerState(state.keys, sender, state.settings)
    return app, state.keys


@contextmanager
def worker_world(root: Path) -> Iterator[WorkerWorld]:
    """The running world under ``root``; everything is stopped after."""
    with dashboard_world(root) as fleet, ExitStack() as stack:
        engine = fleet.cloud.engine
        _seed_stations(engine)
        activity_id = _seed_bookables(engine)
        guestless = _claim_guestless_door(fleet.cloud, stack)
        sender = DevSender()
        app, keys = _phone_api(root, engine, sender)
        url = stack.enter_context(serving(app, name="worker"))
        yield WorkerWorld(fleet, guestless, url, sender, keys, activity_id)

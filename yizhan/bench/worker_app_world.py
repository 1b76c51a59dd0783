"""The worker-app bench's world: a district of stations in the database, the cloud under
uvicorn in this process with a development SMS sender, and a door box's decision path.

Used by ``yizhan bench worker-app`` (:mod:`yizhan.bench.worker_app`). The cloud runs in a
thread of the bench's own process because a walk-in needs the sign-in code a text would
carry: the app's sender is swapped for a :class:`~cloud.sms.sender.DevSender` the bench
reads, as tests/cloud/worker/world.py does. The door is the edge's own DoorController
(verifier, policy, relay, signal, outbox) trusting the cloud issuer's public key; it does
not sync, and needs not: a guest's code proves the membership by its signature.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
from gpiozero.pins.mock import MockFactory
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.models import Occupancy as OccupancyRow
from cloud.aggregates.models import VenueSettings
from cloud.api.app import create_app
from cloud.auth import store
from cloud.auth.models import ApiTokenCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.models import Venue
from cloud.service import api_server
from cloud.settings import CloudSettings
from cloud.sms.sender import LOGGER_NAME as SMS_LOGGER
from cloud.sms.sender import DevSender
from cloud.web.settings import WebSettings
from cloud.web.worker.state import WorkerState
from cloud.worker.identity import WorkerKeys
from cloud.worker.profile import AMENITIES, check_hours
from cloud.worker.settings import WorkerSettings
from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.occupancy import Occupancy
from edge.access.passback import Passback
from edge.access.policy import DoorPolicy
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from edge.door.controller import DoorController
from edge.door.monitor import DoorMonitor
from edge.hardware.door import DoorHardware, DoorPins
from edge.outbox import Outbox
from edge.scan.decoders import Decoder, Image
from ops.broker.probe import poll_until
from ops.broker.process import free_port
from protocol.door_policy import DoorPolicyConfig
from protocol.membercode import IssuerKey

DISTRICT: Final = "浦东新区"
# Lujiazui: the stations lie within about 5 km of it, where a rider asks for the nearest.
CENTRE: Final = (31.2397, 121.4998)
_SPREAD_DEG: Final = 0.045
_OTHER_DISTRICTS: Final = (
    "黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区",
    "宝山区", "嘉定区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区",
)  # fmt: skip
# What stations post, as the door policy writes it; none is open 24 hours.
_HOURS: Final = (
    (),
    ("daily 07:00-22:00",),
    ("mon-fri 07:00-21:00", "sat-sun 09:00-18:00"),
    ("daily 06:00-10:00,11:00-14:00,17:00-23:00",),
    ("daily 20:00-06:00",),
)
_STREETS: Final = ("世纪大道", "陆家嘴环路", "浦东南路", "张杨路", "东方路", "源深路", "崂山路")
_START_S: Final = 60.0  # the app's first answer on a busy machine
_STOP_S: Final = 30.0
_PX_PER_MODULE: Final = 4  # what a phone screen shows the door camera, give or take
_PINS: Final = DoorPins(
    relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20
)
# qr_svg (cloud/web/qr.py) draws each row's dark runs as one "M{x} {y}h{w}" segment.
_RUN: Final = re.compile(r"M(\d+) (\d+)h(\d+)")
_VIEWBOX: Final = re.compile(r'viewBox="0 0 (\d+) (\d+)"')


class WorkerAppBenchError(RuntimeError):
    """The bench could not run a step; the message says which and why."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def station_id(n: int) -> str:
    # "in-" sorts before "out-": the API's list, ordered by id, starts with the district.
    return f"in-{n:05d}"


# --- the database ------------------------------------------------------------------------


def _venue(
    rng: random.Random, n: int, *, venue_id: str, district: str, near: tuple[float, float]
) -> Venue:
    offered = rng.sample(AMENITIES, k=rng.randint(2, 7))
    return Venue(
        id=venue_id,
        name=f"{district}驿站 {n:03d}",
        district=district,
        kind="outdoor-station",
        latitude=round(near[0] + rng.uniform(-_SPREAD_DEG, _SPREAD_DEG), 6),
        longitude=round(near[1] + rng.uniform(-_SPREAD_DEG, _SPREAD_DEG), 6),
        address=f"{rng.choice(_STREETS)} {rng.randint(1, 2000)} 号",
        description="户外劳动者驿站：饮水、休息、充电" if n % 4 else None,
        amenities=sorted(offered, key=AMENITIES.index),
        hours=check_hours(rng.choice(_HOURS)),
        admits_guests=n % 10 != 9,  # a few are members-only libraries
    )


def _venues(stations: int, others: int, rng: random.Random) -> list[Venue]:
    made = [
        _venue(rng, n, venue_id=station_id(n), district=DISTRICT, near=CENTRE)
        for n in range(stations)
    ]
    for n in range(others):
        district = _OTHER_DISTRICTS[n % len(_OTHER_DISTRICTS)]
        away = (CENTRE[0] + rng.uniform(-0.3, 0.3), CENTRE[1] + rng.uniform(-0.4, 0.1))
        made.append(_venue(rng, n, venue_id=f"out-{n:05d}", district=district, near=away))
    return made


def seed(engine: Engine, *, stations: int, others: int, now: datetime, rng_seed: int) -> str:
    """The venues with their capacity and live count, and an admin's API token (returned)."""
    rng = random.Random(rng_seed)
    venues = _venues(stations, others, rng)
    with Session(engine) as session:
        session.add_all(venues)
        session.commit()  # the venues first: their settings refer to them
        for venue in venues:
            capacity = rng.choice((8, 12, 20, 30, 40))
            session.add(VenueSettings(venue_id=venue.id, capacity=capacity, updated_at=now))
            if rng.random() < 0.9:  # the rest have no rollup yet: "count unknown"
                count = rng.randint(0, capacity + 2)
                session.add(
                    OccupancyRow(
                        venue_id=venue.id, count=count, baseline_count=0,
                        baseline_at=now, updated_at=now,
                    )
                )  # fmt: skip
        session.commit()
        token_in = ApiTokenCreate(name="bench admin", role=Role.ADMIN)
        _, bearer = store.create_api_token(session=session, token_in=token_in, created_by="bench")
    return bearer


# --- the cloud ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cloud:
    url: str
    sender: DevSender  # where the app's sign-in texts land
    keys: WorkerKeys  # the posters' keys, as the dashboard prints them


def cloud_settings(key_file: Path, *, address_per_hour: int) -> CloudSettings:
    return CloudSettings(
        mode="development",
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        web=WebSettings(issuer_key_file=key_file),
        # Every bench phone asks from 127.0.0.1, where in the field a queue of first-timers
        # shares at most a station's Wi-Fi: the per-address limit would count them as one.
        worker=WorkerSettings(address_per_hour=address_per_hour),
    )


@contextmanager
def _quiet_sms_log() -> Iterator[None]:
    """The development sender logs every code it 'sends'; a bench run sends dozens."""
    logger = logging.getLogger(SMS_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def cloud_server(engine: Engine, settings: CloudSettings) -> Iterator[Cloud]:
    """The real app on ``engine`` under uvicorn (lifespan on) on a free loopback port."""
    app = create_app(settings=settings, engine=engine, clock=utc_now)
    built: WorkerState = app.state.worker
    sender = DevSender()
    app.state.worker = WorkerState(built.keys, sender, built.settings)
    port = free_port()
    server = api_server(app, host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, name="bench-worker-app-cloud", daemon=True)
    with _quiet_sms_log():
        thread.start()
        try:
            poll_until(
                lambda: server.started or not thread.is_alive(),
                timeout=_START_S,
                what="the cloud app did not start under uvicorn",
            )
            if not thread.is_alive():
                raise WorkerAppBenchError(f"uvicorn stopped before serving on port {port}")
            yield Cloud(f"http://127.0.0.1:{port}", sender, built.keys)
        finally:
            server.should_exit = True
            thread.join(timeout=_STOP_S)


# --- the phone's screen, as the door's camera reads it ------------------------------------


def svg_image(svg: str, *, px: int = _PX_PER_MODULE) -> Image:
    """A QR code drawn by ``cloud.web.qr.qr_svg`` as a grayscale image, ``px`` per module."""
    size = _VIEWBOX.search(svg)
    runs = _RUN.findall(svg)
    if size is None or not runs:
        raise WorkerAppBenchError(f"not a QR code drawn as runs: {svg[:120]!r}")
    modules = int(size[1])
    image = np.full((modules * px, modules * px), 255, dtype=np.uint8)
    for x, y, width in runs:
        top, left = int(y) * px, int(x) * px
        image[top : top + px, left : left + int(width) * px] = 0
    return image


def read_code(svg: str, decoder: Decoder) -> str:
    """The text of the QR code in ``svg``, read by the door's own decoder."""
    found = decoder.decode(svg_image(svg))
    if len(found) != 1:
        raise WorkerAppBenchError(f"the door's decoder read {len(found)} codes in one SVG")
    return found[0]


# --- the door ----------------------------------------------------------------------------


@contextmanager
def door(folder: Path, key: IssuerKey) -> Iterator[DoorController]:
    """A door box's decision path with every part real (SQLite caches, outbox, mock GPIO)
    on the live clock, trusting ``key``; its roster synced a moment ago, revoking nobody."""
    with ExitStack() as stack:
        folder.mkdir(parents=True, exist_ok=True)
        cache = MemberCache(folder / "members.db")
        stack.callback(cache.close)
        cache.apply_snapshot(1, [], synced_at=utc_now())
        replay = ReplayCache(folder / "replay.db")
        stack.callback(replay.close)
        passback = Passback(folder / "passback.db")
        stack.callback(passback.close)
        outbox = Outbox(folder / "outbox.db", clock=utc_now)
        stack.callback(outbox.close)
        factory = MockFactory()
        stack.callback(factory.close)
        hardware = DoorHardware(_PINS, clock=utc_now, pin_factory=factory)
        stack.callback(hardware.close)
        policy = DoorPolicy(
            DoorPolicyConfig(door_id="walk-in"),  # admits guests, open 24 hours, no capacity
            occupancy=Occupancy(folder / "occupancy.json", clock=utc_now, has_beams=False),
            bookings=None,
            passback=passback,
            clock=utc_now,
        )
        yield DoorController(
            door_id="walk-in",
            verifier=Verifier(KeyRing({key.kid: key.public_key()}, 1), cache, replay),
            policy=policy,
            hardware=hardware,
            monitor=DoorMonitor().attach(hardware),
            events=outbox.append,
            clock=utc_now,
        )

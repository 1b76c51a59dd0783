"""A cloud with stations and the worker app, on the caller's clock, for the worker tests."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.access.issuer import load_or_create
from cloud.api.app import create_app
from cloud.models import Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.sms.sender import DevSender
from cloud.web.worker.state import WorkerState
from cloud.worker.identity import WorkerKeys
from protocol.membercode import IssuerKey

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "NOW",
    "PHONE",
    "Clock",
    "TestClient",
    "csrf_field",
    "poster_url",
    "seed_stations",
    "walk_in",
    "worker_app",
]

NOW: Final = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
PHONE: Final = "13800138000"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def seed_stations(engine: Engine) -> None:
    with Session(engine) as session:
        session.add_all(
            [
                Venue(
                    id="xuhui-riders",
                    name="徐汇骑手驿站",
                    district="徐汇区",
                    latitude=31.1880,
                    longitude=121.4365,
                    amenities=["water", "microwave", "charging"],
                    address="漕溪北路 100 号",
                ),
                Venue(
                    id="jingan-lib",
                    name="静安职工书屋",
                    kind="library",
                    district="静安区",
                    latitude=31.2290,
                    longitude=121.4480,
                    hours=["daily 09:00-21:00"],
                    admits_guests=False,
                ),
            ]
        )
        session.commit()


@contextmanager
def worker_app(
    tmp_path: Path, clock: Clock
) -> Iterator[tuple[TestClient, Engine, DevSender, IssuerKey]]:
    """A client of a fresh cloud whose texts land in the returned DevSender."""
    issuer = load_or_create(tmp_path / "issuer.json")
    settings = CloudSettings(data_dir=tmp_path, web={"issuer_key_file": tmp_path / "issuer.json"})
    engine = open_database(settings)
    seed_stations(engine)
    app = create_app(settings=settings, engine=engine, clock=clock)
    sender = DevSender()
    state: WorkerState = app.state.worker
    app.state.worker = WorkerState(state.keys, sender, state.settings)
    try:
        with TestClient(app) as client:
            yield client, engine, sender, issuer
    finally:
        engine.dispose()


def poster_url(client: TestClient, venue_id: str, edition: int = 1) -> str:
    keys: WorkerKeys = client.app.state.worker.keys  # type: ignore[attr-defined]
    return f"/m/join/{venue_id}?p={keys.poster_tag(venue_id, edition)}"


def walk_in(
    client: TestClient,
    sender: DevSender,
    *,
    venue_id: str = "xuhui-riders",
    phone: str = PHONE,
    occupation: str = "rider",
    name: str = "",
) -> None:
    """Poster → phone → code from the text → registration: the worker is signed in."""
    keys: WorkerKeys = client.app.state.worker.keys  # type: ignore[attr-defined]
    tag = keys.poster_tag(venue_id, 1)
    assert client.get(f"/m/join/{venue_id}?p={tag}").status_code == 200
    form = {"phone": phone, "venue_id": venue_id, "poster": tag, "next": "/m/code"}
    assert client.post("/m/signin/code", data=form).status_code == 200
    code = sender.last_code(phone)
    assert code is not None
    answer = client.post("/m/signin/verify", data=form | {"code": code}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    if answer.headers["location"] == "/m/register":
        answer = client.post(
            "/m/register",
            data={"occupation": occupation, "name": name, "consent": "yes"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text


def csrf_field(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None, "the page carries no CSRF field"
    return found.group(1)


ClientFactory = Callable[[], TestClient]

"""Docking payload and the signed daily push, against a loopback server that fails twice."""

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.aggregates.docking import (
    DELIVERED,
    FAILED,
    SCHEMA,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    daily_payload,
    due_days,
    push_day,
)
from cloud.aggregates.models import DockingDelivery
from cloud.aggregates.occupancy import set_venue_settings
from cloud.aggregates.rollups import rollup_range
from cloud.jobs.settings import JobSettings
from tests.cloud.aggregates.conftest import NOW, OPTIONS, add, reading, shanghai, visit

SECRET = "Zq8-vN2xKp4_Lm7Rt1Yb6Hc5Fd0GsW3e"
DAY = date(2024, 4, 30)


class Platform(BaseHTTPRequestHandler):
    """The provincial platform: answers 503 ``fail`` times, then 200."""

    fail = 2
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers), body))  # type: ignore[attr-defined]
        failing = len(self.server.received) <= self.server.fail  # type: ignore[attr-defined]
        self.send_response(503 if failing else 200)
        self.end_headers()
        self.wfile.write(b"busy" if failing else b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def platform() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Platform)
    server.received = []  # type: ignore[attr-defined]
    server.fail = 2  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def seed(engine: Engine) -> None:
    add(
        engine,
        visit(shanghai(2024, 4, 30, 9, 0), "m1"),
        visit(shanghai(2024, 4, 30, 18, 0), "m1"),
        visit(shanghai(2024, 4, 30, 23, 30), "m2"),
        reading("energy_kwh", 100.0, shanghai(2024, 4, 30, 0, 30)),
        reading("energy_kwh", 112.5, shanghai(2024, 4, 30, 23, 50)),
    )
    set_venue_settings(engine, "v2", now=NOW, open_hours_per_day=12.0)
    rollup_range(
        engine,
        venue_id="v1",
        since=shanghai(2024, 4, 30, 0, 0),
        until=NOW,
        now=NOW,
        options=OPTIONS,
    )


def test_payload_has_every_venue_with_its_daily_stats(engine: Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        payload = daily_payload(conn, DAY, generated_at=NOW)
    assert payload["schema"] == SCHEMA
    assert payload["date"] == "2024-04-30"
    v1, v2 = payload["venues"]
    assert v1 == {
        "venue": "v1",
        "name": "Riders' station",
        "timezone": "Asia/Shanghai",
        "date": "2024-04-30",
        "visits": 3,
        "unique_members": 2,
        "people_in": 0,
        "open_hours": 24.0,
        "energy_kwh": 12.5,
    }
    assert (v2["visits"], v2["open_hours"], v2["energy_kwh"]) == (0, 12.0, None)


def _settings(url: str, **overrides: Any) -> JobSettings:
    return JobSettings(
        docking_webhook_url=url, docking_secret=SECRET, docking_backoff_s=1.0, **overrides
    )


def test_push_retries_with_backoff_signs_and_records_the_delivery(
    engine: Engine, platform: HTTPServer
) -> None:
    seed(engine)
    url = f"http://127.0.0.1:{platform.server_port}/yizhan/daily"
    slept: list[float] = []
    with httpx.Client(timeout=5) as client:
        result = push_day(
            engine, DAY, settings=_settings(url), client=client, now=lambda: NOW, sleep=slept.append
        )

    assert (result.status, result.attempts, result.http_status) == (DELIVERED, 3, 200)
    assert slept == [1.0, 2.0]
    received: list[tuple[dict[str, str], bytes]] = platform.received  # type: ignore[attr-defined]
    headers, body = received[-1]
    expected = hmac.new(
        SECRET.encode(), headers[TIMESTAMP_HEADER].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert json.loads(body)["venues"][0]["visits"] == 3
    with Session(engine) as session:
        delivery = session.exec(select(DockingDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.day) == (DELIVERED, 3, DAY)
    assert due_days(engine, now=NOW, settings=_settings(url)) == [
        DAY - timedelta(days=n) for n in range(6, 0, -1)
    ]


def test_push_gives_up_after_the_last_attempt_and_records_the_failure(
    engine: Engine, platform: HTTPServer
) -> None:
    platform.fail = 99  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{platform.server_port}/yizhan/daily"
    slept: list[float] = []
    with httpx.Client(timeout=5) as client:
        result = push_day(
            engine,
            DAY,
            settings=_settings(url, docking_max_attempts=3),
            client=client,
            now=lambda: NOW,
            sleep=slept.append,
        )
    assert (result.status, result.attempts, result.http_status) == (FAILED, 3, 503)
    assert DAY in due_days(engine, now=NOW, settings=_settings(url))


def test_a_webhook_without_a_strong_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="docking_secret"):
        JobSettings(docking_webhook_url="https://platform.example/hook", docking_secret="short")

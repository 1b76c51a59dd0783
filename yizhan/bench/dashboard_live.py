"""What a venue page's live updates cost a phone: bytes per minute at a busy venue.

A venue whose door admits someone and whose beam counts someone every second, whose
devices' last-seen time moves every second (as ingest touches them), for a simulated
minute. Each second the live feed scans the database (the real ``scan``) and the page's
SSE stream gets the event ``/live`` would send it; the page's own rules (app.js) then
decide what it fetches, read from the page itself: its figures at most once per page gap,
each part ([data-live-part]) at most once per its gap, each chart at most once a minute.
Every fetch goes through the real app, and is counted as the wire carries it: status
line, headers and the (gzipped) body. The clock is simulated, so a minute takes seconds.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, update
from sqlmodel import Session

from cloud.aggregates import raw
from cloud.aggregates.occupancy import set_venue_settings
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Reading, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.live import Watch, scan, topics_for

VENUE: Final = "busy-01"
SECONDS: Final = 60
TARGET_BYTES_PER_MIN: Final = 30_000
CHART_REUSE_S: Final = 60  # charts.js REUSE_MS
_PASSWORD: Final = secrets.token_urlsafe(16)
_FRAGMENT: Final = {"X-Yizhan-Fragment": "1", "Accept-Encoding": "gzip"}
_JSON: Final = {"Accept": "application/json", "Accept-Encoding": "gzip"}
_START: Final = datetime(2026, 6, 1, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, a busy morning


@dataclass(slots=True)
class Listener:
    """One thing on the page that fetches when its topics move, at most once per gap."""

    topics: list[str]
    src: str
    gap_s: float
    headers: dict[str, str]
    last: float = -1e9
    pending: bool = False
    fetches: int = 0

    def hears(self, topics: list[str]) -> bool:
        return any(
            t == topic or (":" not in t and topic.startswith(f"{t}:"))
            for t in self.topics
            for topic in topics
        )


@dataclass(slots=True)
class Tally:
    sse: int = 0
    fetched: int = 0
    sent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, down: int, up: int = 0) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + down
        self.fetched += down
        self.sent += up


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Venue(id=VENUE, name="忙碌驿站", district="徐汇区"))
        session.commit()
        for role in ("door", "beam", "kiosk", "hub"):
            session.add(Device(id=f"{VENUE}-{role}", venue_id=VENUE, role=role, online=True))
        create_user(
            session=session,
            user_in=UserCreate(username="bench", password=_PASSWORD, role=Role.ADMIN),
        )
        session.commit()
    set_venue_settings(engine, VENUE, now=_START, capacity=80)


def _traffic(engine: Engine, second: int, at: datetime) -> None:
    """One second of a busy door: an admission, a beam count, devices seen."""
    with Session(engine) as session:
        session.add(
            DeviceEvent(
                device_id=f"{VENUE}-door",
                seq=second + 1,
                venue_id=VENUE,
                type="access.decision",
                ts=at,
                data={"reason": "accepted", "member": f"M{second:06d}", "door": "main"},
                received_at=at,
            )
        )
        session.add(
            Reading(
                device_id=f"{VENUE}-beam",
                seq=second + 1,
                venue_id=VENUE,
                metric="people_in" if second % 3 else "people_out",
                ts=at,
                value=1,
                received_at=at,
            )
        )
        session.commit()
    device = raw.table(Device)
    with engine.begin() as conn:  # what ingest's _touch does for every batch
        conn.execute(update(device).where(device.c.venue_id == VENUE).values(last_seen_at=at))


def _wire(answer: Any) -> int:
    """Bytes on the wire of one response: status line, headers, the body as sent."""
    head = len(f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}\r\n") + 2
    head += sum(len(k) + len(v) + 4 for k, v in answer.headers.items())
    return head + int(answer.num_bytes_downloaded)


def _request_bytes(answer: Any) -> int:
    request = answer.request
    line = len(f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\n") + 2
    return line + sum(len(k) + len(v) + 4 for k, v in request.headers.items())


def _listeners(page: str) -> dict[str, Listener]:
    """What the venue page listens to, read from its own attributes (as app.js reads them)."""
    found: dict[str, Listener] = {}
    gap = int(re.search(r'<main id="live-root"[^>]*data-live-gap="(\d+)"', page).group(1))  # type: ignore[union-attr]
    marker = re.search(r'data-live-figures="([^"]*)" data-fig-src="([^"]*)"', page)
    if marker:
        found["figures"] = Listener(
            marker.group(1).split(), html.unescape(marker.group(2)), max(1.0, gap / 1000), _JSON
        )
    for tag in re.findall(r"<section [^>]*data-live-part=[^>]*>", page):
        attrs = dict(re.findall(r'(data-live-[a-z]+)="([^"]*)"', tag))
        found[f"part:{attrs['data-live-part']}"] = Listener(
            attrs["data-live-topics"].split(),
            html.unescape(attrs["data-live-src"]),
            max(1.0, int(attrs["data-live-gap"]) / 1000),
            _FRAGMENT,
        )
    for tag in re.findall(r'<div class="chart"[^>]*data-live-topics="[^"]+"[^>]*>', page):
        attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag))
        found[f"chart:{attrs['data-chart']}"] = Listener(
            attrs["data-live-topics"].split(),
            html.unescape(attrs["data-src"]),
            CHART_REUSE_S,
            _JSON,
        )
    return found


@contextmanager
def _database(database_url: str | None) -> Iterator[str | None]:
    if database_url is None:
        yield None
        return
    from yizhan.bench.ingest import _bench_database as bench_database  # noqa: PLC0415

    with (
        tempfile.TemporaryDirectory(prefix="yizhan-bench-live-") as tmp,
        bench_database(database_url, Path(tmp)) as fresh,
    ):
        yield fresh


def _drive(web: Any, engine: Engine, clock: list[datetime], seconds: int) -> dict[str, Any]:
    page = web.get(f"/venues/{VENUE}").text
    listeners = _listeners(page)
    watch, tally = Watch(), Tally()
    scan(engine, watch, now=clock[0])
    for name, listener in listeners.items():
        if name.startswith("chart:"):
            # Drawn a minute ago: each chart refetches once in the minute measured.
            listener.last = -CHART_REUSE_S + seconds - 1
    for second in range(seconds):
        clock[0] = _START + timedelta(seconds=second)
        _traffic(engine, second, clock[0])
        topics = topics_for(scan(engine, watch, now=clock[0]), None)
        if topics:
            tally.sse += len(f"event: change\ndata: {json.dumps({'topics': topics})}\n\n")
        for name, listener in listeners.items():
            listener.pending = listener.pending or listener.hears(topics)
            if listener.pending and second - listener.last >= listener.gap_s:
                answer = web.get(listener.src, headers=listener.headers)
                if answer.status_code != 200:
                    raise RuntimeError(f"{name} answered {answer.status_code}: {answer.text[:200]}")
                tally.add(name, _wire(answer), _request_bytes(answer))
                listener.last, listener.pending = second, False
                listener.fetches += 1
    scale = 60 / seconds  # a shorter run, counted per minute

    def per_min(n: int) -> int:
        return round(n * scale)

    return {
        "live_bytes_per_min": per_min(tally.sse + tally.fetched),
        "live_sse_bytes_per_min": per_min(tally.sse),
        "live_fetch_bytes_per_min": {k: per_min(v) for k, v in tally.by_kind.items()},
        "live_fetches": {n: item.fetches for n, item in listeners.items()},
        "live_seconds_simulated": seconds,
        "live_request_bytes_per_min": per_min(tally.sent),
        "live_target_bytes_per_min": TARGET_BYTES_PER_MIN,
    }


def measure_live_bytes(database_url: str | None, *, seconds: int = SECONDS) -> dict[str, Any]:
    """Bytes one open venue page receives in a minute of a busy venue (events every second):
    everything it downloads, SSE and the fetches the events trigger; ``seconds`` shortens
    the simulated run (the figures stay per minute; the charts' once-a-minute refetch is
    counted once either way, so a short run overstates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's test client prefers the httpx2 fork
        from fastapi.testclient import TestClient  # noqa: PLC0415

    clock = [_START]
    with (
        tempfile.TemporaryDirectory(prefix="yizhan-bench-live-") as tmp,
        _database(database_url) as url,
    ):
        settings = CloudSettings(data_dir=Path(tmp), database_url=url)
        engine = open_database(settings)
        try:
            _seed(engine)
            app = create_app(settings=settings, engine=engine, clock=lambda: clock[0])
            with TestClient(app) as web:
                signed_in = web.post("/login", data={"username": "bench", "password": _PASSWORD})
                signed_in.raise_for_status()
                return _drive(web, engine, clock, seconds)
        finally:
            engine.dispose()

"""`yizhan bench dashboard`: how the pages hold up with hundreds of venues.

One database with ``venues`` venues (16 districts, three devices each, a door's worth of
visits in the last hour, some open alerts). The contenders are requested round-robin in
the same process, so machine noise hits them alike. Their baseline is the bare API venue
list (``/api/v1/venues?limit=50``). The overview's 50 rows also carry live counts, devices,
alerts and today's visits. The live feed's scan is timed on its own.
"""

from __future__ import annotations

import json as jsonlib
import secrets
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alerts.models import Alert
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.live import Watch, scan

_PASSWORD: Final = secrets.token_urlsafe(16)  # this process's throw-away admin
_DISTRICTS: Final = 16
_VISITS_PER_VENUE: Final = 20
_FRAGMENT: Final = {"X-Yizhan-Fragment": "1"}


def _seed(engine: Engine, venues: int, now: datetime) -> None:
    with Session(engine) as session:
        for n in range(venues):
            venue = f"v{n:05d}"
            session.add(
                Venue(
                    id=venue,
                    name=f"驿站 {n}",
                    district=f"district-{n % _DISTRICTS:02d}",
                    kind=("outdoor-station", "worker-home", "library")[n % 3],
                )
            )
        session.commit()  # the venues first: devices and alerts refer to them
        for n in range(venues):
            venue = f"v{n:05d}"
            for role in ("door", "kiosk", "hub"):
                session.add(Device(id=f"{venue}-{role}", venue_id=venue, online=n % 7 != 0))
            if n % 5 == 0:
                key = f"door_forced:{venue}"
                session.add(
                    Alert(
                        venue_id=venue,
                        kind="door_forced",
                        severity="critical",
                        dedupe_key=key,
                        active_key=key,
                        opened_at=now,
                        last_seen_at=now,
                        message_zh="门被强行打开",
                        message_en="door forced",
                    )
                )
        session.commit()
        for n in range(venues):
            venue = f"v{n:05d}"
            session.add_all(
                DeviceEvent(
                    device_id=f"{venue}-door",
                    seq=seq,
                    venue_id=venue,
                    type="access.decision",
                    ts=now - timedelta(minutes=seq),
                    data={"reason": "accepted", "member": f"M{seq:08d}"},
                    received_at=now - timedelta(minutes=seq),
                )
                for seq in range(1, _VISITS_PER_VENUE + 1)
            )
        session.commit()
        create_user(
            session=session,
            user_in=UserCreate(username="bench", password=_PASSWORD, role=Role.ADMIN),
        )


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_dashboard_bench(
    *, venues: int, rounds: int, database_url: str | None, data_dir: Path
) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's test client prefers the httpx2 fork
        from fastapi.testclient import TestClient  # noqa: PLC0415

    settings = CloudSettings(data_dir=data_dir, database_url=database_url)
    engine = open_database(settings)
    now = datetime.now(UTC)
    try:
        _seed(engine, venues, now)
        app = create_app(settings=settings, engine=engine)
        with TestClient(app) as web:
            signed_in = web.post("/login", data={"username": "bench", "password": _PASSWORD})
            signed_in.raise_for_status()
            watch = Watch()
            scan(engine, watch, now=now)
            middle = f"v{venues // 2:05d}"
            contenders: dict[str, Callable[[], object]] = {
                "api_venues_50": lambda: web.get("/api/v1/venues", params={"limit": 50}),
                "overview_50": lambda: web.get("/"),
                "overview_fragment": lambda: web.get("/", headers=_FRAGMENT),
                "overview_last_page": lambda: web.get("/", params={"page": -(-venues // 50)}),
                "overview_district": lambda: web.get("/", params={"district": "district-03"}),
                "venue_page": lambda: web.get(f"/venues/{middle}"),
                "alerts_page": lambda: web.get("/alerts"),
                "live_scan": lambda: scan(engine, watch, now=datetime.now(UTC)),
            }
            times: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(rounds):
                for name, call in contenders.items():
                    started = time.perf_counter()
                    answer = call()
                    times[name].append((time.perf_counter() - started) * 1000)
                    status = getattr(answer, "status_code", 200)
                    if status >= 400:
                        raise RuntimeError(f"{name} answered {status}")
    finally:
        engine.dispose()
    base = _percentile(times["api_venues_50"], 0.5)
    result: dict[str, Any] = {
        "venues": venues,
        "rounds": rounds,
        "database": "postgresql" if database_url and "postgres" in database_url else "sqlite",
    }
    for name, samples in times.items():
        p50 = _percentile(samples, 0.5)
        result[name] = {
            "p50_ms": round(p50, 2),
            "p95_ms": round(_percentile(samples, 0.95), 2),
            "ratio_to_api_list": round(p50 / base, 2) if base else None,
        }
    return result


def main(*, json: bool, venues: int, rounds: int, database_url: str | None) -> dict[str, Any]:
    out = sys.stdout
    out.write(f"seeding {venues} venues, then {rounds} rounds of each page…\n")
    out.flush()
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-dashboard-") as tmp:
        result = run_dashboard_bench(
            venues=venues, rounds=rounds, database_url=database_url, data_dir=Path(tmp)
        )
    for name, figures in result.items():
        if isinstance(figures, dict):
            out.write(
                f"{name:20} p50 {figures['p50_ms']:8.2f} ms  p95 {figures['p95_ms']:8.2f} ms  "
                f"×{figures['ratio_to_api_list']} of the API list\n"
            )
    if json:
        out.write(jsonlib.dumps(result) + "\n")
    out.flush()
    return result

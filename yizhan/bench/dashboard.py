"""`yizhan bench dashboard`: how the pages hold up with hundreds of venues.

One database with ``venues`` venues (16 districts, three devices each, a door's worth of
visits in the last hour, some open alerts), on SQLite and (given a server) PostgreSQL.
The contenders are requested round-robin in the same process, so machine noise hits them
alike. Their baseline is the bare API venue list (``/api/v1/venues?limit=50``); the
overview's 50 rows also carry live counts, devices, alerts and today's visits, and
``overview_ratio`` is its p50 over the list's. The live feed's scan is timed on its own.

Beside the pages: the bytes a venue page's live updates cost a minute at a busy venue
(``dashboard_live``), and, when those modules are there, a district's monthly report
(``dashboard_report``) and an alert's way to a robot webhook (``dashboard_notify``).
"""

from __future__ import annotations

import importlib
import json as jsonlib
import secrets
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

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
from yizhan.bench.dashboard_live import TARGET_BYTES_PER_MIN, measure_live_bytes
from yizhan.bench.ingest import _bench_database

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
        "overview_ratio": round(_percentile(times["overview_50"], 0.5) / base, 2),
    }
    for name, samples in times.items():
        p50 = _percentile(samples, 0.5)
        result[name] = {
            "p50_ms": round(p50, 2),
            "p95_ms": round(_percentile(samples, 0.95), 2),
            "ratio_to_api_list": round(p50 / base, 2) if base else None,
        }
    return result


def _optional(module: str, function: str, notes: list[str]) -> Callable[..., Any] | None:
    """A measurement another part of the bench provides, if it is there yet."""
    try:
        found = importlib.import_module(f"yizhan.bench.{module}")
    except ModuleNotFoundError:
        notes.append(f"yizhan/bench/{module}.py is not there: {function} skipped")
        return None
    measure = getattr(found, function, None)
    if measure is None:
        notes.append(f"yizhan/bench/{module}.py has no {function}: skipped")
    return cast("Callable[..., Any] | None", measure)


def run_all(
    *,
    venues: int,
    rounds: int,
    database_url: str | None,
    postgres_url: str | None,
    notify_samples: int = 20,
) -> dict[str, Any]:
    """Every page on each database, live bytes, and the report and notification timings."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-dashboard-") as tmp:
        first = run_dashboard_bench(
            venues=venues, rounds=rounds, database_url=database_url, data_dir=Path(tmp) / "a"
        )
        by_database = {first["database"]: first}
        if postgres_url:
            with _bench_database(postgres_url, Path(tmp)) as fresh:
                by_database["postgresql"] = run_dashboard_bench(
                    venues=venues, rounds=rounds, database_url=fresh, data_dir=Path(tmp) / "b"
                )
        else:
            notes.append("no --postgres-url: PostgreSQL not measured")
    result = {k: v for k, v in first.items() if k != "overview_ratio"}
    result["overview_ratio"] = {name: r["overview_ratio"] for name, r in by_database.items()}
    result["databases"] = by_database
    # Each of these seeds a fresh SQLite database of its own: their rows and the pages'
    # 500 venues would collide in one.
    live = measure_live_bytes(None)
    result["live_bytes_per_min"] = live["live_bytes_per_min"]
    result["live"] = live
    report = _optional("dashboard_report", "measure_report_month", notes)
    result["report_month_s"] = None if report is None else report(None)["report_month_s"]
    notify = _optional("dashboard_notify", "measure_notify", notes)
    result["notify_p95_s"] = (
        None if notify is None else notify(None, notify_samples)["notify_p95_s"]
    )
    result["notes"] = notes
    return result


def _pages(out: Any, name: str, figures: dict[str, Any]) -> None:
    out.write(f"{name}:\n")
    for page, timing in figures.items():
        if isinstance(timing, dict) and "p50_ms" in timing:
            out.write(
                f"  {page:20} p50 {timing['p50_ms']:8.2f} ms  p95 {timing['p95_ms']:8.2f} ms  "
                f"×{timing['ratio_to_api_list']} of the API list\n"
            )


def main(
    *,
    json: bool,
    venues: int,
    rounds: int,
    database_url: str | None,
    postgres_url: str | None = None,
) -> dict[str, Any]:
    out = sys.stdout
    out.write(f"seeding {venues} venues, then {rounds} rounds of each page…\n")
    out.flush()
    result = run_all(
        venues=venues, rounds=rounds, database_url=database_url, postgres_url=postgres_url
    )
    for name, figures in result["databases"].items():
        _pages(out, name, figures)
    out.write(f"overview / API list (p50): {result['overview_ratio']} (target ≤ 3)\n")
    out.write(
        f"live updates of a busy venue page: {result['live_bytes_per_min']} bytes/min "
        f"(target ≤ {TARGET_BYTES_PER_MIN})\n"
    )
    out.write(
        f"month report: {result['report_month_s']} s; notify p95: {result['notify_p95_s']} s\n"
    )
    for note in result["notes"]:
        out.write(f"note: {note}\n")
    if json:
        out.write(jsonlib.dumps(result) + "\n")
    out.flush()
    return result


__all__ = ["main", "measure_live_bytes", "run_all", "run_dashboard_bench"]

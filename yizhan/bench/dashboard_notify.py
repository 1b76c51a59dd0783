"""How long a fridge alert takes to reach a WeChat Work group: from the reading that crosses
the threshold to the robot receiving the message, with the real jobs on their real clock.

Each sample stores one warm reading of its own fridge probe through the ingest store (as a
hub's MQTT batch would be stored), at a random moment within two evaluation cycles, and
times the message's arrival at a local WeChat Work robot (a real HTTP server on 127.0.0.1,
answering as qyapi.weixin.qq.com does; the message names the probe). The
alert evaluation and the delivery job run in the real scheduler at the intervals given,
by default the settings' own (alert_interval_s 60 s, notify.delivery_interval_s 5 s). The
fridge rule's own duration (10 min of warm readings, so a door left open a moment pages
nobody) is set to 0 here: the figure is the system's latency, not the rule's patience.
"""

from __future__ import annotations

import json
import random
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alerts.jobs import alert_jobs
from cloud.alerts.models import AlertKind, AlertRule, SensorRole
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.core.time import utc_now
from cloud.devices.models import Device
from cloud.ingest.inbound import classify
from cloud.ingest.store import IngestStore
from cloud.jobs.scheduler import JobScheduler
from cloud.jobs.settings import JobSettings
from cloud.models import Venue
from cloud.notify.jobs import notify_jobs
from cloud.notify.models import Channel, Subscription
from cloud.notify.settings import NotifySettings
from cloud.service import open_database
from cloud.settings import CloudSettings

_KEY: Final = "bench-" + secrets.token_hex(8)
_WARM_C: Final = 12.0  # above the fridge rule's 8 °C


@dataclass
class WecomRobot:
    """A WeChat Work group robot on 127.0.0.1 that notes when each message arrived."""

    arrivals: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, content)
    url: str = ""

    def __post_init__(self) -> None:
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ok = self.path.endswith(f"key={_KEY}") and body.get("msgtype") == "markdown"
                if ok:
                    robot.arrivals.append((time.monotonic(), body["markdown"]["content"]))
                answer = {"errcode": 0, "errmsg": "ok"} if ok else {"errcode": 93000}
                reply = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={_KEY}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _seed(engine: Engine, robot: WecomRobot, *, samples: int, run: str) -> tuple[str, str]:
    venue, hub = f"nb-{run}", f"hub-{run}"
    with Session(engine) as session:
        session.add(Venue(id=venue, name="通知测速驿站"))
        session.commit()
        session.add(Device(id=hub, venue_id=venue, online=True, last_seen_at=utc_now()))
        session.add(AlertRule(venue_id=venue, kind=AlertKind.FRIDGE_WARM, threshold=8.0))
        for n in range(samples):
            session.add(
                SensorRole(device_id=hub, sensor=f"28-{n:012x}", venue_id=venue, role="fridge")
            )
        user = UserCreate(
            username=f"duty-{run}",
            role=Role.MANAGER,
            venue_ids=[venue],
            password=secrets.token_urlsafe(16),
        )
        create_user(session=session, user_in=user)
        session.add(
            Subscription(
                username=f"duty-{run}",
                venue_id=venue,
                channel=Channel.WECOM,
                target=robot.url,
                quiet_min=0,
            )
        )
        session.commit()
    return venue, hub


def _store_warm(store: IngestStore, venue: str, hub: str, *, sample: int) -> None:
    item = {
        "seq": sample + 1,
        "ts": utc_now().isoformat().replace("+00:00", "Z"),
        "metric": "temperature_c",
        "value": _WARM_C,
        "sensor": probe(sample),
    }
    payload = json.dumps({"v": 1, "device": hub, "items": [item]}).encode()
    result = store.write([classify(sample, f"yz/v1/{venue}/{hub}/telemetry", payload)])
    if result.stored != 1:
        raise RuntimeError(f"the ingest store did not store the bench's reading: {result}")


@contextmanager
def _database(database_url: str | None) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="yz-notify-bench-") as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'cloud.db'}"
        engine = open_database(CloudSettings(database_url=url, data_dir=Path(folder)))
        try:
            yield engine
        finally:
            engine.dispose()


def probe(sample: int) -> str:
    return f"28-{sample:012x}"


@dataclass(frozen=True)
class _Bench:
    store: IngestStore
    robot: WecomRobot
    venue: str
    hub: str
    limit_s: float  # how long the last message may take before the bench gives up

    def run(self, offsets: list[float]) -> list[float]:
        """Store sample n's warm reading ``offsets[n]`` seconds from now (each its own
        probe, so samples overlap without touching each other's alert); the seconds from
        each reading to its message."""
        start = time.monotonic()
        stored: dict[int, float] = {}
        for n, offset in sorted(enumerate(offsets), key=lambda item: item[1]):
            time.sleep(max(0.0, start + offset - time.monotonic()))
            _store_warm(self.store, self.venue, self.hub, sample=n)
            stored[n] = time.monotonic()
        deadline = time.monotonic() + self.limit_s
        while (arrived := self._arrivals(len(offsets))) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not every sample reached the robot in {self.limit_s:.0f} s")
            time.sleep(0.05)
        return [arrived[n] - stored[n] for n in range(len(offsets))]

    def _arrivals(self, samples: int) -> dict[int, float] | None:
        """When each sample's message arrived (its probe is named in it), once all have."""
        found: dict[int, float] = {}
        for at, content in list(self.robot.arrivals):
            for n in range(samples):
                if n not in found and probe(n) in content:
                    found[n] = at
        return found if len(found) == samples else None


def _settings(alert_interval_s: float | None, delivery_interval_s: float | None) -> CloudSettings:
    jobs = (
        JobSettings()
        if alert_interval_s is None
        else JobSettings(alert_interval_s=alert_interval_s)
    )
    notify = NotifySettings(allow_loopback_robots=True)
    if delivery_interval_s is not None:
        notify = notify.model_copy(update={"delivery_interval_s": delivery_interval_s})
    return CloudSettings(jobs=jobs, notify=notify)


def measure_notify(
    database_url: str | None,
    samples: int,
    *,
    alert_interval_s: float | None = None,
    delivery_interval_s: float | None = None,
    seed: int = 21,
) -> dict[str, object]:
    """p50/p95 seconds from a warm reading stored to the robot receiving the alert; the
    intervals default to the settings' own."""
    settings = _settings(alert_interval_s, delivery_interval_s)
    jobs, notify = settings.jobs, settings.notify
    rng = random.Random(seed)
    robot = WecomRobot()
    try:
        with _database(database_url) as engine:
            venue, hub = _seed(engine, robot, samples=samples, run=secrets.token_hex(3))
            # Crossings spread over two evaluation cycles: every phase of the cycle is
            # sampled, and twenty samples take about three cycles, not twenty.
            spread = 2 * jobs.alert_interval_s
            limit = jobs.alert_interval_s + notify.delivery_interval_s + 30
            bench = _Bench(IngestStore(engine, clock=utc_now), robot, venue, hub, limit)
            scheduler = JobScheduler(
                engine,
                jobs,
                jobs=[
                    *alert_jobs(engine, every_s=jobs.alert_interval_s, webhook=None),
                    *notify_jobs(settings, engine),
                ],
            )
            scheduler.start()
            try:
                latencies = bench.run([rng.uniform(0, spread) for _ in range(samples)])
            finally:
                scheduler.stop()
    finally:
        robot.close()
    return {
        "notify_samples": samples,
        "notify_p50_s": round(statistics.median(latencies), 2),
        "notify_p95_s": round(_p95(latencies), 2),
        "notify_max_s": round(max(latencies), 2),
        "notify_bound": (
            f"alert evaluation every {jobs.alert_interval_s:g} s (jobs.alert_interval_s) + "
            f"delivery job every {notify.delivery_interval_s:g} s (notify.delivery_interval_s) "
            "+ the robot's answer; worst case about their sum"
        ),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

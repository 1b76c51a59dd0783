"""``yizhan bench ota``: a fleet of simulated boxes takes three rollouts from the real cloud.

Every box is a real edge agent process on firmware_sim, in its own install root with the
A/B layout, run by the simulated init (yizhan/siminit.py) that plays systemd, claimed on a
secure Mosquitto like a box off the shelf; the cloud is the real API, ingest and rollout
job. The releases are real: the project's wheel and every dependency's, signed with a
fresh release key, then new versions of the project's wheel.

1. a good release to all boxes in stages: time until every box runs it;
2. a bad release (the agent cannot start) in the same stages: the rollout must stop itself
   at the failure threshold; boxes updated before it stopped, rolled back, left broken;
3. a release changing one wheel: bytes each box downloaded, against the full set.

Meanwhile the door boxes decide for a simulated crowd; their longest gap between decisions
(the switch's restart) and any decision lost on the way to the cloud are reported.
"""

from __future__ import annotations

import contextlib
import itertools
import json as json_module
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from cloud.auth import store
from cloud.auth.models import ApiTokenCreate
from cloud.auth.principal import Role
from cloud.core.time import as_utc
from cloud.models import DeviceEvent, Reading
from cloud.releases.progress import advance_all
from cloud.releases.settings import ReleaseSettings
from edge.update.environment import relocate
from edge.update.install import bootstrap
from edge.update.layout import LOCK_FILE, Layout
from edge.update.spool import Spool
from ops.broker.probe import poll_until
from yizhan.bench.ota_releases import Releases, build_releases
from yizhan.bench.ota_wheels import FAULTY_START
from yizhan.bench.provision_world import (
    DOOR_WIRING,
    VENUES,
    Box,
    SecureCloud,
    new_box,
    secure_cloud,
    wait_pending,
)

MAX_DOOR_GAP_TARGET_S: Final = 15.0
DECISION_EVENT: Final = "access.decision"
_HUB_HARDWARE: Final = 'kind = "sim"\nprofile = "outdoor-station"\nspeed = 60'
_DOOR_HARDWARE: Final = 'kind = "sim"\nspeed = 60\ncrowd_gap_s = 0.5'
_FINAL: Final = ("done", "stopped", "aborted")


@dataclass(frozen=True, slots=True)
class OtaOptions:
    boxes: int = 50
    doors: int = 3
    soak_s: float = 5.0
    health_deadline_s: float = 45.0
    stage_timeout_s: float = 240.0
    # Stages as the API takes them; None: 1 box, 5 %, 25 %, 100 %.
    stages: list[dict[str, Any]] | None = None

    def stage_list(self) -> list[dict[str, Any]]:
        if self.stages is not None:
            return self.stages
        soak = self.soak_s
        return [
            {"count": 1, "soak_s": soak},
            {"percent": 5, "soak_s": soak},
            {"percent": 25, "soak_s": soak},
            {"percent": 100, "soak_s": soak},
        ]


@dataclass
class SimBox:
    box: Box
    device: str
    venue: str
    role: str
    layout: Layout
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def spool(self) -> Spool:
        return Spool.of(self.box.data_dir)

    def start(self, health_deadline_s: float) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "yizhan.siminit", "--root", str(self.layout.root),
                 "--data-dir", str(self.box.data_dir), "--config", str(self.box.config),
                 "--health-deadline", str(health_deadline_s), "--log", str(self.log)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(10)

    def running(self) -> str | None:
        return self.layout.target(self.layout.current)


@dataclass
class Fleet:
    boxes: list[SimBox] = field(default_factory=list)

    @property
    def doors(self) -> list[SimBox]:
        return [box for box in self.boxes if box.role == "door"]

    def stop(self) -> None:
        for box in self.boxes:
            box.stop()
        deadline = time.monotonic() + 60
        for box in self.boxes:
            if box.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    box.process.wait(max(0.1, deadline - time.monotonic()))
            box.kill()


def bump(version: str, step: int) -> str:
    parts = version.split(".")
    return ".".join([*parts[:-1], str(int(parts[-1]) + step)])


def _admin_token(engine: Engine) -> str:
    with Session(engine) as session:
        token_in = ApiTokenCreate(name="bench release admin", role=Role.ADMIN)
        _, bearer = store.create_api_token(session=session, token_in=token_in, created_by="bench")
    return bearer


def _publish(api: httpx.Client, releases: Releases, version: str) -> None:
    for wheel in releases.releases[version].wheels:
        url = f"/api/v1/releases/blobs/{wheel.sha256}"
        if api.head(url).status_code == 200:
            continue
        with releases.wheel_path(wheel).open("rb") as body:
            api.put(url, content=body.read()).raise_for_status()
    answer = api.post(
        "/api/v1/releases",
        content=releases.signed[version],
        headers={"Content-Type": "application/json"},
    )
    if answer.status_code >= 300:
        raise RuntimeError(f"publishing {version}: {answer.status_code} {answer.text[:300]}")


@contextlib.contextmanager
def _rollout_job(engine: Engine, settings: ReleaseSettings) -> Iterator[None]:
    """The leader's rollout job, as the ingest service runs it (jobs are off in this world)."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(settings.rollout_interval_s):
            advance_all(engine, datetime.now(UTC), settings=settings)

    thread = threading.Thread(target=run, name="bench-rollouts", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def _claim_all(cloud: SecureCloud, fleet: Fleet) -> None:
    with cloud.client() as client:
        for box in fleet.boxes:
            code = box.box.code
            wait_pending(cloud, code.serial, timeout=180)
            client.post(
                "/devices/claim",
                {"code": code.text(), "venue_id": box.venue, "role": box.role,
                 "device_id": box.device},
            )  # fmt: skip


def _wait(predicate: Any, *, timeout: float, what: str, interval: float = 0.5) -> Any:
    return poll_until(predicate, timeout=timeout, what=what, interval=interval)


def _rollout(api: httpx.Client, version: str, fleet: Fleet, options: OtaOptions) -> str:
    answer = api.post(
        "/api/v1/rollouts",
        json={
            "release": version,
            "target": {"devices": [box.device for box in fleet.boxes]},
            "stages": options.stage_list(),
            "force": True,
        },
    )
    if answer.status_code >= 300:
        raise RuntimeError(f"rollout of {version}: {answer.status_code} {answer.text[:300]}")
    return str(answer.json()["id"])


def _finished(api: httpx.Client, rollout: str) -> dict[str, Any] | None:
    detail: dict[str, Any] = api.get(f"/api/v1/rollouts/{rollout}").json()
    return detail if detail["status"] in _FINAL else None


def _new_fleet(cloud: SecureCloud, factory: Layout, options: OtaOptions) -> Fleet:
    fleet = Fleet()
    venues = list(VENUES)
    for index in range(options.boxes):
        door = index < options.doors
        device = f"ota-{'door' if door else 'hub'}-{index:03d}"
        box = new_box(
            cloud,
            device,
            hardware=_DOOR_HARDWARE if door else _HUB_HARDWARE,
            wiring=DOOR_WIRING if door else "",
        )
        opt = box.data_dir / "opt"
        # Hard links share inodes: each box gets its own lock file, or they would lock
        # each other out.
        shutil.copytree(
            factory.root,
            opt,
            symlinks=True,
            copy_function=_link,
            ignore=shutil.ignore_patterns(LOCK_FILE),
        )
        layout = Layout(opt)
        relocate(layout, factory.root)
        fleet.boxes.append(
            SimBox(
                box,
                device,
                venues[index % len(venues)],
                "door" if door else "sensor-hub",
                layout,
                box.data_dir / "box.log",
            )
        )
    return fleet


def _link(source: str, target: str) -> None:
    Path(target).hardlink_to(source)


def _decision_times(engine: Engine, device: str) -> list[datetime]:
    with Session(engine) as session:
        rows = session.exec(
            select(DeviceEvent.ts)
            .where(col(DeviceEvent.device_id) == device, col(DeviceEvent.type) == DECISION_EVENT)
            .order_by(col(DeviceEvent.ts))
        )
        return [as_utc(moment) for moment in rows]  # SQLite gives them back without a zone


def _items_lost(engine: Engine, box: SimBox) -> tuple[int, int]:
    """(lost, undelivered) of a stopped box: items it numbered that the cloud never stored
    and that are not waiting in its outbox either; and those still waiting."""
    outbox = box.box.data_dir / f"{box.device}-outbox.db"
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        waiting = int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    numbered = int(meta["next_seq"]) - int(meta["first_seq"]) - int(meta.get("skipped", 0))
    with Session(engine) as session:
        stored = session.execute(
            select(func.count()).select_from(Reading).where(col(Reading.device_id) == box.device)
        ).scalar_one()
        stored += session.execute(
            select(func.count())
            .select_from(DeviceEvent)
            .where(col(DeviceEvent.device_id) == box.device)
        ).scalar_one()
    return numbered - waiting - int(stored), waiting


def _longest_gap(times: list[datetime], window: tuple[datetime, datetime]) -> float:
    """The longest wait between decisions made in ``window`` (a rollout's time), counting
    the wait from its last decision to the next one after it; an outage that began before
    the window belongs to the window it began in."""
    since, until = window
    inside = [moment for moment in times if since <= moment <= until]
    after = [moment for moment in times if moment > until][:1]
    around = inside + after
    return max(((b - a).total_seconds() for a, b in itertools.pairwise(around)), default=0.0)


def run(root: Path, *, database_url: str | None, options: OtaOptions) -> dict[str, Any]:
    began = time.monotonic()
    releases = build_releases(root / "releases")
    base = releases.base
    good, bad, small = bump(base, 1), bump(base, 2), bump(base, 3)
    releases.add(good, notes="bench: a good release")
    releases.add(bad, patch=FAULTY_START, notes="bench: the agent cannot start")
    releases.add(small, notes="bench: one wheel changed")
    factory = Layout(root / "factory" / "opt")
    bootstrap(factory, releases.wheelhouse(base, root / "factory" / "wheelhouse"),
              releases.key_file)  # fmt: skip
    settings = ReleaseSettings(
        key_file=releases.key_file,
        rollout_interval_s=1.0,
        stage_timeout_s=options.stage_timeout_s,
    )
    with (
        secure_cloud(root / "world", database_url=database_url, releases=settings) as cloud,
        _rollout_job(cloud.engine, settings),
        httpx.Client(
            base_url=cloud.api_url,
            headers={"Authorization": f"Bearer {_admin_token(cloud.engine)}"},
            timeout=120,
        ) as api,
    ):
        for version in (base, good, bad, small):
            _publish(api, releases, version)
        fleet = _new_fleet(cloud, factory, options)
        try:
            return _measure(cloud, api, fleet, releases, options, versions=(good, bad, small),
                            began=began)  # fmt: skip
        finally:
            fleet.stop()


def _measure(
    cloud: SecureCloud,
    api: httpx.Client,
    fleet: Fleet,
    releases: Releases,
    options: OtaOptions,
    *,
    versions: tuple[str, str, str],
    began: float,
) -> dict[str, Any]:
    good, bad, small = versions
    base = releases.base
    for box in fleet.boxes:
        box.start(options.health_deadline_s)
    _claim_all(cloud, fleet)
    _wait(lambda: all(box.spool.is_healthy(base) for box in fleet.boxes), timeout=600,
          what="every box healthy on the first release")  # fmt: skip
    _wait(lambda: all(_decision_times(cloud.engine, door.device) for door in fleet.doors),
          timeout=120, what="every door deciding")  # fmt: skip
    setup_s = time.monotonic() - began

    windows: dict[str, tuple[datetime, datetime]] = {}
    started, good_from = time.monotonic(), datetime.now(UTC)
    good_id = _rollout(api, good, fleet, options)
    good_detail = _wait(lambda: _finished(api, good_id), timeout=1800, what="the good rollout")
    good_s = time.monotonic() - started
    windows["good"] = (good_from, datetime.now(UTC))
    on_good = sum(box.running() == good for box in fleet.boxes)

    bad_from = datetime.now(UTC)
    bad_id = _rollout(api, bad, fleet, options)
    bad_detail = _wait(lambda: _finished(api, bad_id), timeout=1800, what="the bad rollout")
    sent = [row for row in bad_detail["device_list"] if row["sent_at"] is not None]
    # Settle: a box still in its trial when the rollout stopped rolls back by its deadline.
    _wait(
        lambda: not any(box.running() == bad and _in_trial(box) for box in fleet.boxes),
        timeout=options.health_deadline_s * 2 + 60,
        what="the bad release's boxes settled",
    )
    left_broken = sum(box.running() == bad for box in fleet.boxes)
    windows["bad"] = (bad_from, datetime.now(UTC))
    if bad_detail["status"] == "stopped":  # as a person would: abort it, then fix the release
        api.post(f"/api/v1/rollouts/{bad_id}/abort").raise_for_status()

    small_from = datetime.now(UTC)
    small_id = _rollout(api, small, fleet, options)
    small_detail = _wait(
        lambda: _finished(api, small_id), timeout=1800, what="the one-wheel rollout"
    )
    windows["one_wheel"] = (small_from, datetime.now(UTC))
    healthy_rows = [row for row in small_detail["device_list"] if row["state"] == "healthy"]
    one_wheel = [row["downloaded_bytes"] for row in healthy_rows]

    decisions = {door.device: _decision_times(cloud.engine, door.device) for door in fleet.doors}
    # A good switch's gap is the restart; a door sent the bad release waits out the health
    # deadline before it rolls back, reported on its own.
    gaps = {
        device: max(_longest_gap(times, windows[name]) for name in ("good", "one_wheel"))
        for device, times in decisions.items()
    }
    bad_gaps = {device: _longest_gap(times, windows["bad"]) for device, times in decisions.items()}
    fleet.stop()
    accounts = [_items_lost(cloud.engine, door) for door in fleet.doors]
    lost = sum(lost for lost, _ in accounts)
    full = releases.releases[small].total_bytes
    figures: dict[str, Any] = {
        "boxes": len(fleet.boxes),
        "doors": len(fleet.doors),
        "stages": options.stage_list(),
        "setup_s": round(setup_s, 1),
        "good_rollout_s": round(good_s, 1),
        "good_status": good_detail["status"],
        "good_running": on_good,
        "bad_status": bad_detail["status"],
        "bad_reason": bad_detail.get("reason"),
        "bad_updated_before_stop": len(sent),
        "bad_rolled_back": bad_detail["states"].get("rolled_back", 0),
        "bad_failed": bad_detail["states"].get("failed", 0),
        "bad_left_broken": left_broken,
        "one_wheel_status": small_detail["status"],
        "one_wheel_bytes_per_box": round(sum(one_wheel) / len(one_wheel)) if one_wheel else None,
        "full_bytes_per_box": full,
        "one_wheel_to_full_ratio": round(sum(one_wheel) / len(one_wheel) / full, 4)
        if one_wheel
        else None,
        "max_door_gap_s": round(max(gaps.values(), default=0.0), 2),
        "door_gaps_s": {device: round(gap, 2) for device, gap in gaps.items()},
        "bad_release_door_gap_s": round(max(bad_gaps.values(), default=0.0), 2),
        # Every item a door numbered (decisions among them) is stored or still queued.
        "decisions_lost": lost,
        "door_items_waiting": sum(waiting for _, waiting in accounts),
    }
    figures["meets_target"] = (
        figures["good_status"] == "done"
        and on_good == len(fleet.boxes)
        and figures["bad_status"] == "stopped"
        and left_broken == 0
        and figures["max_door_gap_s"] <= MAX_DOOR_GAP_TARGET_S
        and lost == 0
    )
    return figures


def _in_trial(box: SimBox) -> bool:
    from edge.update import journal  # noqa: PLC0415

    entry = journal.read(box.layout.journal_file)
    return entry is not None and entry.step.value in ("building", "switching", "trial")


def main(*, json: bool, database_url: str | None, options: OtaOptions) -> dict[str, Any]:
    out = sys.stdout
    out.write(
        f"ota: {options.boxes} boxes ({options.doors} doors) in A/B layouts on a secure broker; "
        "building releases…\n"
    )
    out.flush()
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-ota-") as tmp:
        figures = run(Path(tmp), database_url=database_url, options=options)
    out.write(
        f"good release to all {figures['boxes']}: {figures['good_rollout_s']} s "
        f"({figures['good_status']}, {figures['good_running']} running it)\n"
        f"bad release: {figures['bad_status']} after {figures['bad_updated_before_stop']} boxes "
        f"were sent it; {figures['bad_rolled_back']} rolled back, "
        f"{figures['bad_left_broken']} left broken\n"
        f"one wheel changed: {figures['one_wheel_bytes_per_box']} bytes per box against "
        f"{figures['full_bytes_per_box']} for the full set\n"
        f"doors: longest gap in decisions {figures['max_door_gap_s']} s "
        f"(target ≤ {MAX_DOOR_GAP_TARGET_S:.0f} s), {figures['decisions_lost']} lost\n"
    )
    if json:
        out.write(json_module.dumps(figures) + "\n")
    out.flush()
    return figures
